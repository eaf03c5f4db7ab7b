//! The data model: collections with typed fields (orders, bookings, tickets, …) and the
//! checking of their records. Values are kept as JSON in a normal form: dates `YYYY-MM-DD`,
//! datetimes `YYYY-MM-DDTHH:MM:SSZ` (UTC), decimals as exact strings, numbers as numbers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::segment::data_name_ok;
use super::{FieldError, ValidationError};

pub const MAX_FIELDS: usize = 50;
pub const MAX_TEXT: usize = 1000;
/// The largest record (its JSON), in bytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    Number,
    Decimal,
    Boolean,
    Date,
    Datetime,
    /// The id of a product of the catalogue (`/api/v1/products`).
    Product,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// 1 to 64 of a-z, 0-9 and _, starting with a letter.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
}

/// Checks a collection's fields and primary key (the key field is made required).
pub fn check_fields(
    fields: &[FieldDef],
    primary_key: &str,
) -> Result<Vec<FieldDef>, ValidationError> {
    let mut errors = Vec::new();
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        errors.push(FieldError::new(
            "fields",
            "out_of_range",
            format!("1 to {MAX_FIELDS} fields"),
        ));
    }
    let mut out: Vec<FieldDef> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if !data_name_ok(&f.name) {
            errors.push(FieldError::new(
                format!("fields[{i}].name"),
                "invalid_name",
                "1 to 64 of a-z, 0-9 and _, starting with a letter",
            ));
        } else if out.iter().any(|o| o.name == f.name) {
            errors.push(FieldError::new(
                format!("fields[{i}].name"),
                "duplicate",
                format!("'{}' is there twice", f.name),
            ));
        }
        out.push(f.clone());
    }
    match out.iter_mut().find(|f| f.name == primary_key) {
        Some(f) if matches!(f.kind, FieldKind::String | FieldKind::Number) => f.required = true,
        Some(_) => errors.push(FieldError::new(
            "primary_key",
            "invalid_primary_key",
            "the primary key is a string or number field",
        )),
        None => errors.push(FieldError::new(
            "primary_key",
            "unknown_field",
            "the primary key names one of the fields",
        )),
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors))
    }
}

/// A checked record: its key (the primary key's value as text), its data in normal form,
/// and the product ids it refers to (for the caller to check).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRecord {
    pub key: String,
    pub data: Map<String, Value>,
    pub products: Vec<String>,
}

/// Checks a record's data against the fields; errors are named `{path}.{field}`.
pub fn check_record(
    fields: &[FieldDef],
    primary_key: &str,
    data: &Map<String, Value>,
    path: &str,
) -> Result<CheckedRecord, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    let mut products = Vec::new();
    for k in data.keys() {
        if !fields.iter().any(|f| &f.name == k) {
            errors.push(FieldError::new(
                format!("{path}.{k}"),
                "unknown_field",
                "the collection has no such field",
            ));
        }
    }
    for f in fields {
        let at = format!("{path}.{}", f.name);
        match data.get(&f.name) {
            None | Some(Value::Null) => {
                if f.required {
                    errors.push(FieldError::new(at, "required", "a value is needed"));
                }
            }
            Some(v) => match normal(f.kind, v) {
                Ok(n) => {
                    if f.kind == FieldKind::Product {
                        products.push(n.as_str().unwrap_or_default().to_string());
                    }
                    out.insert(f.name.clone(), n);
                }
                Err(message) => errors.push(FieldError::new(at, "invalid_value", message)),
            },
        }
    }
    let key = match out.get(primary_key) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    if key.trim().is_empty()
        && !errors
            .iter()
            .any(|e| e.field == format!("{path}.{primary_key}"))
    {
        errors.push(FieldError::new(
            format!("{path}.{primary_key}"),
            "required",
            "the primary key needs a value",
        ));
    }
    if key.chars().count() > 200 {
        errors.push(FieldError::new(
            format!("{path}.{primary_key}"),
            "too_long",
            "a primary key has at most 200 characters",
        ));
    }
    if Value::Object(out.clone()).to_string().len() > MAX_RECORD_BYTES {
        errors.push(FieldError::new(
            path,
            "too_large",
            format!("a record has at most {MAX_RECORD_BYTES} bytes"),
        ));
    }
    if errors.is_empty() {
        Ok(CheckedRecord {
            key,
            data: out,
            products,
        })
    } else {
        Err(errors)
    }
}

