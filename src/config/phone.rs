//! Phone numbers: E.164 in the config (`+` and 8–15 digits, docs/design.md §2),
//! digits only towards the API (docs/provider-1msg.md §1.5: "country code + digits,
//! no `+`"). Spaces, dashes, dots and parentheses common in spreadsheets are
//! tolerated and dropped.

/// Normalizes `raw` to its digits, or says why it is not E.164.
pub(crate) fn normalize(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let Some(rest) = trimmed.strip_prefix('+') else {
        return Err(format!(
            "phone \"{raw}\" is not E.164: it must start with `+` and the country code"
        ));
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(format!(
                    "phone \"{raw}\" contains `{c}`: only digits after the `+`"
                ))
            }
        }
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!(
            "phone \"{raw}\" has {} digits; E.164 numbers have 8 to 15",
            digits.len()
        ));
    }
    if digits.starts_with('0') {
        return Err(format!(
            "phone \"{raw}\" starts with 0 after the `+`: write the country code first"
        ));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn e164() {
        assert_eq!(normalize("+1 (555) 123-4567").as_deref(), Ok("15551234567"));
        assert!(normalize("15551234567").is_err());
        assert!(normalize("+1555").is_err());
        assert!(normalize("+1555abc4567").is_err());
        assert!(normalize("+0155512345").is_err());
    }
}
