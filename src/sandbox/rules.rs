//! Meta's template rules, as the sandbox enforces them on `addTemplate`.
//!
//! Sources: docs/meta-rules.md "Template creation" (cited per rule below) and
//! Meta's "Sending a Flow" page for FLOW buttons (exactly one of `flow_id`,
//! `flow_name`, `flow_json`; `flow_action` navigate|data_exchange, default
//! navigate; `navigate_screen` optional; text ≤ 25 chars). Rules the notes
//! mark **(verify)** are enforced as written there and say so.

use serde_json::Value;

/// What the send path needs to know about a validated template, computed
/// once at creation so sends stay cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateShape {
    /// Distinct body variables `{{1}}..{{n}}`.
    pub(crate) body_vars: usize,
    /// The body text (for the reject word and message history).
    pub(crate) body: String,
    /// Button types in order, upper case (`FLOW`, `QUICK_REPLY`, ...).
    pub(crate) buttons: Vec<String>,
    /// `flow_id` / `flow_name` of the FLOW button, if any.
    pub(crate) flow_ref: Option<ButtonFlow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ButtonFlow {
    Id(String),
    Name(String),
    /// An inline Flow JSON: nothing on the account to check.
    Inline,
}

/// Meta's supported template language codes: the same list `validate` uses.
pub(crate) use crate::config::meta::LANGUAGES;

/// Categories accepted on write. `TRANSACTIONAL`/`OTP` are read-only
/// leftovers of the old API (docs/meta-rules.md "category").
pub(crate) const CATEGORIES: &[&str] = &["MARKETING", "UTILITY", "AUTHENTICATION"];

/// Validates Meta's template object. The error is the message the sandbox
/// answers with.
pub(crate) fn validate_template(
    name: &str,
    category: &str,
    language: &str,
    components: &[Value],
) -> Result<TemplateShape, String> {
    // name: ^[a-z0-9_]{1,512}$
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "invalid template name {name:?}: use 1-512 lowercase letters, digits and underscores"
        ));
    }
    if !CATEGORIES.contains(&category) {
        return Err(format!(
            "invalid category {category:?}: expected MARKETING, UTILITY or AUTHENTICATION"
        ));
    }
    if !LANGUAGES.contains(&language) {
        return Err(format!("unsupported language {language:?}"));
    }
    let mut header = None;
    let mut body = None;
    let mut footer = None;
    let mut buttons = None;
    for component in components {
        let kind = component
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let slot = match kind.as_str() {
            "HEADER" => &mut header,
            "BODY" => &mut body,
            "FOOTER" => &mut footer,
            "BUTTONS" => &mut buttons,
            "" => return Err("a component has no type".into()),
            other => return Err(format!("unsupported component type {other:?}")),
        };
        if slot.replace(component).is_some() {
            return Err(format!("more than one {kind} component"));
        }
    }
    let body = body.ok_or("a template needs exactly one BODY component")?;
    if let Some(h) = header {
        check_header(h)?;
    }
    let (body_text, body_vars) = check_body(body)?;
    if let Some(f) = footer {
        check_footer(f)?;
    }
    let (buttons, flow_ref) = match buttons {
        Some(b) => check_buttons(b)?,
        None => (Vec::new(), None),
    };
    Ok(TemplateShape {
        body_vars,
        body: body_text,
        buttons,
        flow_ref,
    })
}

fn text_of<'a>(component: &'a Value, what: &str) -> Result<&'a str, String> {
    component
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} needs a text"))
}

