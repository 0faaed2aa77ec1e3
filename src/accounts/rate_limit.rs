//! Token-bucket rate limits per client IP and per account.
//!
//! Each (action, subject) pair has a bucket that holds at most `burst`
//! tokens and refills at `per_second`; an attempt takes one. The operations
//! decide what counts, mostly following Synapse: every login attempt counts
//! against the IP; a successful one against the account; a failed one
//! against the failed-login bucket of the pair (named account, IP), checked
//! before the password is. Keying failures per source, as Synapse does, is
//! what keeps a stranger who knows a user ID from locking its owner out: the
//! stranger's wrong passwords lock the stranger's IP out of that account,
//! never the owner's. (Distributed guessing from many addresses is slowed by
//! each address's own login bucket instead.) `GET /register/available`, an
//! oracle for which names exist, has its own per-IP bucket. Registration differs: every registration request
//! that starts a flow counts against the registration bucket (Synapse counts
//! created accounts), because starting one stores a UIA session and hashes
//! a password before any account exists. IPv6 clients are limited per /64,
//! the block a single host usually controls.
//!
//! State lives in memory, bounded by `max_tracked_keys`. When the table is
//! full, only buckets that have refilled completely are forgotten: they are
//! indistinguishable from new ones, so forgetting them changes no answer.
//! A bucket that still counts something is never forgotten (else flooding
//! the table with fresh keys would reset a locked one); when every tracked
//! bucket is active, a request that needs a new bucket is refused with 429
//! until some refill. [`RateLimiter::charge`] (recording a failure that
//! already happened) is the one exception: it may exceed the bound rather
//! than forget the failure, and it only follows an attempt that itself
//! passed a bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::config::{Bucket, RateLimits};
use crate::error::{Error, Result};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    Register,
    Login,
    LoginFailed,
    Threepid,
    /// `GET /register/available` and the registration-token validity check.
    Available,
    /// A wrong registration token.
    RegistrationTokenFailed,
    /// A password reset without an access token (the e-mail flow).
    PasswordReset,
    /// A validation mail requested (`requestToken`).
    Email,
}

/// Who is being limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Ip(IpAddr),
    Account(String),
    /// An e-mail address (canonical form), for the mail sent to it.
    Address(String),
    /// An account as named from one client IP (see [`Subject::ip`]): the key
    /// of failed logins.
    AccountFrom(String, IpAddr),
}

impl Subject {
    pub(crate) fn ip(ip: IpAddr) -> Self {
        Subject::Ip(Self::block(ip))
    }

    pub(crate) fn account_from(account: &str, ip: IpAddr) -> Self {
        Subject::AccountFrom(account.to_owned(), Self::block(ip))
    }

    /// The address block a client is limited as.
    fn block(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        }
    }
}

/// How long to tell a client to wait when a bucket never refills.
const NEVER_MS: u64 = 24 * 60 * 60 * 1000;

pub(crate) struct RateLimiter {
    config: RateLimits,
    buckets: Mutex<HashMap<(Action, Subject), Level>>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(crate) fn new(config: &RateLimits) -> Self {
        RateLimiter { config: config.clone(), buckets: Mutex::new(HashMap::new()) }
    }

    /// Fails with 429 if `subject` has no attempt left, without using one.
    pub(crate) fn check(&self, action: Action, subject: &Subject) -> Result<()> {
        self.apply(action, subject, false, |available| if available >= 1.0 { Ok(0.0) } else { Err(()) })
    }

    /// Uses one attempt, or fails with 429 if none is left.
    pub(crate) fn consume(&self, action: Action, subject: &Subject) -> Result<()> {
        self.apply(action, subject, false, |available| if available >= 1.0 { Ok(1.0) } else { Err(()) })
    }

    /// Records an attempt that already happened (a failed login): uses one
    /// if any is left, never fails.
    pub(crate) fn charge(&self, action: Action, subject: &Subject) {
        // Infallible by construction: the closure never refuses.
        let _ = self.apply(action, subject, true, |available| Ok(available.min(1.0)));
    }

    fn bucket(&self, action: Action) -> Bucket {
        match action {
            Action::Register => self.config.register,
            Action::Login => self.config.login,
            Action::LoginFailed => self.config.login_failed,
            Action::Threepid => self.config.threepid,
            Action::Available => self.config.available,
            Action::RegistrationTokenFailed => self.config.registration_token_failed,
            Action::PasswordReset => self.config.login,
            Action::Email => self.config.email,
        }
    }

    /// Refills the bucket, lets `decide` pick how many tokens to take (or
    /// refuse), and answers 429 with the wait on refusal.
    /// `overflow`: record the bucket even beyond `max_tracked_keys`.
    fn apply(
        &self,
        action: Action,
        subject: &Subject,
        overflow: bool,
        decide: impl FnOnce(f64) -> Result<f64, ()>,
    ) -> Result<()> {
        if !self.config.enabled {
            return Ok(());
        }
        let bucket = self.bucket(action);
        let burst = f64::from(bucket.burst);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (action, subject.clone());
        let available = buckets.get(&key).map_or(burst, |level| refilled(*level, bucket, now));
        match decide(available) {
            Ok(taken) => {
                if taken > 0.0 || buckets.contains_key(&key) {
                    if !buckets.contains_key(&key) && buckets.len() >= self.config.max_tracked_keys {
                        self.make_room(&mut buckets, now);
                        if buckets.len() >= self.config.max_tracked_keys && !overflow {
                            return Err(Error::limit_exceeded(self.until_room(&buckets, now)));
                        }
                    }
                    buckets.insert(key, Level { tokens: available - taken, at: now });
                }
                Ok(())
            }
            Err(()) => {
                let missing = 1.0 - available;
                let wait_ms = if bucket.per_second > 0.0 {
                    ((missing / bucket.per_second) * 1000.0).ceil() as u64
                } else {
                    NEVER_MS
                };
                Err(Error::limit_exceeded(wait_ms.clamp(1, NEVER_MS)))
            }
        }
    }

