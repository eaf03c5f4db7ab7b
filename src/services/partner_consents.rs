//! Handing consents to the partner: the feed of consents and withdrawals on a partner's
//! opt-ins with their proof (API, file export, scheduled export to a folder), and the opt-outs
//! a partner reports back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tokens::Principal;
use super::{consent, found, partners, OrNotFound, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::rfc3339;
use crate::domain::ledger::Evidence;
use crate::domain::{EmailAddress, FieldError, Scope, ValidationError};
use crate::store::{ConsentEventRow, PartnerExportRow, PartnerRow, RequestRow};

pub const MAX_PAGE: i64 = 1000;
pub const MAX_OPTOUTS: usize = 1000;

/// Where and how a consent was given.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Proof {
    /// The way in: checkout, api, stager, public_page …
    pub source: String,
    pub point_of_sale: Option<String>,
    pub order: Option<String>,
    /// The exact text the person saw.
    pub text_shown: Option<String>,
    /// When the box was ticked (or the consent asserted).
    pub consented_at: Option<String>,
    pub consent_ip: Option<String>,
    pub consent_user_agent: Option<String>,
    /// When the person confirmed by the link in the mail (double opt-in).
    pub confirmed_at: Option<String>,
    pub confirm_ip: Option<String>,
    pub confirm_user_agent: Option<String>,
}

/// One consent or withdrawal on a partner's opt-in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentItem {
    /// Pass the last item's cursor as `since` to continue.
    pub cursor: i64,
    /// subscribed or withdrawn
    pub status: String,
    pub optin: String,
    pub at: String,
    /// `at` in unix milliseconds, for filtering exports.
    #[serde(skip)]
    pub occurred_at: i64,
    /// None once the person's data was erased: delete it on your side too.
    pub email: Option<String>,
    pub erased: bool,
    pub first_name: Option<String>,
    pub name_prefix: Option<String>,
    pub last_name: Option<String>,
    pub language: Option<String>,
    pub proof: Proof,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentPage {
    pub partner: String,
    pub items: Vec<ConsentItem>,
    /// The cursor to ask for the next page with (`since`); equal to the one given when empty.
    pub next: i64,
    pub has_more: bool,
}

/// The partner a request acts for: a partner's token is bound to one; an organisation token
/// (scope `partner:read`/`admin`) names one by key.
pub async fn partner_for(
    app: &App,
    who: &Principal,
    scope: Scope,
    named: Option<&str>,
) -> ServiceResult<PartnerRow> {
    who.require(scope)?;
    match (
        who.partner_id,
        named.map(str::trim).filter(|k| !k.is_empty()),
    ) {
        (Some(id), None) => Ok(app.store.partner_by_id(who.org_id, id).await?),
        (Some(id), Some(k)) => {
            let p = app.store.partner_by_id(who.org_id, id).await?;
            if p.key == k {
                Ok(p)
            } else {
                // Another partner does not exist for this token.
                Err(ServiceError::NotFound("partner"))
            }
        }
        (None, Some(k)) => partners::by_key(app, who.org_id, k).await,
        (None, None) => Err(ValidationError::single(
            "partner",
            "required",
            "name the partner (only a partner's own token implies it)",
        )
        .into()),
    }
}

fn context_field(ctx: Option<&str>, field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(ctx?).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

fn item(e: ConsentEventRow, requests: &HashMap<i64, RequestRow>) -> ConsentItem {
    let mut proof = Proof {
        source: e.source.clone(),
        ..Proof::default()
    };
    let status = match e.action.as_str() {
        "unsubscribe" => "withdrawn",
        _ => "subscribed",
    };
    match e.action.as_str() {
        "confirm" => {
            if let Some(r) = e.request_seq.and_then(|s| requests.get(&s)) {
                proof.source = r.source.clone();
                proof.point_of_sale = context_field(r.context.as_deref(), "point_of_sale");
                proof.order = context_field(r.context.as_deref(), "order");
                proof.text_shown = r.text_shown.clone();
                proof.consented_at = Some(rfc3339(r.occurred_at));
                proof.consent_ip = r.ip.clone();
                proof.consent_user_agent = r.user_agent.clone();
            }
            proof.confirmed_at = Some(rfc3339(e.occurred_at));
            proof.confirm_ip = e.ip.clone();
            proof.confirm_user_agent = e.user_agent.clone();
        }
        "assert" => {
            proof.point_of_sale = context_field(e.context.as_deref(), "point_of_sale");
            proof.order = context_field(e.context.as_deref(), "order");
            proof.text_shown = e.text_shown.clone();
            proof.consented_at = Some(rfc3339(e.occurred_at));
            proof.consent_ip = e.ip.clone();
            proof.consent_user_agent = e.user_agent.clone();
        }
        _ => {}
    }
    ConsentItem {
        cursor: e.seq,
        status: status.into(),
        optin: e.optin,
        at: rfc3339(e.occurred_at),
        occurred_at: e.occurred_at,
        erased: e.email.is_none(),
        email: e.email,
        first_name: e.first_name,
        name_prefix: e.name_prefix,
        last_name: e.last_name,
        language: e.language,
        proof,
    }
}

/// A page of a partner's consents and withdrawals after cursor `since`.
pub async fn page(
    app: &App,
    partner: &PartnerRow,
    since: i64,
    limit: i64,
) -> ServiceResult<ConsentPage> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut rows = app
        .store
        .partner_consent_events(partner.org_id, partner.id, since.max(0), limit + 1)
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let seqs: Vec<i64> = rows.iter().filter_map(|r| r.request_seq).collect();
    let requests: HashMap<i64, RequestRow> = app
        .store
        .ledger_requests(partner.org_id, &seqs)
        .await?
        .into_iter()
        .map(|r| (r.seq, r))
        .collect();
    let next = rows.last().map(|r| r.seq).unwrap_or(since.max(0));
    Ok(ConsentPage {
        partner: partner.key.clone(),
        items: rows.into_iter().map(|e| item(e, &requests)).collect(),
        next,
        has_more,
    })
}

