//! Contact imports: the mapping of a file's columns to contact fields, attributes, tags and
//! opt-ins; how rows match contacts; what an empty cell means; the consent basis of the
//! subscriptions an import sets; and the reading of one row's cells. No I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::contact::{attribute_name_ok, validate_tags, TEXT_LIMITS};
use super::segment::data_name_ok;
use super::validation::{FieldError, ValidationError};
use super::{EmailAddress, Language};

/// The mapping as the API, the CLI and schedules take it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    /// `email` (default) or `external_id`: how a row finds its contact.
    #[serde(rename = "match", default)]
    pub match_on: Option<String>,
    /// `upsert` (default), `insert` (new contacts only) or `update` (existing only).
    #[serde(default)]
    pub mode: Option<String>,
    /// `utf-8` (default; a byte-order mark is skipped) or `windows-1252`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// `,` `;` `|` or `\t`; detected from the header line when absent.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Import nothing when any row is bad (default: import the good rows, report the bad).
    #[serde(default)]
    pub all_or_nothing: bool,
    /// Needed when a column subscribes to an opt-in.
    #[serde(default)]
    pub consent: Option<ConsentInput>,
    /// The trigger code of a published automation: every contact a row writes starts in it,
    /// with the `automationfield:NAME` columns as its automation fields.
    #[serde(default)]
    pub automation: Option<String>,
    /// File column → target: `email`, `external_id`, a contact field (`first_name`, `city`,
    /// `language`, …), `attributes.NAME`, `tags`, `optin:KEY`, `automationfield:NAME` or
    /// `records.COLLECTION.FIELD` (the contact's record in a data-model collection); or an object
    /// `{"to": TARGET, "empty": "keep"|"clear", "type": "text"|"number"|"date"|"boolean"}`.
    #[schema(value_type = Object)]
    pub columns: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// `asserted` (the people agreed elsewhere; `note` says where and how) or `confirm` (each
    /// new subscriber gets the double opt-in mail).
    pub basis: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MatchOn {
    Email,
    ExternalId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    Upsert,
    Insert,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    Utf8,
    Windows1252,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrType {
    Text,
    Number,
    Date,
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Target {
    Email,
    ExternalId,
    /// A text column of the contact.
    Field(&'static str),
    Language,
    Attribute(String, AttrType),
    Tags,
    Optin(String),
    /// `automationfield:NAME`: a field of the automation the import starts.
    AutomationField(String),
    /// `records.COLLECTION.FIELD`: a field of the contact's record in a data-model collection.
    Record(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub header: String,
    pub target: Target,
    /// An empty cell clears the field (else it leaves it as it is).
    pub clear: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ConsentBasis {
    Asserted { note: String },
    Confirm,
}

/// A checked mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub match_on: MatchOn,
    pub mode: Mode,
    pub encoding: Encoding,
    pub delimiter: Option<u8>,
    pub all_or_nothing: bool,
    pub consent: Option<ConsentBasis>,
    pub columns: Vec<Column>,
    /// The trigger code of an automation to start for every written row's contact.
    pub automation: Option<String>,
}

/// An automation field's name: 1 to 64 of `A-Z a-z 0-9 _ - .` (as the trigger API takes them).
pub fn automation_field_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// Contact text columns an import may write (besides e-mail and external id).
fn field_column(name: &str) -> Option<&'static str> {
    TEXT_LIMITS
        .iter()
        .map(|(n, _)| *n)
        .find(|n| *n == name && *n != "external_id")
}

pub fn parse_target(s: &str) -> Option<Target> {
    Some(match s {
        "email" => Target::Email,
        "external_id" => Target::ExternalId,
        "language" => Target::Language,
        "tags" => Target::Tags,
        _ => {
            if let Some(name) = s.strip_prefix("automationfield:") {
                return automation_field_name_ok(name)
                    .then(|| Target::AutomationField(name.to_string()));
            }
            if let Some(key) = s.strip_prefix("optin:") {
                return (!key.is_empty()).then(|| Target::Optin(key.to_string()));
            }
            if let Some(path) = s.strip_prefix("records.") {
                let (collection, field) = path.split_once('.')?;
                return (data_name_ok(collection) && data_name_ok(field))
                    .then(|| Target::Record(collection.to_string(), field.to_string()));
            }
            if let Some(name) = s.strip_prefix("attributes.") {
                return attribute_name_ok(name)
                    .then(|| Target::Attribute(name.to_string(), AttrType::Text));
            }
            Target::Field(field_column(s)?)
        }
    })
}

impl MappingInput {
    /// Checks the mapping; errors are named after the part (`columns.Stad`, `consent.note`).
    pub fn check(&self) -> Result<Mapping, ValidationError> {
        let mut errors = Vec::new();
        let mut err = |f: String, code: &'static str, m: &str| {
            errors.push(FieldError::new(f, code, m.to_string()))
        };
        let match_on = match self.match_on.as_deref().unwrap_or("email") {
            "email" => MatchOn::Email,
            "external_id" => MatchOn::ExternalId,
            _ => {
                err("match".into(), "invalid_match", "email or external_id");
                MatchOn::Email
            }
        };
        let mode = match self.mode.as_deref().unwrap_or("upsert") {
            "upsert" => Mode::Upsert,
            "insert" => Mode::Insert,
            "update" => Mode::Update,
            _ => {
                err("mode".into(), "invalid_mode", "upsert, insert or update");
                Mode::Upsert
            }
        };
        let encoding = match self
            .encoding
            .as_deref()
            .unwrap_or("utf-8")
            .to_ascii_lowercase()
            .as_str()
        {
            "utf-8" | "utf8" => Encoding::Utf8,
            "windows-1252" | "cp1252" => Encoding::Windows1252,
            _ => {
                err(
                    "encoding".into(),
                    "invalid_encoding",
                    "utf-8 or windows-1252",
                );
                Encoding::Utf8
            }
        };
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some(",") => Some(b','),
            Some(";") => Some(b';'),
            Some("|") => Some(b'|'),
            Some("\t") | Some("\\t") | Some("tab") => Some(b'\t'),
            Some(_) => {
                err(
                    "delimiter".into(),
                    "invalid_delimiter",
                    "one of , ; | or a tab",
                );
                None
            }
        };
        let consent = match &self.consent {
            None => None,
            Some(c) => match c.basis.as_str() {
                "asserted" => match c.note.as_deref().map(str::trim) {
                    Some(n) if !n.is_empty() && n.chars().count() <= 500 => {
                        Some(ConsentBasis::Asserted { note: n.into() })
                    }
                    _ => {
                        err(
                            "consent.note".into(),
                            "required",
                            "say where and how these people agreed (at most 500 characters)",
                        );
                        None
                    }
                },
                "confirm" => Some(ConsentBasis::Confirm),
                _ => {
                    err(
                        "consent.basis".into(),
                        "invalid_basis",
                        "asserted or confirm",
                    );
                    None
                }
            },
        };
        if self.columns.is_empty() || self.columns.len() > 200 {
            err("columns".into(), "out_of_range", "1 to 200 columns");
        }
        let mut columns = Vec::new();
        for (header, spec) in &self.columns {
            let f = format!("columns.{header}");
            let (to, empty, kind) = match spec {
                Value::String(s) => (s.as_str(), None, None),
                Value::Object(o) => {
                    if let Some(k) = o
                        .keys()
                        .find(|k| !["to", "empty", "type"].contains(&k.as_str()))
                    {
                        err(
                            f.clone(),
                            "unknown_key",
                            &format!("'{k}': a column has to, empty and type"),
                        );
                        continue;
                    }
                    (
                        o.get("to").and_then(Value::as_str).unwrap_or(""),
                        o.get("empty").and_then(Value::as_str),
                        o.get("type").and_then(Value::as_str),
                    )
                }
                _ => {
                    err(
                        f,
                        "invalid_column",
                        "a target, or an object with to, empty and type",
                    );
                    continue;
                }
            };
            let Some(mut target) = parse_target(to) else {
                err(
                    f,
                    "unknown_target",
                    "email, external_id, a contact field, language, attributes.NAME, tags, optin:KEY, automationfield:NAME or records.COLLECTION.FIELD",
                );
                continue;
            };
            if let Some(k) = kind {
                let t = match k {
                    "text" => AttrType::Text,
                    "number" => AttrType::Number,
                    "date" => AttrType::Date,
                    "boolean" => AttrType::Boolean,
                    _ => {
                        err(f.clone(), "invalid_type", "text, number, date or boolean");
                        AttrType::Text
                    }
                };
                match &mut target {
                    Target::Attribute(_, at) => *at = t,
                    _ => err(f.clone(), "invalid_type", "only attributes have a type"),
                }
            }
            let clear = match empty {
                None | Some("keep") => false,
                Some("clear") => true,
                Some(_) => {
                    err(f.clone(), "invalid_empty", "keep or clear");
                    false
                }
            };
            let unique = !matches!(target, Target::Tags);
            if unique && columns.iter().any(|c: &Column| c.target == target) {
                err(
                    f.clone(),
                    "duplicate_target",
                    "another column has this target",
                );
            }
            if matches!(target, Target::AutomationField(_)) && self.automation.is_none() {
                err(
                    f.clone(),
                    "automation_required",
                    "automation fields need the automation the import starts (automation)",
                );
            }
            if matches!(target, Target::Optin(_)) && self.consent.is_none() {
                err(
                    f.clone(),
                    "consent_required",
                    "a column that subscribes needs the import's consent basis (consent)",
                );
            }
            columns.push(Column {
                header: header.clone(),
                target,
                clear,
            });
        }
        let has = |t: &Target| columns.iter().any(|c| &c.target == t);
        match match_on {
            MatchOn::Email if !has(&Target::Email) => err(
                "columns".into(),
                "email_required",
                "map a column to email (it matches rows to contacts)",
            ),
            MatchOn::ExternalId if !has(&Target::ExternalId) => err(
                "columns".into(),
                "external_id_required",
                "map a column to external_id (it matches rows to contacts)",
            ),
            MatchOn::ExternalId if mode != Mode::Update && !has(&Target::Email) => err(
                "columns".into(),
                "email_required",
                "new contacts need an e-mail address: map a column to email, or use mode update",
            ),
            _ => {}
        }
        if errors.is_empty() {
            Ok(Mapping {
                match_on,
                mode,
                encoding,
                delimiter,
                all_or_nothing: self.all_or_nothing,
                consent,
                columns,
                automation: self.automation.clone(),
            })
        } else {
            Err(ValidationError(errors))
        }
    }
}

/// The delimiter of a CSV file from its first line: the most frequent of `, ; TAB |` outside
/// quotes (a comma when there is none).
pub fn detect_delimiter(first_line: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in first_line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = candidates.iter().position(|c| *c == b) {
                counts[i] += 1;
            }
        }
    }
    let (best, n) = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
        .unwrap_or((0, &0));
    if *n == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// One row, read and checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The line number in the file (the header is line 1).
    pub line: u64,
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// (column, value): None clears.
    pub fields: Vec<(&'static str, Option<String>)>,
    /// Attributes to merge (null removes).
    pub attributes: Map<String, Value>,
    pub tags: Vec<String>,
    /// Opt-in keys this row subscribes to.
    pub optins: Vec<String>,
    /// (name, value) of the automation the import starts.
    pub automation_fields: Vec<(String, String)>,
    /// Collection → the cells of the row's record in it (empty cells left out).
    pub records: BTreeMap<String, Map<String, Value>>,
}

