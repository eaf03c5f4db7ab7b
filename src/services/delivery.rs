//! The delivery engine. Each tick, a worker starts the scheduled mailings whose time came
//! (or holds them when they are far overdue), turns the audience of sending mailings into
//! delivery rows chunk by chunk, then claims half batches of queued rows, re-checks consent,
//! renders, hands the messages to the transport under the node's pace, and records every
//! outcome, the database work of one half beside the sending of the other. Nothing is sent
//! that has no `sending` row committed first, so a crash leaves at most one batch in doubt
//! (`uncertain`), and no recipient is ever sent a mailing twice.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::links::{self, AddressUse, LinkClaims};
use super::optins::contact_language;
use super::template_vars::{self, MailingVars};
use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::segment::Segment;
use crate::domain::{DeliveryStatus, EmailAddress, EventKind};
use crate::mail::content::{add_pixel, assemble_html, assemble_text, rewrite_hrefs};
use crate::mail::template::{Compiled, Rendered};
use crate::mail::{compose, ComposedMessage, ListUnsubscribe, Mailbox, OutgoingMessage, SendError};
use crate::store::{Claimed, ContactRow, MailingRow, Org, Outcome};

/// Contact ids looked at per planning step.
const PLAN_CHUNK: i64 = 5_000;
/// How long a claimed batch is reserved for its node.
const LEASE_MS: i64 = 10 * 60 * 1000;
/// How long one mailing is sent before the sender looks at the others (and at shutdown).
const ROUND: std::time::Duration = std::time::Duration::from_secs(1);

/// A mailing ready to render: compiled once, used for a whole batch.
pub struct Prepared {
    pub mailing: MailingRow,
    pub org: Org,
    compiled: Compiled,
    /// Tracked link URL → index in the click URL.
    links: HashMap<String, i64>,
    list_ids: Vec<i64>,
    list_key: String,
    key: Vec<u8>,
    vars: MailingVars,
    /// The mailing shows data-model records (`{{ records.orders[0].event_date }}`): each
    /// recipient's are loaded.
    uses_records: bool,
    /// The configured URLs and names every message uses, worked out once.
    public_url: String,
    mail_host: String,
    bounce_domain: String,
}

/// A mailing's HTML inside its layout, with the footer when it needs one.
pub async fn assembled_html(app: &App, mailing: &MailingRow) -> ServiceResult<String> {
    let layout = match mailing.layout_id {
        Some(id) => Some(app.store.template_by_id(mailing.org_id, id).await?.html),
        None => None,
    };
    Ok(assemble_html(&mailing.html, layout.as_deref()))
}

/// Compiles a mailing (inside its layout, with the footer when needed).
pub async fn prepare(app: &App, mailing: &MailingRow) -> ServiceResult<Prepared> {
    let org = app.store.org_by_id(mailing.org_id).await?;
    let html = assembled_html(app, mailing).await?;
    let text = mailing.text.as_deref().map(assemble_text);
    let compiled = Compiled::new(&mailing.subject, &html, text.as_deref())
        .map_err(|e| ServiceError::Internal(format!("mailing {}: {e}", mailing.id)))?;
    let links = app
        .store
        .mailing_links(mailing.org_id, mailing.id)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, u)| (u, i as i64))
        .collect();
    let list_ids = app
        .store
        .mailing_list_ids(mailing.org_id, mailing.id)
        .await?;
    let list_key = match list_ids.first() {
        Some(id) => app.store.list_by_id(mailing.org_id, *id).await?.key,
        None => "mailing".into(),
    };
    let uses_records = [
        Some(mailing.subject.as_str()),
        Some(html.as_str()),
        text.as_deref(),
    ]
    .iter()
    .flatten()
    .any(|t| t.contains("records"));
    Ok(Prepared {
        uses_records,
        vars: MailingVars::new(&org, mailing),
        mailing: mailing.clone(),
        org,
        compiled,
        links,
        list_ids,
        list_key,
        key: links::signing_key(app).await?,
        public_url: app.config.public_url(),
        mail_host: app.config.mail_hostname(),
        bounce_domain: app.config.bounce_domain(),
    })
}

/// URLs one recipient's mail carries.
struct MailLinks {
    unsubscribe: String,
    preferences: String,
    view: String,
    open: String,
}

/// A recipient's data-model records by collection, as templates see them.
pub type Records = serde_json::Map<String, Value>;

