//! Keys of lists (opt-ins): chosen once, never changed.

use super::ValidationError;

/// 1–64 characters `a-z`, `0-9`, `_` and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey(String);

impl ListKey {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        let ok = (1..=64).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(ValidationError::single(
                "key",
                "invalid_key",
                "a key has 1 to 64 characters a-z, 0-9, '_' and '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["news", "jazz-2027", "a", "0day", "partner_x"] {
            assert!(ListKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "News", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(ListKey::parse(bad).is_err(), "{bad}");
        }
    }
}
