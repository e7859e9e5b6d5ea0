//! Disposable email domains: the `:is_disposable_email:` signal.

use std::collections::HashSet;

/// Tessera's bundled list of disposable email providers.
pub const BUNDLED_DISPOSABLE_DOMAINS: &str = include_str!("../data/disposable-email-domains.txt");

/// A set of disposable email domains. A domain matches when it, or any domain it is
/// under, is listed (`x.mailinator.com` matches `mailinator.com`), ignoring case.
#[derive(Debug, Clone, Default)]
pub struct DisposableDomains {
    domains: HashSet<String>,
}

impl DisposableDomains {
    /// The bundled list.
    pub fn bundled() -> DisposableDomains {
        let mut d = DisposableDomains::default();
        d.extend(BUNDLED_DISPOSABLE_DOMAINS);
        d
    }

    /// Adds the domains of a list, one per line (`#` starts a comment line).
    pub fn extend(&mut self, text: &str) {
        self.domains.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.trim_start_matches("*.").to_ascii_lowercase()),
        );
    }

    /// Whether `domain` (an email address's part after the `@`) is disposable.
    pub fn contains(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = domain.as_str();
        loop {
            if self.domains.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => return false,
            }
        }
    }

    /// How many domains are listed.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_domains_and_their_subdomains_match() {
        let d = DisposableDomains::bundled();
        assert!(d.len() > 50);
        assert!(d.contains("mailinator.com"));
        assert!(d.contains("MailInator.COM"));
        assert!(d.contains("team.mailinator.com"));
        assert!(!d.contains("gmail.com"));
        assert!(!d.contains("com"));
        assert!(!d.contains("notmailinator.com"));
    }

    #[test]
    fn operators_add_their_own() {
        let mut d = DisposableDomains::default();
        d.extend("# mine\nthrowaway.example\n*.burner.test\n");
        assert!(d.contains("throwaway.example"));
        assert!(d.contains("a.burner.test"));
        assert!(!d.contains("example"));
    }
}
