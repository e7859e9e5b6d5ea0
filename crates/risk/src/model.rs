//! The risk score: a logistic model over an attempt's [`Signals`], whose weights are a
//! versioned JSON file (`models/default.json` is bundled; `docs/RISK_MODEL.md` says how
//! it was trained and how to ship another).
//!
//! `score = round(100 · σ(intercept + Σ weightᵢ · (clip(xᵢ) − meanᵢ) / scaleᵢ))`, where
//! `clip` keeps a feature within the `min`/`max` it took in training (when the file
//! gives them), and the
//! level is `normal` below [`ELEVATED_AT`], `elevated` below [`HIGHEST_AT`], `highest`
//! from there. The features `xᵢ` are computed from the signals by [`feature`]; a file
//! must list each of [`FEATURES`] exactly once, so a model trained for another feature
//! set is refused when it is loaded, not misread.

use serde::Deserialize;

use crate::attribute::{BoolAttribute, NumberAttribute, StringAttribute};
use crate::signals::Signals;

/// The model file format this build reads.
pub const FORMAT: &str = "tessera-risk-logistic/1";

/// The bundled default model.
pub const BUNDLED_MODEL: &str = include_str!("../models/default.json");

/// Scores from here are `elevated`.
pub const ELEVATED_AT: u8 = 65;

/// Scores from here are `highest`.
pub const HIGHEST_AT: u8 = 75;

/// The features a model is over, in file order.
pub const FEATURES: [&str; 18] = [
    "amount_usd_log",
    "hour_sin",
    "hour_cos",
    "card_attempts_1h_log",
    "card_attempts_24h_log",
    "card_attempts_7d_log",
    "card_declines_24h_log",
    "card_ip_count_24h_log",
    "ip_attempts_1h_log",
    "ip_declines_24h_log",
    "ip_card_count_24h_log",
    "email_attempts_24h_log",
    "customer_age_days_log",
    "country_mismatch",
    "billing_country_mismatch",
    "disposable_email",
    "prepaid_card",
    "three_d_secure",
];

/// The risk level of a score.
pub fn level(score: u8) -> &'static str {
    if score >= HIGHEST_AT {
        "highest"
    } else if score >= ELEVATED_AT {
        "elevated"
    } else {
        "normal"
    }
}

