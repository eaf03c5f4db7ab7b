//! Contact data: every address field of the MailingLijst API with its length limit,
//! plus external id, language, custom attributes, tags and score.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validation::{text, Collector};
use super::{FieldError, Language, ValidationError};

/// Length limits (characters) per text field, as the MailingLijst seed documents them.
pub const TEXT_LIMITS: &[(&str, usize)] = &[
    ("external_id", 100),
    ("first_name", 80),
    ("name_prefix", 40),
    ("last_name", 80),
    ("organisation", 200),
    ("street", 80),
    ("house_number", 20),
    ("zipcode", 20),
    ("city", 80),
    ("country", 255),
    ("mobile", 255),
    ("phone", 255),
    ("source", 100),
    ("import_code", 100),
    ("sync_id", 100),
];

pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_LEN: usize = 64;
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 64;

/// Gender codes of the MailingLijst API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Organisation,
    Male,
    Female,
    #[default]
    Unknown,
}

impl Gender {
    pub fn code(self) -> i64 {
        match self {
            Gender::Organisation => 101,
            Gender::Male => 102,
            Gender::Female => 103,
            Gender::Unknown => 105,
        }
    }

    pub fn from_code(code: i64) -> Self {
        match code {
            101 => Gender::Organisation,
            102 => Gender::Male,
            103 => Gender::Female,
            _ => Gender::Unknown,
        }
    }

    /// Codes and words as the seed lists them; anything else is unknown (105), as the seed says.
    pub fn parse_lenient(s: &str) -> Self {
        match s.trim().to_uppercase().as_str() {
            "101" | "O" | "ORGANISATIE" | "ORGANISATION" | "ORGANIZATION" => Gender::Organisation,
            "102" | "M" | "MAN" | "HEER" | "MALE" => Gender::Male,
            "103" | "V" | "VROUW" | "MEVROUW" | "F" | "FEMALE" | "WOMAN" => Gender::Female,
            _ => Gender::Unknown,
        }
    }
}

/// Preferred mail format (`th` parameter: H or T).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailFormat {
    #[default]
    Html,
    Text,
}

impl MailFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            MailFormat::Html => "html",
            MailFormat::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "html" | "h" => Some(MailFormat::Html),
            "text" | "t" => Some(MailFormat::Text),
            _ => None,
        }
    }
}

/// Validated contact fields (everything but the e-mail address, which is an [`super::EmailAddress`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactFields {
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub name_prefix: Option<String>,
    pub last_name: Option<String>,
    pub organisation: Option<String>,
    pub gender: Gender,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub mail_format: MailFormat,
    pub active: bool,
    pub language: Option<Language>,
    pub source: Option<String>,
    pub import_code: Option<String>,
    pub sync_id: Option<String>,
    pub attributes: Map<String, Value>,
    pub tags: Vec<String>,
    pub score: i64,
}

impl Default for ContactFields {
    fn default() -> Self {
        Self {
            external_id: None,
            first_name: None,
            name_prefix: None,
            last_name: None,
            organisation: None,
            gender: Gender::Unknown,
            street: None,
            house_number: None,
            zipcode: None,
            city: None,
            country: None,
            mobile: None,
            phone: None,
            mail_format: MailFormat::Html,
            active: true,
            language: None,
            source: None,
            import_code: None,
            sync_id: None,
            attributes: Map::new(),
            tags: Vec::new(),
            score: 0,
        }
    }
}

/// Contact fields as they arrive from outside (JSON, CSV, query parameters), not yet validated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub name_prefix: Option<String>,
    pub last_name: Option<String>,
    pub organisation: Option<String>,
    pub gender: Option<String>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub mail_format: Option<String>,
    pub active: Option<bool>,
    pub language: Option<String>,
    pub source: Option<String>,
    pub import_code: Option<String>,
    pub sync_id: Option<String>,
    pub attributes: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
    pub score: Option<i64>,
}