/// `POST /api/v1/partner/optouts`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptoutRequest {
    pub optouts: Vec<Optout>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Optout {
    pub email: String,
    /// One of the partner's opt-ins; absent: all of them.
    pub optin: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OptoutResult {
    pub received: usize,
    /// Subscriptions on the partner's opt-ins that ended now.
    pub unsubscribed: usize,
}

/// Opt-outs the partner received (its own unsubscribe link, a complaint …), applied to its
/// opt-ins only and written to the ledger. The whole call is checked first; one bad item
/// rejects it and changes nothing.
pub async fn optouts(
    app: &App,
    who: &Principal,
    partner: &PartnerRow,
    req: &OptoutRequest,
) -> ServiceResult<OptoutResult> {
    if req.optouts.is_empty() || req.optouts.len() > MAX_OPTOUTS {
        return Err(ValidationError::single(
            "optouts",
            "out_of_range",
            format!("send 1 to {MAX_OPTOUTS} opt-outs per call"),
        )
        .into());
    }
    let owned = app.store.partner_lists(partner.org_id, partner.id).await?;
    let lists: Vec<i64> = owned.iter().map(|(id, _)| *id).collect();
    let keys: HashMap<&str, i64> = owned.iter().map(|(id, key)| (key.as_str(), *id)).collect();
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (i, o) in req.optouts.iter().enumerate() {
        let email =
            EmailAddress::parse(&o.email).map_err(|e| e.for_field(&format!("optouts[{i}].email")));
        let only = match o.optin.as_deref().map(str::trim) {
            Some(k) => match keys.get(k) {
                Some(id) => Ok(vec![*id]),
                None => Err(ValidationError::single(
                    format!("optouts[{i}].optin"),
                    "unknown_optin",
                    "not an opt-in of this partner",
                )),
            },
            None => Ok(lists.clone()),
        };
        match (email, only) {
            (Ok(e), Ok(l)) => parsed.push((e, l)),
            (e, l) => {
                for err in [e.err(), l.err()].into_iter().flatten() {
                    errors.extend(err.0);
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors).into());
    }
    let evidence = Evidence {
        source: "partner".into(),
        actor: format!("partner:{}", partner.key),
        token_id: who.token(),
        ..Evidence::default()
    };
    let mut unsubscribed = 0;
    for (email, only) in &parsed {
        let Some(contact) = found(app.store.contact_by_email(partner.org_id, email).await)? else {
            continue;
        };
        unsubscribed += consent::unsubscribe_contact(app, &contact, Some(only), &evidence).await?;
    }
    tracing::info!(org = partner.org_id, partner = %partner.key, received = req.optouts.len(), unsubscribed, "partner opt-outs applied");
    Ok(OptoutResult {
        received: req.optouts.len(),
        unsubscribed,
    })
}

/// The format of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s.trim() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(ValidationError::single(
                "format",
                "invalid_format",
                "csv or json",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

const CSV_HEADER: [&str; 20] = [
    "cursor",
    "status",
    "optin",
    "at",
    "email",
    "erased",
    "first_name",
    "name_prefix",
    "last_name",
    "language",
    "source",
    "point_of_sale",
    "order",
    "text_shown",
    "consented_at",
    "consent_ip",
    "consent_user_agent",
    "confirmed_at",
    "confirm_ip",
    "confirm_user_agent",
];

fn csv_row(i: &ConsentItem) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let p = &i.proof;
    vec![
        i.cursor.to_string(),
        i.status.clone(),
        i.optin.clone(),
        i.at.clone(),
        o(&i.email),
        i.erased.to_string(),
        o(&i.first_name),
        o(&i.name_prefix),
        o(&i.last_name),
        o(&i.language),
        p.source.clone(),
        o(&p.point_of_sale),
        o(&p.order),
        o(&p.text_shown),
        o(&p.consented_at),
        o(&p.consent_ip),
        o(&p.consent_user_agent),
        o(&p.confirmed_at),
        o(&p.confirm_ip),
        o(&p.confirm_user_agent),
    ]
}

enum Sink<'a> {
    Csv(Box<csv::Writer<&'a mut (dyn std::io::Write + Send)>>),
    Json(&'a mut (dyn std::io::Write + Send)),
}

/// Writes a partner's consents after cursor `since` (and at or after `from`, unix ms) to `out`
/// as CSV (one header row) or JSON (an array). Returns (items written, last cursor).
pub async fn write_export(
    app: &App,
    partner: &PartnerRow,
    since: i64,
    from: Option<i64>,
    format: Format,
    out: &mut (dyn std::io::Write + Send),
) -> ServiceResult<(usize, i64)> {
    let io = |e: std::io::Error| ServiceError::Internal(format!("cannot write the export: {e}"));
    let fail = |e: csv::Error| ServiceError::Internal(format!("cannot write the export: {e}"));
    let mut sink = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER).map_err(fail)?;
            Sink::Csv(Box::new(w))
        }
        Format::Json => {
            out.write_all(b"[").map_err(io)?;
            Sink::Json(out)
        }
    };
    let (mut cursor, mut n) = (since, 0usize);
    loop {
        let page = page(app, partner, cursor, MAX_PAGE).await?;
        cursor = page.next;
        let wanted = |i: &&ConsentItem| from.is_none_or(|f| i.occurred_at >= f);
        for item in page.items.iter().filter(wanted) {
            match &mut sink {
                Sink::Csv(w) => w.write_record(csv_row(item)).map_err(fail)?,
                Sink::Json(out) => {
                    if n > 0 {
                        out.write_all(b",\n").map_err(io)?;
                    }
                    serde_json::to_writer(&mut **out, item)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?;
                }
            }
            n += 1;
        }
        if !page.has_more {
            break;
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush().map_err(io)?,
        Sink::Json(out) => out.write_all(b"]\n").map_err(io)?,
    }
    Ok((n, cursor))
}

