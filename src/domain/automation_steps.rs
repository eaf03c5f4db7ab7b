//! The steps of an automation version: what each does, and the checks a draft passes before
//! it is saved (every error names its step, `steps[2].template`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::segment::Segment;
use super::validation::{FieldError, ValidationError};

pub const MAX_STEPS: usize = 100;
pub const MAX_WAIT_DAYS: i64 = 366;
pub const MAX_SMS_LEN: usize = 1600;
pub const MAX_HTTP_BODY: usize = 64 * 1024;
const MAX_HEADERS: usize = 20;
const MAX_HTTP_FIELDS: usize = 50;

/// One step of an automation version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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
    /// Set a contact field (`city`, `mobile`, …) or attribute (`attributes.NAME`). A string
    /// value may hold `[automationfield:NAME]` placeholders; null clears the field.
    SetField { field: String, value: Value },
    /// Continue at step `then` when the contact matches the segment condition `if`, else at
    /// step `else` (both default to the next step; a jump goes forward only, and the number
    /// of steps means the end).
    Branch {
        #[serde(rename = "if")]
        #[schema(value_type = Object)]
        condition: Value,
        then: Option<usize>,
        #[serde(rename = "else")]
        otherwise: Option<usize>,
    },
    /// Send a text message through the organisation's SMS gateway to the contact's mobile
    /// number. `text` is a template (contact and automation fields). Marketing messages
    /// (the default) go only to subscribers of the automation's opt-in.
    Sms {
        text: String,
        #[serde(default = "yes")]
        marketing: bool,
    },
    /// Call an outside system. `url`, header values, `fields` and `body` are templates over
    /// the contact and the automation fields. `fields` go in the query string (GET) or as a
    /// form (POST, PUT); `body` is sent as it is, with `content_type`.
    Http {
        method: String,
        url: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        fields: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        /// Batch mode: contacts are collected and sent together, at most `size` (≤ 1,000) per
        /// request, as a JSON array or the `body` template over `contacts`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<Bucket>,
    },
    /// Write the contacts that pass to an export (its columns, format and destination).
    /// Without `bucket`, the contacts that pass within one run of the engine share a file.
    Export {
        export: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<Bucket>,
    },
    /// The participation ends here.
    End {},
}

/// Collects contacts and lets them go together after `size` contacts or `minutes` minutes
/// (counted from the oldest one), whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub size: i64,
    #[serde(default)]
    pub minutes: i64,
}

/// The largest batch of one HTTP request.
pub const MAX_HTTP_BATCH: i64 = 1_000;
/// The largest bucket of an export step.
pub const MAX_EXPORT_BUCKET: i64 = 100_000;
/// The longest a bucket waits.
pub const MAX_BUCKET_MINUTES: i64 = 7 * 24 * 60;

impl Step {
    /// The bucket the step collects contacts in (export steps, batched HTTP steps).
    pub fn bucket(&self) -> Option<Bucket> {
        match self {
            Step::Export { bucket, .. } => Some(bucket.unwrap_or(Bucket {
                size: MAX_EXPORT_BUCKET,
                minutes: 0,
            })),
            Step::Http { batch, .. } => *batch,
            _ => None,
        }
    }
}

fn bucket_problem(b: &Bucket, max: i64) -> Option<String> {
    (!(1..=max).contains(&b.size) || !(0..=MAX_BUCKET_MINUTES).contains(&b.minutes))
        .then(|| format!("size 1 to {max} contacts, minutes 0 to {MAX_BUCKET_MINUTES}"))
}

fn yes() -> bool {
    true
}

/// Text columns of a contact a set_field step may not write: they identify the contact.
const NOT_SETTABLE: &[&str] = &["external_id", "import_code", "sync_id"];

/// The contact columns a set_field step may write.
pub fn settable_fields() -> impl Iterator<Item = &'static str> {
    super::contact::TEXT_LIMITS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !NOT_SETTABLE.contains(n))
}

