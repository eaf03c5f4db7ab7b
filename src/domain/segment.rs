//! Segments: a structured filter over contacts (and/or/not over fields, tags, score, language,
//! subscription dates and mail activity), parsed from JSON and compiled to a parameterised SQL
//! condition for each backend. Users never write SQL; every value is a bound parameter and
//! every name that reaches the SQL text comes from a fixed list or is checked character by
//! character.
//!
//! ```json
//! {"and": [
//!   {"field": "language", "op": "eq", "value": "nl"},
//!   {"or": [{"field": "tag", "op": "has", "value": "vip"}, {"field": "score", "op": "gte", "value": 10}]},
//!   {"not": {"field": "opened", "op": "eq", "value": 12}}
//! ]}
//! ```

use serde_json::Value;

use super::contact::{attribute_name_ok, Gender, ATTRIBUTE_NAME_RULE};
use super::validation::{FieldError, ValidationError};

pub const MAX_DEPTH: usize = 8;
pub const MAX_CONDITIONS: usize = 100;
pub const MAX_VALUE_LEN: usize = 500;
pub const MAX_IN_VALUES: usize = 500;

/// A parsed segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    And(Vec<Segment>),
    Or(Vec<Segment>),
    Not(Box<Segment>),
    Cond(Condition),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Text {
        column: &'static str,
        op: TextOp,
    },
    Attribute {
        name: String,
        op: AttributeOp,
    },
    Number {
        column: &'static str,
        op: NumberOp,
        values: Vec<i64>,
    },
    Date {
        what: DateField,
        op: DateOp,
    },
    Tag {
        has: bool,
        tag: String,
    },
    Activity {
        kind: Activity,
        did: bool,
        mailing_id: i64,
    },
    /// A record of a data-model collection linked to the contact (`records.orders.event_date`);
    /// each condition is met by any one record.
    Record {
        collection: String,
        field: Option<String>,
        op: RecordOp,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordOp {
    /// `records.KEY` with `exists` / `not_exists`.
    Exists(bool),
    Text(TextOp),
    Compare(NumberOp, f64),
    /// A date (`YYYY-MM-DD`, or the date of a datetime) compared with one.
    DateCompare(NumberOp, String),
    /// A date within the next N days (today included).
    NextDays(i64),
    /// A date within the last N days (today included).
    LastDays(i64),
}

/// Whether a collection key or field name is one: 1 to 64 of `a-z 0-9 _`, starting with a letter.
pub fn data_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Debug, Clone, PartialEq)]
pub enum TextOp {
    Eq(String),
    Ne(String),
    Contains(String),
    NotContains(String),
    StartsWith(String),
    EndsWith(String),
    In(Vec<String>),
    IsSet,
    IsNotSet,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeOp {
    Text(TextOp),
    Compare(NumberOp, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
}

impl NumberOp {
    fn sql(self) -> &'static str {
        match self {
            NumberOp::Eq | NumberOp::In => "=",
            NumberOp::Ne => "<>",
            NumberOp::Gt => ">",
            NumberOp::Gte => ">=",
            NumberOp::Lt => "<",
            NumberOp::Lte => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// When the contact was created.
    Created,
    /// When the contact confirmed a subscription that is still active (any list).
    Subscribed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    /// On or after this instant (unix ms).
    After(i64),
    /// Before this instant (unix ms).
    Before(i64),
    /// Within the last N days of the moment the segment is evaluated.
    WithinDays(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Received,
    Opened,
    Clicked,
}

/// Text columns of `contacts` a segment may test.
const TEXT_FIELDS: &[&str] = &[
    "email",
    "external_id",
    "first_name",
    "name_prefix",
    "last_name",
    "organisation",
    "street",
    "house_number",
    "zipcode",
    "city",
    "country",
    "mobile",
    "phone",
    "language",
    "source",
    "import_code",
];

/// Every field name a condition may use, for error messages and the docs.
pub fn field_names() -> Vec<String> {
    let mut v: Vec<String> = TEXT_FIELDS.iter().map(|s| s.to_string()).collect();
    v.extend(
        [
            "gender",
            "score",
            "tag",
            "created_at",
            "subscribed_at",
            "received",
            "opened",
            "clicked",
            "attributes.NAME",
            "records.COLLECTION",
            "records.COLLECTION.FIELD",
        ]
        .map(String::from),
    );
    v
}

struct Parser {
    conditions: usize,
    errors: Vec<FieldError>,
}

impl Segment {
    /// Parses a segment; every problem is reported with its JSON path (`segment.and[1].op`).
    pub fn parse(v: &Value) -> Result<Segment, ValidationError> {
        let mut p = Parser {
            conditions: 0,
            errors: Vec::new(),
        };
        let seg = p.node(v, "segment", 0);
        match seg {
            Some(s) if p.errors.is_empty() => Ok(s),
            _ => Err(ValidationError(p.errors)),
        }
    }

    /// Compiles to a SQL condition over the contact alias `c`; placeholders start at
    /// `$first_param`. `now_ms` anchors relative dates.
    pub fn to_sql(&self, dialect: Dialect, first_param: usize, now_ms: i64) -> (String, Vec<Bind>) {
        let mut out = SqlOut {
            dialect,
            next: first_param,
            binds: Vec::new(),
            now_ms,
        };
        let sql = out.segment(self);
        (sql, out.binds)
    }
}

impl Parser {
    fn err(&mut self, path: &str, code: &'static str, msg: impl Into<String>) -> Option<Segment> {
        self.errors.push(FieldError::new(path, code, msg));
        None
    }

    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Option<Segment> {
        if depth > MAX_DEPTH {
            return self.err(
                path,
                "too_deep",
                format!("segments nest at most {MAX_DEPTH} levels"),
            );
        }
        let Some(obj) = v.as_object() else {
            return self.err(path, "invalid_segment", "a segment is a JSON object");
        };
        for group in ["and", "or"] {
            if let Some(items) = obj.get(group) {
                if obj.len() != 1 {
                    return self.err(
                        path,
                        "invalid_segment",
                        format!("\"{group}\" stands alone in its object"),
                    );
                }
                let Some(items) = items.as_array().filter(|a| !a.is_empty()) else {
                    return self.err(
                        &format!("{path}.{group}"),
                        "invalid_segment",
                        "a non-empty list of segments",
                    );
                };
                let parts: Vec<Option<Segment>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, &format!("{path}.{group}[{i}]"), depth + 1))
                    .collect();
                let parts: Option<Vec<Segment>> = parts.into_iter().collect();
                return parts.map(|p| {
                    if group == "and" {
                        Segment::And(p)
                    } else {
                        Segment::Or(p)
                    }
                });
            }
        }
        if let Some(inner) = obj.get("not") {
            if obj.len() != 1 {
                return self.err(
                    path,
                    "invalid_segment",
                    "\"not\" stands alone in its object",
                );
            }
            return self
                .node(inner, &format!("{path}.not"), depth + 1)
                .map(|s| Segment::Not(Box::new(s)));
        }
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return self.err(
                path,
                "too_many_conditions",
                format!("a segment has at most {MAX_CONDITIONS} conditions"),
            );
        }
        self.condition(obj, path).map(Segment::Cond)
    }

    fn condition(&mut self, obj: &serde_json::Map<String, Value>, path: &str) -> Option<Condition> {
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
        {
            self.err(
                &format!("{path}.{k}"),
                "unknown_key",
                "a condition has only field, op and value (groups use and, or, not)",
            );
            return None;
        }
        let Some(field) = obj.get("field").and_then(Value::as_str) else {
            self.err(&format!("{path}.field"), "required", "the field to test");
            return None;
        };
        let Some(op) = obj.get("op").and_then(Value::as_str) else {
            self.err(&format!("{path}.op"), "required", "the comparison");
            return None;
        };
        let value = obj.get("value").unwrap_or(&Value::Null);
        let vpath = format!("{path}.value");
        let r = if let Some(col) = TEXT_FIELDS.iter().find(|f| **f == field) {
            self.text_op(op, value, &vpath, path)
                .map(|op| Condition::Text { column: col, op })
        } else if let Some(name) = field.strip_prefix("attributes.") {
            if !attribute_name_ok(name) {
                self.err(
                    &format!("{path}.field"),
                    "invalid_attribute_name",
                    ATTRIBUTE_NAME_RULE,
                );
                return None;
            }
            let op = match (op, value) {
                ("gt" | "gte" | "lt" | "lte", v) => match v.as_f64() {
                    Some(n) => Some(AttributeOp::Compare(number_op(op)?, n)),
                    None => {
                        self.err(&vpath, "invalid_value", "a number");
                        None
                    }
                },
                _ => self.text_op(op, value, &vpath, path).map(AttributeOp::Text),
            }?;
            Some(Condition::Attribute {
                name: name.to_string(),
                op,
            })
        } else if let Some(rest) = field.strip_prefix("records.") {
            self.record(rest, op, value, &vpath, path)
        } else {
            match field {
                "score" | "gender" => self.number(field, op, value, &vpath, path),
                "tag" => {
                    let has = match op {
                        "has" => true,
                        "not_has" => false,
                        _ => {
                            self.err(&format!("{path}.op"), "invalid_op", "has or not_has");
                            return None;
                        }
                    };
                    let tag = self.string(value, &vpath)?;
                    Some(Condition::Tag {
                        has,
                        tag: tag.trim().to_string(),
                    })
                }
                "created_at" | "subscribed_at" => {
                    let what = if field == "created_at" {
                        DateField::Created
                    } else {
                        DateField::Subscribed
                    };
                    let op = match op {
                        "after" | "before" => {
                            let Some(ms) = value.as_str().and_then(parse_date) else {
                                self.err(
                                    &vpath,
                                    "invalid_value",
                                    "a date (2026-01-31) or an RFC 3339 time",
                                );
                                return None;
                            };
                            if op == "after" {
                                DateOp::After(ms)
                            } else {
                                DateOp::Before(ms)
                            }
                        }
                        "within_days" => {
                            match value.as_i64().filter(|d| (0..=36_500).contains(d)) {
                                Some(d) => DateOp::WithinDays(d),
                                None => {
                                    self.err(
                                        &vpath,
                                        "invalid_value",
                                        "a number of days, 0 to 36500",
                                    );
                                    return None;
                                }
                            }
                        }
                        _ => {
                            self.err(
                                &format!("{path}.op"),
                                "invalid_op",
                                "after, before or within_days",
                            );
                            return None;
                        }
                    };
                    Some(Condition::Date { what, op })
                }
                "received" | "opened" | "clicked" => {
                    let kind = match field {
                        "received" => Activity::Received,
                        "opened" => Activity::Opened,
                        _ => Activity::Clicked,
                    };
                    let did = match op {
                        "eq" => true,
                        "ne" => false,
                        _ => {
                            self.err(
                                &format!("{path}.op"),
                                "invalid_op",
                                "eq (did, for mailing N) or ne (did not)",
                            );
                            return None;
                        }
                    };
                    let Some(mailing_id) = value.as_i64().filter(|n| *n > 0) else {
                        self.err(&vpath, "invalid_value", "a mailing id");
                        return None;
                    };
                    Some(Condition::Activity {
                        kind,
                        did,
                        mailing_id,
                    })
                }
                _ => {
                    self.err(
                        &format!("{path}.field"),
                        "unknown_field",
                        format!("one of: {}", field_names().join(", ")),
                    );
                    None
                }
            }
        };
        r
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v.as_str() {
            Some(s) if s.chars().count() <= MAX_VALUE_LEN && !s.chars().any(char::is_control) => {
                Some(s.to_string())
            }
            Some(_) => {
                self.err(
                    path,
                    "invalid_value",
                    format!("at most {MAX_VALUE_LEN} characters, no control characters"),
                );
                None
            }
            None => {
                self.err(path, "invalid_value", "a string");
                None
            }
        }
    }

    fn record(
        &mut self,
        rest: &str,
        op: &str,
        v: &Value,
        vpath: &str,
        path: &str,
    ) -> Option<Condition> {
        let (collection, field) = match rest.split_once('.') {
            Some((c, f)) => (c, Some(f)),
            None => (rest, None),
        };
        if !data_name_ok(collection) || field.is_some_and(|f| !data_name_ok(f)) {
            self.err(
                &format!("{path}.field"),
                "invalid_field",
                "records.COLLECTION or records.COLLECTION.FIELD (a-z, 0-9 and _)",
            );
            return None;
        }
        let rop = match (field, op) {
            (None, "exists") => RecordOp::Exists(true),
            (None, "not_exists") => RecordOp::Exists(false),
            (None, _) => {
                self.err(
                    &format!("{path}.op"),
                    "invalid_op",
                    "exists or not_exists (name a field to compare values)",
                );
                return None;
            }
            (Some(_), "in_next_days" | "in_last_days") => {
                let Some(n) = v.as_i64().filter(|n| (0..=3660).contains(n)) else {
                    self.err(vpath, "invalid_value", "a number of days, 0 to 3660");
                    return None;
                };
                if op == "in_next_days" {
                    RecordOp::NextDays(n)
                } else {
                    RecordOp::LastDays(n)
                }
            }
            (Some(_), "gt" | "gte" | "lt" | "lte") => {
                let nop = number_op(op)?;
                match (v.as_f64(), v.as_str().and_then(parse_day)) {
                    (Some(n), _) => RecordOp::Compare(nop, n),
                    (None, Some(day)) => RecordOp::DateCompare(nop, day),
                    _ => {
                        self.err(vpath, "invalid_value", "a number or a date YYYY-MM-DD");
                        return None;
                    }
                }
            }
            (Some(_), _) => RecordOp::Text(self.text_op(op, v, vpath, path)?),
        };
        Some(Condition::Record {
            collection: collection.to_string(),
            field: field.map(str::to_string),
            op: rop,
        })
    }

    fn text_op(&mut self, op: &str, v: &Value, vpath: &str, path: &str) -> Option<TextOp> {
        Some(match op {
            "is_set" => TextOp::IsSet,
            "is_not_set" => TextOp::IsNotSet,
            "in" => {
                let Some(items) = v
                    .as_array()
                    .filter(|a| !a.is_empty() && a.len() <= MAX_IN_VALUES)
                else {
                    self.err(
                        vpath,
                        "invalid_value",
                        format!("a list of 1 to {MAX_IN_VALUES} strings"),
                    );
                    return None;
                };
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.string(item, &format!("{vpath}[{i}]"))?);
                }
                TextOp::In(out)
            }
            "eq" | "ne" | "contains" | "not_contains" | "starts_with" | "ends_with" => {
                let s = self.string(v, vpath)?;
                match op {
                    "eq" => TextOp::Eq(s),
                    "ne" => TextOp::Ne(s),
                    "contains" => TextOp::Contains(s),
                    "not_contains" => TextOp::NotContains(s),
                    "starts_with" => TextOp::StartsWith(s),
                    _ => TextOp::EndsWith(s),
                }
            }
            _ => {
                self.err(
                    &format!("{path}.op"),
                    "invalid_op",
                    "eq, ne, contains, not_contains, starts_with, ends_with, in, is_set or is_not_set",
                );
                return None;
            }
        })
    }

    fn number(
        &mut self,
        field: &str,
        op: &str,
        v: &Value,
        vpath: &str,
        path: &str,
    ) -> Option<Condition> {
        let column = if field == "score" { "score" } else { "gender" };
        let Some(nop) = number_op(op) else {
            self.err(
                &format!("{path}.op"),
                "invalid_op",
                "eq, ne, gt, gte, lt, lte or in",
            );
            return None;
        };
        let one = |v: &Value| -> Option<i64> {
            if column == "gender" {
                v.as_i64()
                    .or_else(|| v.as_str().map(|s| Gender::parse_lenient(s).code()))
            } else {
                v.as_i64()
            }
        };
        let values: Option<Vec<i64>> = if nop == NumberOp::In {
            v.as_array()
                .filter(|a| !a.is_empty() && a.len() <= MAX_IN_VALUES)
                .and_then(|a| a.iter().map(one).collect())
        } else {
            one(v).map(|n| vec![n])
        };
        match values {
            Some(values) => Some(Condition::Number {
                column,
                op: nop,
                values,
            }),
            None => {
                self.err(
                    vpath,
                    "invalid_value",
                    if nop == NumberOp::In {
                        "a list of whole numbers"
                    } else {
                        "a whole number"
                    },
                );
                None
            }
        }
    }
}

