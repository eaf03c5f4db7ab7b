//! The parameters of a call, checked against the seed's lengths and types. A parameter that
//! is too long or of the wrong type fails the call with 406 naming it, before anything is
//! written.

use super::reply::{Fail, MlResult, NOT_FOUND, UNACCEPTABLE};
use crate::domain::{countries, ContactFields, EmailAddress, Gender, Language, MailFormat};

/// Largest number the seed accepts.
pub const MAX_NUMBER: i64 = 2_147_483_647;

/// The query and form parameters of one call (the first of a repeated name counts).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// The address parameters with their field, seed length, and what they set.
const ADDRESS_TEXT: &[(&str, usize)] = &[
    ("fn", 80),
    ("np", 40),
    ("n", 80),
    ("o", 200),
    ("s", 80),
    ("num", 20),
    ("z", 20),
    ("c", 80),
    ("m", 255),
    ("p", 255),
    ("so", 100),
    ("ic", 100),
    ("sy", 100),
];

/// How the call names its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRef {
    Guid(String),
    Id(i64),
    Email(EmailAddress),
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The raw value (trimmed); None when absent.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// A present, non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str, max: usize) -> MlResult<Option<String>> {
        match self.get(name) {
            Some(v) if v.chars().count() > max => Err(Fail::new(
                UNACCEPTABLE,
                format!("parameter {name} is longer than {max} characters"),
            )),
            v => Ok(v.map(str::to_string)),
        }
    }

    pub fn number(&self, name: &str) -> MlResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (0..=MAX_NUMBER).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Some(n))
                }
                _ => Err(Fail::new(
                    UNACCEPTABLE,
                    format!("parameter {name} must be a number from 0 to {MAX_NUMBER}"),
                )),
            },
        }
    }

    /// A required number: missing is 404 (parameter not found).
    pub fn required_number(&self, name: &str, what: &str) -> MlResult<i64> {
        self.number(name)?
            .ok_or_else(|| Fail::new(NOT_FOUND, format!("parameter {name} ({what}) missing")))
    }

    /// 1 (yes) or 0 (no).
    pub fn yes_no(&self, name: &str, default: bool) -> MlResult<bool> {
        match self.get(name) {
            None => Ok(default),
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some(_) => Err(Fail::new(
                UNACCEPTABLE,
                format!("parameter {name} must be 1 or 0"),
            )),
        }
    }

    /// The address named by `guid`, `id` or `e` (in that order); None when none is given.
    pub fn address(&self) -> MlResult<Option<AddressRef>> {
        if let Some(g) = self.text("guid", 20)? {
            if !g
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(Fail::new(
                    UNACCEPTABLE,
                    "parameter guid is not a valid guid",
                ));
            }
            return Ok(Some(AddressRef::Guid(g)));
        }
        if let Some(id) = self.number("id")? {
            return Ok(Some(AddressRef::Id(id)));
        }
        self.email().map(|e| e.map(AddressRef::Email))
    }

    /// The `e` parameter as an address.
    pub fn email(&self) -> MlResult<Option<EmailAddress>> {
        match self.text("e", 255)? {
            None => Ok(None),
            Some(e) => EmailAddress::parse(&e)
                .map(Some)
                .map_err(|_| Fail::new(UNACCEPTABLE, "emailaddress not valid")),
        }
    }

    /// Applies the address parameters to `f`. Empty text parameters clear their field. A new
    /// address gets the seed's defaults: its e-mail address as name, Nederland, Nederlands.
    pub fn apply_address(&self, f: &mut ContactFields, new_email: Option<&str>) -> MlResult<()> {
        for (name, max) in ADDRESS_TEXT {
            if self.raw(name).is_none() {
                continue;
            }
            let v = self.text(name, *max)?;
            let field = match *name {
                "fn" => &mut f.first_name,
                "np" => &mut f.name_prefix,
                "n" => &mut f.last_name,
                "o" => &mut f.organisation,
                "s" => &mut f.street,
                "num" => &mut f.house_number,
                "z" => &mut f.zipcode,
                "c" => &mut f.city,
                "m" => &mut f.mobile,
                "p" => &mut f.phone,
                "so" => &mut f.source,
                "ic" => &mut f.import_code,
                _ => &mut f.sync_id,
            };
            *field = v;
        }
        if self.raw("g").is_some() {
            f.gender = self
                .text("g", 255)?
                .map(|g| Gender::parse_lenient(&g))
                .unwrap_or_default();
        }
        if self.raw("cnt").is_some() {
            let c = self.text("cnt", 255)?;
            f.country = Some(country_name(c.as_deref()));
        }
        if self.raw("lang").is_some() {
            let l = self.text("lang", 255)?;
            f.language = Some(language(l.as_deref()));
        }
        if let Some(th) = self.get("th") {
            f.mail_format = match th.to_ascii_uppercase().as_str() {
                "H" => MailFormat::Html,
                "T" => MailFormat::Text,
                _ => return Err(Fail::new(UNACCEPTABLE, "parameter th must be H or T")),
            };
        }
        f.active = self.yes_no("i", f.active)?;
        if let Some(email) = new_email {
            if f.last_name.is_none() {
                f.last_name = Some(email.chars().take(80).collect());
            }
            if f.country.is_none() {
                f.country = Some(country_name(None));
            }
            if f.language.is_none() {
                f.language = Some(Language::Nl);
            }
        }
        Ok(())
    }
}

