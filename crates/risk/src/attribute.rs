//! The attributes a rule can read, written `:name:` in rules, grouped by the type of
//! their values so that a [`Signals`](crate::Signals) value can only ever hold a value
//! of the right type.

use std::fmt;

/// Declares one attribute enum: variants with their rule names and docs, `ALL`,
/// `name()` and `from_name()`.
macro_rules! attribute_enum {
    (
        $(#[$meta:meta])*
        $enum:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $enum {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $enum {
            /// Every attribute of this type, in declaration order.
            pub const ALL: &'static [$enum] = &[ $( $enum::$variant, )* ];

            /// The attribute's name as written between colons in a rule.
            pub fn name(self) -> &'static str {
                match self {
                    $( $enum::$variant => $name, )*
                }
            }

            /// The attribute called `name` (without colons, ASCII case-insensitive).
            pub fn from_name(name: &str) -> Option<$enum> {
                $enum::ALL
                    .iter()
                    .copied()
                    .find(|a| a.name().eq_ignore_ascii_case(name))
            }

            pub(crate) fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, ":{}:", self.name())
            }
        }
    };
}

attribute_enum! {
    /// An attribute whose value is a number (compared as `f64`).
    NumberAttribute {
        /// `:risk_score:`: the risk score from 0 (least risky) to 100.
        RiskScore = "risk_score",
        /// `:amount_in_usd:`: the payment's amount converted to US dollars (major units).
        AmountInUsd = "amount_in_usd",
        /// `:total_charges_per_card_number_hourly:`: earlier attempts (charges, whatever their outcome) with this card in the past hour.
        TotalChargesPerCardNumberHourly = "total_charges_per_card_number_hourly",
        /// `:total_charges_per_card_number_daily:`: earlier attempts (charges, whatever their outcome) with this card in the past day.
        TotalChargesPerCardNumberDaily = "total_charges_per_card_number_daily",
        /// `:total_charges_per_card_number_weekly:`: earlier attempts (charges, whatever their outcome) with this card in the past week.
        TotalChargesPerCardNumberWeekly = "total_charges_per_card_number_weekly",
        /// `:total_charges_per_ip_address_hourly:`: earlier attempts (charges, whatever their outcome) from this IP address in the past hour.
        TotalChargesPerIpAddressHourly = "total_charges_per_ip_address_hourly",
        /// `:total_charges_per_ip_address_daily:`: earlier attempts (charges, whatever their outcome) from this IP address in the past day.
        TotalChargesPerIpAddressDaily = "total_charges_per_ip_address_daily",
        /// `:total_charges_per_ip_address_weekly:`: earlier attempts (charges, whatever their outcome) from this IP address in the past week.
        TotalChargesPerIpAddressWeekly = "total_charges_per_ip_address_weekly",
        /// `:total_charges_per_email_hourly:`: earlier attempts (charges, whatever their outcome) with this email address in the past hour.
        TotalChargesPerEmailHourly = "total_charges_per_email_hourly",
        /// `:total_charges_per_email_daily:`: earlier attempts (charges, whatever their outcome) with this email address in the past day.
        TotalChargesPerEmailDaily = "total_charges_per_email_daily",
        /// `:total_charges_per_email_weekly:`: earlier attempts (charges, whatever their outcome) with this email address in the past week.
        TotalChargesPerEmailWeekly = "total_charges_per_email_weekly",
        /// `:total_charges_per_customer_hourly:`: earlier attempts (charges, whatever their outcome) for this customer in the past hour.
        TotalChargesPerCustomerHourly = "total_charges_per_customer_hourly",
        /// `:total_charges_per_customer_daily:`: earlier attempts (charges, whatever their outcome) for this customer in the past day.
        TotalChargesPerCustomerDaily = "total_charges_per_customer_daily",
        /// `:total_charges_per_customer_weekly:`: earlier attempts (charges, whatever their outcome) for this customer in the past week.
        TotalChargesPerCustomerWeekly = "total_charges_per_customer_weekly",
        /// `:declined_charges_per_card_number_hourly:`: earlier declined or blocked attempts with this card in the past hour.
        DeclinedChargesPerCardNumberHourly = "declined_charges_per_card_number_hourly",
        /// `:declined_charges_per_card_number_daily:`: earlier declined or blocked attempts with this card in the past day.
        DeclinedChargesPerCardNumberDaily = "declined_charges_per_card_number_daily",
        /// `:declined_charges_per_card_number_weekly:`: earlier declined or blocked attempts with this card in the past week.
        DeclinedChargesPerCardNumberWeekly = "declined_charges_per_card_number_weekly",
        /// `:declined_charges_per_ip_address_hourly:`: earlier declined or blocked attempts from this IP address in the past hour.
        DeclinedChargesPerIpAddressHourly = "declined_charges_per_ip_address_hourly",
        /// `:declined_charges_per_ip_address_daily:`: earlier declined or blocked attempts from this IP address in the past day.
        DeclinedChargesPerIpAddressDaily = "declined_charges_per_ip_address_daily",
        /// `:declined_charges_per_ip_address_weekly:`: earlier declined or blocked attempts from this IP address in the past week.
        DeclinedChargesPerIpAddressWeekly = "declined_charges_per_ip_address_weekly",
        /// `:declined_charges_per_email_hourly:`: earlier declined or blocked attempts with this email address in the past hour.
        DeclinedChargesPerEmailHourly = "declined_charges_per_email_hourly",
        /// `:declined_charges_per_email_daily:`: earlier declined or blocked attempts with this email address in the past day.
        DeclinedChargesPerEmailDaily = "declined_charges_per_email_daily",
        /// `:declined_charges_per_email_weekly:`: earlier declined or blocked attempts with this email address in the past week.
        DeclinedChargesPerEmailWeekly = "declined_charges_per_email_weekly",
        /// `:declined_charges_per_customer_hourly:`: earlier declined or blocked attempts for this customer in the past hour.
        DeclinedChargesPerCustomerHourly = "declined_charges_per_customer_hourly",
        /// `:declined_charges_per_customer_daily:`: earlier declined or blocked attempts for this customer in the past day.
        DeclinedChargesPerCustomerDaily = "declined_charges_per_customer_daily",
        /// `:declined_charges_per_customer_weekly:`: earlier declined or blocked attempts for this customer in the past week.
        DeclinedChargesPerCustomerWeekly = "declined_charges_per_customer_weekly",
        /// `:card_count_for_ip_address_hourly:`: distinct cards among the earlier attempts from this IP
        /// address in the past hour.
        CardCountForIpAddressHourly = "card_count_for_ip_address_hourly",
        /// `:card_count_for_ip_address_daily:`: distinct cards among the earlier attempts from this IP
        /// address in the past day.
        CardCountForIpAddressDaily = "card_count_for_ip_address_daily",
        /// `:card_count_for_ip_address_weekly:`: distinct cards among the earlier attempts from this IP
        /// address in the past week.
        CardCountForIpAddressWeekly = "card_count_for_ip_address_weekly",
        /// `:ip_count_for_card_number_hourly:`: distinct IP addresses among the earlier attempts with
        /// this card in the past hour.
        IpCountForCardNumberHourly = "ip_count_for_card_number_hourly",
        /// `:ip_count_for_card_number_daily:`: distinct IP addresses among the earlier attempts with
        /// this card in the past day.
        IpCountForCardNumberDaily = "ip_count_for_card_number_daily",
        /// `:ip_count_for_card_number_weekly:`: distinct IP addresses among the earlier attempts with
        /// this card in the past week.
        IpCountForCardNumberWeekly = "ip_count_for_card_number_weekly",
        /// `:hour_of_day:`: the attempt's time of day in UTC, in hours (0 to 24, e.g.
        /// 13.5 at half past one in the afternoon).
        HourOfDay = "hour_of_day",
        /// `:customer_age_in_days:`: days since the payment's Customer was created
        /// (missing when the payment has no Customer).
        CustomerAgeInDays = "customer_age_in_days",
        /// `:network_risk_score:`: the card network's own risk score for the card,
        /// 0–100, when the network gives one.
        NetworkRiskScore = "network_risk_score",
    }
}

