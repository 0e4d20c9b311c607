//! The lowering of a checked config into the desired account templates:
//! Meta's component objects per language and the versioned account name.
//!
//! # Version hash normalization
//!
//! `<logical>_<hash>` uses the first 8 hex digits of SHA-256 over a
//! canonical JSON document built from the *typed* template, never from the
//! YAML text: `{"category", "languages": {code: {"header", "body",
//! "body_examples", "footer", "buttons"}}}` with languages sorted by code,
//! object keys in a fixed order, absent optional fields omitted, and each
//! Flow button's Flow resolved to its `id` or `name` — or, on a channel
//! without the Flow API, to its canonical Flow JSON (`flow_json`, see
//! plan/lower.rs), so that a Flow change is a new version. YAML key order,
//! quoting style, comments, flow vs block style and indentation therefore
//! never change the hash; any change of text, examples, buttons, category,
//! or the set of languages does. `naming` itself is not hashed.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::types::{Button, FlowRef, Naming, RawConfig, Template, TemplateLanguage};

/// One account template the config wants: one name in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredTemplate {
    pub(crate) logical: String,
    pub(crate) naming: Naming,
    /// Account name: `<logical>_<hash8>` or the logical name (exact).
    pub name: String,
    /// Meta language code, e.g. `en_US`.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// Meta's component objects, as they will be submitted.
    pub components: Vec<Value>,
}

