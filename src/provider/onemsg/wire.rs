//! The 1msg wire format: request bodies waform writes and the tolerant
//! parsing of what 1msg really returns.
//!
//! Kept apart from the HTTP plumbing so every quirk listed in docs/provider-1msg.md
//! (§2.1 templates, §2.6 messages, §2.7 flows, §1.4 error bodies) can be
//! unit-tested against hand-written JSON without a server.

use serde_json::{json, Map, Value};

use crate::provider::{
    AccountFlow, AccountTemplate, FlowMessage, FlowStatus, History, HistoryMessage, HistoryQuery,
    TemplateMessage, TemplateStatus,
};

/// Digits only: 1msg wants country code + number without `+` (docs/provider-1msg.md
/// §1.5). Kept a string end to end so no phone ever passes through an integer
/// type (§5 item 1, the official SDK's i32 bug).
pub(crate) fn api_phone(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// `POST /sendTemplate` body (docs/provider-1msg.md §2.4; docs/meta-rules.md
/// "Sending a template with a Flow button"). JSON only: the endpoint is
/// declared JSON-only (§1.3).
pub(crate) fn send_template_body(m: &TemplateMessage) -> Value {
    let mut params = Vec::new();
    if !m.body_params.is_empty() {
        let parameters: Vec<Value> = m
            .body_params
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect();
        params.push(json!({"type": "body", "parameters": parameters}));
    }
    if let Some(button) = &m.flow_button {
        let mut action = Map::new();
        action.insert(
            "flow_token".into(),
            Value::String(button.flow_token.clone()),
        );
        if let Some(data) = &button.action_data {
            action.insert("flow_action_data".into(), Value::Object(data.clone()));
        }
        // `index` is the button's position as a string (docs/meta-rules.md).
        params.push(json!({
            "type": "button",
            "sub_type": "flow",
            "index": button.index.to_string(),
            "parameters": [{"type": "action", "action": Value::Object(action)}],
        }));
    }
    let mut body = Map::new();
    body.insert("template".into(), Value::String(m.template.clone()));
    body.insert(
        "language".into(),
        // `policy` must be "deterministic" (docs/provider-1msg.md §2.4, OLD enum).
        json!({"policy": "deterministic", "code": m.language}),
    );
    if let Some(ns) = m.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        body.insert("namespace".into(), Value::String(ns.to_string()));
    }
    body.insert("phone".into(), Value::String(api_phone(&m.phone)));
    body.insert("params".into(), Value::Array(params));
    Value::Object(body)
}

/// `POST /sendFlow` body with 1msg's camelCase names (docs/provider-1msg.md §2.5).
/// Sent as JSON rather than the form the SDKs default to, so nested objects
/// are not stringified (§5 item 3); the phone stays a digit string although
/// the contract types it integer (§1.5: both are accepted by real clients).
pub(crate) fn send_flow_body(m: &FlowMessage) -> Value {
    let mut body = Map::new();
    body.insert("body".into(), Value::String(m.body.clone()));
    body.insert("flowId".into(), Value::String(m.flow_id.clone()));
    body.insert("flowToken".into(), Value::String(m.flow_token.clone()));
    body.insert("flowCta".into(), Value::String(m.cta.clone()));
    if let Some(h) = &m.header {
        body.insert("header".into(), Value::String(h.clone()));
    }
    if let Some(f) = &m.footer {
        body.insert("footer".into(), Value::String(f.clone()));
    }
    body.insert("flowAction".into(), Value::String(m.action.clone()));
    // Meta: the payload is required for navigate and must be omitted for
    // data_exchange; `data`, when present, must be a non-empty object
    // (docs/provider-1msg.md §2.5, Meta "Sending a Flow").
    if m.action != "data_exchange" {
        let mut payload = Map::new();
        if let Some(screen) = &m.screen {
            payload.insert("screen".into(), Value::String(screen.clone()));
        }
        if let Some(data) = m.data.as_ref().filter(|d| !d.is_empty()) {
            payload.insert("data".into(), Value::Object(data.clone()));
        }
        body.insert("flowActionPayload".into(), Value::Object(payload));
    }
    body.insert("flowMessageVersion".into(), Value::String("3".into()));
    body.insert("mode".into(), Value::String(m.mode.clone()));
    body.insert("phone".into(), Value::String(api_phone(&m.phone)));
    Value::Object(body)
}

