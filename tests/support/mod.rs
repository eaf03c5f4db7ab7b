//! Test support: a fresh database per test on each backend, the real server on a random port,
//! a manual clock, and a real SMTP server over TCP.
#![allow(dead_code)]

pub mod admin_browser;
pub mod automation_env;
pub mod http_sink;
pub mod smtp_sink;

use std::net::SocketAddr;
use std::sync::Arc;

use handbill::clock::ManualClock;
use handbill::config::Config;
use handbill::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// 2026-01-01T00:00:00Z: tests start here and move the clock by hand.
pub const T0: i64 = 1_767_225_600_000;

/// The PostgreSQL server for tests, or None (the test is skipped, loudly). Under CI a missing
/// server fails the test instead.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("HANDBILL_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("HANDBILL_TEST_POSTGRES_URL is not set, and PostgreSQL tests may not be skipped under CI")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL test (HANDBILL_TEST_POSTGRES_URL is not set)");
            None
        }
    }
}

/// Creates an empty database of its own for one test and returns its URL.
pub async fn fresh_postgres_url(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("hb_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(admin).expect("postgres url");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A configuration for `backend` with its own data directory and database.
pub async fn test_config(backend: Backend) -> Option<(Config, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        public_url: Some("https://mail.venue.test".into()),
        ..Config::default()
    };
    config.database_url = Some(match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("handbill.db").display()),
        Backend::Postgres => fresh_postgres_url(&postgres_admin_url()?).await,
    });
    Some((config, dir))
}

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub backend: Backend,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    /// Opens the app on `backend` (None: backend unavailable, test skipped).
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let (mut config, dir) = test_config(backend).await?;
        tweak(&mut config);
        let clock = Arc::new(ManualClock::new(T0));
        let app = App::open_with_clock(config, clock.clone())
            .await
            .expect("open app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_app = app.clone();
        tokio::spawn(async move {
            handbill::http::serve(server_app, listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Some(TestApp {
            app,
            clock,
            addr,
            client: reqwest::Client::new(),
            backend,
            _dir: dir,
            _stop: stop,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn org(&self, slug: &str) -> handbill::store::Org {
        handbill::services::orgs::create_org(&self.app, slug, "Test Venue", None)
            .await
            .unwrap()
    }

    /// Creates a token and returns its secret.
    pub async fn token(&self, org: &str, scopes: &[&str], allow_ip: &[&str]) -> String {
        handbill::services::tokens::create_token(
            &self.app,
            &handbill::services::tokens::TokenRequest {
                org_slug: org.into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                allow_ip: allow_ip.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .secret
    }
}

/// Runs an async test body once per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::support::postgres_admin_url().is_some() {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            }
        )+
    };
}

/// A list to create in tests.
pub fn new_list(
    key: &str,
    double_optin: bool,
    texts: &[handbill::store::ListText],
) -> handbill::store::NewList {
    handbill::store::NewList {
        key: key.into(),
        double_optin,
        is_default: None,
        send_welcome: true,
        texts: texts.to_vec(),
        partner_id: None,
    }
}

/// Asserts a 422 problem whose errors name `field` with `code`; `what` is shown on failure.
pub async fn assert_field_error(res: reqwest::Response, field: &str, code: &str, what: &str) {
    assert_eq!(res.status(), 422, "{what}");
    let p: serde_json::Value = res.json().await.unwrap();
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["field"] == field && x["code"] == code),
        "{what}: {p}"
    );
}