/// Every desired account template, sorted by (name, language).
pub fn desired_templates(config: &RawConfig) -> Vec<DesiredTemplate> {
    let mut out = Vec::new();
    for (logical, template) in &config.templates {
        let name = account_name(logical, template, &config.flows);
        for (code, lang) in &template.languages {
            out.push(DesiredTemplate {
                logical: logical.clone(),
                naming: template.naming,
                name: name.clone(),
                language: code.clone(),
                category: template.category.as_str().to_string(),
                components: components(lang, &config.flows),
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    out
}

/// The account name of a template (see the module docs for the hash).
pub(crate) fn account_name(
    logical: &str,
    template: &Template,
    flows: &BTreeMap<String, FlowRef>,
) -> String {
    match template.naming {
        Naming::Exact => logical.to_string(),
        Naming::Versioned => format!("{logical}_{}", content_hash(template, flows)),
    }
}

fn content_hash(template: &Template, flows: &BTreeMap<String, FlowRef>) -> String {
    let languages: serde_json::Map<String, Value> = template
        .languages
        .iter()
        .map(|(code, lang)| (code.clone(), canonical_language(lang, flows)))
        .collect();
    let doc = json!({"category": template.category.as_str(), "languages": languages});
    let digest = Sha256::digest(doc.to_string().as_bytes());
    hex::encode(&digest[..4])
}

fn canonical_language(lang: &TemplateLanguage, flows: &BTreeMap<String, FlowRef>) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(h) = &lang.header {
        m.insert(
            "header".into(),
            json!({"text": h.text, "example": h.example}),
        );
    }
    m.insert("body".into(), json!(lang.body));
    m.insert("body_examples".into(), json!(lang.body_examples));
    if let Some(f) = &lang.footer {
        m.insert("footer".into(), json!(f));
    }
    m.insert(
        "buttons".into(),
        Value::Array(lang.buttons.iter().map(|b| button(b, flows)).collect()),
    );
    Value::Object(m)
}

/// Whether `name` is a version of `logical` (`<logical>_<8 hex>`).
pub(crate) fn is_version_of(name: &str, logical: &str) -> bool {
    name.strip_prefix(logical)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|h| {
            h.len() == 8
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Meta's component objects for one language (docs/meta-rules.md, "Template creation").
pub(crate) fn components(lang: &TemplateLanguage, flows: &BTreeMap<String, FlowRef>) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(h) = &lang.header {
        let mut header = json!({"type": "HEADER", "format": "TEXT", "text": h.text});
        if let Some(example) = &h.example {
            header["example"] = json!({"header_text": [example]});
        }
        out.push(header);
    }
    let mut body = json!({"type": "BODY", "text": lang.body});
    if !lang.body_examples.is_empty() {
        body["example"] = json!({"body_text": [lang.body_examples]});
    }
    out.push(body);
    if let Some(f) = &lang.footer {
        out.push(json!({"type": "FOOTER", "text": f}));
    }
    if !lang.buttons.is_empty() {
        let buttons: Vec<Value> = lang.buttons.iter().map(|b| button(b, flows)).collect();
        out.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    out
}

fn button(b: &Button, flows: &BTreeMap<String, FlowRef>) -> Value {
    match b {
        Button::Flow {
            text,
            flow,
            action,
            screen,
        } => {
            let mut v = json!({"type": "FLOW", "text": text, "flow_action": action.as_str()});
            match flows.get(flow) {
                // No Flow API on the channel: the Flow itself, inline
                // (plan/lower.rs), so the hash covers its JSON.
                Some(FlowRef {
                    inline: Some(json), ..
                }) => v["flow_json"] = json!(json),
                Some(FlowRef { id: Some(id), .. }) => v["flow_id"] = json!(id),
                Some(FlowRef {
                    name: Some(name), ..
                }) => v["flow_name"] = json!(name),
                _ => v["flow_name"] = json!(flow),
            }
            if let Some(screen) = screen {
                v["navigate_screen"] = json!(screen);
            }
            v
        }
        Button::QuickReply { text } => json!({"type": "QUICK_REPLY", "text": text}),
        Button::Url { text, url } => json!({"type": "URL", "text": text, "url": url}),
        Button::PhoneNumber { text, phone_number } => {
            json!({"type": "PHONE_NUMBER", "text": text, "phone_number": phone_number})
        }
    }
}

/// The part of a template's components that defines its content, in a
/// comparable form: what an exact-named template is compared on, and what
/// the text diff of a replaced template shows. Extra keys the API adds
/// (ids, examples, statuses) are ignored.
pub(crate) fn content_lines(components: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    for c in components {
        let kind = c
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_uppercase();
        let text = c.get("text").and_then(Value::as_str).unwrap_or("");
        match kind.as_str() {
            "HEADER" => lines.push(format!("header: {text}")),
            "BODY" => lines.push(format!("body: {text}")),
            "FOOTER" => lines.push(format!("footer: {text}")),
            "BUTTONS" => {
                for b in c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let kind = s("type").to_ascii_uppercase();
                    let detail = match kind.as_str() {
                        "FLOW" => {
                            let flow = match b.get("flow_json") {
                                // The whole Flow in one word: equal when the
                                // JSON is, however the account spells it.
                                Some(inline) => format!(
                                    "inline:{}",
                                    hex::encode(
                                        &Sha256::digest(
                                            super::lower::canonical_value(inline).as_bytes()
                                        )[..4]
                                    )
                                ),
                                None if s("flow_id").is_empty() => s("flow_name"),
                                None => s("flow_id"),
                            };
                            format!(
                                " flow={flow} action={} screen={}",
                                s("flow_action"),
                                s("navigate_screen")
                            )
                        }
                        "URL" => format!(" url={}", s("url")),
                        "PHONE_NUMBER" => format!(" phone={}", s("phone_number")),
                        _ => String::new(),
                    };
                    lines.push(format!("button {kind}: {}{detail}", s("text")));
                }
            }
            _ => lines.push(format!("{}: {text}", kind.to_ascii_lowercase())),
        }
    }
    lines
}

/// Index of the FLOW button among a template's buttons, from its components.
pub(crate) fn flow_button_index(components: &[Value]) -> Option<usize> {
    components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("BUTTONS"))
        })
        .and_then(|c| c.get("buttons").and_then(Value::as_array))
        .and_then(|buttons| {
            buttons.iter().position(|b| {
                b.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("FLOW"))
            })
        })
}

/// Number of body variables, from components.
pub(crate) fn body_variables(components: &[Value]) -> usize {
    components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
        })
        .and_then(|c| c.get("text").and_then(Value::as_str))
        .map(crate::config::meta::variable_count)
        .unwrap_or(0)
}