/// A value in the normal form of its type, or why it cannot be one.
pub fn normal(kind: FieldKind, v: &Value) -> Result<Value, String> {
    let text = match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let Some(text) = text else {
        return Err("a single value (not a list or an object)".into());
    };
    match kind {
        FieldKind::String => {
            if text.chars().count() > MAX_TEXT
                || text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                Err(format!("text of at most {MAX_TEXT} characters"))
            } else {
                Ok(Value::String(text))
            }
        }
        FieldKind::Product => {
            if text.is_empty() || text.chars().count() > 100 || text.chars().any(char::is_control) {
                Err("a product id of 1 to 100 characters".into())
            } else {
                Ok(Value::String(text))
            }
        }
        FieldKind::Number => text
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
            .ok_or_else(|| format!("'{text}' is not a number")),
        FieldKind::Decimal => {
            let t = text.replace(',', ".");
            let (int, frac) = t.split_once('.').unwrap_or((&t, ""));
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            let int_part = int.strip_prefix('-').unwrap_or(int);
            if digits(int_part)
                && int_part.len() <= 15
                && (frac.is_empty() || (digits(frac) && frac.len() <= 6))
            {
                Ok(Value::String(t))
            } else {
                Err(format!("'{text}' is not a decimal number (e.g. 24.50)"))
            }
        }
        FieldKind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not true or false")),
        },
        FieldKind::Date => chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| format!("'{text}' is not a date YYYY-MM-DD")),
        FieldKind::Datetime => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|d| {
                Value::String(
                    d.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                )
            })
            .map_err(|_| {
                format!("'{text}' is not a time (RFC 3339, e.g. 2026-12-31T20:00:00+01:00)")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Vec<FieldDef> {
        serde_json::from_value(json!([
            {"name": "order_id", "type": "string"},
            {"name": "event_date", "type": "date", "required": true},
            {"name": "starts", "type": "datetime"},
            {"name": "total", "type": "decimal"},
            {"name": "seats", "type": "number"},
            {"name": "paid", "type": "boolean"},
            {"name": "show", "type": "product"}
        ]))
        .unwrap()
    }

    #[test]
    fn definitions() {
        let f = check_fields(&defs(), "order_id").unwrap();
        assert!(f[0].required, "the primary key is required");
        assert_eq!(
            check_fields(&defs(), "nope").unwrap_err().0[0].code,
            "unknown_field"
        );
        assert_eq!(
            check_fields(&defs(), "paid").unwrap_err().0[0].code,
            "invalid_primary_key"
        );
        let mut twice = defs();
        twice.push(twice[0].clone());
        assert_eq!(
            check_fields(&twice, "order_id").unwrap_err().0[0].code,
            "duplicate"
        );
    }

    #[test]
    fn records() {
        let f = check_fields(&defs(), "order_id").unwrap();
        let data = json!({"order_id": 1001, "event_date": "2026-12-31", "starts": "2026-12-31T20:00:00+01:00",
            "total": "24,50", "seats": "2", "paid": "yes", "show": "P1"});
        let r = check_record(&f, "order_id", data.as_object().unwrap(), "data").unwrap();
        assert_eq!(r.key, "1001");
        assert_eq!(
            Value::Object(r.data),
            json!({"order_id": "1001", "event_date": "2026-12-31",
            "starts": "2026-12-31T19:00:00Z", "total": "24.50", "seats": 2, "paid": true, "show": "P1"})
        );
        assert_eq!(r.products, ["P1"]);
        let bad =
            json!({"order_id": "1", "event_date": "31-12-2026", "total": "abc", "colour": "red"});
        let errs = check_record(&f, "order_id", bad.as_object().unwrap(), "data").unwrap_err();
        let got: Vec<(&str, &str)> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("data.colour", "unknown_field"),
                ("data.event_date", "invalid_value"),
                ("data.total", "invalid_value")
            ]
        );
        let blank = json!({"order_id": "  ", "event_date": "2026-01-01"});
        let errs = check_record(&f, "order_id", blank.as_object().unwrap(), "d").unwrap_err();
        assert_eq!(errs[0].code, "required");
        let missing = json!({"event_date": "2026-01-01"});
        assert_eq!(
            check_record(&f, "order_id", missing.as_object().unwrap(), "d").unwrap_err()[0].code,
            "required"
        );
    }
}
