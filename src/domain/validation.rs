//! Field-level validation errors shared by every domain type.

use serde::Serialize;

/// One rejected field: which field, a stable machine-readable code and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// A set of field errors; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationError(pub Vec<FieldError>);

impl ValidationError {
    pub fn single(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self(vec![FieldError::new(field, code, message)])
    }

    /// Re-labels every error with the given field name (used when a value is parsed for a named field).
    pub fn for_field(mut self, field: &str) -> Self {
        for e in &mut self.0 {
            e.field = field.to_string();
        }
        self
    }
}

/// Collects errors while validating a structure, so the caller sees all of them at once.
#[derive(Debug, Default)]
pub struct Collector(Vec<FieldError>);

impl Collector {
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub fn take<T>(&mut self, r: Result<T, ValidationError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.extend(e.0);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(self.0))
        }
    }
}

/// Checks a free-text value: trimmed, no control characters, at most `max` characters.
/// Returns `None` for an empty value.
pub fn text(field: &str, value: &str, max: usize) -> Result<Option<String>, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max {
        return Err(ValidationError::single(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ValidationError::single(
            field,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(Some(v.to_string()))
}

/// Like [`text`] but the value is required.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    text(field, value, max)?
        .ok_or_else(|| ValidationError::single(field, "required", "must not be empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(text("f", "  ", 3).unwrap(), None);
        assert_eq!(text("f", " abc ", 3).unwrap().as_deref(), Some("abc"));
        assert_eq!(text("f", "abcd", 3).unwrap_err().0[0].code, "too_long");
        assert_eq!(
            text("f", "a\nb", 3).unwrap_err().0[0].code,
            "invalid_characters"
        );
        assert_eq!(required_text("f", "", 3).unwrap_err().0[0].code, "required");
        // Length counts characters, not bytes.
        assert!(text("f", "ééé", 3).is_ok());
    }
}
