//! Automations: trigger codes, re-entry rules and the automation fields a trigger call
//! carries (Spotler's `automationFields`), and their placeholders in templates.

use std::fmt;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

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

/// Calls `f` with the name of every `[automationfield:NAME]` in a text; where it returns a
/// replacement, the placeholder is replaced, else it stays as written.
fn map_placeholders(source: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    const OPEN: &str = "[automationfield:";
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        match after
            .find(']')
            .and_then(|end| Some((end, f(&after[..end])?)))
        {
            Some((end, replacement)) => {
                out.push_str(&replacement);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Replaces `[automationfield:NAME]` in a text with the field's values (joined by ", ");
/// a name the participation has no field for becomes empty.
pub fn substitute_fields(source: &str, fields: &[AutomationField]) -> String {
    map_placeholders(source, |name| {
        Some(
            fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.values.join(", "))
                .unwrap_or_default(),
        )
    })
}

/// Rewrites the Spotler placeholders `[automationfield:NAME]` of a template into the native
/// syntax (`{{ VAR.NAME }}`, or `{{ VAR['NAME'] }}` for names with `-` or `.`; VAR being
/// `automationfield` in HTML and `automationfield_text` in text), which a template may also
/// use directly.
pub fn rewrite_placeholders(source: &str, var: &str) -> String {
    map_placeholders(source, |name| {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        // Dot syntax where the name allows it, so the placeholder may stand inside an
        // attribute in either kind of quotes.
        let dotted = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| {
            if dotted {
                format!("{{{{ {var}.{name} }}}}")
            } else {
                format!("{{{{ {var}['{name}'] }}}}")
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fields_and_placeholders() {
        let a = new_trigger_code();
        assert_eq!(a.len(), 24);
        assert!(plausible_trigger_code(&a));
        assert_ne!(a, new_trigger_code());
        assert!(!plausible_trigger_code("a b"));
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
        let order = AutomationField {
            name: "order".into(),
            kind: "STRING".into(),
            values: vec!["A1".into(), "A2".into()],
        };
        assert_eq!(
            substitute_fields(
                "#[automationfield:order] [automationfield:x] [automationfield:",
                &[order]
            ),
            "#A1, A2  [automationfield:"
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
