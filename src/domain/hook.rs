//! Webhook receivers: how a JSON payload becomes a contact, data-model records and a started
//! automation. Every value is taken from the payload by a JSON pointer (RFC 6901,
//! `/order/customer/email`); errors name the pointer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::import::{automation_field_name_ok, parse_target, Column, Target};
use super::segment::data_name_ok;
use super::{FieldError, ValidationError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookMapping {
    /// Contact target → pointer: `email`, `external_id`, a contact field (`first_name`,
    /// `city`, `language`, …), `attributes.NAME`, `tags`.
    pub contact: BTreeMap<String, String>,
    /// Records to insert or replace, each in a collection, field → pointer.
    #[serde(default)]
    pub records: Vec<RecordMapping>,
    /// An automation to start for the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<AutomationMapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMapping {
    pub collection: String,
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationMapping {
    /// The trigger code of a published automation.
    pub code: String,
    /// Automation field name → pointer.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// Whether a JSON pointer can be one: empty (the whole payload) or `/…`, at most 500 characters.
pub fn pointer_ok(p: &str) -> bool {
    (p.is_empty() || p.starts_with('/')) && p.len() <= 500 && !p.chars().any(char::is_control)
}

impl HookMapping {
    /// Checks the shape (collections, automations and products are the caller's to look up).
    pub fn check(&self) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        let bad_pointer = |field: String| {
            FieldError::new(
                field,
                "invalid_pointer",
                "a JSON pointer: empty or starting with /, at most 500 characters",
            )
        };
        let mut has_key = false;
        for (target, pointer) in &self.contact {
            let at = format!("mapping.contact.{target}");
            match parse_target(target) {
                Some(Target::Email | Target::ExternalId) => has_key = true,
                Some(
                    Target::Field(_) | Target::Language | Target::Attribute(..) | Target::Tags,
                ) => {}
                _ => {
                    errors.push(FieldError::new(
                        at.clone(),
                        "unknown_target",
                        "email, external_id, a contact field, language, attributes.NAME or tags",
                    ));
                }
            }
            if !pointer_ok(pointer) {
                errors.push(bad_pointer(at));
            }
        }
        for (i, r) in self.records.iter().enumerate() {
            if !data_name_ok(&r.collection) {
                errors.push(FieldError::new(
                    format!("mapping.records[{i}].collection"),
                    "invalid_key",
                    "a collection key",
                ));
            }
            for (field, pointer) in &r.fields {
                if !pointer_ok(pointer) {
                    errors.push(bad_pointer(format!("mapping.records[{i}].fields.{field}")));
                }
            }
        }
        if let Some(a) = &self.automation {
            for (name, pointer) in &a.fields {
                if !automation_field_name_ok(name) {
                    errors.push(FieldError::new(
                        format!("mapping.automation.fields.{name}"),
                        "invalid_name",
                        "1 to 64 of A-Z, a-z, 0-9, _ - .",
                    ));
                }
                if !pointer_ok(pointer) {
                    errors.push(bad_pointer(format!("mapping.automation.fields.{name}")));
                }
            }
        }
        if !has_key {
            errors.push(FieldError::new(
                "mapping.contact",
                "key_required",
                "map email or external_id: they find (or make) the contact",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(errors))
        }
    }

    /// The contact part as import columns: the header is the pointer (errors name it).
    pub fn contact_columns(&self) -> Vec<Column> {
        self.contact
            .iter()
            .filter_map(|(target, pointer)| {
                parse_target(target).map(|target| Column {
                    header: pointer.clone(),
                    target,
                    clear: false,
                })
            })
            .collect()
    }
}

/// The scalar at a pointer as text: None when absent or null; an error for lists and objects.
pub fn scalar(payload: &Value, pointer: &str) -> Result<Option<String>, FieldError> {
    match payload.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(FieldError::new(
            pointer,
            "invalid_value",
            "a single value is needed here, not a list or an object",
        )),
    }
}

/// A record's data from the payload: field → the value at its pointer (nulls left out).
pub fn record_data(
    payload: &Value,
    fields: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (field, pointer) in fields {
        match payload.pointer(pointer) {
            None | Some(Value::Null) => {}
            Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                out.insert(field.clone(), v.clone());
            }
            Some(_) => errors.push(FieldError::new(
                pointer.as_str(),
                "invalid_value",
                "a single value is needed here, not a list or an object",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_and_pointers() {
        let m: HookMapping = serde_json::from_value(json!({
            "contact": {"email": "/customer/email", "first_name": "/customer/first", "attributes.city": "/customer/city"},
            "records": [{"collection": "orders", "fields": {"order_id": "/id", "total": "/total"}}],
            "automation": {"code": "abc", "fields": {"order_id": "/id"}}
        }))
        .unwrap();
        assert!(m.check().is_ok());
        assert_eq!(m.contact_columns().len(), 3);
        let bad: HookMapping = serde_json::from_value(json!({
            "contact": {"first_name": "customer/first", "password": "/p"},
            "records": [{"collection": "Orders", "fields": {}}]
        }))
        .unwrap();
        let codes: Vec<(String, &str)> = bad
            .check()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        assert_eq!(
            codes,
            [
                ("mapping.contact.first_name".to_string(), "invalid_pointer"),
                ("mapping.contact.password".to_string(), "unknown_target"),
                ("mapping.records[0].collection".to_string(), "invalid_key"),
                ("mapping.contact".to_string(), "key_required"),
            ]
        );
        let payload = json!({"a": {"b": 3, "c": [1]}, "n": null});
        assert_eq!(scalar(&payload, "/a/b").unwrap().as_deref(), Some("3"));
        assert_eq!(scalar(&payload, "/n").unwrap(), None);
        assert_eq!(scalar(&payload, "/missing").unwrap(), None);
        assert_eq!(scalar(&payload, "/a/c").unwrap_err().field, "/a/c");
    }
}