impl Row {
    /// Takes in a later row of the same contact: its cells win where it has them; tags and
    /// opt-ins add up. (Its records are not merged: an import takes them out of the rows
    /// first, one record per row.)
    pub fn merge(&mut self, later: Row) {
        self.line = later.line;
        self.email = later.email.or(self.email.take());
        self.external_id = later.external_id.or(self.external_id.take());
        for (c, v) in later.fields {
            match self.fields.iter_mut().find(|(f, _)| *f == c) {
                Some(slot) => slot.1 = v,
                None => self.fields.push((c, v)),
            }
        }
        self.attributes.extend(later.attributes);
        for t in later.tags {
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        for o in later.optins {
            if !self.optins.contains(&o) {
                self.optins.push(o);
            }
        }
        for (n, v) in later.automation_fields {
            match self.automation_fields.iter_mut().find(|(f, _)| *f == n) {
                Some(slot) => slot.1 = v,
                None => self.automation_fields.push((n, v)),
            }
        }
    }

    /// The value the row finds its contact by.
    pub fn key(&self, match_on: MatchOn) -> Option<&str> {
        match match_on {
            MatchOn::Email => self.email.as_deref(),
            MatchOn::ExternalId => self.external_id.as_deref(),
        }
    }
}

/// Why a row was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    /// The file column (or `row`).
    pub column: String,
    pub code: &'static str,
    pub message: String,
}

