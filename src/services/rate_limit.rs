//! Request rates per API token (per node, in memory).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;

pub struct RateLimits {
    per_token: DefaultKeyedRateLimiter<i64>,
}

impl RateLimits {
    pub fn new(config: &Config) -> Self {
        let rate = NonZeroU32::new(config.token_rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.token_rate_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            per_token: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes one request from the token's allowance, or says how long to wait.
    pub fn check_token(&self, token_id: i64) -> Result<(), Duration> {
        self.per_token
            .check_key(&token_id)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}
