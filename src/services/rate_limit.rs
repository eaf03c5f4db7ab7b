//! Request rates per API token, and sign-in attempts per address and per client (per node, in
//! memory).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;

/// Sign-in attempts: 10 in a row for one address, then one every 3 minutes…
const SIGN_IN_PER_EMAIL_BURST: u32 = 10;
const SIGN_IN_PER_EMAIL_PERIOD: Duration = Duration::from_secs(180);
/// …and 20 in a row from one client address, then one every 6 seconds.
const SIGN_IN_PER_IP_BURST: u32 = 20;
const SIGN_IN_PER_IP_PERIOD: Duration = Duration::from_secs(6);

pub struct RateLimits {
    per_token: DefaultKeyedRateLimiter<i64>,
    sign_in_email: DefaultKeyedRateLimiter<String>,
    sign_in_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    Quota::with_period(period)
        .expect("a period above zero")
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

fn wait(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

impl RateLimits {
    pub fn new(config: &Config) -> Self {
        let rate = NonZeroU32::new(config.token_rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.token_rate_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            per_token: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            sign_in_email: RateLimiter::keyed(quota(
                SIGN_IN_PER_EMAIL_PERIOD,
                SIGN_IN_PER_EMAIL_BURST,
            )),
            sign_in_ip: RateLimiter::keyed(quota(SIGN_IN_PER_IP_PERIOD, SIGN_IN_PER_IP_BURST)),
        }
    }

    /// Takes one request from the token's allowance, or says how long to wait.
    pub fn check_token(&self, token_id: i64) -> Result<(), Duration> {
        self.per_token.check_key(&token_id).map_err(wait)
    }

    /// Takes one sign-in attempt from the allowance of the client and of the address.
    pub fn check_sign_in(&self, ip: IpAddr, email: &str) -> Result<(), Duration> {
        self.sign_in_ip.check_key(&ip).map_err(wait)?;
        let email: String = email.trim().to_lowercase().chars().take(254).collect();
        self.sign_in_email.check_key(&email).map_err(wait)
    }

    /// Forgets the keys whose allowance is full again (keeps memory bounded).
    pub fn forget_idle(&self) {
        self.per_token.retain_recent();
        self.sign_in_email.retain_recent();
        self.sign_in_ip.retain_recent();
    }
}
