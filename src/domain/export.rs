//! Export definitions: the columns a contact export may have and the formats.

use super::contact::{attribute_name_ok, TEXT_LIMITS};
use super::list_key::ListKey;
use super::FieldError;

/// Contact fields an export may name besides the text fields of `TEXT_LIMITS`.
const OTHER_FIELDS: [&str; 9] = [
    "id",
    "guid",
    "email",
    "gender",
    "language",
    "mail_format",
    "score",
    "created_at",
    "updated_at",
];
pub const MAX_COLUMNS: usize = 100;

/// One column of a contact export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// A contact field (`email`, `first_name`, …).
    Field(&'static str),
    /// `attributes.NAME`: a custom attribute.
    Attribute(String),
    /// `subscription.KEY`: the status of the contact's subscription to an opt-in.
    Subscription(String),
    /// `tags`: the contact's tags, separated by `|`.
    Tags,
}

/// Every column name an export accepts, for error messages and the docs.
pub fn column_names() -> String {
    let mut v: Vec<&str> = OTHER_FIELDS.to_vec();
    v.extend(TEXT_LIMITS.iter().map(|(n, _)| *n));
    v.extend(["attributes.NAME", "subscription.OPTIN_KEY", "tags"]);
    v.join(", ")
}

impl Column {
    pub fn parse(s: &str) -> Option<Column> {
        if let Some(name) = s.strip_prefix("attributes.") {
            return attribute_name_ok(name).then(|| Column::Attribute(name.to_string()));
        }
        if let Some(key) = s.strip_prefix("subscription.") {
            return ListKey::parse(key)
                .ok()
                .map(|_| Column::Subscription(key.to_string()));
        }
        if s == "tags" {
            return Some(Column::Tags);
        }
        OTHER_FIELDS
            .iter()
            .copied()
            .chain(TEXT_LIMITS.iter().map(|(n, _)| *n))
            .find(|f| *f == s)
            .map(Column::Field)
    }

    pub fn name(&self) -> String {
        match self {
            Column::Field(f) => f.to_string(),
            Column::Attribute(a) => format!("attributes.{a}"),
            Column::Subscription(k) => format!("subscription.{k}"),
            Column::Tags => "tags".into(),
        }
    }
}

/// Parses the columns of a contact export (1 to 100, no repeats); errors name each one.
pub fn parse_columns(names: &[String]) -> Result<Vec<Column>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if names.is_empty() || names.len() > MAX_COLUMNS {
        errors.push(FieldError::new(
            "columns",
            "invalid_columns",
            format!("1 to {MAX_COLUMNS} columns"),
        ));
    }
    let mut out: Vec<Column> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match Column::parse(n) {
            Some(c) if out.contains(&c) => errors.push(FieldError::new(
                format!("columns[{i}]"),
                "duplicate_column",
                format!("'{n}' is there twice"),
            )),
            Some(c) => out.push(c),
            None => errors.push(FieldError::new(
                format!("columns[{i}]"),
                "unknown_column",
                format!(
                    "'{}' is not a column; columns are {}",
                    n.chars().take(80).collect::<String>(),
                    column_names()
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

/// Whether a file name (after its date variables are filled) is a plain name: 1 to 200
/// characters, no path separators, no leading dot, no control characters.
pub fn file_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 200
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns() {
        let cols = parse_columns(&[
            "email".into(),
            "first_name".into(),
            "attributes.favourite_genre".into(),
            "subscription.news".into(),
            "tags".into(),
        ])
        .unwrap();
        assert_eq!(cols[0], Column::Field("email"));
        assert_eq!(cols[2], Column::Attribute("favourite_genre".into()));
        assert_eq!(cols[3].name(), "subscription.news");
        let errs = parse_columns(&[
            "email".into(),
            "email".into(),
            "password".into(),
            "attributes.a b".into(),
        ])
        .unwrap_err();
        let codes: Vec<&str> = errs.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            ["duplicate_column", "unknown_column", "unknown_column"]
        );
        assert_eq!(parse_columns(&[]).unwrap_err()[0].code, "invalid_columns");
    }

    #[test]
    fn file_names() {
        assert!(file_name_ok("bounces_20261128.csv"));
        for bad in [
            "",
            "../x.csv",
            "a/b.csv",
            ".hidden",
            "a\nb",
            &"x".repeat(201),
        ] {
            assert!(!file_name_ok(bad), "{bad}");
        }
    }
}
