//! Automations: trigger codes, the steps of a version, re-entry rules and the automation
//! fields a trigger call carries (Spotler's `automationFields`).

use std::fmt;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::consent::string_enum;
use super::validation::{text, FieldError, ValidationError};

string_enum! {
    /// Whether a contact may be in an automation more than once at a time.
    Reentry {
        /// One participation at a time: a trigger while one runs starts nothing.
        Single => "single",
        /// Every trigger starts a participation (repeating automations).
        Multiple => "multiple",
    }
}

/// A generated trigger code: 24 characters of base64url (144 random bits).
pub fn new_trigger_code() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a presented trigger code can be one (so nonsense is refused before a lookup).
pub fn plausible_trigger_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub const MAX_STEPS: usize = 100;
pub const MAX_WAIT_DAYS: i64 = 366;

/// One step of an automation version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Send the template with this key to the contact. A marketing mail (the default) goes
    /// only to a subscriber of the automation's opt-in who is not suppressed.
    Email {
        template: String,
        #[serde(default = "yes")]
        marketing: bool,
    },
    /// Wait a duration (`minutes`, `hours`, `days`, added up), then optionally until the next
    /// `at` time of day (`HH:MM`, UTC).
    Wait {
        #[serde(default)]
        minutes: i64,
        #[serde(default)]
        hours: i64,
        #[serde(default)]
        days: i64,
        at: Option<String>,
    },
    /// Add and remove tags.
    Tag {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Change the contact's score.
    Score { change: i64 },
    /// The participation ends here.
    End,
}

fn yes() -> bool {
    true
}

impl Step {
    /// The milliseconds a wait step waits from `now` (UTC), or None for other steps.
    pub fn wait_until(&self, now: i64) -> Option<i64> {
        let Step::Wait {
            minutes,
            hours,
            days,
            at,
        } = self
        else {
            return None;
        };
        let mut t = now + (minutes * 60 + hours * 3600 + days * 86_400) * 1000;
        if let Some((h, m)) = at.as_deref().and_then(parse_time_of_day) {
            let day_ms = 86_400_000;
            let at_ms = (h * 3600 + m * 60) * 1000;
            let start_of_day = t.div_euclid(day_ms) * day_ms;
            let candidate = start_of_day + at_ms;
            t = if candidate >= t {
                candidate
            } else {
                candidate + day_ms
            };
        }
        Some(t)
    }
}

fn parse_time_of_day(s: &str) -> Option<(i64, i64)> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && s.len() == 5).then_some((h, m))
}

