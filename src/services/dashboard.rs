//! The figures of the admin dashboard: audience per opt-in, the last mailings, running
//! automations, and what needs a person's attention.

use super::lists::{self, ListView};
use super::mailings::{self, MailingView};
use super::ServiceResult;
use crate::app::App;

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
}

pub struct Overview {
    pub contacts: i64,
    pub subscribed: i64,
    pub pending: i64,
    pub lists: Vec<ListAudience>,
    pub mailings: Vec<MailingView>,
    pub automations_running: usize,
    pub attention: Vec<Attention>,
}

/// Each opt-in that is not archived, with its subscriptions by status.
pub async fn audience(app: &App, org_id: i64) -> ServiceResult<Vec<ListAudience>> {
    let counts = app.store.audience_counts(org_id).await?;
    let mut out = Vec::new();
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
        out.push(ListAudience {
            subscribed: of("subscribed"),
            pending: of("pending"),
            unsubscribed: of("unsubscribed"),
            list: lists::view(app, &l).await?,
        });
    }
    Ok(out)
}

pub async fn overview(app: &App, org_id: i64) -> ServiceResult<Overview> {
    let lists_out = audience(app, org_id).await?;
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
    let automations_running = app
        .store
        .automations(org_id)
        .await?
        .iter()
        .filter(|a| a.published_version.is_some() && a.archived_at.is_none())
        .count();
    Ok(Overview {
        contacts: app.store.count_contacts(org_id).await?,
        subscribed: lists_out.iter().map(|l| l.subscribed).sum(),
        pending: lists_out.iter().map(|l| l.pending).sum(),
        lists: lists_out,
        mailings: recent,
        automations_running,
        attention,
    })
}
