//! The store's error.

use std::fmt;

/// A storage failure. The text is for logs, never for API callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    pub(crate) fn new(message: String) -> StoreError {
        StoreError(message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        // Reading a stored document, or writing one (which cannot fail for a `Value`).
        let what = if e.is_syntax() || e.is_eof() {
            "a stored document is not valid JSON"
        } else {
            "a document could not be read or written as JSON"
        };
        StoreError(format!("{what}: {e}"))
    }
}

impl From<tessera_durable::CommitFailed> for StoreError {
    fn from(e: tessera_durable::CommitFailed) -> StoreError {
        StoreError(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_error_says_whether_the_stored_text_was_not_json() {
        let syntax = serde_json::from_str::<serde_json::Value>("{\"a\":").unwrap_err();
        assert!(
            StoreError::from(syntax)
                .to_string()
                .starts_with("store: a stored document is not valid JSON: ")
        );
        let shape = serde_json::from_str::<i64>("\"text\"").unwrap_err();
        assert!(
            StoreError::from(shape)
                .to_string()
                .starts_with("store: a document could not be read or written as JSON: ")
        );
    }
}