/// Where each mapped column is in the file: (index, column), or the headers that are missing.
pub fn locate_columns<'m>(
    mapping: &'m Mapping,
    headers: &[String],
) -> Result<Vec<(usize, &'m Column)>, ValidationError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for c in &mapping.columns {
        match headers.iter().position(|h| h.trim() == c.header) {
            Some(i) => out.push((i, c)),
            None => errors.push(FieldError::new(
                format!("columns.{}", c.header),
                "unknown_column",
                "the file has no column with this name",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors))
    }
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "ja" | "j" | "x" | "on" | "oui" => Some(true),
        "" | "0" | "false" | "no" | "n" | "nee" | "off" | "non" => Some(false),
        _ => None,
    }
}

/// A date cell as `YYYY-MM-DD`: `YYYY-MM-DD`, `YYYY/MM/DD`, `DD-MM-YYYY`, `DD/MM/YYYY` or
/// `DD.MM.YYYY` (a time after the date is dropped).
pub fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    let date = s.split([' ', 'T']).next().unwrap_or(s);
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(date, f) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    None
}

/// Reads one row's cells (already decoded) with the located columns.
pub fn read_row(line: u64, cells: &[&str], columns: &[(usize, &Column)]) -> Result<Row, RowError> {
    let mut row = Row {
        line,
        ..Row::default()
    };
    let bad = |c: &Column, code: &'static str, message: String| RowError {
        line,
        column: c.header.clone(),
        code,
        message,
    };
    for (i, c) in columns {
        let raw = cells.get(*i).copied().unwrap_or("").trim();
        if raw.chars().any(|ch| ch.is_control() && ch != '\t') {
            return Err(bad(c, "invalid_characters", "control characters".into()));
        }
        let empty = raw.is_empty();
        match &c.target {
            Target::Email => {
                if !empty {
                    let e = EmailAddress::parse(raw).map_err(|_| {
                        bad(
                            c,
                            "invalid_email",
                            format!("'{raw}' is not an e-mail address"),
                        )
                    })?;
                    row.email = Some(e.as_str().to_string());
                }
            }
            Target::ExternalId => {
                if raw.chars().count() > 100 {
                    return Err(bad(c, "too_long", "at most 100 characters".into()));
                }
                if !empty {
                    row.external_id = Some(raw.to_string());
                }
            }
            Target::Field(col) => {
                let max = TEXT_LIMITS
                    .iter()
                    .find(|(n, _)| n == col)
                    .map(|(_, l)| *l)
                    .unwrap_or(255);
                if raw.chars().count() > max {
                    return Err(bad(c, "too_long", format!("at most {max} characters")));
                }
                if !empty {
                    row.fields.push((col, Some(raw.to_string())));
                } else if c.clear {
                    row.fields.push((col, None));
                }
            }
            Target::Language => {
                if !empty {
                    let l = Language::parse(raw)
                        .map_err(|_| bad(c, "invalid_language", "nl, en, de or fr".into()))?;
                    row.fields.push(("language", Some(l.code().to_string())));
                } else if c.clear {
                    row.fields.push(("language", None));
                }
            }
            Target::Attribute(name, kind) => {
                if empty {
                    if c.clear {
                        row.attributes.insert(name.clone(), Value::Null);
                    }
                    continue;
                }
                let v = match kind {
                    AttrType::Text => {
                        if raw.chars().count() > 2000 {
                            return Err(bad(c, "too_long", "at most 2000 characters".into()));
                        }
                        Value::String(raw.to_string())
                    }
                    AttrType::Number => raw
                        .replace(',', ".")
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .and_then(|n| {
                            if n.fract() == 0.0 && n.abs() < 9e15 {
                                Some(Value::from(n as i64))
                            } else {
                                serde_json::Number::from_f64(n).map(Value::Number)
                            }
                        })
                        .ok_or_else(|| {
                            bad(c, "invalid_number", format!("'{raw}' is not a number"))
                        })?,
                    AttrType::Date => Value::String(parse_date(raw).ok_or_else(|| {
                        bad(
                            c,
                            "invalid_date",
                            format!("'{raw}' is not a date (YYYY-MM-DD or DD-MM-YYYY)"),
                        )
                    })?),
                    AttrType::Boolean => Value::Bool(truthy(raw).ok_or_else(|| {
                        bad(c, "invalid_boolean", format!("'{raw}' is not yes or no"))
                    })?),
                };
                row.attributes.insert(name.clone(), v);
            }
            Target::Tags => {
                let tags: Vec<String> = raw
                    .split([',', ';', '|'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect();
                let tags = validate_tags(&tags).map_err(|e| {
                    bad(
                        c,
                        "invalid_tag",
                        e.0.first().map(|e| e.message.clone()).unwrap_or_default(),
                    )
                })?;
                row.tags.extend(tags);
            }
            Target::AutomationField(name) => {
                if raw.chars().count() > 2000 {
                    return Err(bad(c, "too_long", "at most 2000 characters".into()));
                }
                row.automation_fields.push((name.clone(), raw.to_string()));
            }
            Target::Record(collection, field) => {
                if !empty {
                    row.records
                        .entry(collection.clone())
                        .or_default()
                        .insert(field.clone(), Value::String(raw.to_string()));
                }
            }
            Target::Optin(key) => match truthy(raw) {
                Some(true) => row.optins.push(key.clone()),
                Some(false) => {}
                None => return Err(bad(c, "invalid_boolean", format!("'{raw}': yes or no"))),
            },
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(v: Value) -> Result<Mapping, ValidationError> {
        serde_json::from_value::<MappingInput>(v).unwrap().check()
    }

    #[test]
    fn mappings_are_checked() {
        let m = mapping(json!({"consent": {"basis": "asserted", "note": "box office list"},
            "columns": {"E-mail": "email", "Stad": {"to": "city", "empty": "clear"}, "Geboren": {"to": "attributes.birthday", "type": "date"},
                        "Labels": "tags", "Nieuwsbrief": "optin:news"}}))
        .unwrap();
        assert_eq!(m.match_on, MatchOn::Email);
        assert_eq!(m.columns.len(), 5);
        let bad = mapping(
            json!({"match": "name", "mode": "merge", "columns": {"a": "nope", "b": "optin:news",
            "c": {"to": "city", "type": "date"}, "d": "email", "e": "email"}}),
        )
        .unwrap_err();
        let codes: Vec<(&str, &str)> = bad.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("match", "invalid_match"),
                ("mode", "invalid_mode"),
                ("columns.a", "unknown_target"),
                ("columns.b", "consent_required"),
                ("columns.c", "invalid_type"),
                ("columns.e", "duplicate_target"),
            ]
        );
        let bad =
            mapping(json!({"columns": {"x": "first_name"}, "consent": {"basis": "asserted"}}))
                .unwrap_err();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["consent.note", "columns"]);
    }

    #[test]
    fn delimiters_dates_and_rows() {
        assert_eq!(detect_delimiter(b"email;name;\"a,b\""), b';');
        assert_eq!(detect_delimiter(b"email\tname"), b'\t');
        assert_eq!(detect_delimiter(b"email"), b',');
        assert_eq!(parse_date("31-12-1990").as_deref(), Some("1990-12-31"));
        assert_eq!(
            parse_date("1990-12-31T10:00:00").as_deref(),
            Some("1990-12-31")
        );
        assert_eq!(parse_date("31-31-1990"), None);
        let m = mapping(json!({"consent": {"basis": "confirm"}, "columns": {"mail": "email", "city": "city",
            "born": {"to": "attributes.born", "type": "date"}, "vip": {"to": "attributes.vip", "type": "boolean"},
            "spent": {"to": "attributes.spent", "type": "number"}, "tags": "tags", "news": "optin:news"}}))
        .unwrap();
        let headers: Vec<String> = ["mail", "city", "born", "vip", "spent", "tags", "news"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cols = locate_columns(&m, &headers).unwrap();
        let row = read_row(
            2,
            &[
                "Ann@Example.org",
                "Utrecht",
                "02-01-1990",
                "ja",
                "12,50",
                "a, b",
                "x",
            ],
            &cols,
        )
        .unwrap();
        assert_eq!(row.email.as_deref(), Some("ann@example.org"));
        assert_eq!(row.fields, vec![("city", Some("Utrecht".to_string()))]);
        assert_eq!(row.attributes["born"], "1990-01-02");
        assert_eq!(row.attributes["vip"], true);
        assert_eq!(row.attributes["spent"], 12.5);
        assert_eq!(row.tags, vec!["a", "b"]);
        assert_eq!(row.optins, vec!["news"]);
        let e = read_row(3, &["x@y.z", "", "1990-02-30"], &cols).unwrap_err();
        assert_eq!(
            (e.line, e.column.as_str(), e.code),
            (3, "born", "invalid_date")
        );
        let e = read_row(4, &["nope"], &cols).unwrap_err();
        assert_eq!(e.code, "invalid_email");
        let e = read_row(5, &["a@b.c", &"x".repeat(81)], &cols).unwrap_err();
        assert_eq!(e.code, "too_long");
        let missing = locate_columns(&m, &headers[..2]).unwrap_err();
        assert_eq!(missing.0[0].field, "columns.born");
        assert_eq!(missing.0[0].code, "unknown_column");
    }
}