attribute_enum! {
    /// An attribute whose value is a string (compared exactly, byte for byte).
    StringAttribute {
        /// `:risk_level:`: `normal`, `elevated`, `highest`, `not_assessed` or `unknown`.
        RiskLevel = "risk_level",
        /// `:card_country:`: the card issuer's country, two-letter upper-case ISO code.
        CardCountry = "card_country",
        /// `:ip_country:`: the country of the client's IP address, two-letter upper-case
        /// ISO code.
        IpCountry = "ip_country",
        /// `:billing_address_country:`: the billing address's country, two-letter
        /// upper-case ISO code.
        BillingAddressCountry = "billing_address_country",
        /// `:card_funding:`: `credit`, `debit`, `prepaid` or `unknown`.
        CardFunding = "card_funding",
        /// `:cvc_check:`: `pass`, `fail`, `unavailable` or `unchecked`.
        CvcCheck = "cvc_check",
        /// `:address_line1_check:`: the issuer's check of the billing address's first
        /// line: `pass`, `fail`, `unavailable` or `unchecked`.
        AddressLine1Check = "address_line1_check",
        /// `:address_zip_check:`: the issuer's check of the billing postal code:
        /// `pass`, `fail`, `unavailable` or `unchecked`.
        AddressZipCheck = "address_zip_check",
        /// `:card_brand:`: the card's brand, e.g. `visa`, `mastercard`, `amex`.
        CardBrand = "card_brand",
        /// `:card_bin:`: the card number's first six digits.
        CardBin = "card_bin",
        /// `:card_fingerprint:`: the card's (per-account) fingerprint.
        CardFingerprint = "card_fingerprint",
        /// `:email:`: the customer's email address.
        Email = "email",
        /// `:email_domain:`: the domain of the customer's email address.
        EmailDomain = "email_domain",
        /// `:ip_address:`: the client's IP address.
        IpAddress = "ip_address",
    }
}