impl From<&ContactFields> for ContactInput {
    /// The input that validates to these fields.
    fn from(f: &ContactFields) -> Self {
        Self {
            external_id: f.external_id.clone(),
            first_name: f.first_name.clone(),
            name_prefix: f.name_prefix.clone(),
            last_name: f.last_name.clone(),
            organisation: f.organisation.clone(),
            gender: Some(f.gender.code().to_string()),
            street: f.street.clone(),
            house_number: f.house_number.clone(),
            zipcode: f.zipcode.clone(),
            city: f.city.clone(),
            country: f.country.clone(),
            mobile: f.mobile.clone(),
            phone: f.phone.clone(),
            mail_format: Some(f.mail_format.as_str().to_string()),
            active: Some(f.active),
            language: f.language.map(|l| l.code().to_string()),
            source: f.source.clone(),
            import_code: f.import_code.clone(),
            sync_id: f.sync_id.clone(),
            attributes: Some(f.attributes.clone()),
            tags: Some(f.tags.clone()),
            score: Some(f.score),
        }
    }
}

impl ContactInput {
    /// Validates every field and reports all problems at once.
    pub fn validate(&self) -> Result<ContactFields, ValidationError> {
        let mut c = Collector::default();
        let mut t = |name: &str, v: &Option<String>| -> Option<String> {
            let max = TEXT_LIMITS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, m)| *m)
                .unwrap_or(255);
            v.as_deref()
                .and_then(|v| c.take(text(name, v, max)).flatten())
        };
        let mut out = ContactFields {
            external_id: t("external_id", &self.external_id),
            first_name: t("first_name", &self.first_name),
            name_prefix: t("name_prefix", &self.name_prefix),
            last_name: t("last_name", &self.last_name),
            organisation: t("organisation", &self.organisation),
            street: t("street", &self.street),
            house_number: t("house_number", &self.house_number),
            zipcode: t("zipcode", &self.zipcode),
            city: t("city", &self.city),
            country: t("country", &self.country),
            mobile: t("mobile", &self.mobile),
            phone: t("phone", &self.phone),
            source: t("source", &self.source),
            import_code: t("import_code", &self.import_code),
            sync_id: t("sync_id", &self.sync_id),
            ..ContactFields::default()
        };
        out.gender = self
            .gender
            .as_deref()
            .map(Gender::parse_lenient)
            .unwrap_or_default();
        if let Some(f) = self.mail_format.as_deref() {
            match MailFormat::parse(f) {
                Some(f) => out.mail_format = f,
                None => c.push(FieldError::new(
                    "mail_format",
                    "invalid_mail_format",
                    "mail_format must be html or text",
                )),
            }
        }
        out.active = self.active.unwrap_or(true);
        if let Some(l) = self.language.as_deref().filter(|l| !l.trim().is_empty()) {
            out.language = c.take(Language::parse(l));
        }
        if let Some(attrs) = &self.attributes {
            if let Some(a) = c.take(validate_attributes(attrs)) {
                out.attributes = a;
            }
        }
        if let Some(tags) = &self.tags {
            if let Some(t) = c.take(validate_tags(tags)) {
                out.tags = t;
            }
        }
        out.score = self.score.unwrap_or(0);
        c.finish().map(|_| out)
    }
}