    /// Forgets the buckets that have refilled completely, and only those.
    fn make_room(&self, buckets: &mut HashMap<(Action, Subject), Level>, now: Instant) {
        buckets.retain(|(action, _), level| {
            let bucket = self.bucket(*action);
            refilled(*level, bucket, now) < f64::from(bucket.burst)
        });
    }

    /// How long until some tracked bucket has refilled completely (and can
    /// be forgotten), in ms, for the `retry_after_ms` of a full table.
    fn until_room(&self, buckets: &HashMap<(Action, Subject), Level>, now: Instant) -> u64 {
        let soonest = buckets
            .iter()
            .filter_map(|((action, _), level)| {
                let bucket = self.bucket(*action);
                let missing = f64::from(bucket.burst) - refilled(*level, bucket, now);
                (bucket.per_second > 0.0).then(|| ((missing / bucket.per_second) * 1000.0).ceil() as u64)
            })
            .min()
            .unwrap_or(NEVER_MS);
        soonest.clamp(1, NEVER_MS)
    }
}

fn refilled(level: Level, bucket: Bucket, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
    (level.tokens + elapsed * bucket.per_second.max(0.0)).min(f64::from(bucket.burst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn limiter(enabled: bool, max_tracked_keys: usize) -> RateLimiter {
        RateLimiter::new(&RateLimits {
            enabled,
            register: Bucket { per_second: 0.5, burst: 3 },
            login_failed: Bucket { per_second: 0.0, burst: 1 },
            max_tracked_keys,
            ..RateLimits::default()
        })
    }

    fn alice() -> Subject {
        Subject::Account("alice".into())
    }

    #[test]
    fn a_burst_is_allowed_then_429_with_the_wait() {
        let limits = limiter(true, 100);
        for _ in 0..3 {
            limits.consume(Action::Register, &alice()).unwrap();
        }
        let error = limits.consume(Action::Register, &alice()).unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
        let wait = error.retry_after_ms().unwrap();
        assert!((1900..=2000).contains(&wait), "{wait}");
        // Other subjects and actions have their own buckets.
        limits.consume(Action::Register, &Subject::Account("bob".into())).unwrap();
        limits.consume(Action::Login, &alice()).unwrap();
    }

    #[test]
    fn check_does_not_use_an_attempt_and_charge_never_fails() {
        let limits = limiter(true, 100);
        for _ in 0..5 {
            limits.check(Action::LoginFailed, &alice()).unwrap();
        }
        limits.charge(Action::LoginFailed, &alice());
        limits.charge(Action::LoginFailed, &alice());
        let error = limits.check(Action::LoginFailed, &alice()).unwrap_err();
        assert_eq!(error.retry_after_ms(), Some(NEVER_MS));
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let limits = limiter(false, 100);
        for _ in 0..100 {
            limits.consume(Action::Register, &alice()).unwrap();
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let limits = limiter(true, 50);
        for i in 0..1000u32 {
            // Past 50 active buckets, new subjects wait: never unbounded.
            let _ = limits.consume(Action::Register, &Subject::Account(i.to_string()));
        }
        assert!(limits.buckets.lock().unwrap().len() <= 50);
    }

    /// Flooding the table with fresh keys must not reset a locked bucket:
    /// the flood is refused instead (429), and the lock stays.
    #[test]
    fn a_flood_of_new_keys_does_not_forget_a_locked_bucket() {
        let limits = limiter(true, 10);
        limits.charge(Action::LoginFailed, &alice());
        assert!(limits.check(Action::LoginFailed, &alice()).is_err());
        let mut refused = 0;
        for i in 0..1000u32 {
            if let Err(error) = limits.consume(Action::Register, &Subject::Account(format!("flood-{i}"))) {
                assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
                let wait = error.retry_after_ms().unwrap();
                assert!((1..=NEVER_MS).contains(&wait), "{wait}");
                refused += 1;
            }
        }
        assert!(refused > 900, "{refused}");
        assert!(limits.buckets.lock().unwrap().len() <= 10);
        let error = limits.check(Action::LoginFailed, &alice()).unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded), "the locked bucket was forgotten");
    }

    /// Buckets that refilled completely are the ones forgotten.
    #[test]
    fn full_buckets_make_room() {
        let limits = RateLimiter::new(&RateLimits {
            enabled: true,
            register: Bucket { per_second: 1000.0, burst: 1 },
            max_tracked_keys: 5,
            ..RateLimits::default()
        });
        for i in 0..5u32 {
            limits.consume(Action::Register, &Subject::Account(i.to_string())).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        limits.consume(Action::Register, &Subject::Account("new".into())).unwrap();
        assert_eq!(limits.buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Subject::ip(a), Subject::ip(b));
        assert_eq!(Subject::ip(mapped), Subject::ip("192.0.2.1".parse().unwrap()));
    }
}