/// Checks the steps of a version: every error names its step (`steps[2].template`).
pub fn validate_steps(steps: &[Step]) -> Result<(), ValidationError> {
    let mut errors = Vec::new();
    if steps.is_empty() || steps.len() > MAX_STEPS {
        errors.push(FieldError::new(
            "steps",
            "out_of_range",
            format!("an automation has 1 to {MAX_STEPS} steps"),
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        let f = |name: &str| format!("steps[{i}].{name}");
        match s {
            Step::Email { template, .. } => {
                if template.trim().is_empty() || template.len() > 64 {
                    errors.push(FieldError::new(
                        f("template"),
                        "required",
                        "the key of a template",
                    ));
                }
            }
            Step::Wait {
                minutes,
                hours,
                days,
                at,
            } => {
                let total = minutes * 60 + hours * 3600 + days * 86_400;
                if *minutes < 0 || *hours < 0 || *days < 0 || total > MAX_WAIT_DAYS * 86_400 {
                    errors.push(FieldError::new(
                        f("days"),
                        "out_of_range",
                        format!("a wait is 0 to {MAX_WAIT_DAYS} days"),
                    ));
                }
                match at {
                    Some(t) if parse_time_of_day(t).is_none() => errors.push(FieldError::new(
                        f("at"),
                        "invalid_time",
                        "a time of day as HH:MM (UTC)",
                    )),
                    None if total == 0 => errors.push(FieldError::new(
                        f("days"),
                        "required",
                        "wait a duration, or until a time of day",
                    )),
                    _ => {}
                }
            }
            Step::Tag { add, remove } => {
                if add.is_empty() && remove.is_empty() {
                    errors.push(FieldError::new(
                        f("add"),
                        "required",
                        "add or remove at least one tag",
                    ));
                }
                for t in add.iter().chain(remove) {
                    if let Err(e) = super::contact::validate_tags(std::slice::from_ref(t)) {
                        errors.extend(e.for_field(&f("add")).0);
                    }
                }
            }
            Step::Score { change } => {
                if change.abs() > 1_000_000 || *change == 0 {
                    errors.push(FieldError::new(
                        f("change"),
                        "out_of_range",
                        "a change of -1000000 to 1000000, not 0",
                    ));
                }
            }
            Step::End => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(errors))
    }
}

string_enum! {
    /// The type of an automation field.
    FieldType {
        String => "STRING",
        Url => "URL",
        ProductList => "PRODUCTLIST",
    }
}

/// An automation field as sent by the caller (Spotler's shape).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A checked automation field, stored with the participation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub values: Vec<String>,
}

pub const MAX_FIELDS: usize = 50;
pub const MAX_VALUES: usize = 200;
pub const MAX_VALUE_LEN: usize = 2000;

/// Checks automation fields: names of 1–64 characters `A-Z a-z 0-9 _ - .` (no spaces),
/// unique (case-sensitive); type STRING (default), URL (http/https values) or PRODUCTLIST
/// (product ids). Errors name the field (`automationFields[1].name`).
pub fn validate_fields(input: &[FieldInput]) -> Result<Vec<AutomationField>, ValidationError> {
    let mut errors = Vec::new();
    let mut out: Vec<AutomationField> = Vec::new();
    if input.len() > MAX_FIELDS {
        errors.push(FieldError::new(
            "automationFields",
            "too_many",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    for (i, f) in input.iter().enumerate().take(MAX_FIELDS) {
        let at = |n: &str| format!("automationFields[{i}].{n}");
        let name_ok = (1..=64).contains(&f.name.len())
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !name_ok {
            errors.push(FieldError::new(
                at("name"),
                "invalid_name",
                "1 to 64 characters A-Z, a-z, 0-9, '_', '-' or '.'; no spaces",
            ));
        } else if out.iter().any(|o| o.name == f.name) {
            errors.push(FieldError::new(
                at("name"),
                "duplicate",
                format!("the name '{}' is used twice", f.name),
            ));
        }
        let kind = match f.kind.as_deref().map(str::trim) {
            None | Some("") => Some(FieldType::String),
            Some(k) => FieldType::parse(k),
        };
        let Some(kind) = kind else {
            errors.push(FieldError::new(
                at("type"),
                "invalid_type",
                "STRING, URL or PRODUCTLIST",
            ));
            continue;
        };
        if f.values.len() > MAX_VALUES {
            errors.push(FieldError::new(
                at("values"),
                "too_many",
                format!("at most {MAX_VALUES} values"),
            ));
        }
        for (j, v) in f.values.iter().enumerate() {
            let vf = format!("automationFields[{i}].values[{j}]");
            let bad = match kind {
                FieldType::String => text(&vf, v, MAX_VALUE_LEN).err(),
                FieldType::Url => super::partner::public_url(&vf, v).err(),
                FieldType::ProductList => super::partner::external_id(&vf, v).err(),
            };
            if let Some(e) = bad {
                errors.extend(e.0);
            }
        }
        out.push(AutomationField {
            name: f.name.clone(),
            kind: kind.as_str().to_string(),
            values: f.values.iter().map(|v| v.trim().to_string()).collect(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors))
    }
}

/// Rewrites the Spotler placeholders `[automationfield:NAME]` of a template into the native
/// syntax (`{{ VAR.NAME }}`, or `{{ VAR['NAME'] }}` for names with `-` or `.`; VAR being `automationfield` in HTML and `automationfield_text`
/// in text), which a template may also use directly.
pub fn rewrite_placeholders(source: &str, var: &str) -> String {
    const OPEN: &str = "[automationfield:";
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        match after.find(']') {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) =>
            {
                let name = &after[..end];
                // Dot syntax where the name allows it, so the placeholder may stand inside
                // an attribute in either kind of quotes.
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    out.push_str(&format!("{{{{ {var}.{name} }}}}"));
                } else {
                    out.push_str(&format!("{{{{ {var}['{name}'] }}}}"));
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses a steps document (JSON array) into steps; errors name the step.
pub fn parse_steps(v: &Value) -> Result<Vec<Step>, ValidationError> {
    let Some(items) = v.as_array() else {
        return Err(ValidationError::single(
            "steps",
            "invalid_steps",
            "a list of steps",
        ));
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match serde_json::from_value::<Step>(item.clone()) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(FieldError::new(
                format!("steps[{i}]"),
                "invalid_step",
                e.to_string(),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    validate_steps(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_steps_fields_and_placeholders() {
        let a = new_trigger_code();
        assert_eq!(a.len(), 24);
        assert!(plausible_trigger_code(&a));
        assert_ne!(a, new_trigger_code());
        assert!(!plausible_trigger_code("a b"));
        let steps = parse_steps(&json!([
            {"type": "wait", "days": 14},
            {"type": "email", "template": "review"},
            {"type": "tag", "add": ["reviewed"]},
            {"type": "end"}
        ]))
        .unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0].wait_until(0), Some(14 * 86_400_000));
        let at = Step::Wait {
            minutes: 0,
            hours: 1,
            days: 0,
            at: Some("09:30".into()),
        };
        // 1970-01-01 10:00 + 1 h = 11:00, the next 09:30 is the next day.
        assert_eq!(
            at.wait_until(10 * 3_600_000),
            Some(86_400_000 + 9 * 3_600_000 + 30 * 60_000)
        );
        let bad = parse_steps(
            &json!([{"type": "wait"}, {"type": "email", "template": ""}, {"type": "fly"}]),
        )
        .unwrap_err();
        assert_eq!(bad.0[0].field, "steps[2]");
        let bad =
            parse_steps(&json!([{"type": "wait", "at": "25:00"}, {"type": "score", "change": 0}]))
                .unwrap_err();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["steps[0].at", "steps[1].change"]);
        let ok = validate_fields(&[
            FieldInput {
                name: "linktocart".into(),
                kind: Some("URL".into()),
                values: vec!["https://shop.example/cart/1".into()],
            },
            FieldInput {
                name: "productlist".into(),
                kind: Some("PRODUCTLIST".into()),
                values: vec!["P1".into()],
            },
            FieldInput {
                name: "LinkToCart".into(),
                kind: None,
                values: vec!["x".into()],
            },
        ])
        .unwrap();
        assert_eq!(ok[2].kind, "STRING");
        let bad = validate_fields(&[
            FieldInput {
                name: "a b".into(),
                kind: None,
                values: vec![],
            },
            FieldInput {
                name: "x".into(),
                kind: Some("DATE".into()),
                values: vec![],
            },
            FieldInput {
                name: "u".into(),
                kind: Some("URL".into()),
                values: vec!["javascript:1".into()],
            },
            FieldInput {
                name: "u".into(),
                kind: None,
                values: vec![],
            },
        ])
        .unwrap_err();
        let codes: Vec<(&str, &str)> = bad.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("automationFields[0].name", "invalid_name"),
                ("automationFields[1].type", "invalid_type"),
                ("automationFields[2].values[0]", "invalid_url"),
                ("automationFields[3].name", "duplicate"),
            ]
        );
        assert_eq!(
            rewrite_placeholders(
                "Cart: [automationfield:linktocart] [automationfield:order-no] [automationfield:bad name] [x]",
                "automationfield"
            ),
            "Cart: {{ automationfield.linktocart }} {{ automationfield['order-no'] }} [automationfield:bad name] [x]"
        );
    }
}
