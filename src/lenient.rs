//! Reading the loosely typed values 1msg sends, one way everywhere: the API
//! client, the webhook parser and the sandbox agree on what `fromMe: "1"`
//! or `chatId: "155…@c.us"` mean (docs/provider-1msg.md §1.4, §1.5, §3).

use serde_json::Value;

/// A flag as 1msg writes it: `true`, a non-zero number, `"1"`, `"true"`,
/// `"yes"` (any case, surrounding spaces ignored). Anything else is false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
        _ => false,
    }
}

/// The phone (E.164 digits, no `+`) of a chat as a webhook or history item
/// names it: `"15551234567"`, `"+1 555-123-4567"`, `15551234567` or
/// `"15551234567@c.us"`. Group chats (`@g.us`) and non-numbers are not
/// phones.
pub(crate) fn chat_phone(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let s = match s.split_once('@') {
        Some((user, "c.us" | "s.whatsapp.net")) => user.to_string(),
        Some(_) => return None,
        None => s,
    };
    let digits: String = s
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    (!digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthy_spellings() {
        for yes in [
            json!(true),
            json!(1),
            json!(2.5),
            json!("1"),
            json!(" TRUE "),
            json!("yes"),
        ] {
            assert!(truthy(&yes), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!("0"),
            json!("no"),
            json!(null),
            json!([1]),
        ] {
            assert!(!truthy(&no), "{no}");
        }
    }

    #[test]
    fn chat_phone_spellings() {
        assert_eq!(
            chat_phone(&json!("15551230001@c.us")).as_deref(),
            Some("15551230001")
        );
        assert_eq!(
            chat_phone(&json!("+1 555-123-0001")).as_deref(),
            Some("15551230001")
        );
        assert_eq!(
            chat_phone(&json!(15551230001_i64)).as_deref(),
            Some("15551230001")
        );
        assert_eq!(chat_phone(&json!("120363@g.us")), None);
        assert_eq!(chat_phone(&json!("Ana")), None);
        assert_eq!(chat_phone(&json!("")), None);
    }
}