impl Prepared {
    /// The records of a recipient, when the mailing shows them (none for a stand-in).
    pub async fn records(&self, app: &App, contact: &ContactRow) -> ServiceResult<Records> {
        if !self.uses_records || contact.id == 0 {
            return Ok(Records::new());
        }
        super::collections::records_of(app, self.org.id, contact.id).await
    }

    fn mail_links(&self, contact_id: i64, delivery_id: i64) -> MailLinks {
        let base = &self.public_url;
        let claims = LinkClaims {
            org_id: self.org.id,
            contact_id,
            list_id: match self.list_ids.as_slice() {
                [one] => Some(*one),
                _ => None,
            },
            delivery_id: Some(delivery_id),
        };
        let ids = [self.org.id, delivery_id];
        MailLinks {
            unsubscribe: links::unsubscribe_link(base, &self.key, claims),
            preferences: links::preferences_link(base, &self.key, claims),
            view: format!("{base}/t/v/{}", links::sign_ids(&self.key, "v", &ids)),
            open: format!("{base}/t/o/{}", links::sign_ids(&self.key, "o", &ids)),
        }
    }

    /// Renders the mail of one recipient; `tracking` adds the pixel and click redirects.
    pub fn render(
        &self,
        contact: &ContactRow,
        records: &Records,
        delivery_id: i64,
        tracking: bool,
    ) -> Result<Rendered, String> {
        let l = self.mail_links(contact.id, delivery_id);
        self.render_with(contact, records, delivery_id, &l, tracking)
    }

    fn render_with(
        &self,
        contact: &ContactRow,
        records: &Records,
        delivery_id: i64,
        l: &MailLinks,
        tracking: bool,
    ) -> Result<Rendered, String> {
        let lang = contact_language(contact, &self.org);
        let ctx = minijinja::context! {
            contact => template_vars::contact(contact),
            org => self.vars.org.clone(),
            mailing => self.vars.mailing.clone(),
            links => minijinja::context! {
                unsubscribe => l.unsubscribe.as_str(),
                preferences => l.preferences.as_str(),
                view_in_browser => l.view.as_str(),
            },
            footer => self.vars.footer(lang),
            records => minijinja::Value::from_serialize(records),
        };
        let mut r = self.compiled.render(&ctx)?;
        if tracking && self.mailing.track_clicks && !self.links.is_empty() {
            // One signature per message; the link index is checked against the mailing's links.
            let click = format!(
                "{}/t/c/{}",
                self.public_url,
                links::sign_ids(&self.key, "c", &[self.org.id, delivery_id])
            );
            r.html = rewrite_hrefs(&r.html, |href| {
                self.links.get(href).map(|idx| format!("{click}/{idx}"))
            });
        }
        if tracking && self.mailing.track_opens {
            r.html = add_pixel(&r.html, &l.open);
        }
        Ok(r)
    }

    /// The whole message for one recipient, composed.
    pub fn message(
        &self,
        app: &App,
        contact: &ContactRow,
        records: &Records,
        delivery_id: i64,
    ) -> Result<ComposedMessage, String> {
        let msg = self.outgoing(app, contact, records, delivery_id, true)?;
        compose(&msg, &self.mail_host, app.now()).map_err(|e| e.to_string())
    }

    /// The message for one recipient, with every header a marketing mail carries.
    pub fn outgoing(
        &self,
        app: &App,
        contact: &ContactRow,
        records: &Records,
        delivery_id: i64,
        tracking: bool,
    ) -> Result<OutgoingMessage, String> {
        let l = self.mail_links(contact.id, delivery_id);
        let r = self.render_with(contact, records, delivery_id, &l, tracking)?;
        let to = EmailAddress::parse(&contact.email).map_err(|e| e.to_string())?;
        let from = EmailAddress::parse(&self.mailing.from_email).map_err(|e| e.to_string())?;
        let host = &self.mail_host;
        let verp = links::verp_local(&self.key, self.org.id, delivery_id);
        let bounce = format!("{verp}@{}", self.bounce_domain);
        let mut headers = vec![
            (
                "List-Id".to_string(),
                format!("<{}.{}.{host}>", self.list_key, self.org.slug),
            ),
            (
                "Feedback-ID".to_string(),
                format!("m{}:{}:handbill", self.mailing.id, self.org.slug),
            ),
        ];
        headers.extend(provider_headers(app.config.mail_provider.as_deref(), &verp));
        Ok(OutgoingMessage {
            from: Mailbox::new(self.mailing.from_name.as_deref(), from),
            to: Mailbox::new(None, to),
            reply_to: self
                .mailing
                .reply_to
                .as_deref()
                .and_then(|r| EmailAddress::parse(r).ok())
                .map(|e| Mailbox::new(None, e)),
            return_path: EmailAddress::parse(&bounce).ok(),
            subject: r.subject,
            text: r.text,
            html: (contact.mail_format != "text").then_some(r.html),
            list_unsubscribe: Some(ListUnsubscribe {
                url: l.unsubscribe,
                // Mail to it is read by the bounce listener: offered only when that runs.
                mailto: app.config.bounce_listen.map(|_| {
                    format!(
                        "{}@{}",
                        links::address_local(
                            &self.key,
                            AddressUse::Unsubscribe,
                            self.org.id,
                            delivery_id
                        ),
                        self.bounce_domain
                    )
                }),
                one_click: true,
            }),
            headers,
        })
    }
}

