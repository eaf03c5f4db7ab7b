//! Open and click tracking and "view in browser"; click redirects carry the organisation's
//! encrypted link parameter when it has one. Links are signed per message, so a
//! redirect only ever goes to a URL of the mailing itself (no open redirect), and nothing
//! about a forged or unknown link is revealed. Security scanners that fetch every link of a
//! mail are recorded but flagged, and the statistics leave them out.

use super::links::{self, signing_key};
use super::{found, ServiceResult};
use crate::app::App;
use crate::domain::EventKind;
use crate::store::{DeliveryRow, NewEvent};

/// Parts of user agents of mail security scanners and link checkers (lower case).
const SCANNER_AGENTS: &[&str] = &[
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "messagelabs",
    "forcepoint",
    "trendmicro",
    "sophos",
    "fortiguard",
    "safelinks",
    "bitdefender",
    "zscaler",
    "ironport",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "libwww",
    "okhttp",
    "headlesschrome",
    "phantomjs",
    "bot",
    "spider",
    "crawler",
    "scanner",
];

/// Whether a fetch looks like a scanner: a known scanner agent, no agent at all, or a fetch
/// within `window_ms` of the message leaving.
pub fn is_scanner(
    user_agent: Option<&str>,
    sent_at: Option<i64>,
    now: i64,
    window_ms: i64,
) -> bool {
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    ua.trim().is_empty()
        || SCANNER_AGENTS.iter().any(|s| ua.contains(s))
        || sent_at.is_some_and(|t| now - t <= window_ms)
}

async fn delivery_of(
    app: &App,
    tag: &str,
    token: &str,
    n: usize,
) -> ServiceResult<Option<(DeliveryRow, Vec<i64>)>> {
    let key = signing_key(app).await?;
    let Some(ids) = links::verify_ids(&key, tag, token, n) else {
        return Ok(None);
    };
    Ok(found(app.store.delivery(ids[0], ids[1]).await)?.map(|d| (d, ids)))
}

async fn record(
    app: &App,
    d: &DeliveryRow,
    kind: EventKind,
    link_idx: Option<i64>,
    user_agent: Option<&str>,
    url: Option<&str>,
) -> ServiceResult<()> {
    let now = app.now();
    let window = i64::from(app.config.scanner_window_secs) * 1000;
    let ev = NewEvent {
        link_idx,
        detail: url.map(str::to_string),
        flagged: is_scanner(user_agent, d.sent_at, now, window),
        ..NewEvent::for_delivery(d, kind, "tracking")
    };
    app.store.insert_event(d.org_id, &ev, now).await?;
    Ok(())
}

/// Records an open (the pixel answers the same whatever the token).
pub async fn open(app: &App, token: &str, user_agent: Option<&str>) -> ServiceResult<()> {
    if let Some((d, _)) = delivery_of(app, "o", token, 2).await? {
        record(app, &d, EventKind::Open, None, user_agent, None).await?;
    }
    Ok(())
}

/// Records a click on link `idx` of a message and returns where it goes; None for a link
/// that is not ours (the redirect only ever leads to a link of the mailing itself).
pub async fn click(
    app: &App,
    token: &str,
    idx: i64,
    user_agent: Option<&str>,
) -> ServiceResult<Option<String>> {
    let Some((d, _)) = delivery_of(app, "c", token, 2).await? else {
        return Ok(None);
    };
    let Some(mailing_id) = d.mailing_id else {
        return Ok(None);
    };
    let Some(url) = found(app.store.mailing_link(d.org_id, mailing_id, idx).await)? else {
        return Ok(None);
    };
    record(app, &d, EventKind::Click, Some(idx), user_agent, None).await?;
    Ok(Some(
        super::link_params::decorate(app, d.org_id, d.contact_id, url).await?,
    ))
}

/// Records a click on a signed link of an automation e-mail and returns its target; None
/// for a link we did not sign. The target is in the signed link, so the redirect works (and
/// goes nowhere else) even when the delivery is gone.
pub async fn signed_click(
    app: &App,
    token: &str,
    user_agent: Option<&str>,
) -> ServiceResult<Option<String>> {
    let key = signing_key(app).await?;
    let Some((org_id, delivery_id, url)) = links::verify_url(&key, token) else {
        return Ok(None);
    };
    match found(app.store.delivery(org_id, delivery_id).await)? {
        Some(d) => {
            record(app, &d, EventKind::Click, None, user_agent, Some(&url)).await?;
            Ok(Some(
                super::link_params::decorate(app, d.org_id, d.contact_id, url).await?,
            ))
        }
        None => Ok(Some(url)),
    }
}

/// The HTML of a message as its recipient got it, without tracking; None when the link is
/// not ours or the contact was erased.
pub async fn view(app: &App, token: &str) -> ServiceResult<Option<String>> {
    let Some((d, _)) = delivery_of(app, "v", token, 2).await? else {
        return Ok(None);
    };
    let (Some(mailing_id), Some(contact_id)) = (d.mailing_id, d.contact_id) else {
        return Ok(None);
    };
    let Some(contact) = found(app.store.contact_by_id(d.org_id, contact_id).await)? else {
        return Ok(None);
    };
    let m = app.store.mailing(d.org_id, mailing_id).await?;
    let p = super::delivery::prepare(app, &m).await?;
    let records = p.records(app, &contact).await?;
    Ok(p.render(&contact, &records, d.id, false)
        .ok()
        .map(|r| r.html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_are_told_apart() {
        let human =
            Some("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15");
        assert!(!is_scanner(human, Some(0), 60_000, 10_000));
        assert!(
            is_scanner(human, Some(0), 5_000, 10_000),
            "seconds after delivery"
        );
        assert!(is_scanner(
            Some("Mozilla/5.0 (compatible; Barracuda)"),
            Some(0),
            60_000,
            10_000
        ));
        assert!(is_scanner(Some("python-requests/2.31"), None, 0, 10_000));
        assert!(is_scanner(None, Some(0), 60_000, 10_000));
    }
}