/// `handbill partner schedule-export`: a periodic export to a folder on this server.
pub async fn schedule(
    app: &App,
    org_id: i64,
    partner_key: &str,
    folder: &Path,
    format: Format,
    every_minutes: i64,
) -> ServiceResult<PartnerExportRow> {
    let partner = partners::by_key(app, org_id, partner_key).await?;
    if !(5..=7 * 24 * 60).contains(&every_minutes) {
        return Err(ValidationError::single(
            "every",
            "out_of_range",
            "every 5 minutes to 7 days (10080 minutes)",
        )
        .into());
    }
    if !folder.is_absolute() || !folder.is_dir() {
        return Err(ValidationError(vec![FieldError::new(
            "folder",
            "invalid_folder",
            "an existing folder, as an absolute path",
        )])
        .into());
    }
    Ok(app
        .store
        .insert_partner_export(
            org_id,
            partner.id,
            &folder.to_string_lossy(),
            format.as_str(),
            every_minutes,
            app.now(),
        )
        .await?)
}

pub async fn unschedule(app: &App, org_id: i64, id: i64) -> ServiceResult<()> {
    if app.store.delete_partner_export(org_id, id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound("export schedule"))
    }
}

/// Runs one scheduled export: the entries since its last run go to a new file in its folder
/// (written under a temporary name, then renamed, so a pick-up never sees half a file).
/// Nothing new: no file.
async fn run_export(app: &App, e: &PartnerExportRow) -> ServiceResult<i64> {
    let partner = app
        .store
        .partner_by_id(e.org_id, e.partner_id)
        .await
        .or_not_found("partner")?;
    let format = Format::parse(&e.format)?;
    let mut buf = Vec::new();
    let (n, last) = write_export(app, &partner, e.last_seq, None, format, &mut buf).await?;
    if n == 0 {
        return Ok(e.last_seq);
    }
    let stamp = chrono::DateTime::from_timestamp_millis(app.now())
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ");
    let name = format!(
        "{}-consents-{stamp}.{}",
        sanitize(&partner.key),
        format.as_str()
    );
    let dir = PathBuf::from(&e.folder);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |err: std::io::Error| ServiceError::Internal(format!("{}: {err}", e.folder));
    tokio::fs::write(&tmp, &buf).await.map_err(io)?;
    tokio::fs::rename(&tmp, dir.join(&name)).await.map_err(io)?;
    tracing::info!(org = e.org_id, partner = %partner.key, items = n, file = %name, "partner consents exported");
    Ok(last)
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs the exports that are due (claimed by one node each). Returns how many ran.
pub async fn run_due(app: &App) -> ServiceResult<usize> {
    let now = app.now();
    let mut ran = 0;
    for e in app.store.due_partner_exports(now).await? {
        if !app
            .store
            .claim_partner_export(&e, now + e.every_minutes * 60_000)
            .await?
        {
            continue;
        }
        ran += 1;
        match run_export(app, &e).await {
            Ok(last) => {
                app.store
                    .finish_partner_export(e.org_id, e.id, last, None)
                    .await?
            }
            Err(err) => {
                tracing::error!(export = e.id, error = %err, "partner export failed");
                app.store
                    .finish_partner_export(e.org_id, e.id, e.last_seq, Some(&err.to_string()))
                    .await?
            }
        }
    }
    Ok(ran)
}
