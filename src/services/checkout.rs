//! Partner opt-ins at checkout (the SecuTix row): which partner newsletters a buyer is offered
//! for an order at a point of sale, the single-use widget that shows them, and the buyer's
//! answers — consent or refusal per opt-in — in the consent ledger with the exact text shown.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::links;
use super::lists::{pick, pick_by};
use super::optin_mail::verification_job;
use super::tokens::Principal;
use super::{contacts, found, points_of_sale, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::{rfc3339, DAY_MS};
use crate::domain::contact::ContactInput;
use crate::domain::ledger::Evidence;
use crate::domain::partner::external_id;
use crate::domain::validation::{text, Collector};
use crate::domain::{EmailAddress, FieldError, Language, Scope, TokenSecret};
use crate::store::{CheckoutOutcome, CheckoutRecord, NewWidget, PosRow, StoreError};

/// Most products named in one order.
pub const MAX_PRODUCTS: usize = 1000;
/// How long a widget link works.
pub const WIDGET_TTL_MS: i64 = 2 * 60 * 60 * 1000;
const WIDGET_TAG: &str = "w";

/// `POST /api/v1/checkout/optins` and `/checkout/widget`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub point_of_sale: String,
    pub email: String,
    /// nl, en, de or fr (default: the organisation's language).
    pub language: Option<String>,
    /// The ticket system's ids of the products in the order.
    #[serde(default)]
    pub product_ids: Vec<String>,
    /// The order reference, recorded with each answer.
    pub order: Option<String>,
}

/// The partner behind an opt-in, as the buyer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartnerCard {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub privacy_url: String,
}

/// One opt-in to show, with its texts in the buyer's language.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offer {
    pub optin: String,
    pub name: String,
    pub description: String,
    /// The consent sentence next to the checkbox (the name when the opt-in has none).
    pub label: String,
    pub partner: PartnerCard,
}

impl Offer {
    /// Everything the buyer reads for this opt-in, as recorded in the ledger.
    pub fn text_shown(&self) -> String {
        let mut t = self.label.clone();
        if !self.description.is_empty() {
            t.push('\n');
            t.push_str(&self.description);
        }
        t.push('\n');
        t.push_str(&self.partner.name);
        if !self.partner.description.is_empty() {
            t.push_str(": ");
            t.push_str(&self.partner.description);
        }
        t.push_str(&format!(" · {}", self.partner.privacy_url));
        t
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Offers {
    pub point_of_sale: String,
    pub language: String,
    pub optins: Vec<Offer>,
}

/// A widget as issued to the ticket shop's backend.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedWidget {
    /// The page to embed (iframe or link); absent when there is nothing to show.
    pub url: Option<String>,
    pub expires_at: Option<String>,
    pub language: String,
    pub optins: Vec<Offer>,
}

/// What a widget shows, as stored with it (the exact texts of the moment it was issued).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShownOptin {
    pub list_id: i64,
    #[serde(flatten)]
    pub offer: Offer,
}

struct Resolved {
    pos: PosRow,
    email: EmailAddress,
    lang: Language,
    order: Option<String>,
    offers: Vec<ShownOptin>,
}

