//! List codes ("rubrieken": a contact has them or not) and list fields ("vrije velden": a
//! contact has a value) of a list, as the MailingLijst API assigns them, with the value
//! formats of the seed: dates `yyyy-MM-dd` or `dd-MM-yyyy`, numbers up to 2147483647, yes/no
//! as 1/0.

use std::fmt;

use super::consent::string_enum;
use super::ValidationError;

/// Longest code or field name, owner and field value.
pub const MAX_NAME: usize = 100;
pub const MAX_OWNER: usize = 20;
pub const MAX_VALUE: usize = 255;

string_enum! {
    /// A code, or a field that holds a value.
    CodeKind { Code => "code", Field => "field" }
}

string_enum! {
    /// The type of a list field's values.
    FieldType { Text => "text", Date => "date", Number => "number", YesNo => "yesno" }
}

impl FieldType {
    /// Checks one value (several values of a field are separated by `:`) and returns it in its
    /// stored form (dates as `yyyy-MM-dd`).
    pub fn normalize(self, value: &str) -> Result<String, String> {
        let mut out = Vec::new();
        for v in value.split(':').map(str::trim) {
            out.push(match self {
                FieldType::Text => v.to_string(),
                FieldType::Date => parse_date(v)
                    .ok_or_else(|| format!("'{v}' is not a date (yyyy-MM-dd or dd-MM-yyyy)"))?,
                FieldType::Number => match v.parse::<i64>() {
                    Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => n.to_string(),
                    _ => return Err(format!("'{v}' is not a number from 0 to 2147483647")),
                },
                FieldType::YesNo => match v {
                    "1" | "0" => v.to_string(),
                    _ => return Err(format!("'{v}' is not 1 (yes) or 0 (no)")),
                },
            });
        }
        let joined = out.join(":");
        if joined.chars().count() > MAX_VALUE {
            return Err(format!("the value is longer than {MAX_VALUE} characters"));
        }
        Ok(joined)
    }
}

/// `yyyy-MM-dd` or `dd-MM-yyyy` to `yyyy-MM-dd`, for real calendar dates only.
pub fn parse_date(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('-').collect();
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => (*y, *m, *d),
        [d, m, y] if y.len() == 4 && m.len() == 2 && d.len() == 2 => (*y, *m, *d),
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// A code or field name: 1 to 100 characters, without the separators `;`, `,` and `:`.
pub fn validate_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.contains([';', ',', ':']) {
        return Err(ValidationError::single(
            "name",
            "invalid_name",
            format!("1 to {MAX_NAME} characters, without ; , or :"),
        ));
    }
    Ok(name.to_string())
}

/// An owner: up to 20 letters, digits, `_` or `-` (empty: no owner).
pub fn validate_owner(owner: &str) -> Result<String, ValidationError> {
    let owner = owner.trim();
    if owner.chars().count() > MAX_OWNER
        || !owner
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ValidationError::single(
            "owner",
            "invalid_owner",
            format!("up to {MAX_OWNER} letters, digits, _ or -"),
        ));
    }
    Ok(owner.to_string())
}

/// `lc=code1;code2`: the codes named, trimmed, without empty entries.
pub fn split_codes(lc: &str) -> Vec<String> {
    lc.split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// `xf=field1,value1;field2, value2:value3`: (field, value) pairs, trimmed after each
/// separator. An entry without a comma is an error naming it.
pub fn split_fields(xf: &str) -> Result<Vec<(String, String)>, String> {
    xf.split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.split_once(',') {
            Some((f, v)) if !f.trim().is_empty() => Ok((
                f.trim().to_string(),
                v.split(':').map(str::trim).collect::<Vec<_>>().join(":"),
            )),
            _ => Err(format!("'{entry}' is not field,value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_orders() {
        assert_eq!(parse_date("1987-06-01").as_deref(), Some("1987-06-01"));
        assert_eq!(parse_date("01-06-1987").as_deref(), Some("1987-06-01"));
        assert_eq!(parse_date("31-02-1987"), None);
        assert_eq!(parse_date("1987/06/01"), None);
        assert_eq!(parse_date("1-6-1987"), None);
    }

    #[test]
    fn values_by_type() {
        assert_eq!(
            FieldType::Number.normalize("2147483647").unwrap(),
            "2147483647"
        );
        assert!(FieldType::Number.normalize("2147483648").is_err());
        assert!(FieldType::Number.normalize("x").is_err());
        assert_eq!(FieldType::YesNo.normalize("1").unwrap(), "1");
        assert!(FieldType::YesNo.normalize("ja").is_err());
        assert_eq!(
            FieldType::Date.normalize("01-06-1987: 1990-01-02").unwrap(),
            "1987-06-01:1990-01-02"
        );
        assert_eq!(FieldType::Text.normalize("Alles").unwrap(), "Alles");
        assert!(FieldType::Text.normalize(&"x".repeat(256)).is_err());
    }

    #[test]
    fn separators_as_the_seed_shows() {
        assert_eq!(split_codes(" a; b;;c "), vec!["a", "b", "c"]);
        assert_eq!(
            split_fields("f1,v1;f2, v2;f3,v3: v4; f5, v5").unwrap(),
            vec![
                ("f1".into(), "v1".into()),
                ("f2".into(), "v2".into()),
                ("f3".into(), "v3:v4".into()),
                ("f5".into(), "v5".into())
            ]
        );
        assert!(split_fields("f1").is_err());
        assert!(validate_name("a;b").is_err());
        assert!(validate_owner("EMC").is_ok());
        assert!(validate_owner(&"x".repeat(21)).is_err());
    }
}
