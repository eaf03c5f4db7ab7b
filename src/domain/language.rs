//! Languages of contacts, opt-in texts and public pages.

use std::fmt;

use super::ValidationError;

/// The languages Handbill ships texts for. Contacts in other languages fall back to the
/// organisation's default language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Nl,
    En,
    De,
    Fr,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::Nl, Language::En, Language::De, Language::Fr];

    pub fn code(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
        }
    }

    /// Accepts ISO 639-1 codes, locale tags (`nl-BE`, `en_GB`) and the language's name in
    /// Dutch, English or itself, case-insensitively.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim().to_lowercase();
        let primary = s.split(['-', '_']).next().unwrap_or("");
        let lang = match (primary, s.as_str()) {
            ("nl", _) | (_, "nederlands" | "dutch" | "nld" | "dut") => Language::Nl,
            ("en", _) | (_, "engels" | "english" | "eng") => Language::En,
            ("de", _) | (_, "duits" | "german" | "deutsch" | "deu" | "ger") => Language::De,
            ("fr", _) | (_, "frans" | "french" | "français" | "francais" | "fra" | "fre") => {
                Language::Fr
            }
            _ => {
                return Err(ValidationError::single(
                    "language",
                    "unsupported_language",
                    "language must be one of nl, en, de, fr",
                ))
            }
        };
        Ok(lang)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_tags_and_names() {
        assert_eq!(Language::parse("NL").unwrap(), Language::Nl);
        assert_eq!(Language::parse("en-GB").unwrap(), Language::En);
        assert_eq!(Language::parse("Deutsch").unwrap(), Language::De);
        assert_eq!(Language::parse("frans").unwrap(), Language::Fr);
        assert!(Language::parse("xx").is_err());
        assert!(Language::parse("").is_err());
        for l in Language::ALL {
            assert_eq!(Language::parse(l.code()).unwrap(), l);
        }
    }
}