/// Where a set_field step writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldTarget {
    /// A text column of `contacts` (one of [`settable_fields`]).
    Column(&'static str),
    /// A key of the contact's attributes.
    Attribute(String),
}

impl FieldTarget {
    pub fn parse(field: &str) -> Option<FieldTarget> {
        if let Some(name) = field.strip_prefix("attributes.") {
            return super::contact::attribute_name_ok(name)
                .then(|| FieldTarget::Attribute(name.to_string()));
        }
        settable_fields()
            .find(|f| *f == field)
            .map(FieldTarget::Column)
    }

    /// The length limit of a column's text.
    pub fn max_len(&self) -> usize {
        match self {
            FieldTarget::Column(c) => super::contact::TEXT_LIMITS
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, l)| *l)
                .unwrap_or(255),
            FieldTarget::Attribute(_) => 2000,
        }
    }
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
        let t = now + (minutes * 60 + hours * 3600 + days * 86_400) * 1000;
        Some(match at.as_deref().and_then(parse_time_of_day) {
            Some(at_ms) => next_time_of_day(t, at_ms),
            None => t,
        })
    }
}

/// The first moment at or after `t` that is `at_ms` past midnight (UTC).
pub fn next_time_of_day(t: i64, at_ms: i64) -> i64 {
    let day_ms = 86_400_000;
    let candidate = t.div_euclid(day_ms) * day_ms + at_ms;
    if candidate >= t {
        candidate
    } else {
        candidate + day_ms
    }
}

/// `HH:MM` as milliseconds past midnight.
pub fn parse_time_of_day(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && s.len() == 5)
        .then_some((h * 3600 + m * 60) * 1000)
}

/// Why a templated request URL (an HTTP step's, the SMS gateway's) cannot be one: an http(s)
/// address of at most 2,000 characters whose template compiles. `variables` lists what the
/// template may use, for the message.
pub fn url_template_problem(field: &str, url: &str, variables: &str) -> Option<FieldError> {
    let lower = url.trim().to_ascii_lowercase();
    if url.len() > 2000 || !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Some(FieldError::new(
            field,
            "invalid_url",
            format!("an http(s) address of at most 2000 characters; it may hold {variables}"),
        ));
    }
    crate::mail::template::check("text", url)
        .err()
        .map(|e| FieldError::new(field, "invalid_template", e.located()))
}

/// Whether a name can be a request header's: 1 to 100 of `A-Z a-z 0-9 - _`.
pub fn header_name_ok(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
}

