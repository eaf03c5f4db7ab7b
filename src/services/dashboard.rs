//! The figures of the admin dashboard: audience per opt-in, the last mailings, running
//! automations, and what needs a person's attention.
//!
//! Counting a million subscriptions takes SQLite a few hundred milliseconds, so an
//! organisation whose audience takes more than [`SLOW_MS`] to count gets its figures from a
//! cache: they are served at once, and when older than [`FRESH_MS`] counted again in the
//! background. Small organisations always see fresh counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lists::{self, ListView};
use super::mailings::{self, MailingView};
use super::ServiceResult;
use crate::app::App;

/// Counting that takes longer than this is cached.
pub const SLOW_MS: u128 = 50;
/// Cached counts older than this are counted again (in the background).
pub const FRESH_MS: i64 = 60_000;

#[derive(Clone)]
pub struct ListAudience {
    pub list: ListView,
    pub subscribed: i64,
    pub pending: i64,
    pub unsubscribed: i64,
}

pub enum Attention {
    /// A scheduled mailing whose time passed while no server ran: it waits for a person.
    HeldMailing { id: i64, name: String },
    /// An import source whose last run failed.
    FailingSource { key: String, error: String },
    /// An SMTP relay that refuses connections (as this node last saw it), since when (ms).
    RelayRefusing {
        relay: String,
        error: String,
        since: i64,
    },
}

/// Days the dashboard's growth chart shows.
pub const GROWTH_DAYS: i64 = 30;

/// Subscriptions confirmed and ended on one day (UTC).
#[derive(Clone)]
pub struct Day {
    /// `YYYY-MM-DD`
    pub date: String,
    pub confirmed: i64,
    pub ended: i64,
}

/// The audience of an organisation, counted at `as_of` (unix ms).
pub struct Audience {
    pub lists: Vec<ListAudience>,
    pub contacts: i64,
    /// The last [`GROWTH_DAYS`] days, oldest first, today included.
    pub days: Vec<Day>,
    pub as_of: i64,
}

struct Cached {
    audience: Arc<Audience>,
    refreshing: bool,
}

/// The audiences of large organisations, per organisation.
#[derive(Default)]
pub struct AudienceCache {
    entries: Mutex<HashMap<i64, Cached>>,
}

pub struct Overview {
    pub contacts: i64,
    pub days: Vec<Day>,
    /// When the audience figures were counted.
    pub as_of: i64,
    pub subscribed: i64,
    pub pending: i64,
    pub lists: Vec<ListAudience>,
    pub mailings: Vec<MailingView>,
    pub automations_running: usize,
    pub attention: Vec<Attention>,
}

/// Each opt-in that is not archived with its subscriptions by status, and the number of
/// contacts: from the cache for a large organisation (see the module comment).
pub async fn audience(app: &App, org_id: i64) -> ServiceResult<Arc<Audience>> {
    let now = app.now();
    if let Ok(mut entries) = app.audience_cache.entries.lock() {
        if let Some(c) = entries.get_mut(&org_id) {
            if now - c.audience.as_of > FRESH_MS && !c.refreshing {
                c.refreshing = true;
                let app = app.clone();
                tokio::spawn(async move {
                    match count(&app, org_id).await {
                        Ok(a) => remember(&app, org_id, Arc::new(a)),
                        Err(e) => {
                            tracing::warn!(error = %e, org = org_id, "counting the audience failed");
                            if let Ok(mut entries) = app.audience_cache.entries.lock() {
                                entries.remove(&org_id);
                            }
                        }
                    }
                });
            }
            return Ok(c.audience.clone());
        }
    }
    let started = std::time::Instant::now();
    let audience = Arc::new(count(app, org_id).await?);
    if started.elapsed().as_millis() > SLOW_MS {
        remember(app, org_id, audience.clone());
    }
    Ok(audience)
}

fn remember(app: &App, org_id: i64, audience: Arc<Audience>) {
    if let Ok(mut entries) = app.audience_cache.entries.lock() {
        entries.insert(
            org_id,
            Cached {
                audience,
                refreshing: false,
            },
        );
    }
}

async fn count(app: &App, org_id: i64) -> ServiceResult<Audience> {
    let as_of = app.now();
    let counts = app.store.audience_counts(org_id).await?;
    let mut lists_out = Vec::new();
    for l in app.store.lists(org_id).await? {
        if l.archived_at.is_some() {
            continue;
        }
        let of = |status: &str| {
            counts
                .iter()
                .filter(|(id, s, _)| *id == l.id && s == status)
                .map(|(_, _, n)| *n)
                .sum::<i64>()
        };
        lists_out.push(ListAudience {
            subscribed: of("subscribed"),
            pending: of("pending"),
            unsubscribed: of("unsubscribed"),
            list: lists::view(app, &l).await?,
        });
    }
    let today = as_of.div_euclid(crate::clock::DAY_MS);
    let first = today - GROWTH_DAYS + 1;
    let counted = app
        .store
        .subscription_days(org_id, first * crate::clock::DAY_MS)
        .await?;
    let days = (first..=today)
        .map(|d| {
            let (confirmed, ended) = counted
                .iter()
                .find(|(day, _, _)| *day == d)
                .map(|(_, c, e)| (*c, *e))
                .unwrap_or((0, 0));
            Day {
                date: crate::clock::rfc3339(d * crate::clock::DAY_MS)[..10].to_string(),
                confirmed,
                ended,
            }
        })
        .collect();
    Ok(Audience {
        lists: lists_out,
        contacts: app.store.count_contacts(org_id).await?,
        days,
        as_of,
    })
}

pub async fn overview(app: &App, org_id: i64) -> ServiceResult<Overview> {
    let audience = audience(app, org_id).await?;
    let lists_out = audience.lists.clone();
    let recent = mailings::list(app, org_id, None, 5, 0).await?;
    let mut attention = Vec::new();
    for m in mailings::list(app, org_id, Some("scheduled"), 200, 0).await? {
        if m.held {
            attention.push(Attention::HeldMailing {
                id: m.id,
                name: m.name,
            });
        }
    }
    for s in app.store.sources(org_id).await? {
        if let Some(error) = s.last_error {
            attention.push(Attention::FailingSource { key: s.key, error });
        }
    }
    for (relay, error, since) in app.transport.refusing() {
        attention.push(Attention::RelayRefusing {
            relay,
            error,
            since,
        });
    }
    let automations_running = app
        .store
        .automations(org_id)
        .await?
        .iter()
        .filter(|a| a.published_version.is_some() && a.archived_at.is_none())
        .count();
    Ok(Overview {
        contacts: audience.contacts,
        days: audience.days.clone(),
        as_of: audience.as_of,
        subscribed: lists_out.iter().map(|l| l.subscribed).sum(),
        pending: lists_out.iter().map(|l| l.pending).sum(),
        lists: lists_out,
        mailings: recent,
        automations_running,
        attention,
    })
}
