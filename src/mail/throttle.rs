//! Sending pace: a global rate (messages per second and per hour, per node) and a cap on the
//! messages in flight to one recipient domain, so no receiving server is flooded.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Domains kept in the map before idle ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub struct Throttle {
    per_second: Option<DefaultDirectRateLimiter>,
    per_hour: Option<DefaultDirectRateLimiter>,
    domain_limit: usize,
    domains: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Throttle {
    /// `0` for a rate means no limit.
    pub fn new(per_second: u32, per_hour: u32, domain_limit: u32) -> Self {
        Self {
            per_second: NonZeroU32::new(per_second)
                .map(|n| RateLimiter::direct(Quota::per_second(n))),
            per_hour: NonZeroU32::new(per_hour).map(|n| RateLimiter::direct(Quota::per_hour(n))),
            domain_limit: domain_limit.max(1) as usize,
            domains: Mutex::default(),
        }
    }

    /// Waits for the global rate and a free slot for `domain`; the slot is held until the
    /// permit is dropped.
    pub async fn acquire(&self, domain: &str) -> OwnedSemaphorePermit {
        if let Some(l) = &self.per_hour {
            l.until_ready().await;
        }
        if let Some(l) = &self.per_second {
            l.until_ready().await;
        }
        let sem = {
            let mut map = self.domains.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() > PRUNE_ABOVE {
                let limit = self.domain_limit;
                map.retain(|_, s| s.available_permits() < limit);
            }
            map.entry(domain.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.domain_limit)))
                .clone()
        };
        sem.acquire_owned()
            .await
            .expect("domain semaphores are never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_messages_in_flight_per_domain() {
        let t = Throttle::new(0, 0, 2);
        let a = t.acquire("example.nl").await;
        let _b = t.acquire("EXAMPLE.nl").await;
        let other = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            t.acquire("example.nl"),
        )
        .await;
        assert!(other.is_err(), "a third message to the domain waits");
        let _c = t.acquire("venue.test").await;
        drop(a);
        let _d = tokio::time::timeout(std::time::Duration::from_secs(1), t.acquire("example.nl"))
            .await
            .expect("a freed slot is taken");
    }
}
