//! Internal triggers: the consent and tag events the database records for automations that
//! listen for them become participations, and once a day each date-field automation starts
//! for the contacts whose date attribute falls on that day.

use std::collections::HashMap;

use super::ServiceResult;
use crate::app::App;
use crate::domain::automation::Reentry;
use crate::domain::automation_steps::{next_time_of_day, parse_time_of_day};
use crate::domain::automation_trigger::Trigger;
use crate::store::{AutomationEventRow, AutomationRow, DateScan, Entry};

/// Events used per transaction.
const EVENT_BATCH: i64 = 500;

fn trigger_of(a: &AutomationRow) -> Option<Trigger> {
    match serde_json::from_str(&a.trigger_config) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(automation = a.id, error = %e, "stored trigger cannot be read");
            None
        }
    }
}

fn entry(a: &AutomationRow) -> Option<Entry> {
    Some(Entry {
        automation_id: a.id,
        version: a.published_version?,
        single: a.reentry == Reentry::Single.as_str(),
    })
}

/// Starts the participations that trigger events and today's dates call for; returns how
/// many events and date searches were handled.
pub async fn start_triggered(app: &App) -> ServiceResult<usize> {
    Ok(consume_events(app).await? + scan_dates(app).await?)
}

async fn consume_events(app: &App) -> ServiceResult<usize> {
    let mut by_org: HashMap<i64, Vec<(Trigger, Entry)>> = HashMap::new();
    for a in app.store.event_triggered_automations().await? {
        if let (Some(t), Some(e)) = (trigger_of(&a), entry(&a)) {
            by_org.entry(a.org_id).or_default().push((t, e));
        }
    }
    let matching = |ev: &AutomationEventRow| -> Vec<Entry> {
        let Some(automations) = by_org.get(&ev.org_id) else {
            return Vec::new();
        };
        automations
            .iter()
            .filter(|(t, _)| match (t, ev.list_id, ev.tag.as_deref()) {
                (Trigger::TagAdded { tag }, _, Some(added)) => ev.kind == "tag" && tag == added,
                (t, Some(list), _) => t.matches_consent(&ev.kind, list),
                _ => false,
            })
            .map(|(_, e)| *e)
            .collect()
    };
    let n = app
        .store
        .consume_automation_events(EVENT_BATCH, app.now(), matching)
        .await?;
    if n > 0 {
        tracing::debug!(events = n, "automation trigger events handled");
    }
    Ok(n)
}

async fn scan_dates(app: &App) -> ServiceResult<usize> {
    let now = app.now();
    let Some(today) = chrono::DateTime::from_timestamp_millis(now).map(|t| t.date_naive()) else {
        return Ok(0);
    };
    let today_s = today.format("%Y-%m-%d").to_string();
    let mut handled = 0;
    for a in app.store.date_automations_due(&today_s).await? {
        let (Some(t), Some(e)) = (trigger_of(&a), entry(&a)) else {
            continue;
        };
        let Trigger::DateField {
            attribute,
            yearly,
            at,
            ..
        } = &t
        else {
            continue;
        };
        let start_of_day = now.div_euclid(crate::clock::DAY_MS) * crate::clock::DAY_MS;
        let run_at = match at.as_deref().and_then(parse_time_of_day) {
            Some(at_ms) => next_time_of_day(start_of_day, at_ms).max(now),
            None => now,
        };
        let wanted = t.wanted_dates(today);
        let started = app
            .store
            .start_date_participations(&DateScan {
                automation: &a,
                version: e.version,
                single: e.single,
                today: &today_s,
                attribute,
                wanted: &wanted,
                yearly: *yearly,
                run_at,
                now,
            })
            .await?;
        if let Some(n) = started {
            handled += 1;
            tracing::info!(automation = a.id, day = %today_s, started = n, "date-field automation started");
        }
    }
    Ok(handled)
}