/// Feature `index` of [`FEATURES`] for `signals`. A missing count is 0 (no earlier
/// attempts known), a missing flag is 0 (no mismatch known); a missing amount (a
/// currency Tessera does not convert) is `None`, which the score treats as the
/// training mean, so it moves the score neither way.
pub fn feature(index: usize, s: &Signals) -> Option<f64> {
    use NumberAttribute as N;
    let log = |a: N| s.number(a).map_or(0.0, |v| v.max(0.0).ln_1p());
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let hour_angle = || {
        s.number(N::HourOfDay)
            .map(|h| h / 24.0 * std::f64::consts::TAU)
    };
    let differ = |a: StringAttribute, b: StringAttribute| {
        flag(matches!((s.string(a), s.string(b)), (Some(x), Some(y)) if x != y))
    };
    Some(match index {
        0 => s.number(N::AmountInUsd)?.max(0.0).ln_1p(),
        1 => hour_angle().map_or(0.0, f64::sin),
        2 => hour_angle().map_or(0.0, f64::cos),
        3 => log(N::TotalChargesPerCardNumberHourly),
        4 => log(N::TotalChargesPerCardNumberDaily),
        5 => log(N::TotalChargesPerCardNumberWeekly),
        6 => log(N::DeclinedChargesPerCardNumberDaily),
        7 => log(N::IpCountForCardNumberDaily),
        8 => log(N::TotalChargesPerIpAddressHourly),
        9 => log(N::DeclinedChargesPerIpAddressDaily),
        10 => log(N::CardCountForIpAddressDaily),
        11 => log(N::TotalChargesPerEmailDaily),
        12 => log(N::CustomerAgeInDays),
        13 => differ(StringAttribute::IpCountry, StringAttribute::CardCountry),
        14 => differ(
            StringAttribute::BillingAddressCountry,
            StringAttribute::CardCountry,
        ),
        15 => flag(s.boolean(BoolAttribute::IsDisposableEmail) == Some(true)),
        16 => flag(s.string(StringAttribute::CardFunding) == Some("prepaid")),
        17 => flag(s.boolean(BoolAttribute::Is3dSecureAuthenticated) == Some(true)),
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFeature {
    name: String,
    mean: f64,
    scale: f64,
    weight: f64,
    /// The range the feature took in training; values outside are clipped to it, so
    /// an attempt unlike anything the model saw cannot push the score without bound.
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

#[derive(Deserialize)]
struct File {
    format: String,
    version: String,
    intercept: f64,
    features: Vec<FileFeature>,
}

/// One feature's part of the score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Term {
    mean: f64,
    scale: f64,
    weight: f64,
    min: f64,
    max: f64,
}

impl Term {
    const NEUTRAL: Term = Term {
        mean: 0.0,
        scale: 1.0,
        weight: 0.0,
        min: f64::NEG_INFINITY,
        max: f64::INFINITY,
    };

    fn contribution(&self, x: Option<f64>) -> f64 {
        match x {
            Some(x) => self.weight * (x.clamp(self.min, self.max) - self.mean) / self.scale,
            None => 0.0,
        }
    }
}

/// A loaded risk model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    version: String,
    intercept: f64,
    /// Per feature, in [`FEATURES`] order.
    terms: [Term; FEATURES.len()],
}

impl Model {
    /// Reads a model file; the error says what is wrong with it.
    pub fn from_json(text: &str) -> Result<Model, String> {
        let file: File =
            serde_json::from_str(text).map_err(|e| format!("not a risk model file: {e}"))?;
        if file.format != FORMAT {
            return Err(format!(
                "model format {:?} is not {FORMAT:?}, the one this build reads",
                file.format
            ));
        }
        if !file.intercept.is_finite() {
            return Err("the intercept is not a finite number".into());
        }
        let mut terms = [Term::NEUTRAL; FEATURES.len()];
        let mut seen = [false; FEATURES.len()];
        for f in &file.features {
            let Some(i) = FEATURES.iter().position(|n| *n == f.name) else {
                return Err(format!("unknown feature {:?}", f.name));
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("feature {:?} is listed twice", f.name));
            }
            if !(f.mean.is_finite() && f.weight.is_finite() && f.scale.is_finite() && f.scale > 0.0)
            {
                return Err(format!(
                    "feature {:?} needs a finite mean and weight and a scale above 0",
                    f.name
                ));
            }
            let (min, max) = (
                f.min.unwrap_or(f64::NEG_INFINITY),
                f.max.unwrap_or(f64::INFINITY),
            );
            if min.is_nan() || max.is_nan() || min > max {
                return Err(format!("feature {:?} has a min above its max", f.name));
            }
            terms[i] = Term {
                mean: f.mean,
                scale: f.scale,
                weight: f.weight,
                min,
                max,
            };
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(format!("feature {:?} is missing", FEATURES[i]));
        }
        Ok(Model {
            version: file.version,
            intercept: file.intercept,
            terms,
        })
    }

    /// The bundled default model.
    pub fn bundled() -> Model {
        Model::from_json(BUNDLED_MODEL).expect("the bundled model is valid (tested)")
    }

    /// The model file's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The risk score, 0–100, of an attempt with these signals.
    pub fn score(&self, signals: &Signals) -> u8 {
        let z = self
            .terms
            .iter()
            .enumerate()
            .fold(self.intercept, |z, (i, term)| {
                z + term.contribution(feature(i, signals))
            });
        let p = 1.0 / (1.0 + (-z).exp());
        (p * 100.0).round().clamp(0.0, 100.0) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(intercept: f64, weights: &[(&str, f64)]) -> String {
        let features: Vec<_> = FEATURES
            .iter()
            .map(|n| {
                let w = weights
                    .iter()
                    .find(|(m, _)| m == n)
                    .map_or(0.0, |(_, w)| *w);
                serde_json::json!({"name": n, "mean": 0.0, "scale": 1.0, "weight": w})
            })
            .collect();
        serde_json::json!({
            "format": FORMAT, "version": "t", "intercept": intercept, "features": features
        })
        .to_string()
    }

    #[test]
    fn the_bundled_model_loads_and_scores_an_ordinary_payment_normal() {
        let m = Model::bundled();
        let s = Signals::new()
            .with_number(NumberAttribute::AmountInUsd, 20.0)
            .with_number(NumberAttribute::HourOfDay, 14.0)
            .with_string(StringAttribute::CardCountry, "US")
            .with_string(StringAttribute::IpCountry, "US");
        assert_eq!(level(m.score(&s)), "normal", "score {}", m.score(&s));
    }

    #[test]
    fn scores_follow_the_logistic_formula() {
        let m = Model::from_json(&file(0.0, &[])).unwrap();
        assert_eq!(m.score(&Signals::new()), 50);
        let m = Model::from_json(&file(-2.0, &[("country_mismatch", 3.5)])).unwrap();
        let home = Signals::new()
            .with_string(StringAttribute::CardCountry, "US")
            .with_string(StringAttribute::IpCountry, "US");
        let abroad = home.clone().with_string(StringAttribute::IpCountry, "NG");
        assert_eq!(m.score(&home), 12); // σ(-2) = 0.119
        assert_eq!(m.score(&abroad), 82); // σ(1.5) = 0.818
        assert_eq!(level(m.score(&abroad)), "highest");
    }

    #[test]
    fn features_are_clipped_to_their_training_range() {
        let mut v: serde_json::Value =
            serde_json::from_str(&file(-4.0, &[("card_attempts_24h_log", 1.0)])).unwrap();
        v["features"][4]["min"] = serde_json::json!(0.0);
        v["features"][4]["max"] = serde_json::json!(2.0);
        let m = Model::from_json(&v.to_string()).unwrap();
        let busy =
            |n: f64| Signals::new().with_number(NumberAttribute::TotalChargesPerCardNumberDaily, n);
        // ln(1 + 6) = 1.95 is inside the range; ln(1 + 1000) is clipped to 2.
        assert_eq!(m.score(&busy(6.0)), 11); // σ(-4 + 1.95)
        assert_eq!(m.score(&busy(1000.0)), 12); // σ(-4 + 2)
        v["features"][4]["min"] = serde_json::json!(3.0);
        assert!(
            Model::from_json(&v.to_string())
                .unwrap_err()
                .contains("min above its max")
        );
    }

    #[test]
    fn a_missing_amount_moves_the_score_neither_way() {
        let mut v: serde_json::Value =
            serde_json::from_str(&file(0.0, &[("amount_usd_log", 2.0)])).unwrap();
        v["features"][0]["mean"] = serde_json::json!(3.0);
        let m = Model::from_json(&v.to_string()).unwrap();
        assert_eq!(m.score(&Signals::new()), 50);
        let small = Signals::new().with_number(NumberAttribute::AmountInUsd, 1.0);
        assert!(m.score(&small) < 50);
    }

    #[test]
    fn levels_have_radar_bounds() {
        assert_eq!(level(64), "normal");
        assert_eq!(level(65), "elevated");
        assert_eq!(level(74), "elevated");
        assert_eq!(level(75), "highest");
        assert_eq!(level(100), "highest");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(
            Model::from_json("{")
                .unwrap_err()
                .contains("not a risk model")
        );
        let wrong_format = file(0.0, &[]).replace(FORMAT, "other/2");
        assert!(
            Model::from_json(&wrong_format)
                .unwrap_err()
                .contains("other/2")
        );
        let renamed = file(0.0, &[]).replace("\"prepaid_card\"", "\"prepaid\"");
        assert!(
            Model::from_json(&renamed)
                .unwrap_err()
                .contains("unknown feature \"prepaid\"")
        );
        let zero_scale = file(0.0, &[]).replacen("\"scale\":1.0", "\"scale\":0.0", 1);
        assert!(
            Model::from_json(&zero_scale)
                .unwrap_err()
                .contains("scale above 0")
        );
        let mut v: serde_json::Value = serde_json::from_str(&file(0.0, &[])).unwrap();
        v["features"].as_array_mut().unwrap().pop();
        assert!(
            Model::from_json(&v.to_string())
                .unwrap_err()
                .contains("\"three_d_secure\" is missing")
        );
    }
}