/// One page of `GET /templates`: the items and the server's `total`, if any.
#[derive(Debug)]
pub(crate) struct TemplatePage {
    pub(crate) templates: Vec<AccountTemplate>,
    /// Items in the page before parsing, to tell a short page from a full one.
    pub(crate) raw_len: usize,
    pub(crate) total: Option<u64>,
}

/// Parses a `GET /templates` body: `{"total", "templates": [...]}` or a bare
/// array (docs/provider-1msg.md §2.1). Items without a name or language cannot be
/// addressed by anything waform does and are skipped.
pub(crate) fn parse_template_page(body: &Value) -> Result<TemplatePage, String> {
    let (items, total) = match body {
        Value::Array(items) => (items, None),
        Value::Object(obj) => {
            let items = match obj.get("templates").or_else(|| obj.get("data")) {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => {
                    if let Some(err) = obj.get("error").filter(|e| !is_blank(e)) {
                        return Err(format!(
                            "the template list carries an error: {}",
                            text_of(err)
                        ));
                    }
                    return Ok(TemplatePage {
                        templates: Vec::new(),
                        raw_len: 0,
                        total: obj.get("total").and_then(as_u64),
                    });
                }
                Some(other) => {
                    return Err(format!("`templates` is not an array but {}", kind(other)))
                }
            };
            (items, obj.get("total").and_then(as_u64))
        }
        other => return Err(format!("expected a template list, got {}", kind(other))),
    };
    let templates = items.iter().filter_map(parse_template).collect();
    Ok(TemplatePage {
        templates,
        raw_len: items.len(),
        total,
    })
}

/// One template item, tolerant of every quirk in docs/provider-1msg.md §2.1 / §5
/// item 15.
pub(crate) fn parse_template(item: &Value) -> Option<AccountTemplate> {
    let obj = item.as_object()?;
    let name = obj.get("name").and_then(Value::as_str)?.to_string();
    let language = match obj.get("language") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(l)) => l.get("code").and_then(Value::as_str)?.to_string(),
        _ => return None,
    };
    let status = obj
        .get("status")
        .and_then(Value::as_str)
        .map(TemplateStatus::parse)
        .unwrap_or_else(|| TemplateStatus::Other(String::new()));
    let rejected_reason = obj
        .get("rejected_reason")
        .or_else(|| obj.get("rejectedReason"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NONE"))
        .map(str::to_string);
    let components = match obj.get("components") {
        Some(Value::Array(c)) => c.clone(),
        // "1MSG sometimes returns template components as a JSON string".
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(c)) => c,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let namespace = [
        "namespace",
        "message_template_namespace",
        "messageTemplateNamespace",
    ]
    .iter()
    .filter_map(|k| obj.get(*k).and_then(Value::as_str))
    .find(|s| !s.is_empty())
    .map(str::to_string);
    let id = obj.get("id").and_then(scalar_string);
    Some(AccountTemplate {
        id,
        name,
        language,
        category: obj
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase(),
        status,
        rejected_reason,
        components,
        namespace,
    })
}

/// The namespace is per account but "may be missing on some templates but
/// present on siblings" (docs/provider-1msg.md §2.1, N8N `resolveNamespace`): fill the
/// gaps from the first template that has one.
pub(crate) fn fill_namespaces(templates: &mut [AccountTemplate]) {
    let Some(ns) = templates.iter().find_map(|t| t.namespace.clone()) else {
        return;
    };
    for t in templates.iter_mut().filter(|t| t.namespace.is_none()) {
        t.namespace = Some(ns.clone());
    }
}

/// What `GET /flows` said: the Flows, or an in-body error (docs/provider-1msg.md §2.7:
/// `{items, paging, count, total, error}`; CLI reads `items ?? data ?? flows`).
pub(crate) fn parse_flows(body: &Value) -> Result<Vec<AccountFlow>, String> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(obj) => {
            let items = ["items", "data", "flows"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_array));
            match items {
                Some(items) => items,
                None => {
                    if let Some(err) = obj.get("error").filter(|e| !is_blank(e)) {
                        return Err(text_of(err));
                    }
                    return Ok(Vec::new());
                }
            }
        }
        other => return Err(format!("expected a Flow list, got {}", kind(other))),
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let obj = item.as_object()?;
            Some(AccountFlow {
                id: obj.get("id").and_then(scalar_string)?,
                name: obj
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                status: FlowStatus::parse(
                    obj.get("status")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
            })
        })
        .collect())
}

