//! Secrets (API tokens, webhook secrets) live in a type that never prints them.

use std::fmt;

/// A secret string whose `Display` and `Debug` print `***`.
///
/// The only way to read the value is [`Secret::expose`], which keeps every
/// place that handles the raw token greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` with `***`.
    ///
    /// Used on anything that may embed a URL (reqwest errors print the full
    /// request URL, query string included).
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        // A URL carries the token percent-encoded (upper- or lower-case hex)
        // or form-encoded; every spelling is masked.
        let mut out = text.replace(&self.0, "***");
        for encoded in encodings(&self.0) {
            if encoded != self.0 {
                out = out.replace(&encoded, "***");
            }
        }
        out
    }
}

fn encodings(raw: &str) -> [String; 3] {
    let mut upper = String::new();
    let mut lower = String::new();
    let mut form = String::new();
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            upper.push(b as char);
            lower.push(b as char);
            form.push(b as char);
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
            if b == b' ' {
                form.push('+');
            } else {
                form.push_str(&format!("%{b:02X}"));
            }
        }
    }
    [upper, lower, form]
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(
            s.redact("https://x/y?token=tok-123&a=1"),
            "https://x/y?token=***&a=1"
        );
    }
}