/// Headers that make a relay provider report the message's VERP reference in its webhooks.
pub fn provider_headers(provider: Option<&str>, verp_local: &str) -> Vec<(String, String)> {
    let (name, value) = match provider {
        Some("postmark") => ("X-PM-Metadata-handbill", verp_local.to_string()),
        Some("mailgun") => (
            "X-Mailgun-Variables",
            format!("{{\"handbill\": \"{verp_local}\"}}"),
        ),
        Some("sendgrid") => (
            "X-SMTPAPI",
            format!("{{\"unique_args\": {{\"handbill\": \"{verp_local}\"}}}}"),
        ),
        _ => return Vec::new(),
    };
    vec![(name.to_string(), value)]
}

/// A 5xx answer about the mailbox itself (unknown user, disabled mailbox): the address is
/// dead. Other permanent answers (policy, content) bounce the message but keep the address.
pub fn is_mailbox_failure(answer: &str) -> bool {
    let mut words = answer
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| !w.is_empty());
    let enhanced = words
        .clone()
        .find(|w| w.matches('.').count() == 2 && w.starts_with("5."));
    match enhanced {
        Some(code) => code.starts_with("5.1.") || code == "5.2.1",
        None => words.any(|w| matches!(w, "550" | "551" | "553")),
    }
}

/// What to record for one message after the transport answered.
fn outcome(
    app: &App,
    c: &Claimed,
    email: &str,
    result: Result<(String, String), SendError>,
) -> Outcome {
    let mut o = Outcome::new(c.delivery_id, DeliveryStatus::Sent, None);
    match result {
        Ok((message_id, answer)) => {
            o.message_id = Some(message_id);
            o.smtp_response = Some(answer);
        }
        Err(SendError::Transient(e)) if c.attempts < i64::from(app.config.mail_max_attempts) => {
            let delay =
                i64::from(app.config.mail_retry_secs) * 1000 * (1 << (c.attempts - 1).clamp(0, 16));
            o.status = DeliveryStatus::Queued;
            o.retry_at = Some(app.now() + delay);
            o.smtp_response = Some(e);
        }
        Err(SendError::Transient(e)) => {
            o.status = DeliveryStatus::Bounced;
            o.event = Some((EventKind::BounceSoft, None));
            o.smtp_response = Some(format!("gave up after {} attempts: {e}", c.attempts));
        }
        Err(SendError::Permanent(e)) => {
            o.status = DeliveryStatus::Bounced;
            if is_mailbox_failure(&e) {
                o.event = Some((EventKind::BounceHard, None));
                o.suppress = Some(email.to_string());
            } else {
                o.event = Some((EventKind::BounceSoft, None));
            }
            o.smtp_response = Some(e);
        }
    }
    o
}

/// Renders and sends one claimed message; returns what to record.
async fn send_one(app: &App, p: &Prepared, c: Claimed) -> Outcome {
    let Some(contact) = &c.contact else {
        return Outcome::new(
            c.delivery_id,
            DeliveryStatus::Skipped,
            Some("no longer subscribed, suppressed or erased".into()),
        );
    };
    let records = match p.records(app, contact).await {
        Ok(r) => r,
        Err(e) => {
            let e = SendError::Transient(format!("could not load the records: {e}"));
            return outcome(app, &c, &contact.email, Err(e));
        }
    };
    let msg = match p.message(app, contact, &records, c.delivery_id) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::new(
                c.delivery_id,
                DeliveryStatus::Failed,
                Some(format!("could not build the message: {e}")),
            )
        }
    };
    let domain = contact.email.rsplit('@').next().unwrap_or_default();
    let _slot = app.throttle.acquire(domain).await;
    let result = app
        .transport
        .send_for(p.org.sandbox, &msg)
        .await
        .map(|answer| (msg.message_id.clone(), answer));
    outcome(app, &c, &contact.email, result)
}

