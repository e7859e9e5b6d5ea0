//! Request rate limits: token buckets per client IP, per API key, and (stricter) per
//! publishable key, whose endpoints are what card testers hammer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// A rate: tokens added per second, and how many may be saved up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Burst size.
    pub burst: f64,
}

/// The limits the API enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Per secret or restricted key.
    pub key: Rate,
    /// Per client IP address, whatever the key.
    pub ip: Rate,
    /// Per publishable key (browser calls).
    pub publishable: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            key: Rate {
                per_second: 100.0,
                burst: 200.0,
            },
            ip: Rate {
                per_second: 200.0,
                burst: 400.0,
            },
            publishable: Rate {
                per_second: 20.0,
                burst: 40.0,
            },
        }
    }
}

/// What a bucket is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Ip(IpAddr),
    Key([u8; 32]),
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets keyed by subject. Idle full buckets are dropped when the table grows.
pub(crate) struct Limiter {
    buckets: Mutex<HashMap<Subject, Bucket>>,
}

const PRUNE_ABOVE: usize = 100_000;

impl Limiter {
    pub(crate) fn new() -> Limiter {
        Limiter {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `subject`; on refusal, the whole seconds until one is free.
    pub(crate) fn take(&self, subject: Subject, rate: Rate, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second < rate.burst
            });
        }
        let bucket = buckets.entry(subject).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rate.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_trips_and_the_bucket_refills() {
        let limiter = Limiter::new();
        let rate = Rate {
            per_second: 2.0,
            burst: 3.0,
        };
        let t0 = Instant::now();
        let ip = || Subject::Ip("127.0.0.1".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.take(ip(), rate, t0).is_ok());
        }
        assert_eq!(limiter.take(ip(), rate, t0), Err(1));
        // Another subject has its own bucket.
        assert!(limiter.take(Subject::Key([1; 32]), rate, t0).is_ok());
        // Half a second later one token is back.
        assert!(
            limiter
                .take(ip(), rate, t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .take(ip(), rate, t0 + Duration::from_millis(500))
                .is_err()
        );
    }
}