/// Whether a text can be a request header's value: at most 2,000 bytes, no control characters.
pub fn header_value_ok(value: &str) -> bool {
    value.len() <= 2000 && !value.chars().any(|c| c.is_control())
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
        let mut err = |name: &str, code: &'static str, message: String| {
            errors.push(FieldError::new(f(name), code, message))
        };
        match s {
            Step::Email { template, .. } => {
                if template.trim().is_empty() || template.len() > 64 {
                    err("template", "required", "the key of a template".into());
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
                    err(
                        "days",
                        "out_of_range",
                        format!("a wait is 0 to {MAX_WAIT_DAYS} days"),
                    );
                }
                match at {
                    Some(t) if parse_time_of_day(t).is_none() => {
                        err("at", "invalid_time", "a time of day as HH:MM (UTC)".into())
                    }
                    None if total == 0 => err(
                        "days",
                        "required",
                        "wait a duration, or until a time of day".into(),
                    ),
                    _ => {}
                }
            }
            Step::Tag { add, remove } => {
                if add.is_empty() && remove.is_empty() {
                    err("add", "required", "add or remove at least one tag".into());
                }
                for t in add.iter().chain(remove) {
                    if let Err(e) = super::contact::validate_tags(std::slice::from_ref(t)) {
                        errors.extend(e.for_field(&f("add")).0);
                    }
                }
            }
            Step::Score { change } => {
                if change.abs() > 1_000_000 || *change == 0 {
                    err(
                        "change",
                        "out_of_range",
                        "a change of -1000000 to 1000000, not 0".into(),
                    );
                }
            }
            Step::SetField { field, value } => match FieldTarget::parse(field) {
                None => err(
                    "field",
                    "unknown_field",
                    format!(
                        "one of {} or attributes.NAME",
                        settable_fields().collect::<Vec<_>>().join(", ")
                    ),
                ),
                Some(target) => {
                    let ok = match (&target, value) {
                        (_, Value::Null) => true,
                        (_, Value::String(s)) => s.chars().count() <= target.max_len(),
                        (FieldTarget::Attribute(_), Value::Number(_) | Value::Bool(_)) => true,
                        _ => false,
                    };
                    if !ok {
                        err(
                            "value",
                            "invalid_value",
                            format!(
                                "a text of at most {} characters or null{}",
                                target.max_len(),
                                if matches!(target, FieldTarget::Attribute(_)) {
                                    ", a number or true/false"
                                } else {
                                    ""
                                }
                            ),
                        );
                    }
                }
            },
            Step::Branch {
                condition,
                then,
                otherwise,
            } => {
                if let Err(e) = Segment::parse(condition) {
                    errors.extend(e.0.into_iter().map(|mut fe| {
                        fe.field = fe.field.replacen("segment", &f("if"), 1);
                        fe
                    }));
                }
                for (name, target) in [("then", then), ("else", otherwise)] {
                    if let Some(t) = target {
                        if *t <= i || *t > steps.len() {
                            errors.push(FieldError::new(
                                f(name),
                                "invalid_jump",
                                format!(
                                    "a later step: {} to {} ({} is the end)",
                                    i + 1,
                                    steps.len(),
                                    steps.len()
                                ),
                            ));
                        }
                    }
                }
            }
            Step::Sms { text, .. } => {
                if text.trim().is_empty() || text.chars().count() > MAX_SMS_LEN {
                    err(
                        "text",
                        "invalid_text",
                        format!("1 to {MAX_SMS_LEN} characters"),
                    );
                } else if let Err(e) = crate::mail::template::check("text", text) {
                    err("text", "invalid_template", e.located());
                }
            }
            Step::Export { export, bucket } => {
                if *export <= 0 {
                    err("export", "required", "the id of an export".into());
                }
                if let Some(m) = bucket
                    .as_ref()
                    .and_then(|b| bucket_problem(b, MAX_EXPORT_BUCKET))
                {
                    err("bucket", "out_of_range", m);
                }
            }
            Step::Http {
                method,
                url,
                headers,
                fields,
                body,
                content_type,
                batch,
            } => {
                if !matches!(method.as_str(), "GET" | "POST" | "PUT") {
                    err("method", "invalid_method", "GET, POST or PUT".into());
                }
                if let Some(b) = batch {
                    if let Some(m) = bucket_problem(b, MAX_HTTP_BATCH) {
                        err("batch", "out_of_range", m);
                    }
                    if method == "GET" || !fields.is_empty() {
                        err(
                            "batch",
                            "conflict",
                            "a batch is sent with POST or PUT, as a JSON array or a body over contacts (no fields)".into(),
                        );
                    }
                }
                if let Some(e) = url_template_problem("url", url, "{{ … }}") {
                    err("url", e.code, e.message);
                }
                if headers.len() > MAX_HEADERS {
                    err(
                        "headers",
                        "too_many",
                        format!("at most {MAX_HEADERS} headers"),
                    );
                }
                for (name, value) in headers {
                    let name_ok = header_name_ok(name)
                        && !["host", "content-length", "transfer-encoding", "connection"]
                            .contains(&name.to_ascii_lowercase().as_str());
                    if !name_ok {
                        err(
                            "headers",
                            "invalid_header",
                            format!("'{name}' is not a header this step may set"),
                        );
                    } else if !header_value_ok(value) {
                        err(
                            "headers",
                            "invalid_header",
                            format!("the value of '{name}' is too long or has control characters"),
                        );
                    } else if let Err(e) = crate::mail::template::check("text", value) {
                        err("headers", "invalid_template", e.located());
                    }
                }
                if fields.len() > MAX_HTTP_FIELDS {
                    err(
                        "fields",
                        "too_many",
                        format!("at most {MAX_HTTP_FIELDS} fields"),
                    );
                }
                for (name, value) in fields {
                    if name.is_empty() || name.len() > 100 || value.len() > 2000 {
                        err(
                            "fields",
                            "invalid_field",
                            format!("'{name}': a name of 1 to 100 and a value of at most 2000 characters"),
                        );
                    } else if let Err(e) = crate::mail::template::check("text", value) {
                        err("fields", "invalid_template", e.located());
                    }
                }
                if let Some(b) = body {
                    if !fields.is_empty() || method == "GET" {
                        err(
                            "body",
                            "conflict",
                            "a body goes with POST or PUT and without fields".into(),
                        );
                    } else if b.len() > MAX_HTTP_BODY {
                        err("body", "too_long", format!("at most {MAX_HTTP_BODY} bytes"));
                    } else if let Err(e) = crate::mail::template::check("text", b) {
                        err("body", "invalid_template", e.located());
                    }
                }
                if let Some(ct) = content_type {
                    if ct.is_empty() || ct.len() > 100 || ct.chars().any(|c| c.is_control()) {
                        err(
                            "content_type",
                            "invalid_content_type",
                            "a media type such as application/json".into(),
                        );
                    }
                }
            }
            Step::End {} => {}
        }
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
    use serde_json::json;

    #[test]
    fn steps_parse_and_name_their_errors() {
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
        let bad = parse_steps(&json!([{"type": "end", "extra": 1}])).unwrap_err();
        assert_eq!(bad.0[0].field, "steps[0]");
        let bad =
            parse_steps(&json!([{"type": "wait", "at": "25:00"}, {"type": "score", "change": 0}]))
                .unwrap_err();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["steps[0].at", "steps[1].change"]);
    }

    #[test]
    fn new_steps_are_checked() {
        let ok = parse_steps(&json!([
            {"type": "set_field", "field": "city", "value": "Utrecht"},
            {"type": "set_field", "field": "attributes.vip", "value": true},
            {"type": "branch", "if": {"field": "city", "op": "eq", "value": "Utrecht"}, "else": 4},
            {"type": "sms", "text": "Hi {{ contact.first_name }}"},
            {"type": "http", "method": "POST", "url": "https://crm.example/hook?e={{ contact.email|urlencode }}",
             "headers": {"Authorization": "Bearer x"}, "body": "{\"a\": 1}", "content_type": "application/json"},
            {"type": "end"}
        ]))
        .unwrap();
        assert_eq!(ok.len(), 6);
        let bad = parse_steps(&json!([
            {"type": "set_field", "field": "email", "value": "x"},
            {"type": "set_field", "field": "city", "value": 3},
            {"type": "branch", "if": {"field": "nope", "op": "eq", "value": "x"}, "then": 1},
            {"type": "sms", "text": "{{ unclosed"},
            {"type": "http", "method": "DELETE", "url": "ftp://x", "headers": {"Host": "x"}},
            {"type": "http", "method": "GET", "url": "https://x.example/", "body": "b"}
        ]))
        .unwrap_err();
        let codes: Vec<(&str, &str)> = bad.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("steps[0].field", "unknown_field"),
                ("steps[1].value", "invalid_value"),
                ("steps[2].if.field", "unknown_field"),
                ("steps[2].then", "invalid_jump"),
                ("steps[3].text", "invalid_template"),
                ("steps[4].method", "invalid_method"),
                ("steps[4].url", "invalid_url"),
                ("steps[4].headers", "invalid_header"),
                ("steps[5].body", "conflict"),
            ]
        );
        assert_eq!(
            FieldTarget::parse("attributes.shoe_size"),
            Some(FieldTarget::Attribute("shoe_size".into()))
        );
        assert_eq!(FieldTarget::parse("attributes.a b"), None);
        assert_eq!(FieldTarget::parse("email"), None);
    }
}