attribute_enum! {
    /// An attribute whose value is true or false.
    BoolAttribute {
        /// `:is_3d_secure:`: the payment went through 3-D Secure.
        Is3dSecure = "is_3d_secure",
        /// `:is_3d_secure_authenticated:`: 3-D Secure authenticated the cardholder.
        Is3dSecureAuthenticated = "is_3d_secure_authenticated",
        /// `:is_disposable_email:`: the email address is from a disposable provider.
        IsDisposableEmail = "is_disposable_email",
        /// `:is_anonymous_ip:`: the IP address belongs to a proxy, VPN or Tor exit.
        IsAnonymousIp = "is_anonymous_ip",
    }
}

/// The type of an attribute's or a literal's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A number (`f64`).
    Number,
    /// A string.
    String,
    /// A boolean.
    Bool,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Number => "a number",
            ValueType::String => "a string",
            ValueType::Bool => "a boolean",
        })
    }
}

/// Any attribute a rule can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// A number attribute.
    Number(NumberAttribute),
    /// A string attribute.
    String(StringAttribute),
    /// A boolean attribute.
    Bool(BoolAttribute),
}

impl Attribute {
    /// The attribute called `name` (without colons, ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Attribute> {
        NumberAttribute::from_name(name)
            .map(Attribute::Number)
            .or_else(|| StringAttribute::from_name(name).map(Attribute::String))
            .or_else(|| BoolAttribute::from_name(name).map(Attribute::Bool))
    }

    /// Every attribute, numbers first, then strings, then booleans.
    pub fn all() -> impl Iterator<Item = Attribute> {
        let numbers = NumberAttribute::ALL.iter().copied().map(Attribute::Number);
        let strings = StringAttribute::ALL.iter().copied().map(Attribute::String);
        let bools = BoolAttribute::ALL.iter().copied().map(Attribute::Bool);
        numbers.chain(strings).chain(bools)
    }

    /// The attribute's name as written between colons in a rule.
    pub fn name(self) -> &'static str {
        match self {
            Attribute::Number(a) => a.name(),
            Attribute::String(a) => a.name(),
            Attribute::Bool(a) => a.name(),
        }
    }

    /// The type of the attribute's values.
    pub fn value_type(self) -> ValueType {
        match self {
            Attribute::Number(_) => ValueType::Number,
            Attribute::String(_) => ValueType::String,
            Attribute::Bool(_) => ValueType::Bool,
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{}:", self.name())
    }
}

impl From<NumberAttribute> for Attribute {
    fn from(a: NumberAttribute) -> Attribute {
        Attribute::Number(a)
    }
}

impl From<StringAttribute> for Attribute {
    fn from(a: StringAttribute) -> Attribute {
        Attribute::String(a)
    }
}

impl From<BoolAttribute> for Attribute {
    fn from(a: BoolAttribute) -> Attribute {
        Attribute::Bool(a)
    }
}

impl StringAttribute {
    /// Checks that a string literal compared with this attribute is a value the
    /// attribute can take, so that a typo (`'hgihest'`, `'us'`) is an error when the
    /// rule is written instead of a rule that silently never matches. Returns what the
    /// values must look like when `value` is not one of them.
    pub(crate) fn check_value(self, value: &str) -> Result<(), String> {
        let one_of = |allowed: &[&str]| {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(format!("one of {}", allowed.join(", ")))
            }
        };
        match self {
            StringAttribute::RiskLevel => {
                one_of(&["normal", "elevated", "highest", "not_assessed", "unknown"])
            }
            StringAttribute::CardFunding => one_of(&["credit", "debit", "prepaid", "unknown"]),
            StringAttribute::CvcCheck
            | StringAttribute::AddressLine1Check
            | StringAttribute::AddressZipCheck => {
                one_of(&["pass", "fail", "unavailable", "unchecked"])
            }
            StringAttribute::CardCountry
            | StringAttribute::IpCountry
            | StringAttribute::BillingAddressCountry => {
                if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
                    Ok(())
                } else {
                    Err("a two-letter upper-case country code such as 'US'".to_owned())
                }
            }
            StringAttribute::CardBrand
            | StringAttribute::CardBin
            | StringAttribute::CardFingerprint
            | StringAttribute::Email
            | StringAttribute::EmailDomain
            | StringAttribute::IpAddress => Ok(()),
        }
    }
}