fn number_op(op: &str) -> Option<NumberOp> {
    Some(match op {
        "eq" => NumberOp::Eq,
        "ne" => NumberOp::Ne,
        "gt" => NumberOp::Gt,
        "gte" => NumberOp::Gte,
        "lt" => NumberOp::Lt,
        "lte" => NumberOp::Lte,
        "in" => NumberOp::In,
        _ => return None,
    })
}

/// A `YYYY-MM-DD` day as it is.
fn parse_day(s: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// `2026-01-31` (midnight UTC) or an RFC 3339 time, as unix milliseconds.
pub fn parse_date(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// The SQL flavour a segment compiles to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder of the compiled SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

struct SqlOut {
    dialect: Dialect,
    next: usize,
    binds: Vec<Bind>,
    now_ms: i64,
}

/// Escapes LIKE wildcards; the compiled SQL declares `\` as the escape character.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl SqlOut {
    fn record(&mut self, collection: &str, field: Option<&str>, op: &RecordOp) -> String {
        let key = self.bind(Bind::Text(collection.to_string()));
        let from = format!(
            "EXISTS (SELECT 1 FROM records r JOIN collections co ON co.org_id = r.org_id AND co.id = r.collection_id \
             WHERE r.org_id = c.org_id AND r.contact_id = c.id AND co.key = {key}"
        );
        // `field` is checked to [a-z0-9_]: safe inside the SQL text.
        let f = field.unwrap_or("");
        // Numbers compare as numbers, and so do decimals (kept as exact text).
        let (text_expr, num_expr) = match self.dialect {
            Dialect::Sqlite => {
                let v = format!("json_extract(r.data, '$.\"{f}\"')");
                (
                    // Booleans read as true/false, as on PostgreSQL.
                    format!(
                        "(CASE json_type(r.data, '$.\"{f}\"') WHEN 'true' THEN 'true' \
                         WHEN 'false' THEN 'false' ELSE CAST({v} AS TEXT) END)"
                    ),
                    format!(
                        "(CASE WHEN json_type(r.data, '$.\"{f}\"') IN ('integer', 'real') THEN {v} \
                         WHEN json_type(r.data, '$.\"{f}\"') = 'text' AND {v} <> '' AND {v} NOT GLOB '*[^0-9.-]*' \
                         THEN CAST({v} AS REAL) END)"
                    ),
                )
            }
            Dialect::Postgres => {
                let v = format!("(r.data::jsonb ->> '{f}')");
                (
                    v.clone(),
                    format!(
                        "(CASE WHEN jsonb_typeof(r.data::jsonb -> '{f}') = 'number' THEN {v}::double precision \
                         WHEN {v} ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN {v}::double precision END)"
                    ),
                )
            }
        };
        let day = format!("substr({text_expr}, 1, 10)");
        let today = chrono::DateTime::from_timestamp_millis(self.now_ms)
            .unwrap_or_default()
            .date_naive();
        let shifted = |d: i64| {
            (today + chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        };
        let cond = match op {
            RecordOp::Exists(true) => return format!("{from})"),
            RecordOp::Exists(false) => return format!("NOT {from})"),
            RecordOp::Text(t) => self.text(&text_expr, t),
            RecordOp::Compare(o, n) => {
                let p = self.bind(Bind::Real(*n));
                format!("{num_expr} {} {p}", o.sql())
            }
            RecordOp::DateCompare(o, d) => {
                let p = self.bind(Bind::Text(d.clone()));
                format!("{day} {} {p}", o.sql())
            }
            RecordOp::NextDays(n) | RecordOp::LastDays(n) => {
                let (a, b) = if matches!(op, RecordOp::NextDays(_)) {
                    (shifted(0), shifted(*n))
                } else {
                    (shifted(-n), shifted(0))
                };
                let (a, b) = (self.bind(Bind::Text(a)), self.bind(Bind::Text(b)));
                format!("{day} >= {a} AND {day} <= {b}")
            }
        };
        format!("{from} AND {cond})")
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        self.next += 1;
        format!("${}", self.next - 1)
    }

    fn segment(&mut self, s: &Segment) -> String {
        match s {
            Segment::And(parts) | Segment::Or(parts) => {
                let joiner = if matches!(s, Segment::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = parts.iter().map(|p| self.segment(p)).collect();
                format!("({})", parts.join(joiner))
            }
            Segment::Not(inner) => format!("(NOT {})", self.segment(inner)),
            Segment::Cond(c) => self.condition(c),
        }
    }

    fn text(&mut self, expr: &str, op: &TextOp) -> String {
        let lower = format!("LOWER(COALESCE({expr}, ''))");
        match op {
            TextOp::Eq(v) => format!("{lower} = {}", self.bind(Bind::Text(v.to_lowercase()))),
            TextOp::Ne(v) => format!("{lower} <> {}", self.bind(Bind::Text(v.to_lowercase()))),
            TextOp::Contains(v) | TextOp::NotContains(v) => {
                let p = self.bind(Bind::Text(format!("%{}%", like_escape(v))));
                let not = if matches!(op, TextOp::NotContains(_)) {
                    "NOT "
                } else {
                    ""
                };
                format!("{lower} {not}LIKE {p} ESCAPE '\\'")
            }
            TextOp::StartsWith(v) => {
                let p = self.bind(Bind::Text(format!("{}%", like_escape(v))));
                format!("{lower} LIKE {p} ESCAPE '\\'")
            }
            TextOp::EndsWith(v) => {
                let p = self.bind(Bind::Text(format!("%{}", like_escape(v))));
                format!("{lower} LIKE {p} ESCAPE '\\'")
            }
            TextOp::In(vs) => {
                let ps: Vec<String> = vs
                    .iter()
                    .map(|v| self.bind(Bind::Text(v.to_lowercase())))
                    .collect();
                format!("{lower} IN ({})", ps.join(", "))
            }
            TextOp::IsSet => format!("{lower} <> ''"),
            TextOp::IsNotSet => format!("{lower} = ''"),
        }
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Text { column, op } => self.text(&format!("c.{column}"), op),
            Condition::Attribute { name, op } => {
                // `name` is checked to [A-Za-z0-9_]: safe inside the SQL text.
                let (text_expr, num_expr) = match self.dialect {
                    Dialect::Sqlite => (
                        format!("CAST(json_extract(c.attributes, '$.\"{name}\"') AS TEXT)"),
                        format!(
                            "(CASE WHEN json_type(c.attributes, '$.\"{name}\"') IN ('integer', 'real') \
                             THEN json_extract(c.attributes, '$.\"{name}\"') END)"
                        ),
                    ),
                    Dialect::Postgres => (
                        format!("(c.attributes::jsonb ->> '{name}')"),
                        format!(
                            "(CASE WHEN jsonb_typeof(c.attributes::jsonb -> '{name}') = 'number' \
                             THEN (c.attributes::jsonb ->> '{name}')::double precision END)"
                        ),
                    ),
                };
                match op {
                    AttributeOp::Text(t) => self.text(&text_expr, t),
                    AttributeOp::Compare(o, n) => {
                        let p = self.bind(Bind::Real(*n));
                        format!("{num_expr} {} {p}", o.sql())
                    }
                }
            }
            Condition::Number { column, op, values } => {
                if *op == NumberOp::In {
                    let ps: Vec<String> = values.iter().map(|v| self.bind(Bind::Int(*v))).collect();
                    format!("c.{column} IN ({})", ps.join(", "))
                } else {
                    let p = self.bind(Bind::Int(values[0]));
                    format!("c.{column} {} {p}", op.sql())
                }
            }
            Condition::Date { what, op } => {
                let (cmp, at) = match op {
                    DateOp::After(t) => (">=", *t),
                    DateOp::Before(t) => ("<", *t),
                    DateOp::WithinDays(d) => (">=", self.now_ms - d * 86_400_000),
                };
                let p = self.bind(Bind::Int(at));
                match what {
                    DateField::Created => format!("c.created_at {cmp} {p}"),
                    DateField::Subscribed => format!(
                        "EXISTS (SELECT 1 FROM subscriptions ss WHERE ss.org_id = c.org_id AND ss.contact_id = c.id \
                         AND ss.status = 'subscribed' AND COALESCE(ss.confirmed_at, ss.updated_at) {cmp} {p})"
                    ),
                }
            }
            Condition::Tag { has, tag } => {
                let p = self.bind(Bind::Text(tag.clone()));
                let not = if *has { "" } else { "NOT " };
                format!(
                    "{not}EXISTS (SELECT 1 FROM contact_tags ct WHERE ct.org_id = c.org_id AND ct.contact_id = c.id AND ct.tag = {p})"
                )
            }
            Condition::Record {
                collection,
                field,
                op,
            } => self.record(collection, field.as_deref(), op),
            Condition::Activity {
                kind,
                did,
                mailing_id,
            } => {
                let p = self.bind(Bind::Int(*mailing_id));
                let not = if *did { "" } else { "NOT " };
                match kind {
                    Activity::Received => format!(
                        "{not}EXISTS (SELECT 1 FROM deliveries dd WHERE dd.org_id = c.org_id AND dd.contact_id = c.id \
                         AND dd.mailing_id = {p} AND dd.status = 'sent')"
                    ),
                    Activity::Opened | Activity::Clicked => {
                        let k = if *kind == Activity::Opened {
                            "open"
                        } else {
                            "click"
                        };
                        format!(
                            "{not}EXISTS (SELECT 1 FROM mail_events me WHERE me.org_id = c.org_id AND me.contact_id = c.id \
                             AND me.mailing_id = {p} AND me.kind = '{k}' AND NOT me.flagged)"
                        )
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_compiles_with_bound_values() {
        let s = Segment::parse(&json!({"and": [
            {"field": "language", "op": "eq", "value": "NL"},
            {"or": [{"field": "tag", "op": "has", "value": "vip"}, {"field": "score", "op": "gte", "value": 10}]},
            {"not": {"field": "opened", "op": "eq", "value": 12}},
            {"field": "city", "op": "contains", "value": "50%_off"},
            {"field": "attributes.age", "op": "gt", "value": 30}
        ]}))
        .unwrap();
        let (sql, binds) = s.to_sql(Dialect::Sqlite, 3, 0);
        assert!(sql.starts_with("(LOWER(COALESCE(c.language, '')) = $3 AND ("));
        assert!(sql.contains("LIKE $7 ESCAPE"));
        assert!(sql.contains("json_type(c.attributes, '$.\"age\"')"));
        assert_eq!(
            binds,
            vec![
                Bind::Text("nl".into()),
                Bind::Text("vip".into()),
                Bind::Int(10),
                Bind::Int(12),
                Bind::Text("%50\\%\\_off%".into()),
                Bind::Real(30.0)
            ]
        );
        let (pg, _) = s.to_sql(Dialect::Postgres, 1, 0);
        assert!(pg.contains("c.attributes::jsonb"));
    }

    #[test]
    fn rejects_with_paths_and_codes() {
        let cases = [
            (json!([1]), "segment", "invalid_segment"),
            (json!({"and": []}), "segment.and", "invalid_segment"),
            (
                json!({"and": [{"field": "nope", "op": "eq", "value": "x"}]}),
                "segment.and[0].field",
                "unknown_field",
            ),
            (
                json!({"field": "city", "op": "gt", "value": "x"}),
                "segment.op",
                "invalid_op",
            ),
            (
                json!({"field": "score", "op": "gt", "value": "x"}),
                "segment.value",
                "invalid_value",
            ),
            (
                json!({"field": "attributes.a b", "op": "eq", "value": "x"}),
                "segment.field",
                "invalid_attribute_name",
            ),
            (
                json!({"field": "city", "op": "eq", "value": "x", "sql": "1=1"}),
                "segment.sql",
                "unknown_key",
            ),
            (
                json!({"field": "created_at", "op": "after", "value": "yesterday"}),
                "segment.value",
                "invalid_value",
            ),
            (
                json!({"field": "city", "op": "eq", "value": "x".repeat(501)}),
                "segment.value",
                "invalid_value",
            ),
        ];
        for (v, field, code) in cases {
            let e = Segment::parse(&v).unwrap_err();
            assert_eq!(e.0[0].field, field, "{v}");
            assert_eq!(e.0[0].code, code, "{v}");
        }
        let mut deep = json!({"field": "city", "op": "is_set"});
        for _ in 0..10 {
            deep = json!({ "not": deep });
        }
        assert_eq!(Segment::parse(&deep).unwrap_err().0[0].code, "too_deep");
        let many: Vec<_> = (0..101)
            .map(|_| json!({"field": "city", "op": "is_set"}))
            .collect();
        assert_eq!(
            Segment::parse(&json!({ "or": many })).unwrap_err().0[0].code,
            "too_many_conditions"
        );
    }

    #[test]
    fn dates_and_gender_words() {
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1000));
        let s = Segment::parse(&json!({"field": "gender", "op": "eq", "value": "female"})).unwrap();
        assert_eq!(s.to_sql(Dialect::Sqlite, 1, 0).1, vec![Bind::Int(103)]);
        let s = Segment::parse(&json!({"field": "subscribed_at", "op": "within_days", "value": 1}))
            .unwrap();
        assert_eq!(
            s.to_sql(Dialect::Sqlite, 1, 86_400_000 * 3).1,
            vec![Bind::Int(86_400_000 * 2)]
        );
    }
}