/// HEADER: TEXT ≤ 60 chars with at most one variable `{{1}}`, or media
/// needing an example handle (docs/meta-rules.md "HEADER").
fn check_header(h: &Value) -> Result<(), String> {
    let format = h
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("TEXT")
        .to_ascii_uppercase();
    match format.as_str() {
        "TEXT" => {
            let text = text_of(h, "HEADER")?;
            if text.chars().count() > 60 {
                return Err("HEADER text is longer than 60 characters".into());
            }
            let vars = variables(text)?;
            match vars.as_slice() {
                [] => Ok(()),
                [1] => {
                    let has_example = h
                        .pointer("/example/header_text/0")
                        .and_then(Value::as_str)
                        .is_some();
                    if has_example {
                        Ok(())
                    } else {
                        Err("HEADER variable {{1}} needs a sample in example.header_text".into())
                    }
                }
                _ => Err("HEADER text allows at most one variable, {{1}}".into()),
            }
        }
        "IMAGE" | "VIDEO" | "DOCUMENT" => {
            if h.pointer("/example/header_handle/0").is_some() {
                Ok(())
            } else {
                Err(format!("{format} HEADER needs example.header_handle"))
            }
        }
        "LOCATION" => Ok(()),
        other => Err(format!("unsupported HEADER format {other:?}")),
    }
}

/// BODY: ≤ 1024 chars; variables numbered from 1 without gaps, each with a
/// sample; not at the very start or end; not two side by side
/// (docs/meta-rules.md "BODY", "BODY variable placement"). The
/// variables-to-text ratio is marked (verify) there and is not enforced.
fn check_body(b: &Value) -> Result<(String, usize), String> {
    let text = text_of(b, "BODY")?;
    if text.trim().is_empty() {
        return Err("BODY text is empty".into());
    }
    if text.chars().count() > 1024 {
        return Err("BODY text is longer than 1024 characters".into());
    }
    let vars = variables(text)?;
    let mut distinct = vars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.iter().enumerate().any(|(i, n)| *n != i + 1) {
        return Err("BODY variables must be numbered {{1}}, {{2}}, ... without gaps".into());
    }
    if !vars.is_empty() {
        let trimmed = text.trim();
        if trimmed.starts_with("{{") || trimmed.ends_with("}}") {
            return Err("BODY must not start or end with a variable".into());
        }
        if adjacent_variables(text) {
            return Err("BODY has two variables next to each other".into());
        }
        let samples = b.pointer("/example/body_text/0").and_then(Value::as_array);
        match samples {
            Some(s) if s.len() == distinct.len() && s.iter().all(|v| v.is_string()) => {}
            _ => {
                return Err(format!(
                    "BODY has {} variable(s) and needs one sample each in example.body_text[0]",
                    distinct.len()
                ))
            }
        }
    }
    Ok((text.to_string(), distinct.len()))
}

/// FOOTER: ≤ 60 chars, no variables (docs/meta-rules.md "FOOTER").
fn check_footer(f: &Value) -> Result<(), String> {
    let text = text_of(f, "FOOTER")?;
    if text.chars().count() > 60 {
        return Err("FOOTER text is longer than 60 characters".into());
    }
    if text.contains("{{") {
        return Err("FOOTER must not contain variables".into());
    }
    Ok(())
}

