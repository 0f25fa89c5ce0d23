//! Requests per token: a generous ceiling (`server.rate_limit_per_second`, with a burst of
//! `server.rate_limit_burst`), so that a runaway client cannot monopolise the pool while an
//! IdP's ordinary bursts (a full import, a reconciliation) pass. IdPs quarantine an app that
//! refuses too often, so the defaults sit well above what they send.
//!
//! The limiter is governor's GCRA, keyed by the token (org and name: names are unique per
//! org). Only verified tokens reach it, so its keys are bounded by the tokens that exist.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::authenticator::TokenIdentity;

pub struct TokenRateLimit {
    /// `None`: disabled (`server.rate_limit_per_second = 0`).
    limiter: Option<DefaultKeyedRateLimiter<(i32, Arc<str>)>>,
    clock: DefaultClock,
}

impl TokenRateLimit {
    /// `per_second` requests a second per token, up to `burst` at once; `per_second = 0`
    /// disables the limit.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when the token has spent its allowance: it may try again after `wait`.
    pub fn check(&self, token: &TokenIdentity) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&(token.org_id, token.token_name.clone()))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> TokenIdentity {
        TokenIdentity {
            org_id: 1,
            token_name: name.into(),
        }
    }

    #[test]
    fn a_token_past_its_burst_waits_and_others_do_not() {
        let limit = TokenRateLimit::new(1, 3);
        for _ in 0..3 {
            assert!(limit.check(&token("okta")).is_ok());
        }
        let wait = limit.check(&token("okta")).expect_err("burst spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limit.check(&token("entra")).is_ok());
    }

    #[test]
    fn zero_disables_the_limit() {
        let limit = TokenRateLimit::new(0, 0);
        for _ in 0..10_000 {
            assert!(limit.check(&token("okta")).is_ok());
        }
    }
}
