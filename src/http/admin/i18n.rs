//! The admin UI's words in English and Dutch (chosen per user) and its dates, shown in the
//! user's time zone. Templates write the English text (`ui.tr` of "Contacts"); Dutch users see
//! its translation below. A test checks that every text in the templates has one.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::TimeZone;
use chrono_tz::Tz;

use super::assets;
use crate::store::SessionRow;

/// The chrome of every page: who is signed in, the current section, the CSRF token for its
/// forms, and the user's language and time zone.
pub struct Ui {
    pub lang: &'static str,
    tz: Tz,
    pub csrf: String,
    pub email: String,
    pub org_name: String,
    pub is_admin: bool,
    pub nav: &'static str,
    pub css: String,
    pub js: String,
    /// A notice to show once (after a redirect), already translated.
    pub notice: Option<&'static str>,
}

impl Ui {
    pub fn for_session(s: &SessionRow, nav: &'static str) -> Self {
        Ui {
            lang: if s.language == "nl" { "nl" } else { "en" },
            tz: s.time_zone.parse().unwrap_or(chrono_tz::Europe::Amsterdam),
            csrf: s.csrf_token.clone(),
            email: s.email.clone(),
            org_name: s.org_name.clone(),
            is_admin: s.role == "admin",
            nav,
            css: assets::css_path(),
            js: assets::js_path(),
            notice: None,
        }
    }

    /// The chrome of the sign-in page (nobody signed in yet).
    pub fn anonymous(lang: &'static str) -> Self {
        Ui {
            lang,
            tz: chrono_tz::Europe::Amsterdam,
            csrf: String::new(),
            email: String::new(),
            org_name: String::new(),
            is_admin: false,
            nav: "",
            css: assets::css_path(),
            js: assets::js_path(),
            notice: None,
        }
    }

    /// Shows the notice named by a `?notice=` query value, if it is one of ours.
    pub fn with_notice(mut self, key: Option<&str>) -> Self {
        self.notice = key
            .and_then(|k| NOTICES.iter().find(|(n, _)| *n == k))
            .map(|(_, en)| self.tr(en));
        self
    }

    /// `en` in the user's language.
    pub fn tr(&self, en: &'static str) -> &'static str {
        if self.lang == "nl" {
            DUTCH.get(en).copied().unwrap_or(en)
        } else {
            en
        }
    }

    /// A stored code (a partner kind, a status) in the user's language, when it is one of the
    /// words we translate; as it is otherwise.
    pub fn term<'a>(&self, code: &'a str) -> &'a str {
        if self.lang == "nl" {
            DUTCH.get(code).copied().unwrap_or(code)
        } else {
            code
        }
    }

    /// A moment (unix milliseconds) in the user's time zone, to the minute.
    pub fn time(&self, ms: &i64) -> String {
        match self.tz.timestamp_millis_opt(*ms).single() {
            Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            None => String::new(),
        }
    }

    /// A moment that may be absent ("–" then).
    pub fn opt_time(&self, ms: &Option<i64>) -> String {
        ms.as_ref()
            .map(|m| self.time(m))
            .unwrap_or_else(|| "–".into())
    }

    /// A moment given as RFC 3339 text (as services return it), in the user's time zone.
    pub fn rfc(&self, s: &str) -> String {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| self.time(&t.timestamp_millis()))
            .unwrap_or_else(|_| s.to_string())
    }

    pub fn opt_rfc(&self, s: &Option<String>) -> String {
        s.as_deref()
            .map(|s| self.rfc(s))
            .unwrap_or_else(|| "–".into())
    }

    /// A `datetime-local` value (`2026-12-01T19:00`) in the user's time zone as RFC 3339 (UTC).
    pub fn local_to_rfc3339(&self, local: &str) -> Option<String> {
        let naive = chrono::NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M").ok()?;
        let t = self.tz.from_local_datetime(&naive).earliest()?;
        Some(t.with_timezone(&chrono::Utc).to_rfc3339())
    }

    /// `aria-current` for the navigation link of `section`.
    pub fn current(&self, section: &str) -> &'static str {
        if self.nav == section {
            "page"
        } else {
            "false"
        }
    }

    /// A whole number with a thin separator between thousands.
    pub fn num(&self, n: &i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let sep = if self.lang == "nl" { '.' } else { ',' };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        if *n < 0 {
            out.insert(0, '-');
        }
        out
    }
}

/// Notices shown after a redirect (`?notice=KEY`).
const NOTICES: &[(&str, &str)] = &[
    ("saved", "Saved."),
    ("created", "Created."),
    ("archived", "Archived."),
    ("revoked", "The token is revoked: it stops working at once."),
    (
        "erased",
        "The contact is erased. The consent ledger keeps an anonymous trail.",
    ),
    (
        "password",
        "Your password is changed. Your other sessions are signed out.",
    ),
    ("sent", "Sending has started."),
    ("test_sent", "The test mail is on its way."),
    ("paused", "Paused."),
    ("resumed", "Resumed."),
    ("cancelled", "Cancelled."),
    ("scheduled", "Scheduled."),
    ("published", "Published."),
    ("stopped", "Stopped."),
    ("imported", "The import has started."),
    ("removed", "The user is removed and signed out."),
    ("deleted", "Deleted."),
    (
        "revoked_key",
        "The key is revoked: it stops working at once.",
    ),
    ("ran", "The export ran: its file is in the list below."),
];

static DUTCH: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| super::i18n_nl::PAIRS.iter().copied().collect());

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text a template or handler translates, and every notice, has a Dutch translation.
    #[test]
    fn every_text_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/admin");
        let mut missing = Vec::new();
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(dir.join("templates")).unwrap() {
            sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(p).unwrap());
            }
        }
        for src in &sources {
            for part in src.split("tr(\"").skip(1) {
                let text = &part[..part.find("\")").unwrap()];
                if !DUTCH.contains_key(text) {
                    missing.push(text.to_string());
                }
            }
        }
        let labels = NOTICES
            .iter()
            .chain(super::super::contacts::EDITABLE)
            .chain(super::super::imports::FIELDS)
            .chain(super::super::segment_form::OPS);
        // Stored codes shown through `term`.
        let terms = [
            "contacts",
            "activity",
            "running",
            "done",
            "failed",
            "layout",
            "transactional",
        ];
        missing.extend(
            super::super::partners::KINDS
                .iter()
                .chain(&super::super::schedule_form::EVERY)
                .chain(&terms)
                .filter(|k| !DUTCH.contains_key(*k))
                .map(|k| k.to_string()),
        );
        for (_, en) in labels {
            if !DUTCH.contains_key(en) {
                missing.push(en.to_string());
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "no Dutch for: {missing:#?}");
        assert_eq!(
            DUTCH.len(),
            super::super::i18n_nl::PAIRS.len(),
            "a text is translated twice"
        );
    }

    #[test]
    fn numbers_and_times() {
        let mut ui = Ui::anonymous("en");
        assert_eq!(ui.num(&1234567), "1,234,567");
        assert_eq!(ui.num(&-12), "-12");
        ui.lang = "nl";
        assert_eq!(ui.num(&1000), "1.000");
        // 2026-01-01T00:00:00Z is 01:00 in Amsterdam.
        assert_eq!(ui.time(&1_767_225_600_000), "2026-01-01 01:00");
        assert_eq!(ui.tr("Contacts"), "Contacten");
    }
}
