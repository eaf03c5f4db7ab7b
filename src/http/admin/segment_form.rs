//! The segment builder's form: opt-ins to count, "all" or "any" of up to a few conditions
//! (field, operator, value), turned into the segment JSON the services take. The rules of
//! segments stay in the domain: this only translates the form.

use serde_json::{json, Value};

use super::form::Form;

/// Condition rows the form shows.
pub const ROWS: usize = 5;

/// Fields offered in the builder (any `attributes.NAME` or `records.…` may be typed too).
pub const FIELDS: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "city",
    "zipcode",
    "country",
    "language",
    "tag",
    "score",
    "gender",
    "created_at",
    "subscribed_at",
    "received",
    "opened",
    "clicked",
    "source",
    "external_id",
];

/// Operators: (op, label).
pub const OPS: &[(&str, &str)] = &[
    ("eq", "is"),
    ("ne", "is not"),
    ("contains", "contains"),
    ("not_contains", "does not contain"),
    ("starts_with", "starts with"),
    ("in", "is one of (comma-separated)"),
    ("is_set", "is filled in"),
    ("is_not_set", "is empty"),
    ("has", "has"),
    ("not_has", "has not"),
    ("gt", "greater than"),
    ("gte", "at least"),
    ("lt", "less than"),
    ("lte", "at most"),
    ("after", "after (date)"),
    ("before", "before (date)"),
    ("within_days", "within the last days"),
    ("in_next_days", "in the next days"),
    ("exists", "exists"),
    ("not_exists", "does not exist"),
];

/// Fields whose values are whole numbers.
const NUMBER_FIELDS: &[&str] = &["score", "received", "opened", "clicked"];
/// Operators that take no value, and those whose value is a number.
const NO_VALUE: &[&str] = &["is_set", "is_not_set", "exists", "not_exists"];
const NUMBER_OPS: &[&str] = &[
    "gt",
    "gte",
    "lt",
    "lte",
    "within_days",
    "in_next_days",
    "in_last_days",
];

/// One row of the form as shown again.
pub struct Row {
    pub index: usize,
    pub field: String,
    pub op: String,
    pub value: String,
}

/// The builder's state: opt-ins chosen, how conditions combine, the rows.
pub struct Builder {
    pub lists: Vec<String>,
    pub any: bool,
    pub rows: Vec<Row>,
}

impl Builder {
    pub fn empty() -> Self {
        Self::from_form(&Form::parse(b""))
    }

    pub fn from_form(f: &Form) -> Self {
        Builder {
            lists: f.all("lists"),
            any: f.get("combine") == "any",
            rows: (0..ROWS)
                .map(|index| Row {
                    index,
                    field: f.get(&format!("field_{index}")).trim().to_string(),
                    op: f.get(&format!("op_{index}")).to_string(),
                    value: f.get(&format!("value_{index}")).trim().to_string(),
                })
                .collect(),
        }
    }

    pub fn has_list(&self, key: &str) -> bool {
        self.lists.iter().any(|l| l == key)
    }

    /// The segment JSON, or None when no row has a field.
    pub fn segment(&self) -> Option<Value> {
        let conditions: Vec<Value> = self
            .rows
            .iter()
            .filter(|r| !r.field.is_empty())
            .map(|r| condition(&r.field, &r.op, &r.value))
            .collect();
        match conditions.len() {
            0 => None,
            1 => conditions.into_iter().next(),
            _ if self.any => Some(json!({ "or": conditions })),
            _ => Some(json!({ "and": conditions })),
        }
    }
}

/// The form fields that show `segment` in the builder again, or None when the builder cannot
/// show it (nested groups, `not`, more conditions than rows): such a segment is kept as it is.
pub fn form_fields(segment: Option<&Value>) -> Option<Vec<(String, String)>> {
    let Some(segment) = segment else {
        return Some(Vec::new());
    };
    let (any, conditions): (bool, Vec<&Value>) = match segment {
        Value::Object(o) if o.contains_key("field") => (false, vec![segment]),
        Value::Object(o) if o.len() == 1 => {
            let (key, list) = o.iter().next()?;
            (key == "or", list.as_array()?.iter().collect())
        }
        _ => return None,
    };
    if conditions.len() > ROWS {
        return None;
    }
    let mut out = vec![(
        "combine".to_string(),
        if any { "any" } else { "all" }.to_string(),
    )];
    for (i, c) in conditions.iter().enumerate() {
        let field = c.get("field")?.as_str()?;
        let op = c.get("op")?.as_str()?;
        let value = match c.get("value") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            Some(v) => v.to_string(),
        };
        out.push((format!("field_{i}"), field.to_string()));
        out.push((format!("op_{i}"), op.to_string()));
        out.push((format!("value_{i}"), value));
    }
    Some(out)
}

fn condition(field: &str, op: &str, value: &str) -> Value {
    if NO_VALUE.contains(&op) {
        return json!({"field": field, "op": op});
    }
    let numeric = NUMBER_FIELDS.contains(&field)
        || NUMBER_OPS.contains(&op)
        || field.starts_with("attributes.")
            && value.parse::<f64>().is_ok()
            && op != "eq"
            && op != "ne";
    let typed = |v: &str| -> Value {
        if numeric {
            if let Ok(n) = v.parse::<i64>() {
                return json!(n);
            }
            if let Ok(n) = v.parse::<f64>() {
                return json!(n);
            }
        }
        Value::String(v.to_string())
    };
    let value = if op == "in" {
        Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(typed)
                .collect(),
        )
    } else {
        typed(value)
    };
    json!({"field": field, "op": op, "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_segment_json() {
        let f = Form::parse(
            b"lists=news&combine=any&field_0=city&op_0=eq&value_0=Utrecht&field_1=score&op_1=gte&value_1=10\
              &field_2=tag&op_2=in&value_2=a,+b&field_3=city&op_3=is_set&value_3=x&field_4=",
        );
        let b = Builder::from_form(&f);
        assert_eq!(b.lists, ["news"]);
        assert_eq!(
            b.segment().unwrap(),
            json!({"or": [
                {"field": "city", "op": "eq", "value": "Utrecht"},
                {"field": "score", "op": "gte", "value": 10},
                {"field": "tag", "op": "in", "value": ["a", "b"]},
                {"field": "city", "op": "is_set"},
            ]})
        );
        assert_eq!(Builder::empty().segment(), None);
        // And back: the builder shows the segment again, and makes the same JSON of it.
        let pairs = form_fields(b.segment().as_ref()).unwrap();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        assert_eq!(
            Builder::from_form(&Form::parse(body.as_bytes())).segment(),
            b.segment()
        );
        assert_eq!(
            form_fields(Some(&json!({"not": {"field": "city", "op": "is_set"}}))),
            None
        );
        let one = Builder::from_form(&Form::parse(b"field_0=opened&op_0=eq&value_0=12"));
        assert_eq!(
            one.segment().unwrap(),
            json!({"field": "opened", "op": "eq", "value": 12})
        );
    }
}