/// Whether a name can be an attribute's: 1 to 64 letters, digits and `_`.
pub fn attribute_name_ok(name: &str) -> bool {
    (1..=MAX_ATTRIBUTE_KEY_LEN).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a refused attribute name is told.
pub const ATTRIBUTE_NAME_RULE: &str = "attribute names have 1 to 64 characters a-z, A-Z, 0-9 and _";

/// Custom attributes: keys of letters, digits and `_` (at most 64), values scalar or arrays of
/// scalars, at most 16 KiB in all.
pub fn validate_attributes(
    attrs: &Map<String, Value>,
) -> Result<Map<String, Value>, ValidationError> {
    let mut c = Collector::default();
    for (k, v) in attrs {
        if !attribute_name_ok(k) {
            c.push(FieldError::new(
                format!("attributes.{k}"),
                "invalid_attribute_name",
                ATTRIBUTE_NAME_RULE,
            ));
        }
        let scalar = |v: &Value| !matches!(v, Value::Object(_) | Value::Array(_));
        let value_ok = match v {
            Value::Array(items) => items.iter().all(scalar),
            other => scalar(other),
        };
        if !value_ok {
            c.push(FieldError::new(
                format!("attributes.{k}"),
                "invalid_attribute_value",
                "attribute values are strings, numbers, booleans, null or lists of those",
            ));
        }
    }
    if serde_json::to_vec(attrs)
        .map(|b| b.len())
        .unwrap_or(usize::MAX)
        > MAX_ATTRIBUTES_BYTES
    {
        c.push(FieldError::new(
            "attributes",
            "too_large",
            "custom attributes take at most 16 KiB",
        ));
    }
    c.finish().map(|_| attrs.clone())
}

/// Tags: trimmed, at most 64 characters, no control characters or commas; deduplicated.
pub fn validate_tags(tags: &[String]) -> Result<Vec<String>, ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::single(
            "tags",
            "too_many",
            format!("a contact has at most {MAX_TAGS} tags"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let t = text("tags", tag, MAX_TAG_LEN)?.ok_or_else(|| {
            ValidationError::single("tags", "required", "a tag must not be empty")
        })?;
        if t.contains(',') {
            return Err(ValidationError::single(
                "tags",
                "invalid_characters",
                "a tag must not contain a comma",
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_seed_limit_is_enforced() {
        for (field, max) in TEXT_LIMITS {
            let mut v = json!({});
            v[*field] = json!("x".repeat(*max));
            let ok: ContactInput = serde_json::from_value(v.clone()).unwrap();
            assert!(ok.validate().is_ok(), "{field} at limit");
            v[*field] = json!("x".repeat(max + 1));
            let bad: ContactInput = serde_json::from_value(v).unwrap();
            let err = bad.validate().unwrap_err();
            assert_eq!(err.0[0].field, *field);
            assert_eq!(err.0[0].code, "too_long");
        }
    }

    #[test]
    fn fields_turn_back_into_the_input_they_came_from() {
        let input = ContactInput {
            first_name: Some("Anna".into()),
            gender: Some("vrouw".into()),
            country: Some("België".into()),
            mail_format: Some("text".into()),
            active: Some(false),
            language: Some("en".into()),
            tags: Some(vec!["vip".into()]),
            score: Some(7),
            ..Default::default()
        };
        let fields = input.validate().unwrap();
        assert_eq!(ContactInput::from(&fields).validate().unwrap(), fields);
    }

    #[test]
    fn gender_words_and_codes() {
        assert_eq!(Gender::parse_lenient("heer"), Gender::Male);
        assert_eq!(Gender::parse_lenient("103"), Gender::Female);
        assert_eq!(Gender::parse_lenient("O"), Gender::Organisation);
        assert_eq!(Gender::parse_lenient("whatever"), Gender::Unknown);
        assert_eq!(Gender::from_code(Gender::Female.code()), Gender::Female);
    }

    #[test]
    fn reports_all_errors_at_once() {
        let input: ContactInput = serde_json::from_value(json!({
            "first_name": "x".repeat(81),
            "language": "klingon",
            "mail_format": "pdf",
            "attributes": {"bad key": 1, "nested": {"a": 1}},
            "tags": ["ok", "ok", "a,b"]
        }))
        .unwrap();
        let fields: Vec<String> = input
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "first_name",
                "mail_format",
                "language",
                "attributes.bad key",
                "attributes.nested",
                "tags"
            ]
        );
    }

    #[test]
    fn defaults_and_dedup() {
        let input: ContactInput =
            serde_json::from_value(json!({"tags": ["vip", " vip "], "language": "EN"})).unwrap();
        let f = input.validate().unwrap();
        assert_eq!(f.tags, vec!["vip"]);
        assert_eq!(f.language, Some(Language::En));
        assert!(f.active);
        assert_eq!(f.gender, Gender::Unknown);
        assert!(serde_json::from_value::<ContactInput>(json!({"nope": 1})).is_err());
    }
}
