//! Rate limits (docs/spec.md §6): per client IP before any parsing (tower-governor; IPv6 grouped by
//! /64, `X-Forwarded-For` never trusted), per-IP authentication failures (beyond the burst, 429
//! without verifying), and per source key after verification (so a forger cannot spend a
//! victim's quota).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ConnectInfo;
use governor::clock::{Clock, MonotonicClock, Reference as _};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;
use vigil_core::Policy;

// The limiters below run on an injected clock: the monotonic clock (`Instant`, a vDSO read on
// Linux) in the daemon — governor's default clock (quanta) probes CPUID whenever one is made,
// which a virtual machine traps, and it was being made on every request — and governor's fake
// clock in tests, which move time instead of sleeping.
type KeyedLimiter<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;
type DirectLimiter<C> =
    RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The rate-limiting key of a client: its IPv4 address, or its IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// tower-governor key: the peer address of the TCP connection, grouped by [`client_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerKey;

impl KeyExtractor for PeerKey {
    type Key = IpAddr;
    fn extract<T>(&self, req: &http::Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| client_key(c.0.ip()))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

use axum::http;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// A quota of `burst`, refilled at `per` per `period`.
pub fn quota(burst: u32, per: u32, period: Duration) -> Quota {
    let per = per.max(1);
    Quota::with_period(period / per)
        .unwrap_or_else(|| Quota::per_second(nz(1)))
        .allow_burst(nz(burst))
}

/// Most clients tracked by the failure and source limiters before the oldest state is pruned.
pub const MAX_TRACKED: usize = 65_536;

/// Authentication failures per client.
#[derive(Debug)]
pub struct AuthFailures<C: Clock = MonotonicClock> {
    clock: C,
    limiter: KeyedLimiter<IpAddr, C>,
    blocked: Mutex<HashMap<IpAddr, C::Instant>>,
}

impl AuthFailures {
    /// From the policy's limits, on the monotonic clock.
    pub fn new(policy: &Policy) -> Self {
        AuthFailures::with_clock(policy, MonotonicClock)
    }
}

impl<C: Clock + Clone> AuthFailures<C> {
    /// From the policy's limits, on `clock`.
    pub fn with_clock(policy: &Policy, clock: C) -> Self {
        let l = &policy.limits;
        let q = quota(
            l.auth_fail_burst,
            l.auth_fail_per_minute,
            Duration::from_secs(60),
        );
        AuthFailures {
            limiter: RateLimiter::dashmap_with_clock(q, clock.clone()),
            clock,
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn blocked_map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, C::Instant>> {
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// If the client is over its failure budget: how long until it may try again.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let key = client_key(ip);
        let mut b = self.blocked_map();
        let until = *b.get(&key)?;
        let now = self.clock.now();
        if until <= now {
            b.remove(&key);
            return None;
        }
        Some(until.duration_since(now).into())
    }

    /// Records a failure; past the burst the client is blocked until a token refills.
    pub fn record(&self, ip: IpAddr) {
        let key = client_key(ip);
        if let Err(not_until) = self.limiter.check_key(&key) {
            let now = self.clock.now();
            let until = now + Nanos::from(not_until.wait_time_from(now));
            let mut b = self.blocked_map();
            if b.len() >= MAX_TRACKED {
                b.retain(|_, t| *t > now);
            }
            if b.len() < MAX_TRACKED {
                b.insert(key, until);
            }
        }
    }

    /// Drops stale state (called periodically).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        let now = self.clock.now();
        self.blocked_map().retain(|_, t| *t > now);
    }
}

/// Per-source statement rates: the policy's default for most, own limiters for overrides.
#[derive(Debug)]
pub struct SourceLimits<C: Clock = MonotonicClock> {
    clock: C,
    default: KeyedLimiter<String, C>,
    overrides: HashMap<String, DirectLimiter<C>>,
}

impl SourceLimits {
    /// From the policy, on the monotonic clock.
    pub fn new(policy: &Policy) -> Self {
        SourceLimits::with_clock(policy, MonotonicClock)
    }
}

impl<C: Clock + Clone> SourceLimits<C> {
    /// From the policy, on `clock`.
    pub fn with_clock(policy: &Policy, clock: C) -> Self {
        let l = &policy.limits;
        let minute = Duration::from_secs(60);
        let overrides = policy
            .sources
            .iter()
            .filter(|(_, r)| r.burst.is_some() || r.per_minute.is_some())
            .map(|(name, _)| {
                let (burst, per) = policy.rate(name);
                (
                    name.clone(),
                    RateLimiter::direct_with_clock(quota(burst, per, minute), clock.clone()),
                )
            })
            .collect();
        SourceLimits {
            default: RateLimiter::dashmap_with_clock(
                quota(l.source_burst, l.source_per_minute, minute),
                clock.clone(),
            ),
            overrides,
            clock,
        }
    }

