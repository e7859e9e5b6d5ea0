//! Prefixed object ids (`pi_…`, `pm_…`) and what each prefix names.

/// The kinds of object Tessera stores and serves, each with its id prefix and the
/// `object` name it carries on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `pi_`
    PaymentIntent,
    /// `pm_`
    PaymentMethod,
    /// `cus_`
    Customer,
    /// `ch_`
    Charge,
    /// `re_`
    Refund,
    /// `evt_`
    Event,
    /// `txn_`
    BalanceTransaction,
    /// `dp_`
    Dispute,
    /// `prv_`
    Review,
    /// `we_`
    WebhookEndpoint,
    /// `whd_`
    WebhookDelivery,
    /// `rule_`
    RadarRule,
    /// `rsl_`
    ValueList,
    /// `rsli_`
    ValueListItem,
    /// `cs_`: ids carry the mode after the prefix, `cs_test_…` or `cs_live_…`, as on
    /// Stripe (see [`ObjectKind::new_id_prefix`]).
    CheckoutSession,
}

impl ObjectKind {
    /// All kinds, for lookups by prefix.
    pub const ALL: [ObjectKind; 15] = [
        ObjectKind::PaymentIntent,
        ObjectKind::PaymentMethod,
        ObjectKind::Customer,
        ObjectKind::Charge,
        ObjectKind::Refund,
        ObjectKind::Event,
        ObjectKind::BalanceTransaction,
        ObjectKind::Dispute,
        ObjectKind::Review,
        ObjectKind::WebhookEndpoint,
        ObjectKind::WebhookDelivery,
        ObjectKind::RadarRule,
        ObjectKind::ValueList,
        ObjectKind::ValueListItem,
        ObjectKind::CheckoutSession,
    ];

    /// The id prefix, including the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectKind::PaymentIntent => "pi_",
            ObjectKind::PaymentMethod => "pm_",
            ObjectKind::Customer => "cus_",
            ObjectKind::Charge => "ch_",
            ObjectKind::Refund => "re_",
            ObjectKind::Event => "evt_",
            ObjectKind::BalanceTransaction => "txn_",
            ObjectKind::Dispute => "dp_",
            ObjectKind::Review => "prv_",
            ObjectKind::WebhookEndpoint => "we_",
            ObjectKind::WebhookDelivery => "whd_",
            ObjectKind::RadarRule => "rule_",
            ObjectKind::ValueList => "rsl_",
            ObjectKind::ValueListItem => "rsli_",
            ObjectKind::CheckoutSession => "cs_",
        }
    }

    /// The prefix a new id of this kind starts with: [`ObjectKind::prefix`], followed
    /// for Checkout Sessions by the mode (`cs_test_`, `cs_live_`).
    pub fn new_id_prefix(self, livemode: bool) -> &'static str {
        match (self, livemode) {
            (ObjectKind::CheckoutSession, false) => "cs_test_",
            (ObjectKind::CheckoutSession, true) => "cs_live_",
            _ => self.prefix(),
        }
    }

    /// The wire `object` value, also used as the store's kind column.
    pub fn object_name(self) -> &'static str {
        match self {
            ObjectKind::PaymentIntent => "payment_intent",
            ObjectKind::PaymentMethod => "payment_method",
            ObjectKind::Customer => "customer",
            ObjectKind::Charge => "charge",
            ObjectKind::Refund => "refund",
            ObjectKind::Event => "event",
            ObjectKind::BalanceTransaction => "balance_transaction",
            ObjectKind::Dispute => "dispute",
            ObjectKind::Review => "review",
            ObjectKind::WebhookEndpoint => "webhook_endpoint",
            ObjectKind::WebhookDelivery => "webhook_delivery",
            ObjectKind::RadarRule => "radar_rule",
            ObjectKind::ValueList => "radar.value_list",
            ObjectKind::ValueListItem => "radar.value_list_item",
            ObjectKind::CheckoutSession => "checkout.session",
        }
    }

    /// The kind an id names, judged by its prefix.
    pub fn of_id(id: &str) -> Option<ObjectKind> {
        ObjectKind::ALL
            .into_iter()
            .find(|k| id.starts_with(k.prefix()))
    }
}

/// Number of random base62 characters after the prefix of every generated id.
pub const ID_RANDOM_LEN: usize = 24;

/// Splits a PaymentIntent client secret `pi_…_secret_…` into the intent id it names.
pub fn payment_intent_of_client_secret(secret: &str) -> Option<&str> {
    let (id, rest) = secret.split_once("_secret_")?;
    (id.starts_with("pi_") && !rest.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_prefix() {
        assert_eq!(ObjectKind::of_id("pi_123"), Some(ObjectKind::PaymentIntent));
        assert_eq!(ObjectKind::of_id("cus_abc"), Some(ObjectKind::Customer));
        assert_eq!(ObjectKind::of_id("acct_abc"), None);
        assert_eq!(
            ObjectKind::of_id("cs_test_abc"),
            Some(ObjectKind::CheckoutSession)
        );
        assert_eq!(
            ObjectKind::of_id("cs_live_abc"),
            Some(ObjectKind::CheckoutSession)
        );
    }

    #[test]
    fn prefixes_are_unambiguous() {
        for a in ObjectKind::ALL {
            for b in ObjectKind::ALL {
                if a != b {
                    assert!(
                        !a.prefix().starts_with(b.prefix()),
                        "{a:?}'s prefix {} starts with {b:?}'s {}",
                        a.prefix(),
                        b.prefix()
                    );
                }
            }
            for livemode in [false, true] {
                let id = format!("{}abc", a.new_id_prefix(livemode));
                assert_eq!(ObjectKind::of_id(&id), Some(a));
            }
        }
    }

    #[test]
    fn client_secret_names_its_intent() {
        assert_eq!(
            payment_intent_of_client_secret("pi_abc_secret_xyz"),
            Some("pi_abc")
        );
        assert_eq!(payment_intent_of_client_secret("pi_abc_secret_"), None);
        assert_eq!(payment_intent_of_client_secret("cus_abc_secret_x"), None);
    }
}