/// The country of the COUNTRIES code group a text names; Nederland when empty or unknown.
pub fn country_name(text: Option<&str>) -> String {
    text.and_then(countries::find)
        .unwrap_or(countries::NETHERLANDS)
        .name_nl
        .to_string()
}

/// The language a text names; Nederlands when empty or unknown.
pub fn language(text: Option<&str>) -> Language {
    text.and_then(|t| Language::parse(t).ok())
        .unwrap_or(Language::Nl)
}

/// The Dutch name of a language, as the LANGUAGES code group lists it.
pub fn language_name(l: Language) -> &'static str {
    match l {
        Language::Nl => "Nederlands",
        Language::En => "Engels",
        Language::De => "Duits",
        Language::Fr => "Frans",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn lengths_types_and_defaults() {
        let mut f = ContactFields::default();
        p(&[
            ("fn", "Anna"),
            ("g", "mevrouw"),
            ("cnt", "belgie"),
            ("th", "t"),
        ])
        .apply_address(&mut f, Some("anna@example.nl"))
        .unwrap();
        assert_eq!(f.first_name.as_deref(), Some("Anna"));
        assert_eq!(f.gender, Gender::Female);
        assert_eq!(f.country.as_deref(), Some("België"));
        assert_eq!(f.mail_format, MailFormat::Text);
        assert_eq!(f.last_name.as_deref(), Some("anna@example.nl"));
        assert_eq!(f.language, Some(Language::Nl));
        let err = p(&[("np", &"x".repeat(41))])
            .apply_address(&mut f, None)
            .unwrap_err();
        assert_eq!(err.code, UNACCEPTABLE);
        assert!(err.description.contains("np"));
        assert!(p(&[("i", "2")]).apply_address(&mut f, None).is_err());
        assert!(p(&[("th", "X")]).apply_address(&mut f, None).is_err());
        assert_eq!(
            p(&[("l", "2147483647")]).number("l").unwrap(),
            Some(MAX_NUMBER)
        );
        assert!(p(&[("l", "2147483648")]).number("l").is_err());
        assert!(p(&[("l", "-1")]).number("l").is_err());
        assert!(p(&[("l", "+1")]).number("l").is_err());
        assert_eq!(country_name(Some("Atlantis")), "Nederland");
        assert_eq!(language(Some("engels")), Language::En);
        assert_eq!(language(Some("Klingon")), Language::Nl);
    }

    #[test]
    fn address_by_guid_id_or_email() {
        assert_eq!(
            p(&[("guid", "SANDBOX_001"), ("e", "x@example.nl")])
                .address()
                .unwrap(),
            Some(AddressRef::Guid("SANDBOX_001".into()))
        );
        assert_eq!(
            p(&[("id", "12")]).address().unwrap(),
            Some(AddressRef::Id(12))
        );
        assert_eq!(p(&[]).address().unwrap(), None);
        assert_eq!(
            p(&[("e", "not an address")])
                .address()
                .unwrap_err()
                .description,
            "emailaddress not valid"
        );
        assert!(p(&[("guid", &"G".repeat(21))]).address().is_err());
        assert!(p(&[("guid", "a b")]).address().is_err());
    }
}
