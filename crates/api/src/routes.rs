//! The `/v1` endpoints, as typed calls.

use axum::http::Method;

/// One API operation, with the ids its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    CustomerCreate,
    CustomerList,
    CustomerRetrieve(String),
    CustomerUpdate(String),
    CustomerDelete(String),
    CustomerPaymentMethods(String),
    PaymentMethodCreate,
    PaymentMethodList,
    PaymentMethodRetrieve(String),
    PaymentMethodUpdate(String),
    PaymentMethodAttach(String),
    PaymentMethodDetach(String),
    PaymentIntentCreate,
    PaymentIntentList,
    PaymentIntentRetrieve(String),
    PaymentIntentUpdate(String),
    PaymentIntentConfirm(String),
    PaymentIntentCapture(String),
    PaymentIntentCancel(String),
    ChargeList,
    ChargeRetrieve(String),
    RefundCreate,
    RefundList,
    RefundRetrieve(String),
    RefundUpdate(String),
    EventList,
    EventRetrieve(String),
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointRetrieve(String),
    WebhookEndpointUpdate(String),
    WebhookEndpointDelete(String),
    WebhookEndpointRollSecret(String),
    WebhookDeliveryList,
    WebhookDeliveryRetrieve(String),
    WebhookDeliveryRetry(String),
    ReviewList,
    ReviewRetrieve(String),
    ReviewApprove(String),
    RadarRuleCreate,
    RadarRuleList,
    RadarRuleRetrieve(String),
    RadarRuleDelete(String),
    RadarRuleDryRun,
    ValueListCreate,
    ValueListList,
    ValueListRetrieve(String),
    ValueListUpdate(String),
    ValueListDelete(String),
    ValueListItemCreate,
    ValueListItemList,
    ValueListItemRetrieve(String),
    ValueListItemDelete(String),
    CheckoutSessionCreate,
    CheckoutSessionList,
    CheckoutSessionRetrieve(String),
    CheckoutSessionExpire(String),
    CheckoutSessionLineItems(String),
}

