//! The template variables of mails, as MiniJinja values. A contact is a lazy object: a
//! template reads only the fields it names, and `attributes` is parsed only when used, so
//! the context of a message costs next to nothing to build.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};

use crate::domain::Language;
use crate::mail::content::footer_words;
use crate::store::{ContactRow, MailingRow, Org};

/// The names under `contact.`.
const CONTACT_FIELDS: &[&str] = &[
    "id",
    "guid",
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
    "score",
    "attributes",
];

#[derive(Debug)]
struct Contact(ContactRow);

fn text(v: &Option<String>) -> Value {
    v.as_deref().map_or(Value::from(()), Value::from)
}

impl Object for Contact {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let c = &self.0;
        Some(match key.as_str()? {
            "id" => Value::from(c.id),
            "guid" => Value::from(c.guid.as_str()),
            "email" => Value::from(c.email.as_str()),
            "external_id" => text(&c.external_id),
            "first_name" => text(&c.first_name),
            "name_prefix" => text(&c.name_prefix),
            "last_name" => text(&c.last_name),
            "organisation" => text(&c.organisation),
            "street" => text(&c.street),
            "house_number" => text(&c.house_number),
            "zipcode" => text(&c.zipcode),
            "city" => text(&c.city),
            "country" => text(&c.country),
            "mobile" => text(&c.mobile),
            "phone" => text(&c.phone),
            "language" => text(&c.language),
            "score" => Value::from(c.score),
            "attributes" => Value::from_serialize(
                serde_json::from_str::<serde_json::Value>(&c.attributes)
                    .unwrap_or_else(|_| serde_json::json!({})),
            ),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(CONTACT_FIELDS)
    }
}

/// `contact.*` of a template.
pub fn contact(c: &ContactRow) -> Value {
    Value::from_object(Contact(c.clone()))
}

/// The variables that are the same in every message of a mailing: `org.*`, `mailing.*` and
/// the default footer's words per language.
pub struct MailingVars {
    pub org: Value,
    pub mailing: Value,
    footers: Vec<(Language, Value)>,
}

impl MailingVars {
    pub fn new(org: &Org, mailing: &MailingRow) -> Self {
        Self {
            org: minijinja::context! { name => org.name.as_str() },
            mailing: minijinja::context! {
                name => mailing.name.as_str(),
                subject => mailing.subject.as_str(),
            },
            footers: Language::ALL
                .iter()
                .map(|l| (*l, Value::from_iter(footer_words(l.code()))))
                .collect(),
        }
    }

    /// `footer.*` in the recipient's language.
    pub fn footer(&self, lang: Language) -> Value {
        self.footers
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_when_named() {
        let mut env = minijinja::Environment::new();
        env.add_template("t", "{{ c.first_name }}|{{ c.last_name }}|{{ c.attributes.seat }}|{{ c.nope is undefined }}|{{ c | length }}")
            .unwrap();
        let row = ContactRow {
            first_name: Some("Anna".into()),
            last_name: None,
            attributes: r#"{"seat": "A12"}"#.into(),
            ..crate::services::mailings::sample_contact(1, "anna@example.nl")
        };
        let out = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { c => contact(&row) })
            .unwrap();
        assert_eq!(out, format!("Anna|None|A12|True|{}", CONTACT_FIELDS.len()));
    }
}
