//! Opt-in registration (double or single opt-in), confirmation, resending, unsubscribing,
//! preferences and the purge of signups that were never confirmed.

use serde::Deserialize;

use super::links::{self, LinkClaims, Purpose};
use super::lists::{self, pick};
use super::optin_mail::{verification_job, WelcomeJob, WELCOME};
use super::tokens::Principal;
use super::{contacts, found, ServiceError, ServiceResult};
use crate::app::App;
use crate::clock::DAY_MS;
use crate::domain::contact::ContactInput;
use crate::domain::ledger::Evidence;
use crate::domain::token::hash_token;
use crate::domain::{ConsentAction, EmailAddress, Language, Scope, TokenSecret, ValidationError};
use crate::store::{ListRow, Registration, RegistrationOutcome, StoreError};

/// How consent is obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Double opt-in: the contact confirms by the link in the verification mail.
    #[default]
    Confirm,
    /// Single opt-in: the organisation asserts the consent (scope `consent:assert`, single
    /// opt-in lists only).
    Asserted,
}

#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    pub email: String,
    pub optins: Vec<String>,
    pub language: Option<String>,
    pub fields: ContactInput,
    pub consent: ConsentMode,
    /// The public id a new contact gets (default: a fresh one).
    pub guid: Option<String>,
}

const MAIL_ATTEMPTS: i64 = super::mail::MAIL_MAX_ATTEMPTS;

