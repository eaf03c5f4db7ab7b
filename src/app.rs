//! The application context every entry point shares: store, clock, mail transport, config.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{redact_url, Config};
use crate::mail::{Throttle, Transport};
use crate::services::lists::ListCache;
use crate::services::rate_limit::RateLimits;
use crate::store::{ConnectOptions, Store};

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: SharedClock,
    pub transport: Transport,
    pub config: Arc<Config>,
    /// The link signing key, loaded from the database on first use.
    pub secrets: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    pub limits: Arc<RateLimits>,
    pub list_cache: Arc<ListCache>,
    /// The dashboard's audience counts of large organisations.
    pub audience_cache: Arc<crate::services::dashboard::AudienceCache>,
    /// The pace of outgoing mailings on this node.
    pub throttle: Arc<Throttle>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database {url}: {reason}")]
    Database { url: String, reason: String },
    #[error("cannot apply database migrations: {0}")]
    Migrate(String),
    #[error("cannot set up mail delivery: {0}")]
    Transport(String),
}

impl App {
    /// Connects to the database, applies migrations and sets up the mail transport.
    pub async fn open(config: Config) -> Result<App, StartError> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(config: Config, clock: SharedClock) -> Result<App, StartError> {
        let store = connect(&config).await?;
        store
            .migrate()
            .await
            .map_err(|e| StartError::Migrate(e.to_string()))?;
        let transport = Transport::from_config(&config).map_err(StartError::Transport)?;
        Ok(App {
            store,
            clock,
            transport,
            limits: Arc::new(RateLimits::new(&config)),
            throttle: Arc::new(Throttle::new(
                config.mail_rate_per_second,
                config.mail_rate_per_hour,
                config.mail_domain_concurrency,
            )),
            config: Arc::new(config),
            secrets: Arc::default(),
            list_cache: Arc::default(),
            audience_cache: Arc::default(),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Opens the configured database without migrating it.
pub async fn connect(config: &Config) -> Result<Store, StartError> {
    let url = config.database_url();
    let opts = ConnectOptions {
        max_connections: config.database_max_connections,
        sqlite_busy_timeout: Duration::from_millis(config.sqlite_busy_timeout_ms),
    };
    Store::connect(&url, &opts)
        .await
        .map_err(|e| StartError::Database {
            url: redact_url(&url),
            reason: e.to_string(),
        })
}