/// BUTTONS (docs/meta-rules.md "BUTTONS", "button text", "FLOW button").
fn check_buttons(b: &Value) -> Result<(Vec<String>, Option<ButtonFlow>), String> {
    let list = b
        .get("buttons")
        .and_then(Value::as_array)
        .ok_or("BUTTONS needs a `buttons` array")?;
    if list.is_empty() || list.len() > 10 {
        return Err("BUTTONS must hold 1 to 10 buttons".into());
    }
    let mut kinds = Vec::with_capacity(list.len());
    let mut flow_ref = None;
    for (i, button) in list.iter().enumerate() {
        let kind = button
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let text = button
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let needs_text = !matches!(kind.as_str(), "COPY_CODE" | "OTP" | "CATALOG" | "MPM");
        if needs_text && text.trim().is_empty() {
            return Err(format!("button {i} has no text"));
        }
        if text.chars().count() > 25 {
            return Err(format!("button {i} text is longer than 25 characters"));
        }
        match kind.as_str() {
            "QUICK_REPLY" | "COPY_CODE" | "OTP" | "CATALOG" | "MPM" => {}
            "URL" => {
                let url = button
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("URL button {i} needs an http(s) url"));
                }
            }
            "PHONE_NUMBER" => {
                let phone = button
                    .get("phone_number")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if phone.chars().filter(char::is_ascii_digit).count() < 6 {
                    return Err(format!("PHONE_NUMBER button {i} needs a phone_number"));
                }
            }
            "FLOW" => flow_ref = Some(check_flow_button(i, button)?),
            "" => return Err(format!("button {i} has no type")),
            other => return Err(format!("unsupported button type {other:?}")),
        }
        kinds.push(kind);
    }
    let count = |k: &str| kinds.iter().filter(|x| x.as_str() == k).count();
    // URL ≤ 2, phone ≤ 1, one FLOW: marked (verify) in docs/meta-rules.md.
    // They match Meta's current template-components page (10 buttons in
    // all); older third-party guides still quote 3 quick replies / 2 CTAs.
    if count("URL") > 2 {
        return Err("at most 2 URL buttons".into());
    }
    if count("PHONE_NUMBER") > 1 {
        return Err("at most 1 PHONE_NUMBER button".into());
    }
    if count("FLOW") > 1 {
        return Err("at most 1 FLOW button".into());
    }
    // Quick replies must be grouped, not interleaved with call-to-action
    // buttons: the QR / non-QR sequence changes at most once.
    let changes = kinds
        .windows(2)
        .filter(|w| (w[0] == "QUICK_REPLY") != (w[1] == "QUICK_REPLY"))
        .count();
    if changes > 1 {
        return Err("QUICK_REPLY buttons must be grouped together".into());
    }
    Ok((kinds, flow_ref))
}

fn check_flow_button(i: usize, button: &Value) -> Result<ButtonFlow, String> {
    let field = |k: &str| {
        button
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let refs = [field("flow_id"), field("flow_name"), field("flow_json")];
    let flow_ref = match refs {
        [Some(id), None, None] => ButtonFlow::Id(id.to_string()),
        [None, Some(name), None] => ButtonFlow::Name(name.to_string()),
        [None, None, Some(_)] => ButtonFlow::Inline,
        _ => {
            return Err(format!(
                "FLOW button {i} needs exactly one of flow_id, flow_name, flow_json"
            ))
        }
    };
    match field("flow_action") {
        None | Some("navigate") | Some("data_exchange") => Ok(flow_ref),
        Some(other) => Err(format!(
            "FLOW button {i}: flow_action {other:?} is not navigate or data_exchange"
        )),
    }
}

/// The numbers of `{{n}}` placeholders in order of appearance.
fn variables(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("unclosed variable: `{{` without `}}`")?;
        let inner = after[..end].trim();
        let n: usize = inner
            .parse()
            .map_err(|_| format!("variable {{{{{inner}}}}} is not a positive number"))?;
        if n == 0 {
            return Err("variables are numbered from {{1}}".into());
        }
        out.push(n);
        rest = &after[end + 2..];
    }
    Ok(out)
}

