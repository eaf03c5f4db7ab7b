//! The verification and welcome mails of the opt-in flow, rendered by the workers at send time
//! (auto-escaped templates; the organisation may override them per opt-in and language).
//! The verification mail holds nothing the caller supplied: only the organisation's own texts.

use minijinja::context;

use crate::mail::template::Compiled;
use serde::{Deserialize, Serialize};

use super::links::{self, LinkClaims};
use super::lists::pick;
use super::{ServiceError, ServiceResult};
use crate::app::App;
use crate::domain::{EmailAddress, Language};
use crate::mail::{compose, ListUnsubscribe, Mailbox, OutgoingMessage, SendError};
use crate::store::{ContactRow, MailTemplateRow, Org, StoreError};

pub const VERIFICATION: &str = "optin.verification";
pub const WELCOME: &str = "optin.welcome";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationJob {
    pub contact_id: i64,
    /// The confirmation token (only its hash is stored elsewhere; the finished job forgets it).
    pub token: String,
    pub list_ids: Vec<i64>,
}

/// Builds the verification job for (contact, pending lists) once the store knows them; the
/// job carries `token`, the secret of the confirmation link.
pub fn verification_job(token: String) -> std::sync::Arc<crate::store::JobBuilder> {
    std::sync::Arc::new(move |contact_id: i64, pending: &[i64]| {
        let payload = VerificationJob {
            contact_id,
            token: token.clone(),
            list_ids: pending.to_vec(),
        };
        (
            VERIFICATION.to_string(),
            serde_json::to_string(&payload).unwrap_or_default(),
        )
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WelcomeJob {
    pub contact_id: i64,
    pub list_id: i64,
}

struct Defaults {
    verification_subject: &'static str,
    verification_intro: &'static str,
    verification_button: &'static str,
    verification_ignore: &'static str,
    welcome_subject: &'static str,
    welcome_intro: &'static str,
    unsubscribe: &'static str,
    preferences: &'static str,
}

fn defaults(lang: Language) -> Defaults {
    match lang {
        Language::Nl => Defaults {
            verification_subject: "Bevestig je aanmelding bij {{ organisation }}",
            verification_intro: "Je hebt je aangemeld voor:",
            verification_button: "Bevestig mijn aanmelding",
            verification_ignore: "Heb je je niet aangemeld? Dan hoef je niets te doen: zonder bevestiging ontvang je niets van ons. De link is {{ valid_days }} dagen geldig.",
            welcome_subject: "Welkom bij {{ list }} van {{ organisation }}",
            welcome_intro: "Je aanmelding is bevestigd. Vanaf nu houden we je op de hoogte.",
            unsubscribe: "Afmelden",
            preferences: "Voorkeuren beheren",
        },
        Language::En => Defaults {
            verification_subject: "Please confirm your subscription to {{ organisation }}",
            verification_intro: "You signed up for:",
            verification_button: "Confirm my subscription",
            verification_ignore: "Didn't sign up? Then there is nothing to do: without confirmation you will not hear from us. The link is valid for {{ valid_days }} days.",
            welcome_subject: "Welcome to {{ list }} from {{ organisation }}",
            welcome_intro: "Your subscription is confirmed. From now on we will keep you posted.",
            unsubscribe: "Unsubscribe",
            preferences: "Manage preferences",
        },
        Language::De => Defaults {
            verification_subject: "Bitte bestätige deine Anmeldung bei {{ organisation }}",
            verification_intro: "Du hast dich angemeldet für:",
            verification_button: "Anmeldung bestätigen",
            verification_ignore: "Du hast dich nicht angemeldet? Dann musst du nichts tun: ohne Bestätigung erhältst du nichts von uns. Der Link ist {{ valid_days }} Tage gültig.",
            welcome_subject: "Willkommen bei {{ list }} von {{ organisation }}",
            welcome_intro: "Deine Anmeldung ist bestätigt. Ab jetzt halten wir dich auf dem Laufenden.",
            unsubscribe: "Abmelden",
            preferences: "Einstellungen verwalten",
        },
        Language::Fr => Defaults {
            verification_subject: "Confirmez votre inscription à {{ organisation }}",
            verification_intro: "Vous vous êtes inscrit·e à :",
            verification_button: "Confirmer mon inscription",
            verification_ignore: "Vous ne vous êtes pas inscrit·e ? Il n'y a rien à faire : sans confirmation, vous ne recevrez rien de notre part. Le lien est valable {{ valid_days }} jours.",
            welcome_subject: "Bienvenue à {{ list }} de {{ organisation }}",
            welcome_intro: "Votre inscription est confirmée. Nous vous tiendrons au courant.",
            unsubscribe: "Se désabonner",
            preferences: "Gérer mes préférences",
        },
    }
}

const LAYOUT_HEAD: &str = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head><body style="margin:0;padding:24px;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif;color:#222"><div style="max-width:560px;margin:0 auto;background:#fff;padding:32px;border-radius:6px">"#;
const LAYOUT_FOOT: &str = r#"</div></body></html>"#;

fn default_verification(d: &Defaults) -> MailTemplateRow {
    MailTemplateRow {
        subject: d.verification_subject.into(),
        html: format!(
            r#"{LAYOUT_HEAD}<h1 style="font-size:20px">{{{{ organisation }}}}</h1><p>{intro}</p><ul>{{% for l in lists %}}<li><strong>{{{{ l.name }}}}</strong>{{% if l.partner %}} ({{{{ l.partner }}}}){{% endif %}}{{% if l.optin_text %}}<br>{{{{ l.optin_text }}}}{{% endif %}}</li>{{% endfor %}}</ul><p><a href="{{{{ confirm_url }}}}" style="display:inline-block;background:#1a56db;color:#fff;padding:12px 20px;border-radius:4px;text-decoration:none">{button}</a></p><p style="font-size:13px;color:#666">{ignore}</p>{LAYOUT_FOOT}"#,
            intro = d.verification_intro,
            button = d.verification_button,
            ignore = d.verification_ignore
        ),
        text: Some(format!(
            "{{{{ organisation }}}}\n\n{intro}\n{{% for l in lists %}}- {{{{ l.name }}}}{{% if l.partner %}} ({{{{ l.partner }}}}){{% endif %}}\n{{% endfor %}}\n{button}:\n{{{{ confirm_url }}}}\n\n{ignore}\n",
            intro = d.verification_intro,
            button = d.verification_button,
            ignore = d.verification_ignore
        )),
    }
}

fn default_welcome(d: &Defaults) -> MailTemplateRow {
    MailTemplateRow {
        subject: d.welcome_subject.into(),
        html: format!(
            r#"{LAYOUT_HEAD}<h1 style="font-size:20px">{{{{ list }}}}</h1><p>{intro}</p>{{% if description %}}<p>{{{{ description }}}}</p>{{% endif %}}<p style="font-size:13px;color:#666"><a href="{{{{ preferences_url }}}}">{prefs}</a> · <a href="{{{{ unsubscribe_url }}}}">{unsub}</a></p>{LAYOUT_FOOT}"#,
            intro = d.welcome_intro,
            prefs = d.preferences,
            unsub = d.unsubscribe
        ),
        text: Some(format!(
            "{{{{ list }}}}\n\n{intro}\n\n{prefs}: {{{{ preferences_url }}}}\n{unsub}: {{{{ unsubscribe_url }}}}\n",
            intro = d.welcome_intro,
            prefs = d.preferences,
            unsub = d.unsubscribe
        )),
    }
}

fn render(t: &MailTemplateRow, ctx: minijinja::Value) -> Result<(String, String, String), String> {
    let r = Compiled::new(&t.subject, &t.html, t.text.as_deref())
        .map_err(|e| e.to_string())?
        .render(&ctx)?;
    Ok((r.subject, r.html, r.text))
}

fn sender(app: &App, org: &Org) -> Result<Mailbox, SendError> {
    let addr = org
        .sender_email
        .clone()
        .unwrap_or_else(|| format!("noreply@{}", app.config.mail_hostname()));
    let email = EmailAddress::parse(&addr)
        .map_err(|e| SendError::Permanent(format!("sender address: {e}")))?;
    Ok(Mailbox::new(
        Some(org.sender_name.as_deref().unwrap_or(&org.name)),
        email,
    ))
}

/// Loads what every opt-in mail needs; None when the contact is gone or must not be mailed.
async fn recipient(
    app: &App,
    org_id: i64,
    contact_id: i64,
) -> Result<Option<(Org, ContactRow, Language)>, SendError> {
    let org = app
        .store
        .org_by_id(org_id)
        .await
        .map_err(SendError::transient)?;
    let contact = match app.store.contact_by_id(org_id, contact_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(SendError::transient(e)),
    };
    if !app
        .store
        .suppressions(org_id, &contact.email)
        .await
        .map_err(SendError::transient)?
        .is_empty()
    {
        tracing::info!(
            contact = contact_id,
            "opt-in mail skipped: address suppressed"
        );
        return Ok(None);
    }
    let lang = super::optins::contact_language(&contact, &org);
    Ok(Some((org, contact, lang)))
}

async fn template(
    app: &App,
    org_id: i64,
    list_id: i64,
    kind: &str,
    lang: Language,
    default: MailTemplateRow,
) -> Result<MailTemplateRow, SendError> {
    Ok(app
        .store
        .mail_template(org_id, list_id, kind, lang.code())
        .await
        .map_err(SendError::transient)?
        .unwrap_or(default))
}

/// A mail from the organisation to the contact's address (no display name: it could carry
/// text that a caller supplied).
fn message(
    app: &App,
    org: &Org,
    contact: &ContactRow,
    subject: String,
    html: String,
    text: String,
) -> Result<OutgoingMessage, SendError> {
    Ok(OutgoingMessage {
        from: sender(app, org)?,
        to: Mailbox::new(
            None,
            EmailAddress::parse(&contact.email).map_err(|e| SendError::Permanent(e.to_string()))?,
        ),
        reply_to: None,
        return_path: None,
        subject,
        text,
        html: Some(html),
        list_unsubscribe: None,
        headers: vec![],
    })
}

async fn send(app: &App, org: &Org, msg: &OutgoingMessage) -> Result<(), SendError> {
    let composed = compose(msg, &app.config.mail_hostname(), app.now())
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    app.transport
        .send_for(org.sandbox, &composed)
        .await
        .map(|_| ())
}

pub async fn send_verification(
    app: &App,
    org_id: i64,
    job: &VerificationJob,
) -> Result<(), SendError> {
    let Some((org, contact, lang)) = recipient(app, org_id, job.contact_id).await? else {
        return Ok(());
    };
    let mut lists = Vec::new();
    for id in &job.list_ids {
        let texts = app
            .store
            .list_texts(org_id, *id)
            .await
            .map_err(SendError::transient)?;
        // A partner's opt-in names the partner: one mail may list several partners.
        let list = app
            .store
            .list_by_id(org_id, *id)
            .await
            .map_err(SendError::transient)?;
        let partner = match list.partner_id {
            Some(p) => Some(
                app.store
                    .partner_by_id(org_id, p)
                    .await
                    .map_err(SendError::transient)?
                    .name,
            ),
            None => None,
        };
        if let Some(t) = pick(&texts, lang.code(), &org.default_language) {
            lists.push(context! { name => t.name.clone(), optin_text => t.optin_text.clone(), partner => partner });
        }
    }
    let d = defaults(lang);
    let first = job.list_ids.first().copied().unwrap_or_default();
    let t = template(
        app,
        org_id,
        first,
        "verification",
        lang,
        default_verification(&d),
    )
    .await?;
    let ctx = context! {
        organisation => org.name.clone(),
        lists => lists,
        confirm_url => links::confirm_url(app, &job.token),
        valid_days => app.config.optin_link_days,
    };
    let (subject, html, text) = render(&t, ctx).map_err(SendError::Permanent)?;
    // A transactional mail: no unsubscribe header, no contact data, only the organisation's texts.
    let mut msg = message(app, &org, &contact, subject, html, text)?;
    msg.headers = vec![("Auto-Submitted".into(), "auto-generated".into())];
    send(app, &org, &msg).await
}

pub async fn send_welcome(app: &App, org_id: i64, job: &WelcomeJob) -> Result<(), SendError> {
    let Some((org, contact, lang)) = recipient(app, org_id, job.contact_id).await? else {
        return Ok(());
    };
    // Consent is checked when the mail leaves, not when it was queued.
    match app
        .store
        .subscription(org_id, contact.id, job.list_id)
        .await
    {
        Ok(s) if s.status == "subscribed" => {}
        Ok(_) | Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(SendError::transient(e)),
    }
    let texts = app
        .store
        .list_texts(org_id, job.list_id)
        .await
        .map_err(SendError::transient)?;
    let text = pick(&texts, lang.code(), &org.default_language)
        .cloned()
        .unwrap_or_default();
    let claims = LinkClaims {
        org_id,
        contact_id: contact.id,
        list_id: Some(job.list_id),
        delivery_id: None,
    };
    let unsubscribe_url = links::unsubscribe_url(app, claims)
        .await
        .map_err(SendError::transient)?;
    let preferences_url = links::preferences_url(app, claims)
        .await
        .map_err(SendError::transient)?;
    let d = defaults(lang);
    let t = template(
        app,
        org_id,
        job.list_id,
        "welcome",
        lang,
        default_welcome(&d),
    )
    .await?;
    let ctx = context! {
        organisation => org.name.clone(),
        list => text.name.clone(),
        description => text.description.clone(),
        unsubscribe_url => unsubscribe_url.clone(),
        preferences_url => preferences_url,
        contact => context! { first_name => contact.first_name.clone(), last_name => contact.last_name.clone() },
    };
    let (subject, html, text) = render(&t, ctx).map_err(SendError::Permanent)?;
    let mut msg = message(app, &org, &contact, subject, html, text)?;
    msg.list_unsubscribe = Some(ListUnsubscribe {
        url: unsubscribe_url,
        mailto: None,
        one_click: true,
    });
    send(app, &org, &msg).await
}

/// The verification or welcome mail of an opt-in in a language as it is now: the
/// organisation's own version, or the built-in one.
pub async fn current_template(
    app: &App,
    org_id: i64,
    list_key: &str,
    kind: &str,
    lang: Language,
) -> ServiceResult<MailTemplateRow> {
    let l = super::lists::by_key(app, org_id, list_key).await?;
    let d = defaults(lang);
    let default = match kind {
        "verification" => default_verification(&d),
        "welcome" => default_welcome(&d),
        _ => return Err(ServiceError::NotFound("template kind")),
    };
    Ok(app
        .store
        .mail_template(org_id, l.id, kind, lang.code())
        .await?
        .unwrap_or(default))
}

/// The mail as a person subscribing to `list_key` would get it (sample links, the stand-in
/// name Alex): subject and HTML.
pub async fn preview(
    app: &App,
    org_id: i64,
    list_key: &str,
    kind: &str,
    lang: Language,
) -> ServiceResult<(String, String)> {
    let t = current_template(app, org_id, list_key, kind, lang).await?;
    let org = app.store.org_by_id(org_id).await?;
    let l = super::lists::by_key(app, org_id, list_key).await?;
    let texts = app.store.list_texts(org_id, l.id).await?;
    let text = pick(&texts, lang.code(), &org.default_language)
        .cloned()
        .unwrap_or_default();
    let base = app.config.public_url();
    let ctx = match kind {
        "verification" => context! {
            organisation => org.name.clone(),
            lists => vec![context! { name => text.name.clone(), optin_text => text.optin_text.clone() }],
            confirm_url => format!("{base}/p/confirm/PREVIEW"),
            valid_days => app.config.optin_link_days,
        },
        _ => context! {
            organisation => org.name.clone(),
            list => text.name.clone(),
            description => text.description.clone(),
            unsubscribe_url => format!("{base}/p/unsubscribe/PREVIEW"),
            preferences_url => format!("{base}/p/preferences/PREVIEW"),
            contact => context! { first_name => "Alex", last_name => "" },
        },
    };
    let (subject, html, _) = render(&t, ctx)
        .map_err(|e| crate::domain::ValidationError::single("html", "render_failed", e))?;
    Ok((subject, html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_escaped_in_every_language() {
        for l in Language::ALL {
            let d = defaults(l);
            let ctx = context! { organisation => "Tom & <Jerry>", lists => vec![context!{name => "<b>News</b>", optin_text => ""}], confirm_url => "https://x/p/confirm/abc", valid_days => 7 };
            let (subject, html, text) = render(&default_verification(&d), ctx).unwrap();
            assert!(subject.contains("Tom & <Jerry>"), "subjects are plain text");
            assert!(
                html.contains("Tom &amp; &lt;Jerry&gt;") && html.contains("&lt;b&gt;News"),
                "{html}"
            );
            assert!(text.contains("https://x/p/confirm/abc"));
            let ctx = context! { organisation => "O", list => "L", description => "", unsubscribe_url => "https://x/u", preferences_url => "https://x/p" };
            let (_, html, _) = render(&default_welcome(&d), ctx).unwrap();
            // Attribute values are entity-escaped ('/' included), which every mail client decodes.
            assert!(
                html.contains("https:&#x2f;&#x2f;x&#x2f;u")
                    && html.contains("https:&#x2f;&#x2f;x&#x2f;p"),
                "{html}"
            );
        }
    }
}