/// Sends one claimed batch and returns the outcomes. Each message is its own task, so
/// rendering spreads over every core while other messages wait for the relay.
async fn send_batch(app: &App, p: &Arc<Prepared>, claimed: Vec<Claimed>) -> Vec<Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for c in claimed {
        let (app, p) = (app.clone(), p.clone());
        tasks.spawn(async move { send_one(&app, &p, c).await });
    }
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(r) = tasks.join_next().await {
        // A task that panicked leaves its row `sending`: recovered as uncertain, never resent.
        match r {
            Ok(o) => out.push(o),
            Err(e) => tracing::error!(error = %e, "a message task failed"),
        }
    }
    out
}

/// Starts due scheduled mailings, or holds those more than the grace period late.
async fn start_due(app: &App) -> ServiceResult<()> {
    let now = app.now();
    let grace = i64::from(app.config.schedule_grace_minutes) * 60_000;
    for m in app.store.due_mailings(now).await? {
        if now - m.scheduled_at.unwrap_or(now) > grace {
            tracing::warn!(
                mailing = m.id,
                "scheduled mailing is overdue: held until someone sends or reschedules it"
            );
            app.store.hold_mailing(m.org_id, m.id, now).await?;
        } else {
            super::mailings::start(app, &m).await?;
        }
    }
    Ok(())
}

/// Where a round of one mailing stands.
struct Round {
    started: std::time::Instant,
    planned: bool,
    /// Messages claimed so far.
    handled: usize,
    /// Messages claimed at a time.
    part: usize,
}

/// The mailing sender of a node. It keeps each mailing compiled for as long as it is sending
/// (a sending mailing cannot be edited).
pub struct Sender {
    node: String,
    prepared: HashMap<i64, Arc<Prepared>>,
    /// Most messages of one mailing per round.
    round_limit: usize,
}