fn adjacent_variables(text: &str) -> bool {
    let mut rest = text;
    while let Some(end) = rest.find("}}") {
        rest = &rest[end + 2..];
        let next = rest.trim_start();
        if next.starts_with("{{") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(text: &str, samples: &[&str]) -> Value {
        json!({"type": "BODY", "text": text, "example": {"body_text": [samples]}})
    }

    fn ok(components: &[Value]) -> TemplateShape {
        validate_template("t_1", "MARKETING", "en_US", components).expect("valid")
    }

    fn err(components: &[Value]) -> String {
        validate_template("t_1", "MARKETING", "en_US", components).expect_err("invalid")
    }

    #[test]
    fn full_template_with_flow_button() {
        let shape = ok(&[
            json!({"type": "HEADER", "format": "TEXT", "text": "Spring {{1}}", "example": {"header_text": ["x"]}}),
            body(
                "Hi {{1}}, courses are open for {{2}} now.",
                &["Anna", "you"],
            ),
            json!({"type": "FOOTER", "text": "Reply STOP"}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "FLOW", "text": "Sign up", "flow_id": "123", "flow_action": "navigate", "navigate_screen": "WELCOME"},
                {"type": "QUICK_REPLY", "text": "Not now"}]}),
        ]);
        assert_eq!(shape.body_vars, 2);
        assert_eq!(shape.buttons, vec!["FLOW", "QUICK_REPLY"]);
        assert_eq!(shape.flow_ref, Some(ButtonFlow::Id("123".into())));
    }

    #[test]
    fn names_categories_languages() {
        let b = [body("Hello there", &[])];
        assert!(validate_template("Bad-Name", "MARKETING", "en", &b).is_err());
        assert!(validate_template("ok", "TRANSACTIONAL", "en", &b).is_err());
        assert!(validate_template("ok", "UTILITY", "xx_YY", &b).is_err());
        assert!(validate_template("ok", "AUTHENTICATION", "pt_BR", &b).is_ok());
    }

    #[test]
    fn body_rules() {
        assert!(err(&[]).contains("BODY"));
        assert!(err(&[body("{{1}} starts", &["a"])]).contains("start or end"));
        assert!(err(&[body("ends with {{1}}", &["a"])]).contains("start or end"));
        assert!(err(&[body("a {{1}} {{2}} b", &["a", "b"])]).contains("next to each other"));
        assert!(err(&[body("a {{2}} b", &["a"])]).contains("without gaps"));
        assert!(err(&[body("a {{1}} b", &[])]).contains("sample"));
        assert!(err(&[body("a {{x}} b", &[])]).contains("not a positive number"));
        assert!(err(&[body(&"x".repeat(1025), &[])]).contains("1024"));
        assert!(err(&[body("a", &[]), body("b", &[])]).contains("more than one"));
        // A variable may repeat.
        assert_eq!(ok(&[body("a {{1}} b {{1}} c", &["x"])]).body_vars, 1);
    }

    #[test]
    fn header_footer_rules() {
        let b = body("Hello", &[]);
        assert!(err(&[
            json!({"type": "HEADER", "format": "TEXT", "text": "x".repeat(61)}),
            b.clone()
        ])
        .contains("60"));
        assert!(err(&[
            json!({"type": "HEADER", "format": "TEXT", "text": "a {{1}}"}),
            b.clone()
        ])
        .contains("header_text"));
        assert!(
            err(&[json!({"type": "HEADER", "format": "IMAGE"}), b.clone()])
                .contains("header_handle")
        );
        assert!(
            err(&[b.clone(), json!({"type": "FOOTER", "text": "a {{1}}"})]).contains("variables")
        );
        assert!(err(&[b, json!({"type": "FOOTER", "text": "x".repeat(61)})]).contains("60"));
    }

    #[test]
    fn button_rules() {
        let b = body("Hello", &[]);
        let with =
            |buttons: Value| err(&[b.clone(), json!({"type": "BUTTONS", "buttons": buttons})]);
        assert!(with(json!([{"type": "QUICK_REPLY", "text": "x".repeat(26)}])).contains("25"));
        assert!(with(json!([{"type": "FLOW", "text": "a"}])).contains("exactly one"));
        assert!(
            with(json!([{"type": "FLOW", "text": "a", "flow_id": "1", "flow_name": "n"}]))
                .contains("exactly one")
        );
        assert!(with(
            json!([{"type": "FLOW", "text": "a", "flow_id": "1", "flow_action": "open"}])
        )
        .contains("flow_action"));
        assert!(with(json!([
            {"type": "QUICK_REPLY", "text": "a"},
            {"type": "URL", "text": "b", "url": "https://x"},
            {"type": "QUICK_REPLY", "text": "c"}]))
        .contains("grouped"));
        assert!(with(json!([
            {"type": "FLOW", "text": "a", "flow_id": "1"},
            {"type": "FLOW", "text": "b", "flow_id": "2"}]))
        .contains("FLOW"));
        assert!(with(json!([{"type": "URL", "text": "a", "url": "ftp://x"}])).contains("url"));
        assert!(with(json!([])).contains("1 to 10"));
        assert!(with(json!([{"type": "BOGUS", "text": "a"}])).contains("unsupported"));
    }
}