/// Registers an address. The outcome is the same whether the address was new, pending or
/// subscribed already, so callers learn nothing about who is on a list.
pub async fn register(
    app: &App,
    who: &Principal,
    req: &RegisterRequest,
    evidence: Evidence,
) -> ServiceResult<RegistrationOutcome> {
    match req.consent {
        ConsentMode::Confirm => who.require(Scope::OptinRegister)?,
        ConsentMode::Asserted => who.require(Scope::ConsentAssert)?,
    }
    let email = EmailAddress::parse(&req.email);
    let language = req
        .language
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Language::parse(l).map_err(|e| e.for_field("language")))
        .transpose();
    let mut input = req.fields.clone();
    let fields = {
        if let Ok(Some(l)) = &language {
            input.language = Some(l.code().into());
        }
        input.validate()
    };
    let mut errors = Vec::new();
    for e in [
        email.as_ref().err(),
        language.as_ref().err(),
        fields.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        errors.extend(e.0.iter().cloned());
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors).into());
    }
    let (email, fields) = (email?, fields?);
    let lists = lists::resolve(app, who.org_id, &req.optins).await?;
    if req.consent == ConsentMode::Asserted {
        if let Some(l) = lists.iter().find(|l| l.list.double_optin) {
            return Err(ValidationError::single(
                "consent",
                "confirmation_required",
                format!(
                    "opt-in '{}' needs the contact's own confirmation (double opt-in)",
                    l.list.key
                ),
            )
            .into());
        }
    }
    let org_language = lists
        .first()
        .map(|l| l.org_language.clone())
        .unwrap_or_default();
    let lang = fields
        .language
        .map(|l| l.code().to_string())
        .unwrap_or(org_language.clone());
    let per_list: Vec<(i64, Evidence)> = lists
        .iter()
        .map(|l| {
            let mut ev = evidence.clone();
            ev.text_shown = pick(&l.texts, &lang, &org_language)
                .map(|t| t.optin_text.clone())
                .filter(|t| !t.is_empty());
            (l.list.id, ev)
        })
        .collect();
    let secret = TokenSecret::generate("");
    let now = app.now();
    let job = verification_job(secret.expose().to_string());
    let reg = Registration {
        org_id: who.org_id,
        email,
        guid: req.guid.clone().unwrap_or_else(contacts::new_guid),
        fields,
        lists: per_list,
        assert: req.consent == ConsentMode::Asserted,
        now,
        resend_before: now - i64::from(app.config.optin_resend_minutes) * 60_000,
        token_hash: secret.hash(),
        token_expires_at: now + i64::from(app.config.optin_link_days) * DAY_MS,
        verification_job: job,
        max_attempts: MAIL_ATTEMPTS,
    };
    match app.store.register_optin(reg).await {
        Ok(outcome) => {
            tracing::info!(
                org = who.org_id,
                contact = outcome.contact_id,
                changed = outcome.changed.len(),
                mail = outcome.verification_queued,
                "opt-in registered"
            );
            Ok(outcome)
        }
        Err(e) if e.is_conflict_on("external_id") => Err(ServiceError::Conflict {
            field: "external_id",
            message: "another contact already has this external id".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The language to address a contact in: its own, else its organisation's.
pub fn contact_language(contact: &crate::store::ContactRow, org: &crate::store::Org) -> Language {
    contact
        .language
        .as_deref()
        .and_then(|l| Language::parse(l).ok())
        .or_else(|| Language::parse(&org.default_language).ok())
        .unwrap_or(Language::Nl)
}

/// What the confirmation page shows for a token.
pub enum ConfirmState {
    /// Waiting for the contact's click: the lists and their texts in the contact's language.
    Open {
        org: String,
        lang: Language,
        lists: Vec<(String, String)>,
    },
    /// Used already: the subscription is confirmed.
    Used { org: String, lang: Language },
    /// Expired but still known: a new mail may be asked for.
    Expired { org: String, lang: Language },
    /// Unknown (never issued, or purged).
    Unknown,
}

struct TokenContext {
    token: crate::store::ConfirmTokenRow,
    org: crate::store::Org,
    contact: crate::store::ContactRow,
    lang: Language,
    lists: Vec<(ListRow, Option<crate::store::ListText>)>,
}

async fn token_context(app: &App, secret: &str) -> ServiceResult<Option<TokenContext>> {
    if secret.is_empty() || secret.len() > 100 {
        return Ok(None);
    }
    let Some(token) = found(app.store.confirm_token(&hash_token(secret)).await)? else {
        return Ok(None);
    };
    let org = app.store.org_by_id(token.org_id).await?;
    let Some(contact) = found(app.store.contact_by_id(org.id, token.contact_id).await)? else {
        return Ok(None);
    };
    let lang = contact_language(&contact, &org);
    let mut lists = Vec::new();
    for id in token.list_ids() {
        let l = app.store.list_by_id(org.id, id).await?;
        let texts = app.store.list_texts(org.id, id).await?;
        let t = pick(&texts, lang.code(), &org.default_language).cloned();
        lists.push((l, t));
    }
    Ok(Some(TokenContext {
        token,
        org,
        contact,
        lang,
        lists,
    }))
}

/// For `GET /p/confirm/{token}`: reads only, confirms nothing (mail scanners fetch links).
pub async fn confirm_state(app: &App, secret: &str) -> ServiceResult<ConfirmState> {
    let Some(c) = token_context(app, secret).await? else {
        return Ok(ConfirmState::Unknown);
    };
    let org = c.org.name.clone();
    Ok(if c.token.used_at.is_some() {
        ConfirmState::Used { org, lang: c.lang }
    } else if c.token.expires_at <= app.now() {
        ConfirmState::Expired { org, lang: c.lang }
    } else {
        let lists = c
            .lists
            .iter()
            .map(|(l, t)| {
                let t = t.clone().unwrap_or_default();
                (
                    if t.name.is_empty() {
                        l.key.clone()
                    } else {
                        t.name
                    },
                    t.optin_text,
                )
            })
            .collect();
        ConfirmState::Open {
            org,
            lang: c.lang,
            lists,
        }
    })
}

/// For `POST /p/confirm/{token}`: the contact's own confirmation. Returns the page state after
/// it (Used when confirmed now or before).
pub async fn confirm(
    app: &App,
    secret: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> ServiceResult<ConfirmState> {
    let Some(c) = token_context(app, secret).await? else {
        return Ok(ConfirmState::Unknown);
    };
    let evidence: Vec<(i64, Evidence)> = c
        .lists
        .iter()
        .map(|(l, t)| {
            let ev = Evidence {
                source: "public_page".into(),
                actor: "contact".into(),
                token_id: None,
                ip: ip.clone(),
                user_agent: user_agent.clone(),
                text_shown: t
                    .as_ref()
                    .map(|t| t.optin_text.clone())
                    .filter(|s| !s.is_empty()),
                context: None,
            };
            (l.id, ev)
        })
        .collect();
    let welcome: Vec<(i64, String, String)> = c
        .lists
        .iter()
        .filter(|(l, _)| l.send_welcome)
        .map(|(l, _)| {
            let job = WelcomeJob {
                contact_id: c.contact.id,
                list_id: l.id,
            };
            (
                l.id,
                WELCOME.to_string(),
                serde_json::to_string(&job).unwrap_or_default(),
            )
        })
        .collect();
    match app
        .store
        .use_confirm_token(
            &c.token.token_hash,
            &c.contact.email,
            &evidence,
            &welcome,
            MAIL_ATTEMPTS,
            app.now(),
        )
        .await
    {
        Ok(_) => Ok(ConfirmState::Used {
            org: c.org.name,
            lang: c.lang,
        }),
        // Used or expired in the meantime: show what is true now.
        Err(StoreError::NotFound) => confirm_state(app, secret).await,
        Err(e) => Err(e.into()),
    }
}

/// For an expired link: registers the same lists again for the same address, which sends a new
/// mail within the usual limits. Answers the same whatever happens.
pub async fn resend(
    app: &App,
    secret: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> ServiceResult<Option<(String, Language)>> {
    let Some(c) = token_context(app, secret).await? else {
        return Ok(None);
    };
    if c.token.used_at.is_none() && c.token.expires_at <= app.now() {
        let who = Principal::internal(c.org.id, Scope::OptinRegister);
        let req = RegisterRequest {
            email: c.contact.email.clone(),
            optins: c
                .lists
                .iter()
                .filter(|(l, _)| l.archived_at.is_none())
                .map(|(l, _)| l.key.clone())
                .collect(),
            language: Some(c.lang.code().into()),
            ..Default::default()
        };
        let ev = Evidence {
            source: "public_page".into(),
            actor: "contact".into(),
            token_id: None,
            ip,
            user_agent,
            text_shown: None,
            context: None,
        };
        if !req.optins.is_empty() {
            register(app, &who, &req, ev).await?;
        }
    }
    Ok(Some((c.org.name, c.lang)))
}

/// A contact's view of its opt-ins (the preferences page).
pub struct Preferences {
    pub org: String,
    pub lang: Language,
    /// (list id, name, description, subscribed)
    pub lists: Vec<(i64, String, String, bool)>,
}

async fn claims_contact(
    app: &App,
    purpose: Purpose,
    token: &str,
) -> ServiceResult<
    Option<(
        LinkClaims,
        crate::store::Org,
        crate::store::ContactRow,
        Language,
    )>,
> {
    let key = links::signing_key(app).await?;
    let Some(claims) = links::verify(&key, purpose, token) else {
        return Ok(None);
    };
    let Some(org) = found(app.store.org_by_id(claims.org_id).await)? else {
        return Ok(None);
    };
    let Some(contact) = found(app.store.contact_by_id(org.id, claims.contact_id).await)? else {
        return Ok(None);
    };
    let lang = contact_language(&contact, &org);
    Ok(Some((claims, org, contact, lang)))
}

pub async fn preferences(app: &App, token: &str) -> ServiceResult<Option<Preferences>> {
    let Some((_, org, contact, lang)) = claims_contact(app, Purpose::Preferences, token).await?
    else {
        return Ok(None);
    };
    let subs = app.store.contact_subscriptions(org.id, contact.id).await?;
    let mut lists = Vec::new();
    for l in app.store.lists(org.id).await? {
        let subscribed = subs
            .iter()
            .any(|s| s.list_id == l.id && s.status == "subscribed");
        if l.archived_at.is_some() && !subscribed {
            continue;
        }
        let texts = app.store.list_texts(org.id, l.id).await?;
        let t = pick(&texts, lang.code(), &org.default_language)
            .cloned()
            .unwrap_or_default();
        lists.push((
            l.id,
            if t.name.is_empty() {
                l.key.clone()
            } else {
                t.name
            },
            t.description,
            subscribed,
        ));
    }
    Ok(Some(Preferences {
        org: org.name,
        lang,
        lists,
    }))
}

fn contact_evidence(
    ip: Option<String>,
    user_agent: Option<String>,
    text: Option<String>,
) -> Evidence {
    Evidence {
        source: "public_page".into(),
        actor: "contact".into(),
        token_id: None,
        ip,
        user_agent,
        text_shown: text,
        context: None,
    }
}

/// Saves the preferences page: ticked lists are subscribed (the contact's own act, proven by the
/// link from its mail), unticked ones unsubscribed. Only changes are written.
pub async fn save_preferences(
    app: &App,
    token: &str,
    ticked: &[i64],
    ip: Option<String>,
    user_agent: Option<String>,
) -> ServiceResult<Option<Preferences>> {
    let Some((_, org, contact, lang)) = claims_contact(app, Purpose::Preferences, token).await?
    else {
        return Ok(None);
    };
    let subs = app.store.contact_subscriptions(org.id, contact.id).await?;
    for l in app.store.lists(org.id).await? {
        let subscribed = subs
            .iter()
            .any(|s| s.list_id == l.id && s.status == "subscribed");
        let wanted = ticked.contains(&l.id);
        let action = match (subscribed, wanted) {
            (false, true) if l.archived_at.is_none() => ConsentAction::Confirm,
            (true, false) => ConsentAction::Unsubscribe,
            _ => continue,
        };
        let texts = app.store.list_texts(org.id, l.id).await?;
        let shown = pick(&texts, lang.code(), &org.default_language)
            .map(|t| t.optin_text.clone())
            .filter(|t| !t.is_empty());
        let ev = contact_evidence(
            ip.clone(),
            user_agent.clone(),
            if action == ConsentAction::Confirm {
                shown
            } else {
                None
            },
        );
        app.store
            .change_subscription(
                org.id,
                contact.id,
                l.id,
                &contact.email,
                action,
                &ev,
                app.now(),
            )
            .await?;
    }
    preferences(app, token).await
}

/// Unsubscribes the contact of an unsubscribe link: from the link's list, or from every list
/// when the link names none. Returns the organisation's name and the contact's language, or
/// None for an invalid link. Repeating it changes nothing.
pub async fn unsubscribe(
    app: &App,
    token: &str,
    ip: Option<String>,
    user_agent: Option<String>,
    source: &str,
) -> ServiceResult<Option<(String, Language, String)>> {
    let Some((claims, org, contact, lang)) =
        claims_contact(app, Purpose::Unsubscribe, token).await?
    else {
        return Ok(None);
    };
    let mut ev = contact_evidence(ip, user_agent, None);
    ev.source = source.into();
    let only = claims.list_id.as_ref().map(std::slice::from_ref);
    let changed = super::consent::unsubscribe_contact(app, &contact, only, &ev).await? > 0;
    // An unsubscribe from a mailing's link counts for that mailing.
    if let Some(delivery) = claims.delivery_id.filter(|_| changed) {
        if let Some(d) = super::found(app.store.delivery(org.id, delivery).await)? {
            let ev = crate::store::NewEvent {
                contact_id: Some(contact.id),
                ..crate::store::NewEvent::for_delivery(
                    &d,
                    crate::domain::EventKind::Unsubscribe,
                    source,
                )
            };
            app.store.insert_event(org.id, &ev, app.now()).await?;
        }
    }
    let prefs = links::preferences_url(
        app,
        LinkClaims {
            delivery_id: None,
            ..claims
        },
    )
    .await?;
    Ok(Some((org.name, lang, prefs)))
}

/// Checks an unsubscribe link without acting on it (for the page a GET shows).
pub async fn unsubscribe_target(
    app: &App,
    token: &str,
) -> ServiceResult<Option<(String, Language)>> {
    Ok(claims_contact(app, Purpose::Unsubscribe, token)
        .await?
        .map(|(_, org, _, lang)| (org.name, lang)))
}

/// Erases signups whose confirmation link expired more than the grace period ago.
pub async fn purge_expired(app: &App) -> ServiceResult<u64> {
    let now = app.now();
    let before = now - i64::from(app.config.optin_purge_grace_hours) * 3_600_000;
    Ok(app.store.purge_expired_signups(before, now).await?)
}