impl Call {
    /// Routes a method and path; `None` for anything that is not an endpoint.
    pub(crate) fn parse(method: &Method, path: &str) -> Option<Call> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let id = |s: &str| s.to_owned();
        let get = method == Method::GET;
        let post = method == Method::POST;
        let delete = method == Method::DELETE;
        Some(match segments.as_slice() {
            ["v1", "customers"] if post => Call::CustomerCreate,
            ["v1", "customers"] if get => Call::CustomerList,
            ["v1", "customers", c] if get => Call::CustomerRetrieve(id(c)),
            ["v1", "customers", c] if post => Call::CustomerUpdate(id(c)),
            ["v1", "customers", c] if delete => Call::CustomerDelete(id(c)),
            ["v1", "customers", c, "payment_methods"] if get => Call::CustomerPaymentMethods(id(c)),
            ["v1", "payment_methods"] if post => Call::PaymentMethodCreate,
            ["v1", "payment_methods"] if get => Call::PaymentMethodList,
            ["v1", "payment_methods", p] if get => Call::PaymentMethodRetrieve(id(p)),
            ["v1", "payment_methods", p] if post => Call::PaymentMethodUpdate(id(p)),
            ["v1", "payment_methods", p, "attach"] if post => Call::PaymentMethodAttach(id(p)),
            ["v1", "payment_methods", p, "detach"] if post => Call::PaymentMethodDetach(id(p)),
            ["v1", "payment_intents"] if post => Call::PaymentIntentCreate,
            ["v1", "payment_intents"] if get => Call::PaymentIntentList,
            ["v1", "payment_intents", p] if get => Call::PaymentIntentRetrieve(id(p)),
            ["v1", "payment_intents", p] if post => Call::PaymentIntentUpdate(id(p)),
            ["v1", "payment_intents", p, "confirm"] if post => Call::PaymentIntentConfirm(id(p)),
            ["v1", "payment_intents", p, "capture"] if post => Call::PaymentIntentCapture(id(p)),
            ["v1", "payment_intents", p, "cancel"] if post => Call::PaymentIntentCancel(id(p)),
            ["v1", "charges"] if get => Call::ChargeList,
            ["v1", "charges", c] if get => Call::ChargeRetrieve(id(c)),
            ["v1", "refunds"] if post => Call::RefundCreate,
            ["v1", "refunds"] if get => Call::RefundList,
            ["v1", "refunds", r] if get => Call::RefundRetrieve(id(r)),
            ["v1", "refunds", r] if post => Call::RefundUpdate(id(r)),
            ["v1", "events"] if get => Call::EventList,
            ["v1", "events", e] if get => Call::EventRetrieve(id(e)),
            ["v1", "webhook_endpoints"] if post => Call::WebhookEndpointCreate,
            ["v1", "webhook_endpoints"] if get => Call::WebhookEndpointList,
            ["v1", "webhook_endpoints", w] if get => Call::WebhookEndpointRetrieve(id(w)),
            ["v1", "webhook_endpoints", w] if post => Call::WebhookEndpointUpdate(id(w)),
            ["v1", "webhook_endpoints", w] if delete => Call::WebhookEndpointDelete(id(w)),
            ["v1", "webhook_endpoints", w, "roll_secret"] if post => {
                Call::WebhookEndpointRollSecret(id(w))
            }
            ["v1", "webhook_deliveries"] if get => Call::WebhookDeliveryList,
            ["v1", "webhook_deliveries", d] if get => Call::WebhookDeliveryRetrieve(id(d)),
            ["v1", "webhook_deliveries", d, "retry"] if post => Call::WebhookDeliveryRetry(id(d)),
            ["v1", "reviews"] if get => Call::ReviewList,
            ["v1", "reviews", r] if get => Call::ReviewRetrieve(id(r)),
            ["v1", "reviews", r, "approve"] if post => Call::ReviewApprove(id(r)),
            ["v1", "radar", "rules"] if post => Call::RadarRuleCreate,
            ["v1", "radar", "rules"] if get => Call::RadarRuleList,
            ["v1", "radar", "rules", "dry_run"] if post => Call::RadarRuleDryRun,
            ["v1", "radar", "rules", r] if get => Call::RadarRuleRetrieve(id(r)),
            ["v1", "radar", "rules", r] if delete => Call::RadarRuleDelete(id(r)),
            ["v1", "radar", "value_lists"] if post => Call::ValueListCreate,
            ["v1", "radar", "value_lists"] if get => Call::ValueListList,
            ["v1", "radar", "value_lists", l] if get => Call::ValueListRetrieve(id(l)),
            ["v1", "radar", "value_lists", l] if post => Call::ValueListUpdate(id(l)),
            ["v1", "radar", "value_lists", l] if delete => Call::ValueListDelete(id(l)),
            ["v1", "radar", "value_list_items"] if post => Call::ValueListItemCreate,
            ["v1", "radar", "value_list_items"] if get => Call::ValueListItemList,
            ["v1", "radar", "value_list_items", i] if get => Call::ValueListItemRetrieve(id(i)),
            ["v1", "radar", "value_list_items", i] if delete => Call::ValueListItemDelete(id(i)),
            ["v1", "checkout", "sessions"] if post => Call::CheckoutSessionCreate,
            ["v1", "checkout", "sessions"] if get => Call::CheckoutSessionList,
            ["v1", "checkout", "sessions", s] if get => Call::CheckoutSessionRetrieve(id(s)),
            ["v1", "checkout", "sessions", s, "expire"] if post => {
                Call::CheckoutSessionExpire(id(s))
            }
            ["v1", "checkout", "sessions", s, "line_items"] if get => {
                Call::CheckoutSessionLineItems(id(s))
            }
            _ => return None,
        })
    }

    /// The resource a restricted key needs permission for.
    pub(crate) fn resource(&self) -> &'static str {
        use Call::*;
        match self {
            CustomerCreate | CustomerList | CustomerRetrieve(_) | CustomerUpdate(_)
            | CustomerDelete(_) => "customers",
            CustomerPaymentMethods(_)
            | PaymentMethodCreate
            | PaymentMethodList
            | PaymentMethodRetrieve(_)
            | PaymentMethodUpdate(_)
            | PaymentMethodAttach(_)
            | PaymentMethodDetach(_) => "payment_methods",
            PaymentIntentCreate
            | PaymentIntentList
            | PaymentIntentRetrieve(_)
            | PaymentIntentUpdate(_)
            | PaymentIntentConfirm(_)
            | PaymentIntentCapture(_)
            | PaymentIntentCancel(_) => "payment_intents",
            ChargeList | ChargeRetrieve(_) => "charges",
            RefundCreate | RefundList | RefundRetrieve(_) | RefundUpdate(_) => "refunds",
            EventList | EventRetrieve(_) => "events",
            WebhookEndpointCreate
            | WebhookEndpointList
            | WebhookEndpointRetrieve(_)
            | WebhookEndpointUpdate(_)
            | WebhookEndpointDelete(_)
            | WebhookEndpointRollSecret(_)
            | WebhookDeliveryList
            | WebhookDeliveryRetrieve(_)
            | WebhookDeliveryRetry(_) => "webhook_endpoints",
            ReviewList | ReviewRetrieve(_) | ReviewApprove(_) => "reviews",
            RadarRuleCreate | RadarRuleList | RadarRuleRetrieve(_) | RadarRuleDelete(_)
            | RadarRuleDryRun => "radar_rules",
            ValueListCreate
            | ValueListList
            | ValueListRetrieve(_)
            | ValueListUpdate(_)
            | ValueListDelete(_)
            | ValueListItemCreate
            | ValueListItemList
            | ValueListItemRetrieve(_)
            | ValueListItemDelete(_) => "radar_value_lists",
            CheckoutSessionCreate
            | CheckoutSessionList
            | CheckoutSessionRetrieve(_)
            | CheckoutSessionExpire(_)
            | CheckoutSessionLineItems(_) => "checkout_sessions",
        }
    }

    /// Whether the call changes anything.
    pub(crate) fn writes(&self) -> bool {
        use Call::*;
        !matches!(
            self,
            CustomerList
                | CustomerRetrieve(_)
                | CustomerPaymentMethods(_)
                | PaymentMethodList
                | PaymentMethodRetrieve(_)
                | PaymentIntentList
                | PaymentIntentRetrieve(_)
                | ChargeList
                | ChargeRetrieve(_)
                | RefundList
                | RefundRetrieve(_)
                | EventList
                | EventRetrieve(_)
                | WebhookEndpointList
                | WebhookEndpointRetrieve(_)
                | WebhookDeliveryList
                | WebhookDeliveryRetrieve(_)
                | ReviewList
                | ReviewRetrieve(_)
                | RadarRuleList
                | RadarRuleRetrieve(_)
                | ValueListList
                | ValueListRetrieve(_)
                | ValueListItemList
                | ValueListItemRetrieve(_)
                | CheckoutSessionList
                | CheckoutSessionRetrieve(_)
                | CheckoutSessionLineItems(_)
        )
    }

    /// The browser calls: the only ones a publishable key may make (PaymentIntent
    /// calls additionally need the intent's client secret).
    pub(crate) fn allowed_for_publishable_key(&self) -> bool {
        matches!(
            self,
            Call::PaymentMethodCreate
                | Call::PaymentIntentRetrieve(_)
                | Call::PaymentIntentConfirm(_)
        )
    }

    /// A short name for logs (`payment_intents.confirm`), carrying no caller data.
    pub(crate) fn label(&self) -> &'static str {
        use Call::*;
        match self {
            CustomerCreate => "customers.create",
            CustomerList => "customers.list",
            CustomerRetrieve(_) => "customers.retrieve",
            CustomerUpdate(_) => "customers.update",
            CustomerDelete(_) => "customers.delete",
            CustomerPaymentMethods(_) => "customers.list_payment_methods",
            PaymentMethodCreate => "payment_methods.create",
            PaymentMethodList => "payment_methods.list",
            PaymentMethodRetrieve(_) => "payment_methods.retrieve",
            PaymentMethodUpdate(_) => "payment_methods.update",
            PaymentMethodAttach(_) => "payment_methods.attach",
            PaymentMethodDetach(_) => "payment_methods.detach",
            PaymentIntentCreate => "payment_intents.create",
            PaymentIntentList => "payment_intents.list",
            PaymentIntentRetrieve(_) => "payment_intents.retrieve",
            PaymentIntentUpdate(_) => "payment_intents.update",
            PaymentIntentConfirm(_) => "payment_intents.confirm",
            PaymentIntentCapture(_) => "payment_intents.capture",
            PaymentIntentCancel(_) => "payment_intents.cancel",
            ChargeList => "charges.list",
            ChargeRetrieve(_) => "charges.retrieve",
            RefundCreate => "refunds.create",
            RefundList => "refunds.list",
            RefundRetrieve(_) => "refunds.retrieve",
            RefundUpdate(_) => "refunds.update",
            EventList => "events.list",
            EventRetrieve(_) => "events.retrieve",
            WebhookEndpointCreate => "webhook_endpoints.create",
            WebhookEndpointList => "webhook_endpoints.list",
            WebhookEndpointRetrieve(_) => "webhook_endpoints.retrieve",
            WebhookEndpointUpdate(_) => "webhook_endpoints.update",
            WebhookEndpointDelete(_) => "webhook_endpoints.delete",
            WebhookEndpointRollSecret(_) => "webhook_endpoints.roll_secret",
            WebhookDeliveryList => "webhook_deliveries.list",
            WebhookDeliveryRetrieve(_) => "webhook_deliveries.retrieve",
            WebhookDeliveryRetry(_) => "webhook_deliveries.retry",
            ReviewList => "reviews.list",
            ReviewRetrieve(_) => "reviews.retrieve",
            ReviewApprove(_) => "reviews.approve",
            RadarRuleCreate => "radar_rules.create",
            RadarRuleList => "radar_rules.list",
            RadarRuleRetrieve(_) => "radar_rules.retrieve",
            RadarRuleDelete(_) => "radar_rules.delete",
            RadarRuleDryRun => "radar_rules.dry_run",
            ValueListCreate => "radar.value_lists.create",
            ValueListList => "radar.value_lists.list",
            ValueListRetrieve(_) => "radar.value_lists.retrieve",
            ValueListUpdate(_) => "radar.value_lists.update",
            ValueListDelete(_) => "radar.value_lists.delete",
            ValueListItemCreate => "radar.value_list_items.create",
            ValueListItemList => "radar.value_list_items.list",
            ValueListItemRetrieve(_) => "radar.value_list_items.retrieve",
            ValueListItemDelete(_) => "radar.value_list_items.delete",
            CheckoutSessionCreate => "checkout.sessions.create",
            CheckoutSessionList => "checkout.sessions.list",
            CheckoutSessionRetrieve(_) => "checkout.sessions.retrieve",
            CheckoutSessionExpire(_) => "checkout.sessions.expire",
            CheckoutSessionLineItems(_) => "checkout.sessions.list_line_items",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_calls() {
        assert_eq!(
            Call::parse(&Method::POST, "/v1/payment_intents/pi_1/confirm"),
            Some(Call::PaymentIntentConfirm("pi_1".into()))
        );
        assert_eq!(
            Call::parse(&Method::GET, "/v1/customers/"),
            Some(Call::CustomerList)
        );
        assert_eq!(
            Call::parse(&Method::DELETE, "/v1/payment_intents/pi_1"),
            None
        );
        assert_eq!(Call::parse(&Method::GET, "/v2/customers"), None);
        assert_eq!(
            Call::parse(&Method::POST, "/v1/checkout/sessions/cs_test_1/expire"),
            Some(Call::CheckoutSessionExpire("cs_test_1".into()))
        );
        assert_eq!(
            Call::parse(&Method::GET, "/v1/checkout/sessions/cs_test_1/line_items"),
            Some(Call::CheckoutSessionLineItems("cs_test_1".into()))
        );
        assert_eq!(
            Call::parse(&Method::DELETE, "/v1/checkout/sessions/cs_test_1"),
            None
        );
    }

    #[test]
    fn checkout_sessions_are_for_secret_and_restricted_keys_only() {
        for call in [
            Call::CheckoutSessionCreate,
            Call::CheckoutSessionList,
            Call::CheckoutSessionRetrieve("cs_test_1".into()),
            Call::CheckoutSessionExpire("cs_test_1".into()),
            Call::CheckoutSessionLineItems("cs_test_1".into()),
        ] {
            assert!(!call.allowed_for_publishable_key(), "{call:?}");
            assert_eq!(call.resource(), "checkout_sessions");
            assert!(crate::accounts::RESOURCES.contains(&call.resource()));
        }
    }
}