    /// Takes one token for `source`; on refusal, how long to wait.
    pub fn check(&self, source: &str) -> Result<(), Duration> {
        let now = self.clock.now();
        let r = match self.overrides.get(source) {
            Some(l) => l.check(),
            None => self.default.check_key(&source.to_owned()),
        };
        r.map_err(|nu| nu.wait_time_from(now))
    }

    /// Drops stale state.
    pub fn prune(&self) {
        self.default.retain_recent();
    }
}

/// Whole seconds for a `Retry-After` header (at least 1).
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_v4_unwrapped() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            client_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn failures_block_after_the_burst_until_a_token_refills() {
        let mut p = Policy::default_policy();
        (p.limits.auth_fail_burst, p.limits.auth_fail_per_minute) = (3, 6);
        let clock = FakeRelativeClock::default();
        let f = AuthFailures::with_clock(&p, clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(f.blocked(ip), None);
            f.record(ip);
        }
        assert_eq!(f.blocked(ip), None, "the burst itself is allowed");
        f.record(ip);
        // Six a minute: one token every 10 s.
        assert_eq!(f.blocked(ip), Some(Duration::from_secs(10)));
        assert_eq!(
            f.blocked("192.0.2.2".parse().expect("ip")),
            None,
            "other clients unaffected"
        );
        clock.advance(Duration::from_secs(4));
        assert_eq!(f.blocked(ip), Some(Duration::from_secs(6)));
        clock.advance(Duration::from_secs(6));
        assert_eq!(f.blocked(ip), None, "a token refilled");
        f.record(ip);
        assert_eq!(f.blocked(ip), None, "one more failure is within it");
        f.record(ip);
        assert_eq!(
            f.blocked(ip),
            Some(Duration::from_secs(10)),
            "and the next is not"
        );
        clock.advance(Duration::from_secs(3600));
        f.prune();
        assert_eq!(f.blocked(ip), None);
    }

    #[test]
    fn sources_refill_at_their_rate_and_overrides_have_their_own() {
        let p = Policy::parse("[sources.\"web01\"]\nburst = 2\nper_minute = 1\n").expect("policy");
        let clock = FakeRelativeClock::default();
        let s = SourceLimits::with_clock(&p, clock.clone());
        assert_eq!((s.check("web01"), s.check("web01")), (Ok(()), Ok(())));
        assert_eq!(s.check("web01"), Err(Duration::from_secs(60)));
        for _ in 0..20 {
            assert_eq!(s.check("nas"), Ok(()), "default burst 20");
        }
        // The default refills 30 a minute: one every 2 s.
        assert_eq!(s.check("nas"), Err(Duration::from_secs(2)));
        clock.advance(Duration::from_millis(1999));
        assert_eq!(s.check("nas"), Err(Duration::from_millis(1)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(s.check("nas"), Ok(()));
        assert_eq!(s.check("web01"), Err(Duration::from_secs(58)));
        clock.advance(Duration::from_secs(58));
        assert_eq!(s.check("web01"), Ok(()), "its own minute");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