/// The query string of `GET /messages` (docs/provider-1msg.md §2.6).
pub(crate) fn history_params(q: &HistoryQuery) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if let Some(chat) = &q.chat_id {
        params.push(("chatId", chat.clone()));
    }
    if let Some(t) = q.min_time {
        params.push(("min_time", t.to_string()));
    }
    if let Some(n) = q.after_number {
        params.push(("lastMessageNumber", n.to_string()));
    }
    // 0 asks for everything at once: never, a page is bounded.
    params.push(("limit", q.limit.max(1).to_string()));
    params
}

/// `GET /messages` (docs/provider-1msg.md §2.6): `{messages, notice}` or a bare array;
/// `fromMe` as bool, 1, "1" or "true" (§3.1); `time` and `messageNumber` as
/// number or numeric string; `metadata` or `meta`. No message list but a
/// `notice` or an `error` is a channel without history (`Unavailable`).
pub(crate) fn parse_messages(body: &Value) -> Result<History, String> {
    let items = match body {
        Value::Array(items) => items.as_slice(),
        Value::Object(obj) => {
            let said = ["notice", "error"]
                .iter()
                .find_map(|k| obj.get(*k).filter(|v| !is_blank(v)))
                .map(|v| message_of(v).unwrap_or_else(|| clip(&v.to_string())));
            match obj.get("messages") {
                Some(Value::Array(items)) if !items.is_empty() => items.as_slice(),
                Some(Value::Array(_)) | Some(Value::Null) | None => match said {
                    Some(why) => return Ok(History::Unavailable(why)),
                    None if obj.contains_key("messages") => &[],
                    None => return Err("the answer has no `messages` list".into()),
                },
                Some(other) => {
                    return Err(format!("`messages` is not an array but {}", kind(other)))
                }
            }
        }
        other => return Err(format!("expected a message list, got {}", kind(other))),
    };
    Ok(History::Messages(
        items
            .iter()
            .filter_map(|item| {
                let obj = item.as_object()?;
                let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
                Some(HistoryMessage {
                    id: obj.get("id").and_then(scalar_string)?,
                    number: obj
                        .get("messageNumber")
                        .and_then(as_i64)
                        .and_then(|n| u64::try_from(n).ok()),
                    chat_id: text("chatId"),
                    from_me: obj
                        .get("fromMe")
                        .map(crate::lenient::truthy)
                        .unwrap_or(false),
                    time: obj.get("time").and_then(as_i64),
                    kind: text("type"),
                    body: text("body"),
                    caption: text("caption"),
                    metadata: obj
                        .get("metadata")
                        .or_else(|| obj.get("meta"))
                        .filter(|v| !v.is_null())
                        .cloned(),
                })
            })
            .collect(),
    ))
}

/// The human message of an error body: `{"error": "..."}`, `{"error": {...}}`
/// with Meta's fields, `{"message": ...}`, `{"response": {"error": ...}}`, or
/// plain text (docs/provider-1msg.md §1.4).
pub(crate) fn error_message(raw: &str) -> String {
    let trimmed = raw.trim();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => message_of(&value).unwrap_or_else(|| clip(trimmed)),
        Err(_) if trimmed.is_empty() => "(empty body)".to_string(),
        Err(_) => clip(trimmed),
    }
}

/// The message carried by a parsed body, if it has one.
pub(crate) fn message_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(clip(s)),
        Value::Object(obj) => {
            for key in ["error", "message", "description", "reason"] {
                if let Some(v) = obj.get(key).filter(|v| !is_blank(v)) {
                    if let Some(m) = message_of(v).or_else(|| Some(clip(&v.to_string()))) {
                        return Some(m);
                    }
                }
            }
            // Meta-style error objects (N8N `extractMessage`).
            for key in ["error_user_msg", "error_user_title"] {
                if let Some(s) = obj.get(key).and_then(Value::as_str) {
                    return Some(clip(s));
                }
            }
            if let Some(inner) = obj.get("response") {
                return message_of(inner);
            }
            None
        }
        _ => None,
    }
}

/// Meta error code inside an error object, for messages that only carry it
/// there (`error.code` / `error_code`, docs/provider-1msg.md §1.4).
pub(crate) fn error_code(value: &Value) -> Option<i64> {
    let obj = value.as_object()?;
    obj.get("code")
        .or_else(|| obj.get("error_code"))
        .and_then(as_i64)
        .or_else(|| obj.get("error").and_then(error_code))
}

pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn text_of(v: &Value) -> String {
    message_of(v).unwrap_or_else(|| clip(&v.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Error bodies can be whole HTML pages; keep messages readable.
fn clip(s: &str) -> String {
    const MAX: usize = 300;
    let s = s.trim();
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::FlowButtonParams;

    #[test]
    fn template_quirks_are_tolerated() {
        let body = json!({"total": 4, "templates": [
            {"id": 7, "name": "a", "language": "en_US", "status": "approved", "category": "marketing",
             "rejected_reason": "NONE", "namespace": "ns_1",
             "components": [{"type": "BODY", "text": "Hi"}]},
            {"name": "b", "language": {"code": "ru"}, "status": "PENDING",
             "components": "[{\"type\":\"BODY\",\"text\":\"Привет\"}]",
             "message_template_namespace": "ns_2"},
            {"name": "c", "language": "de", "status": "Rejected", "rejected_reason": "INVALID_FORMAT",
             "messageTemplateNamespace": "ns_3"},
            {"name": "no_language"}
        ]});
        let page = parse_template_page(&body).expect("parses");
        assert_eq!(page.total, Some(4));
        assert_eq!(page.raw_len, 4);
        let t = &page.templates;
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].id.as_deref(), Some("7"));
        assert_eq!(t[0].status, TemplateStatus::Approved);
        assert_eq!(t[0].category, "MARKETING");
        assert_eq!(t[0].rejected_reason, None);
        assert_eq!(t[0].namespace.as_deref(), Some("ns_1"));
        assert_eq!(t[1].language, "ru");
        assert_eq!(t[1].status, TemplateStatus::Pending);
        assert_eq!(t[1].components[0]["text"], "Привет");
        assert_eq!(t[1].namespace.as_deref(), Some("ns_2"));
        assert_eq!(t[2].status, TemplateStatus::Rejected);
        assert_eq!(t[2].rejected_reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(t[2].namespace.as_deref(), Some("ns_3"));
        assert!(t[2].components.is_empty());
    }

    #[test]
    fn bare_array_and_missing_namespace_are_filled_from_siblings() {
        let body = json!([
            {"name": "a", "language": "en", "status": "APPROVED"},
            {"name": "b", "language": "en", "status": "APPROVED", "namespace": "shared"}
        ]);
        let mut page = parse_template_page(&body).expect("parses");
        assert_eq!(page.total, None);
        fill_namespaces(&mut page.templates);
        assert!(page
            .templates
            .iter()
            .all(|t| t.namespace.as_deref() == Some("shared")));
    }

    #[test]
    fn template_list_with_only_an_error_is_an_error() {
        let err = parse_template_page(&json!({"error": {"message": "WABA not connected"}}))
            .expect_err("error body");
        assert!(err.contains("WABA not connected"), "{err}");
        assert!(parse_template_page(&json!("nope")).is_err());
        let empty = parse_template_page(&json!({"total": 0})).expect("empty");
        assert!(empty.templates.is_empty());
    }

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(error_message(r#"{"error":"Wrong token"}"#), "Wrong token");
        assert_eq!(
            error_message(r#"{"message":"sent:false because"}"#),
            "sent:false because"
        );
        assert_eq!(
            error_message(r#"{"error":{"error_user_msg":"Bad param","code":132000}}"#),
            "Bad param"
        );
        assert_eq!(
            error_message(r#"{"response":{"error":"upstream"}}"#),
            "upstream"
        );
        assert_eq!(
            error_message("Subscription blocked"),
            "Subscription blocked"
        );
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(
            error_code(&json!({"error": {"code": 131047}})),
            Some(131047)
        );
        assert!(error_message(&"x".repeat(1000)).chars().count() <= 301);
    }

    #[test]
    fn flows_in_every_shape() {
        let flows =
            parse_flows(&json!({"items": [{"id": 123, "name": "signup", "status": "published"}]}))
                .expect("items");
        assert_eq!(flows[0].id, "123");
        assert_eq!(flows[0].status, FlowStatus::Published);
        let flows = parse_flows(&json!({"data": [{"id": "9", "name": "x", "status": "DRAFT"}]}))
            .expect("data");
        assert_eq!(flows[0].status, FlowStatus::Draft);
        let flows = parse_flows(&json!([{"id": "1", "status": "BLOCKED"}])).expect("bare");
        assert_eq!(flows[0].status, FlowStatus::Blocked);
        assert_eq!(
            parse_flows(&json!({"error": "Not implemented"})).expect_err("error"),
            "Not implemented"
        );
    }

    #[test]
    fn messages_tolerate_loose_types() {
        let History::Messages(msgs) = parse_messages(&json!({"messages": [
            {"id": "m1", "messageNumber": "7", "fromMe": 1, "time": "1665396610", "chatId": "1555@c.us", "type": "chat", "body": "hi", "meta": {"a": 1}},
            {"id": "m2", "fromMe": "true", "time": 1665396611},
            {"id": "m3", "fromMe": false, "chatId": "123@g.us"},
            {"no_id": true}
        ], "notice": "history"}))
        .expect("parses") else {
            panic!("a list")
        };
        assert_eq!(msgs.len(), 3);
        assert!(msgs[0].from_me && msgs[1].from_me && !msgs[2].from_me);
        assert_eq!(msgs[0].time, Some(1665396610));
        assert_eq!(msgs[0].number, Some(7));
        assert_eq!(msgs[0].metadata, Some(json!({"a": 1})));
        assert_eq!(msgs[0].chat_phone(), Some("1555"));
        assert_eq!(msgs[2].chat_phone(), None, "a group is nobody's phone");
    }

    #[test]
    fn history_that_cannot_answer_is_unavailable() {
        assert_eq!(
            parse_messages(&json!({"messages": [], "notice": "Message history is disabled"})),
            Ok(History::Unavailable("Message history is disabled".into()))
        );
        assert!(matches!(
            parse_messages(&json!({"error": {"message": "storage off"}})),
            Ok(History::Unavailable(m)) if m.contains("storage off")
        ));
        assert_eq!(
            parse_messages(&json!({"messages": []})),
            Ok(History::Messages(vec![]))
        );
        assert!(parse_messages(&json!({"total": 3})).is_err());
        let q = HistoryQuery {
            chat_id: Some("1555@c.us".into()),
            min_time: Some(5),
            after_number: Some(9),
            limit: 0,
        };
        assert_eq!(
            history_params(&q),
            vec![
                ("chatId", "1555@c.us".to_string()),
                ("min_time", "5".to_string()),
                ("lastMessageNumber", "9".to_string()),
                ("limit", "1".to_string()),
            ]
        );
    }

    #[test]
    fn send_template_body_has_1msg_shape() {
        let mut data = Map::new();
        data.insert("fname".into(), json!("Anna"));
        let m = TemplateMessage {
            phone: "+15551234567".into(),
            template: "course_signup_1a2b3c4d".into(),
            language: "en_US".into(),
            namespace: Some("ns".into()),
            body_params: vec!["Anna".into()],
            flow_button: Some(FlowButtonParams {
                index: 0,
                flow_token: "tok".into(),
                action_data: Some(data),
            }),
        };
        assert_eq!(
            send_template_body(&m),
            json!({"template": "course_signup_1a2b3c4d",
                   "language": {"policy": "deterministic", "code": "en_US"},
                   "namespace": "ns",
                   "phone": "15551234567",
                   "params": [
                     {"type": "body", "parameters": [{"type": "text", "text": "Anna"}]},
                     {"type": "button", "sub_type": "flow", "index": "0",
                      "parameters": [{"type": "action", "action": {"flow_token": "tok", "flow_action_data": {"fname": "Anna"}}}]}]})
        );
        let bare = TemplateMessage {
            body_params: vec![],
            flow_button: None,
            namespace: None,
            ..m
        };
        let body = send_template_body(&bare);
        assert_eq!(body["params"], json!([]));
        assert!(body.get("namespace").is_none());
        // A phone longer than i32::MAX stays exact.
        assert_eq!(body["phone"], json!("15551234567"));
    }

    #[test]
    fn send_flow_body_is_camel_case() {
        let mut data = Map::new();
        data.insert("fname".into(), json!("Anna"));
        let m = FlowMessage {
            phone: "+79991234567".into(),
            flow_id: "123".into(),
            flow_token: "t".into(),
            body: "Finish".into(),
            cta: "Open".into(),
            header: Some("H".into()),
            footer: None,
            action: "navigate".into(),
            screen: Some("WELCOME".into()),
            data: Some(data),
            mode: "published".into(),
        };
        assert_eq!(
            send_flow_body(&m),
            json!({"body": "Finish", "flowId": "123", "flowToken": "t", "flowCta": "Open",
                   "header": "H", "flowAction": "navigate",
                   "flowActionPayload": {"screen": "WELCOME", "data": {"fname": "Anna"}},
                   "flowMessageVersion": "3", "mode": "published", "phone": "79991234567"})
        );
        let dx = FlowMessage {
            action: "data_exchange".into(),
            ..m
        };
        assert!(send_flow_body(&dx).get("flowActionPayload").is_none());
    }
}