async fn resolve(app: &App, who: &Principal, req: &CheckoutRequest) -> ServiceResult<Resolved> {
    who.require(Scope::CheckoutWrite)?;
    let mut c = Collector::default();
    let email = c.take(EmailAddress::parse(&req.email).map_err(|e| e.for_field("email")));
    let lang = match req.language.as_deref().map(str::trim) {
        Some(l) if !l.is_empty() => c.take(Language::parse(l).map_err(|e| e.for_field("language"))),
        _ => None,
    };
    let order = c
        .take(text("order", req.order.as_deref().unwrap_or(""), 100))
        .flatten();
    if req.product_ids.len() > MAX_PRODUCTS {
        c.push(FieldError::new(
            "product_ids",
            "too_many",
            format!("at most {MAX_PRODUCTS} products per order"),
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    for (i, p) in req.product_ids.iter().take(MAX_PRODUCTS).enumerate() {
        let field = format!("product_ids[{i}]");
        if let Some(id) = c.take(external_id(&field, p)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let pos = match external_id("point_of_sale", &req.point_of_sale) {
        Ok(k) => found(app.store.pos_by_key(who.org_id, &k).await)?,
        Err(e) => {
            c.take::<()>(Err(e));
            None
        }
    };
    if pos.is_none() && !req.point_of_sale.trim().is_empty() {
        c.push(FieldError::new(
            "point_of_sale",
            "unknown_point_of_sale",
            "no point of sale has this key",
        ));
    }
    // Products of other organisations are unknown here, like ids that never existed.
    let products = app.store.products_by_external_ids(who.org_id, &ids).await?;
    let unknown: Vec<&String> = ids
        .iter()
        .filter(|id| !products.iter().any(|p| &p.external_id == *id))
        .collect();
    if !unknown.is_empty() {
        let shown: Vec<&str> = unknown.iter().take(20).map(|s| s.as_str()).collect();
        c.push(FieldError::new(
            "product_ids",
            "unknown_product",
            format!("unknown product: {}", shown.join(", ")),
        ));
    }
    c.finish()?;
    let (Some(pos), Some(email)) = (pos, email) else {
        return Err(ServiceError::Internal(
            "validated request lost a field".into(),
        ));
    };
    let org = app.store.org_by_id(who.org_id).await?;
    let lang = lang
        .or_else(|| Language::parse(&org.default_language).ok())
        .unwrap_or(Language::Nl);
    let offers = if pos.partner_optins {
        // Partners managing a product of the order, and those defined for the point of sale.
        let mut partner_ids: Vec<i64> = products.iter().filter_map(|p| p.partner_id).collect();
        partner_ids.extend(app.store.pos_partner_ids(who.org_id, pos.id).await?);
        partner_ids.sort_unstable();
        partner_ids.dedup();
        offers_for(
            app,
            who.org_id,
            &partner_ids,
            &email,
            lang,
            &org.default_language,
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(Resolved {
        pos,
        email,
        lang,
        order,
        offers,
    })
}

/// The undecided opt-ins of these partners for this address, with texts in `lang`.
async fn offers_for(
    app: &App,
    org_id: i64,
    partner_ids: &[i64],
    email: &EmailAddress,
    lang: Language,
    fallback: &str,
) -> ServiceResult<Vec<ShownOptin>> {
    let rows = app
        .store
        .checkout_offers(org_id, partner_ids, email.as_str())
        .await?;
    let list_ids: Vec<i64> = rows.iter().map(|r| r.list_id).collect();
    let mut texts: HashMap<i64, Vec<crate::store::ListText>> = HashMap::new();
    for t in app.store.offer_texts(org_id, &list_ids).await? {
        texts.entry(t.list_id).or_default().push(t.text);
    }
    let mut partner_ids: Vec<i64> = rows.iter().map(|r| r.partner_id).collect();
    partner_ids.dedup();
    let mut descriptions: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    let mut cards: HashMap<i64, PartnerCard> = HashMap::new();
    for p in app.store.partners_with_texts(org_id, &partner_ids).await? {
        if let (Some(l), Some(d)) = (p.language, p.description) {
            descriptions.entry(p.id).or_default().push((l, d));
        }
        cards.entry(p.id).or_insert(PartnerCard {
            key: p.key,
            name: p.name,
            kind: p.kind,
            description: String::new(),
            privacy_url: p.privacy_url,
        });
    }
    for (id, card) in cards.iter_mut() {
        let texts = descriptions.remove(id).unwrap_or_default();
        card.description = pick_by(&texts, lang.code(), fallback, |(l, _)| l)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    for r in rows {
        let Some(card) = cards.get(&r.partner_id) else {
            continue;
        };
        let list_texts = texts.remove(&r.list_id).unwrap_or_default();
        let t = pick(&list_texts, lang.code(), fallback)
            .cloned()
            .unwrap_or_default();
        let name = if t.name.is_empty() {
            r.list_key.clone()
        } else {
            t.name
        };
        out.push(ShownOptin {
            list_id: r.list_id,
            offer: Offer {
                optin: r.list_key,
                label: if t.optin_text.is_empty() {
                    name.clone()
                } else {
                    t.optin_text
                },
                name,
                description: t.description,
                partner: card.clone(),
            },
        });
    }
    Ok(out)
}

/// `POST /api/v1/checkout/optins`: the opt-ins to show for an order.
pub async fn offers(app: &App, who: &Principal, req: &CheckoutRequest) -> ServiceResult<Offers> {
    let r = resolve(app, who, req).await?;
    Ok(Offers {
        point_of_sale: r.pos.key,
        language: r.lang.code().into(),
        optins: r.offers.into_iter().map(|s| s.offer).collect(),
    })
}

/// `POST /api/v1/checkout/widget`: a signed, single-use widget link for the order (none when
/// there is nothing to show).
pub async fn issue_widget(
    app: &App,
    who: &Principal,
    req: &CheckoutRequest,
) -> ServiceResult<IssuedWidget> {
    let r = resolve(app, who, req).await?;
    let language = r.lang.code().to_string();
    if r.offers.is_empty() {
        return Ok(IssuedWidget {
            url: None,
            expires_at: None,
            language,
            optins: Vec::new(),
        });
    }
    let now = app.now();
    let expires_at = now + WIDGET_TTL_MS;
    let shown = serde_json::to_string(&r.offers)
        .map_err(|e| ServiceError::Internal(format!("widget texts: {e}")))?;
    let id = app
        .store
        .insert_widget(
            who.org_id,
            &NewWidget {
                pos_id: r.pos.id,
                token_id: who.token(),
                email: r.email.as_str().to_string(),
                language: language.clone(),
                order_ref: r.order,
                shown,
                expires_at,
            },
            now,
        )
        .await?;
    let key = links::signing_key(app).await?;
    let token = links::sign_ids(&key, WIDGET_TAG, &[who.org_id, id, expires_at]);
    tracing::info!(
        org = who.org_id,
        widget = id,
        optins = r.offers.len(),
        "checkout widget issued"
    );
    Ok(IssuedWidget {
        url: Some(format!("{}/p/widget/{token}", app.config.public_url())),
        expires_at: Some(rfc3339(expires_at)),
        language,
        optins: r.offers.into_iter().map(|s| s.offer).collect(),
    })
}

/// Whose widget it is: enough to answer in the buyer's language, inside the shop's frame.
#[derive(Debug, Clone)]
pub struct WidgetPlace {
    pub lang: Language,
    pub org: String,
    pub frame_origin: Option<String>,
}

/// What the widget page shows for a link.
pub enum WidgetState {
    Open(Box<OpenWidget>),
    /// Submitted already: a second submission records nothing.
    Used(WidgetPlace),
    Expired(WidgetPlace),
    /// Forged, altered or unknown.
    Invalid,
}

pub struct OpenWidget {
    pub place: WidgetPlace,
    pub optins: Vec<Offer>,
    pub theme: std::collections::BTreeMap<String, String>,
    widget: crate::store::WidgetRow,
    pos: PosRow,
    shown: Vec<ShownOptin>,
}

/// Reads a widget link; changes nothing (`GET /p/widget/{token}`).
pub async fn widget_state(app: &App, token: &str) -> ServiceResult<WidgetState> {
    let key = links::signing_key(app).await?;
    let Some(ids) = links::verify_ids(&key, WIDGET_TAG, token, 3) else {
        return Ok(WidgetState::Invalid);
    };
    let (org_id, id) = (ids[0], ids[1]);
    let Some(widget) = found(app.store.widget(org_id, id).await)? else {
        return Ok(WidgetState::Invalid);
    };
    if widget.expires_at != ids[2] {
        return Ok(WidgetState::Invalid);
    }
    let org = app.store.org_by_id(org_id).await?;
    let lang = Language::parse(&widget.language).unwrap_or(Language::En);
    let pos = app.store.pos_by_id(org_id, widget.pos_id).await?;
    let place = WidgetPlace {
        lang,
        org: org.name,
        frame_origin: pos.frame_origin.clone(),
    };
    if widget.submitted_at.is_some() {
        return Ok(WidgetState::Used(place));
    }
    if widget.expires_at <= app.now() {
        return Ok(WidgetState::Expired(place));
    }
    let shown: Vec<ShownOptin> = serde_json::from_str(&widget.shown)
        .map_err(|e| ServiceError::Internal(format!("stored widget texts: {e}")))?;
    Ok(WidgetState::Open(Box::new(OpenWidget {
        place,
        optins: shown.iter().map(|s| s.offer.clone()).collect(),
        theme: points_of_sale::theme_of(&pos),
        widget,
        pos,
        shown,
    })))
}

/// Where a consent was given, for the ledger.
fn context(pos: &PosRow, order: Option<&str>, widget: Option<i64>) -> String {
    serde_json::json!({ "point_of_sale": pos.key, "order": order, "widget": widget }).to_string()
}

/// `POST /p/widget/{token}`: the buyer's answers. Every opt-in shown is answered: a ticked box
/// is consent, an unticked one a refusal. Returns the state after (Used once recorded).
pub async fn submit_widget(
    app: &App,
    token: &str,
    ticked: &[String],
    ip: Option<String>,
    user_agent: Option<String>,
) -> ServiceResult<(WidgetState, Option<CheckoutOutcome>)> {
    let w = match widget_state(app, token).await? {
        WidgetState::Open(w) => w,
        other => return Ok((other, None)),
    };
    let used = WidgetState::Used(w.place.clone());
    let Some(email) = w.widget.email.as_deref() else {
        return Ok((used, None));
    };
    let email = EmailAddress::parse(email)?;
    let ctx = context(&w.pos, w.widget.order_ref.as_deref(), Some(w.widget.id));
    let answers = w
        .shown
        .iter()
        .map(|s| {
            let ev = Evidence {
                source: "checkout".into(),
                actor: "contact".into(),
                token_id: w.widget.token_id,
                ip: ip.clone(),
                user_agent: user_agent.clone(),
                text_shown: Some(s.offer.text_shown()),
                context: Some(ctx.clone()),
            };
            (s.list_id, ticked.contains(&s.offer.optin), ev)
        })
        .collect();
    let outcome = record(
        app,
        w.widget.org_id,
        Some(w.widget.id),
        &email,
        w.place.lang,
        &w.pos,
        answers,
    )
    .await;
    match outcome {
        Ok(o) => Ok((used, Some(o))),
        // Submitted (or expired) by a concurrent request: nothing was written here.
        Err(ServiceError::Store(StoreError::Conflict(_))) => {
            Ok((widget_state(app, token).await?, None))
        }
        Err(e) => Err(e),
    }
}

/// One answer given through the API by a ticket shop that renders the opt-ins itself.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub optin: String,
    /// true: consent; false: refusal.
    pub consent: bool,
}

/// `POST /api/v1/checkout/answers`: the order's request plus the buyer's answers and the
/// buyer's browser (IP address and user agent) as the shop saw it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersRequest {
    #[serde(flatten)]
    pub order: CheckoutRequest,
    pub answers: Vec<Answer>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Records answers given on the shop's own page. Only opt-ins the order offers may be
/// answered; the text recorded is the one this server would show in the buyer's language.
pub async fn answer(
    app: &App,
    who: &Principal,
    req: &AnswersRequest,
) -> ServiceResult<CheckoutOutcome> {
    let r = resolve(app, who, &req.order).await?;
    let mut c = Collector::default();
    let ip = match req.ip.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => match s.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                c.push(FieldError::new(
                    "ip",
                    "invalid_ip",
                    "an IPv4 or IPv6 address",
                ));
                None
            }
        },
        _ => None,
    };
    let user_agent = c
        .take(text(
            "user_agent",
            req.user_agent.as_deref().unwrap_or(""),
            500,
        ))
        .flatten();
    if req.answers.is_empty() {
        c.push(FieldError::new(
            "answers",
            "required",
            "give at least one answer",
        ));
    }
    let ctx = context(&r.pos, r.order.as_deref(), None);
    let mut answers = Vec::new();
    for (i, a) in req.answers.iter().enumerate() {
        match r.offers.iter().find(|s| s.offer.optin == a.optin.trim()) {
            Some(s) if !answers.iter().any(|(id, _, _)| *id == s.list_id) => {
                let ev = Evidence {
                    source: "checkout".into(),
                    actor: format!("token:{}", who.token_id),
                    token_id: who.token(),
                    ip: ip.clone(),
                    user_agent: user_agent.clone(),
                    text_shown: Some(s.offer.text_shown()),
                    context: Some(ctx.clone()),
                };
                answers.push((s.list_id, a.consent, ev));
            }
            Some(_) => c.push(FieldError::new(
                format!("answers[{i}].optin"),
                "duplicate",
                "this opt-in is answered twice",
            )),
            None => c.push(FieldError::new(
                format!("answers[{i}].optin"),
                "not_offered",
                "this opt-in is not offered for this order (unknown, or already decided)",
            )),
        }
    }
    c.finish()?;
    record(app, who.org_id, None, &r.email, r.lang, &r.pos, answers).await
}

async fn record(
    app: &App,
    org_id: i64,
    widget_id: Option<i64>,
    email: &EmailAddress,
    lang: Language,
    pos: &PosRow,
    answers: Vec<(i64, bool, Evidence)>,
) -> ServiceResult<CheckoutOutcome> {
    let fields = ContactInput {
        language: Some(lang.code().into()),
        source: Some("checkout".into()),
        ..Default::default()
    }
    .validate()?;
    let secret = TokenSecret::generate("");
    let now = app.now();
    let job = verification_job(secret.expose().to_string());
    let outcome = app
        .store
        .record_checkout(CheckoutRecord {
            org_id,
            widget_id,
            email: email.clone(),
            guid: contacts::new_guid(),
            fields,
            answers,
            double_optin: pos.double_optin,
            now,
            token_hash: secret.hash(),
            token_expires_at: now + i64::from(app.config.optin_link_days) * DAY_MS,
            verification_job: job,
            max_attempts: super::mail::MAIL_MAX_ATTEMPTS,
        })
        .await?;
    tracing::info!(
        org = org_id,
        contact = outcome.contact_id,
        consented = outcome.consented.len(),
        refused = outcome.refused.len(),
        mail = outcome.verification_queued,
        "checkout answers recorded"
    );
    Ok(outcome)
}
