//! What starts an automation: its trigger code (always), and optionally an internal event —
//! a subscription to an opt-in, a confirmed double opt-in, a tag being added, or the day a
//! date attribute names (a birthday, the day before an event).

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::automation_steps::parse_time_of_day;
use super::validation::{FieldError, ValidationError};

pub const MAX_OFFSET_DAYS: i64 = 366;

/// A trigger as stored with the automation (`trigger_kind` is its `type`). Opt-ins are
/// stored by id; the API shows and takes their keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// Only the trigger code starts it.
    External,
    /// The contact became a subscriber of the opt-in (confirmed, or asserted single opt-in).
    Subscribed { list_id: i64 },
    /// The contact confirmed a double opt-in for the opt-in.
    Confirmed { list_id: i64 },
    /// The tag was added to the contact.
    TagAdded { tag: String },
    /// Once a day, for every contact whose date attribute is `offset_days` from today
    /// (`-1`: the day before). `yearly` compares day and month only (birthdays).
    DateField {
        attribute: String,
        #[serde(default)]
        offset_days: i64,
        #[serde(default)]
        yearly: bool,
        /// When on that day the participation starts (`HH:MM`, UTC; default 00:00).
        #[serde(default)]
        at: Option<String>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::External => "external",
            Trigger::Subscribed { .. } => "subscribed",
            Trigger::Confirmed { .. } => "confirmed",
            Trigger::TagAdded { .. } => "tag_added",
            Trigger::DateField { .. } => "date_field",
        }
    }

    /// Whether an event of the consent ledger (`confirm` or `assert` for a list) starts it.
    pub fn matches_consent(&self, action: &str, list: i64) -> bool {
        match self {
            Trigger::Subscribed { list_id } => {
                *list_id == list && matches!(action, "confirm" | "assert")
            }
            Trigger::Confirmed { list_id } => *list_id == list && action == "confirm",
            _ => false,
        }
    }

    /// The date a date-field trigger looks for on `today` (`YYYY-MM-DD`): the attribute's
    /// value (its first 10 characters) must equal one of the returned strings — the full
    /// date, or `MM-DD` for yearly triggers (29 February counts on 28 February in other years).
    pub fn wanted_dates(&self, today: chrono::NaiveDate) -> Vec<String> {
        let Trigger::DateField {
            offset_days,
            yearly,
            ..
        } = self
        else {
            return Vec::new();
        };
        let date = today - chrono::Duration::days(*offset_days);
        if !*yearly {
            return vec![date.format("%Y-%m-%d").to_string()];
        }
        let mut out = vec![date.format("%m-%d").to_string()];
        let leap = chrono::NaiveDate::from_ymd_opt(date.year(), 2, 29).is_some();
        if !leap && out[0] == "02-28" {
            out.push("02-29".into());
        }
        out
    }
}

/// Checks a date-field trigger (fields named `trigger.NAME`).
pub fn validate_date_trigger(t: &Trigger) -> Result<(), ValidationError> {
    let Trigger::DateField {
        attribute,
        offset_days,
        at,
        ..
    } = t
    else {
        return Ok(());
    };
    let mut errors = Vec::new();
    if !super::contact::attribute_name_ok(attribute) {
        errors.push(FieldError::new(
            "trigger.attribute",
            "invalid_attribute_name",
            "the name of a date attribute: 1 to 64 characters a-z, A-Z, 0-9 and _",
        ));
    }
    if offset_days.abs() > MAX_OFFSET_DAYS {
        errors.push(FieldError::new(
            "trigger.offset_days",
            "out_of_range",
            format!("-{MAX_OFFSET_DAYS} to {MAX_OFFSET_DAYS}"),
        ));
    }
    if at
        .as_deref()
        .is_some_and(|a| parse_time_of_day(a).is_none())
    {
        errors.push(FieldError::new(
            "trigger.at",
            "invalid_time",
            "a time of day as HH:MM (UTC)",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn date_triggers_find_their_day() {
        let birthday = Trigger::DateField {
            attribute: "birthday".into(),
            offset_days: 0,
            yearly: true,
            at: Some("09:00".into()),
        };
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(birthday.wanted_dates(d(2026, 3, 5)), vec!["03-05"]);
        assert_eq!(
            birthday.wanted_dates(d(2027, 2, 28)),
            vec!["02-28", "02-29"]
        );
        assert_eq!(birthday.wanted_dates(d(2028, 2, 28)), vec!["02-28"]);
        let day_before = Trigger::DateField {
            attribute: "event_date".into(),
            offset_days: -1,
            yearly: false,
            at: None,
        };
        assert_eq!(day_before.wanted_dates(d(2026, 12, 31)), vec!["2027-01-01"]);
        assert!(validate_date_trigger(&day_before).is_ok());
        let bad = Trigger::DateField {
            attribute: "a b".into(),
            offset_days: 400,
            yearly: false,
            at: Some("9".into()),
        };
        let fields: Vec<String> = validate_date_trigger(&bad)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec!["trigger.attribute", "trigger.offset_days", "trigger.at"]
        );
        let sub = Trigger::Subscribed { list_id: 3 };
        assert!(sub.matches_consent("assert", 3) && sub.matches_consent("confirm", 3));
        assert!(!sub.matches_consent("confirm", 4));
        assert!(!Trigger::Confirmed { list_id: 3 }.matches_consent("assert", 3));
    }
}