impl Sender {
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_string(),
            prepared: HashMap::new(),
            round_limit: usize::MAX,
        }
    }

    /// A sender that sends at most `messages` of each mailing per round (per [`Self::tick`]),
    /// so that what happens between rounds can be watched.
    pub fn with_round_limit(mut self, messages: usize) -> Self {
        self.round_limit = messages.max(1);
        self
    }

    /// One round of work for the mailings; returns how many messages were handled.
    pub async fn tick(&mut self, app: &App) -> ServiceResult<usize> {
        start_due(app).await?;
        let sending = app.store.sending_mailings().await?;
        self.prepared
            .retain(|id, _| sending.iter().any(|m| m.id == *id));
        let mut handled = 0;
        for m in sending {
            // One mailing's trouble must not hold up the others.
            match self.send_round(app, &m).await {
                Ok(n) => handled += n,
                Err(e) => tracing::error!(mailing = m.id, error = %e, "mailing delivery failed"),
            }
        }
        Ok(handled)
    }

    /// Plans a chunk of the mailing's audience; true when it is fully planned.
    async fn plan(app: &App, m: &MailingRow) -> ServiceResult<bool> {
        let segment = match &m.segment {
            Some(s) => Some(
                serde_json::from_str::<Value>(s)
                    .ok()
                    .and_then(|v| Segment::parse(&v).ok())
                    .ok_or_else(|| {
                        ServiceError::Internal(format!(
                            "mailing {}: stored segment is invalid",
                            m.id
                        ))
                    })?,
            ),
            None => None,
        };
        let (_, done) = app
            .store
            .plan_deliveries(m.org_id, m.id, segment.as_ref(), PLAN_CHUNK, app.now())
            .await?;
        Ok(done)
    }

    async fn prepared(&mut self, app: &App, m: &MailingRow) -> ServiceResult<Arc<Prepared>> {
        if let Some(p) = self.prepared.get(&m.id) {
            return Ok(p.clone());
        }
        let p = Arc::new(prepare(app, m).await?);
        self.prepared.insert(m.id, p.clone());
        Ok(p)
    }

    /// Claims up to `limit` queued messages of the mailing for this node (none once the
    /// mailing is no longer sending: paused or cancelled).
    async fn claim(&self, app: &App, m: &MailingRow, limit: usize) -> ServiceResult<Vec<Claimed>> {
        let now = app.now();
        let claim = format!("{}#{}", self.node, uuid::Uuid::new_v4().simple());
        Ok(app
            .store
            .claim_deliveries(m.org_id, m.id, &claim, limit as i64, now + LEASE_MS, now)
            .await?)
    }

    async fn record(app: &App, m: &MailingRow, outcomes: &[Outcome]) -> ServiceResult<()> {
        app.store
            .record_outcomes(m.org_id, Some(m.id), outcomes, app.now())
            .await?;
        metrics::counter!("handbill_mailing_messages_total").increment(outcomes.len() as u64);
        Ok(())
    }

    /// The next part of a round: none once the round's time or limit is reached; the
    /// audience is planned further first while it is not fully planned.
    async fn next_part(
        &self,
        app: &App,
        m: &MailingRow,
        round: &mut Round,
    ) -> ServiceResult<Vec<Claimed>> {
        let left = self.round_limit.saturating_sub(round.handled);
        if round.started.elapsed() >= ROUND || left == 0 {
            return Ok(Vec::new());
        }
        if !round.planned {
            round.planned = Self::plan(app, m).await?;
        }
        let claimed = self.claim(app, m, round.part.min(left)).await?;
        round.handled += claimed.len();
        Ok(claimed)
    }

    /// Plans the mailing's audience further while it is not fully planned, and sends its
    /// queued messages for up to [`ROUND`], half a batch at a time with two halves out at
    /// once: while one half is with the relays, the half before is written, the audience
    /// planned further and the next half claimed, so the relays never wait for the database.
    /// At most one batch is in doubt (claimed and not yet written) at any moment.
    async fn send_round(&mut self, app: &App, m: &MailingRow) -> ServiceResult<usize> {
        let batch = app.config.mail_batch_size as usize;
        let parts = if batch >= 2 { 2 } else { 1 };
        let mut round = Round {
            started: std::time::Instant::now(),
            planned: m.planned,
            handled: 0,
            part: batch / parts,
        };
        let first = self.next_part(app, m, &mut round).await?;
        if first.is_empty() {
            if !round.planned {
                return Ok(1); // an audience chunk without recipients: planning goes on
            }
            if app
                .store
                .finish_mailing_if_done(m.org_id, m.id, app.now())
                .await?
            {
                tracing::info!(mailing = m.id, "mailing sent");
            }
            return Ok(0);
        }
        let p = match self.prepared(app, m).await {
            Ok(p) => p,
            Err(e) => {
                // Release the claim untouched: nothing was sent.
                tracing::error!(mailing = m.id, error = %e, "cannot prepare mailing");
                let retry_at = app.now() + 60_000;
                let released: Vec<Outcome> = first
                    .iter()
                    .map(|c| Outcome {
                        retry_at: Some(retry_at),
                        ..Outcome::new(c.delivery_id, DeliveryStatus::Queued, Some(e.to_string()))
                    })
                    .collect();
                Self::record(app, m, &released).await?;
                return Ok(released.len());
            }
        };
        let spawn = |claimed: Vec<Claimed>| {
            let (app, p) = (app.clone(), p.clone());
            tokio::spawn(async move { send_batch(&app, &p, claimed).await })
        };
        let mut out = std::collections::VecDeque::from([spawn(first)]);
        let mut claiming = true;
        let mut failure = None;
        loop {
            if claiming && out.len() < parts {
                match self.next_part(app, m, &mut round).await {
                    Ok(next) if !next.is_empty() => {
                        out.push_back(spawn(next));
                        continue;
                    }
                    Ok(_) => claiming = false,
                    Err(e) => {
                        claiming = false;
                        failure = Some(e);
                    }
                }
            }
            let Some(oldest) = out.pop_front() else { break };
            // A half that failed as a whole leaves its rows `sending`: recovered as uncertain.
            let outcomes = oldest.await.unwrap_or_else(|e| {
                tracing::error!(mailing = m.id, error = %e, "a batch task failed");
                Vec::new()
            });
            if let Err(e) = Self::record(app, m, &outcomes).await {
                tracing::error!(mailing = m.id, error = %e, "could not record outcomes");
                claiming = false;
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(round.handled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_failures_are_told_from_policy_refusals() {
        assert!(is_mailbox_failure(
            "permanent error (550): 5.1.1 rejected by test"
        ));
        assert!(is_mailbox_failure("550 5.2.1 mailbox disabled"));
        assert!(is_mailbox_failure("550 no such user"));
        assert!(!is_mailbox_failure("554 5.7.1 message refused as spam"));
        assert!(!is_mailbox_failure("552 5.3.4 message too big"));
    }
}
