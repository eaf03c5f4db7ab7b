//! Partners, points of sale and products: identifiers from the ticket system, partner kinds,
//! privacy links and the widget's CSS variables.

use std::collections::BTreeMap;
use std::fmt;

use super::consent::string_enum;
use super::ValidationError;

string_enum! {
    /// What a partner is to the ticket seller.
    PartnerKind {
        Promoter => "promoter",
        Producer => "producer",
        Other => "other",
    }
}

pub const MAX_EXTERNAL_ID: usize = 100;

/// An identifier chosen by the ticket system (a partner's, a point of sale's or a product's):
/// 1–100 visible characters, no spaces at either end, no control characters.
pub fn external_id(field: &str, input: &str) -> Result<String, ValidationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ValidationError::single(
            field,
            "required",
            "must not be empty",
        ));
    }
    if s.chars().count() > MAX_EXTERNAL_ID {
        return Err(ValidationError::single(
            field,
            "too_long",
            format!("must be at most {MAX_EXTERNAL_ID} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() || c == '/') {
        return Err(ValidationError::single(
            field,
            "invalid_characters",
            "must not contain control characters or '/'",
        ));
    }
    Ok(s.to_string())
}

/// A web address shown to the public (a privacy policy): `https://` or `http://` with a host.
pub fn public_url(field: &str, input: &str) -> Result<String, ValidationError> {
    let s = input.trim();
    let ok = s.len() <= 500
        && url::Url::parse(s)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    if ok {
        Ok(s.to_string())
    } else {
        Err(ValidationError::single(
            field,
            "invalid_url",
            "must be an http(s) address of at most 500 characters",
        ))
    }
}

/// The origin (`https://shop.example`) allowed to frame the widget page.
pub fn origin(field: &str, input: &str) -> Result<String, ValidationError> {
    let s = input.trim().trim_end_matches('/');
    match url::Url::parse(s) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.host().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && s.len() <= 200 =>
        {
            Ok(u.origin().ascii_serialization())
        }
        _ => Err(ValidationError::single(
            field,
            "invalid_origin",
            "must be an origin such as https://tickets.example.org",
        )),
    }
}

/// The CSS variables a venue may set for the widget (`--hb-NAME`).
pub const THEME_VARIABLES: [&str; 7] = [
    "accent",
    "accent-text",
    "text",
    "muted",
    "background",
    "font",
    "radius",
];

/// Checks the widget theme: known variables, values of at most 100 characters that cannot
/// leave a CSS declaration (no `;`, braces, angle brackets, backslashes or quotes of HTML).
pub fn theme(
    input: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ValidationError> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let field = format!("theme.{k}");
        if !THEME_VARIABLES.contains(&k.as_str()) {
            errors.push(super::FieldError::new(
                field,
                "unknown_variable",
                format!("theme variables are {}", THEME_VARIABLES.join(", ")),
            ));
            continue;
        }
        let v = v.trim();
        let ok = !v.is_empty()
            && v.len() <= 100
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || " #%.,()-_'".contains(c));
        if ok {
            out.insert(k.clone(), v.to_string());
        } else {
            errors.push(super::FieldError::new(
                field,
                "invalid_value",
                "a CSS value of at most 100 characters: letters, digits, spaces and # % . , ( ) - _ '",
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ValidationError(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_urls_and_themes() {
        assert_eq!(
            external_id("id", " EV-2027/1 ").unwrap_err().0[0].code,
            "invalid_characters"
        );
        assert_eq!(external_id("id", " 10228 ").unwrap(), "10228");
        assert_eq!(external_id("id", "").unwrap_err().0[0].code, "required");
        assert_eq!(
            external_id("id", &"x".repeat(101)).unwrap_err().0[0].code,
            "too_long"
        );
        assert!(public_url("u", "https://promoter.example/privacy").is_ok());
        for bad in ["javascript:alert(1)", "ftp://x/y", "privacy", "https://"] {
            assert!(public_url("u", bad).is_err(), "{bad}");
        }
        assert_eq!(
            origin("o", "https://Shop.example/").unwrap(),
            "https://shop.example"
        );
        assert!(origin("o", "https://shop.example/path").is_err());
        let mut t = BTreeMap::new();
        t.insert("accent".to_string(), "#ff0066".to_string());
        t.insert("font".to_string(), "'Inter', sans-serif".to_string());
        assert_eq!(theme(&t).unwrap().len(), 2);
        t.insert(
            "accent".to_string(),
            "red; } body { display:none".to_string(),
        );
        assert_eq!(theme(&t).unwrap_err().0[0].code, "invalid_value");
        let mut u = BTreeMap::new();
        u.insert("position".to_string(), "fixed".to_string());
        assert_eq!(theme(&u).unwrap_err().0[0].code, "unknown_variable");
    }
}
