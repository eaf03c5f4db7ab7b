//! Organisation slugs.

use std::fmt;

use super::ValidationError;

/// A URL- and CLI-friendly organisation identifier: 2–63 of `a-z`, `0-9` and `-`,
/// starting with a letter and not ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgSlug(String);

impl OrgSlug {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        let ok = (2..=63).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(ValidationError::single(
                "slug",
                "invalid_slug",
                "a slug has 2 to 63 characters a-z, 0-9 and '-', starts with a letter and does not end with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(OrgSlug::parse("paradiso").is_ok());
        assert!(OrgSlug::parse("de-melkweg-2").is_ok());
        for bad in [
            "",
            "a",
            "Paradiso",
            "2venue",
            "venue-",
            "ve nue",
            "véénue",
            &"a".repeat(64),
        ] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad}");
        }
    }
}
