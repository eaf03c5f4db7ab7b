//! A posted HTML form: its fields in order, repeated names kept (checkbox groups).

pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A form filled in by the server (a saved record shown for editing).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Form(pairs)
    }

    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The value of `name` trimmed, or None when absent or blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// Every value of `name` (a group of checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The items of a list typed in one field, separated by commas, spaces or lines
    /// (addresses and ranges).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .split([',', ' ', '\n', '\r'])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// True for a ticked checkbox.
    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1")
    }
}
