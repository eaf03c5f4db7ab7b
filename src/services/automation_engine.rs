//! The automation engine: workers first turn trigger events into participations, then lease
//! due participations, run their steps up to the next wait (or the end), and write each
//! participation's effects — tags, score, fields, queued messages, the step log and its next
//! step — in one transaction, so a restart loses nothing and runs nothing twice. E-mail, SMS
//! and HTTP steps queue a job (see [`super::automation_jobs`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::automation_jobs::{StepJob, EMAIL_JOB, HTTP_JOB, SMS_JOB};
use super::{found, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::automation::{substitute_fields, AutomationField};
use crate::domain::automation_steps::{FieldTarget, Step};
use crate::domain::segment::Segment;
use crate::store::{Advance, AutomationRow, ContactRow, ParticipationRow};

const LEASE_MS: i64 = 5 * 60 * 1000;
/// Participations leased and written per transaction.
const BATCH: i64 = 500;
/// Steps one participation may run in one go (versions are forward-only, this is a guard).
const MAX_STEPS_PER_RUN: usize = 200;
const CACHE_MAX: usize = 10_000;

/// Published versions never change, so their steps are cached for good.
#[derive(Default)]
pub struct Engine {
    versions: HashMap<(i64, i64, i64), Arc<Vec<Step>>>,
    automations: HashMap<(i64, i64), AutomationRow>,
}

impl Engine {
    async fn steps(&mut self, app: &App, p: &ParticipationRow) -> ServiceResult<Arc<Vec<Step>>> {
        let key = (p.org_id, p.automation_id, p.version);
        if let Some(s) = self.versions.get(&key) {
            return Ok(s.clone());
        }
        let json = app
            .store
            .automation_version_steps(p.org_id, p.automation_id, p.version)
            .await?;
        let steps: Vec<Step> = serde_json::from_str(&json)
            .map_err(|e| ServiceError::Internal(format!("stored steps: {e}")))?;
        if self.versions.len() >= CACHE_MAX {
            self.versions.clear();
        }
        let steps = Arc::new(steps);
        self.versions.insert(key, steps.clone());
        Ok(steps)
    }

    /// The automation (its opt-in may change with a new draft; read once per tick).
    async fn automation(
        &mut self,
        app: &App,
        org_id: i64,
        id: i64,
    ) -> ServiceResult<AutomationRow> {
        if let Some(a) = self.automations.get(&(org_id, id)) {
            return Ok(a.clone());
        }
        let a = app.store.automation_by_id(org_id, id).await?;
        self.automations.insert((org_id, id), a.clone());
        Ok(a)
    }

    /// Starts what trigger events and due dates call for, then runs the due steps of one
    /// leased batch; returns how much work was done (0: nothing was due).
    pub async fn tick(&mut self, app: &App) -> ServiceResult<usize> {
        self.automations.clear();
        let started = super::automation_triggers::start_triggered(app).await?;
        Ok(started + self.advance(app).await?)
    }

    /// Runs the due steps of one leased batch; returns how many participations moved.
    async fn advance(&mut self, app: &App) -> ServiceResult<usize> {
        let now = app.now();
        let batch = app.store.claim_participations(now, LEASE_MS, BATCH).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        // The batch's contacts in one query per organisation.
        let mut contacts: HashMap<(i64, i64), ContactRow> = HashMap::new();
        let mut by_org: HashMap<i64, Vec<i64>> = HashMap::new();
        for p in &batch {
            if let Some(c) = p.contact_id {
                by_org.entry(p.org_id).or_default().push(c);
            }
        }
        for (org, mut ids) in by_org {
            ids.sort_unstable();
            ids.dedup();
            for c in app.store.contacts_by_ids(org, &ids).await? {
                contacts.insert((org, c.id), c);
            }
        }
        let mut advances = Vec::with_capacity(batch.len());
        for p in &batch {
            let contact = p.contact_id.and_then(|c| contacts.get(&(p.org_id, c)));
            advances.push(self.run(app, p, contact, now).await?);
        }
        let n = app
            .store
            .advance_participations(&advances, super::mail::MAIL_MAX_ATTEMPTS, now)
            .await?;
        // A batch whose participations were all stopped meanwhile still counts as work done:
        // more may be due behind it.
        Ok(n.max(1))
    }

    async fn run(
        &mut self,
        app: &App,
        p: &ParticipationRow,
        contact: Option<&ContactRow>,
        now: i64,
    ) -> ServiceResult<Advance> {
        let steps = self.steps(app, p).await?;
        let automation = self.automation(app, p.org_id, p.automation_id).await?;
        let mut a = Advance {
            org_id: p.org_id,
            participation_id: p.id,
            contact_id: p.contact_id,
            next_step: p.step,
            ..Advance::default()
        };
        let Some(contact) = contact else {
            a.done = true;
            a.stop_reason = Some("the contact was erased".into());
            return Ok(a);
        };
        let mut i = p.step.max(0) as usize;
        for _ in 0..MAX_STEPS_PER_RUN {
            let Some(step) = steps.get(i) else {
                a.done = true;
                break;
            };
            let idx = i as i64;
            match step {
                Step::Wait { .. } => {
                    // Counted from when the step became due, not from when a worker got to
                    // it: a busy or restarted node does not stretch waits.
                    let base = p.next_run_at.unwrap_or(now).min(now);
                    let until = step.wait_until(base).unwrap_or(now);
                    a.log
                        .push((idx, "wait".into(), "waiting".into(), Some(rfc3339(until))));
                    a.next_step = idx + 1;
                    a.next_run_at = Some(until);
                    return Ok(a);
                }
                Step::Email {
                    template,
                    marketing,
                } => {
                    let refusal = if *marketing {
                        consent_refusal(app, &automation, contact).await?
                    } else {
                        None
                    };
                    queue(&mut a, p.id, idx, "email", EMAIL_JOB, refusal, template);
                }
                Step::Sms { marketing, .. } => {
                    let refusal = if *marketing {
                        consent_refusal(app, &automation, contact).await?
                    } else {
                        None
                    };
                    let no_mobile = contact
                        .mobile
                        .as_deref()
                        .and_then(super::sms_gateways::mobile_number)
                        .is_none();
                    let refusal = refusal.or_else(|| {
                        no_mobile.then(|| "the contact has no valid mobile number".to_string())
                    });
                    queue(&mut a, p.id, idx, "sms", SMS_JOB, refusal, "");
                }
                Step::Http {
                    method, url, batch, ..
                } => {
                    let what = format!("{method} {}", url.split('?').next().unwrap_or(url));
                    if batch.is_some() {
                        a.buckets.push(idx);
                        a.log.push((
                            idx,
                            "http".into(),
                            "queued".into(),
                            Some(format!("in a batch for {what}")),
                        ));
                    } else {
                        queue(&mut a, p.id, idx, "http", HTTP_JOB, None, &what);
                    }
                }
                Step::Export { export, .. } => {
                    a.buckets.push(idx);
                    a.log.push((
                        idx,
                        "export".into(),
                        "queued".into(),
                        Some(format!("in the bucket of export {export}")),
                    ));
                }
                Step::Tag { add, remove } => {
                    a.add_tags.extend(add.iter().cloned());
                    a.remove_tags.extend(remove.iter().cloned());
                    a.log.push((idx, "tag".into(), "done".into(), None));
                }
                Step::Score { change } => {
                    a.score += change;
                    a.log
                        .push((idx, "score".into(), "done".into(), Some(change.to_string())));
                }
                Step::SetField { field, value } => {
                    if let Some(target) = FieldTarget::parse(field) {
                        let fields: Vec<AutomationField> =
                            serde_json::from_str(&p.fields).unwrap_or_default();
                        let value = match value {
                            Value::String(v) => {
                                let v = substitute_fields(v, &fields);
                                let v: String = v.chars().take(target.max_len()).collect();
                                Value::String(v)
                            }
                            v => v.clone(),
                        };
                        a.set_fields.push((target, value));
                    }
                    a.log
                        .push((idx, "set_field".into(), "done".into(), Some(field.clone())));
                }
                Step::Branch {
                    condition,
                    then,
                    otherwise,
                } => {
                    if a.has_contact_effects() {
                        // The condition sees what the steps before it did: write those first
                        // and decide in the next tick.
                        a.next_run_at = Some(now);
                        return Ok(a);
                    }
                    let segment = Segment::parse(condition)
                        .map_err(|e| ServiceError::Internal(format!("stored branch: {e}")))?;
                    let yes = app
                        .store
                        .contact_matches(p.org_id, contact.id, &segment, now)
                        .await?;
                    let target = if yes { then } else { otherwise };
                    a.log.push((
                        idx,
                        "branch".into(),
                        if yes { "then" } else { "else" }.into(),
                        target.map(|t| format!("continues at step {t}")),
                    ));
                    i = target.unwrap_or(i + 1);
                    a.next_step = i as i64;
                    continue;
                }
                Step::End {} => {
                    a.log.push((idx, "end".into(), "done".into(), None));
                    a.done = true;
                    break;
                }
            }
            i += 1;
            a.next_step = i as i64;
        }
        if !a.done {
            // A version longer than one run allows: continue right away in the next tick.
            a.next_run_at = Some(now);
        }
        Ok(a)
    }
}

/// Logs a message step, and queues its job unless there is a reason not to send.
fn queue(
    a: &mut Advance,
    participation_id: i64,
    idx: i64,
    kind: &str,
    job_kind: &str,
    refusal: Option<String>,
    detail: &str,
) {
    match refusal {
        Some(why) => a.log.push((idx, kind.into(), "skipped".into(), Some(why))),
        None => {
            let job = StepJob {
                participation_id,
                step: idx,
            };
            a.jobs.push((
                job_kind.into(),
                serde_json::to_string(&job).unwrap_or_default(),
            ));
            a.log.push((
                idx,
                kind.into(),
                "queued".into(),
                (!detail.is_empty()).then(|| detail.to_string()),
            ));
        }
    }
}

/// Why a marketing message may not go to this contact now (None: it may).
pub(super) async fn consent_refusal(
    app: &App,
    automation: &AutomationRow,
    contact: &ContactRow,
) -> ServiceResult<Option<String>> {
    let Some(list_id) = automation.list_id else {
        return Ok(Some(
            "the automation has no opt-in for marketing messages".into(),
        ));
    };
    match found(
        app.store
            .subscription(contact.org_id, contact.id, list_id)
            .await,
    )? {
        Some(s) if s.status == "subscribed" => {}
        _ => {
            let key = app.store.list_by_id(contact.org_id, list_id).await?.key;
            return Ok(Some(format!("not subscribed to the opt-in '{key}'")));
        }
    }
    if !app
        .store
        .suppressions(contact.org_id, &contact.email)
        .await?
        .is_empty()
    {
        return Ok(Some(
            "the address is suppressed (blacklist, bounce or complaint)".into(),
        ));
    }
    Ok(None)
}
