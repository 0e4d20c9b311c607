//! Turns a webhook body from 1msg into [`InboundEvent`]s, without IO.
//!
//! 1msg posts two shapes (docs/provider-1msg.md §3): its normalized format
//! `{instanceId, messages: [...], ack: [...]}` (both arrays may be present,
//! each may carry many items) and, with `rawHooks`, Meta's Cloud API format
//! `{entry: [{changes: [{value: {messages, statuses, message_echoes}}]}]}`.
//! A submitted Flow is Meta's `interactive.nfm_reply` whose `response_json`
//! is a JSON *string* carrying `flow_token` and the form's fields
//! (docs/meta-rules.md); how 1msg normalizes it is undocumented, so the same
//! structure is looked for inside normalized messages. Everything that fits
//! none of these is kept as [`EventKind::Unknown`] with its raw item, never
//! dropped: the receiver stores it for inspection.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::lenient::{chat_phone, truthy};
use crate::state::{Delivery, EventKind, InboundEvent};

/// The body is not JSON at all (the receiver answers 400).
#[derive(Debug, thiserror::Error)]
#[error("malformed JSON body: {0}")]
pub struct MalformedBody(#[from] serde_json::Error);

/// Parses a request body into events (see the module docs).
///
/// # Errors
/// [`MalformedBody`] when the bytes are not JSON.
pub fn parse_body(bytes: &[u8]) -> Result<Vec<InboundEvent>, MalformedBody> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => Ok(parse_value(&value)),
        // Nested past serde_json's 128 levels (docs/hostile-input.md): no
        // 1msg event is, but an authenticated body is kept, not refused
        // (a 400 makes 1msg retry forever). It is stored as its text,
        // unclassified, without walking it.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => Ok(vec![InboundEvent {
            kind: EventKind::Unknown,
            raw: Value::String(String::from_utf8_lossy(bytes).into_owned()),
        }]),
        Err(e) => Err(MalformedBody(e)),
    }
}

/// Classifies every event of an already parsed body.
pub fn parse_value(body: &Value) -> Vec<InboundEvent> {
    let Some(obj) = body.as_object() else {
        return vec![unknown(body)];
    };
    let mut out = Vec::new();
    let mut recognized = false;
    // Document order (serde_json keeps it), so events are stored as sent.
    for (key, value) in obj {
        match key.as_str() {
            "entry" => parse_meta_entries(value, &mut out),
            "messages" => for_each_item(value, &mut out, normalized_message),
            "ack" => for_each_item(value, &mut out, normalized_ack),
            _ => continue,
        }
        recognized = true;
    }
    // Nothing came out of a body we recognised (say `messages: null` beside
    // a key we do not know): keep the whole body for inspection rather
    // than acknowledge it and store nothing.
    if !recognized || out.is_empty() {
        out.push(unknown(body));
    }
    out
}

/// Applies `f` to each element of an array; anything else is one Unknown.
fn for_each_item(
    items: &Value,
    out: &mut Vec<InboundEvent>,
    f: fn(&Map<String, Value>) -> Option<EventKind>,
) {
    match items.as_array() {
        Some(items) => {
            for item in items {
                let kind = item.as_object().and_then(f).unwrap_or(EventKind::Unknown);
                out.push(InboundEvent {
                    kind,
                    raw: item.clone(),
                });
            }
        }
        None if items.is_null() => {}
        None => out.push(unknown(items)),
    }
}

fn unknown(raw: &Value) -> InboundEvent {
    InboundEvent {
        kind: EventKind::Unknown,
        raw: raw.clone(),
    }
}

// ---- normalized format (§3.1, §3.2) ----

fn normalized_message(m: &Map<String, Value>) -> Option<EventKind> {
    let message_id = string_field(m, "id");
    if m.get("fromMe").is_some_and(truthy) {
        return Some(EventKind::Echo { message_id });
    }
    let phone = phone_of(m);
    let at = m.get("time").and_then(unix_time);
    customer_message(message_id, phone, at, find_interactive(m))
}

/// Where an `interactive` object may sit in a normalized message: 1msg does
/// not document it, so besides the top level (what Meta's format and our
/// sandbox use) the usual wrappers are searched, one level deep.
fn find_interactive(m: &Map<String, Value>) -> Option<&Value> {
    if let Some(i) = m.get("interactive") {
        return Some(i);
    }
    ["metadata", "meta", "message", "data", "payload"]
        .iter()
        .filter_map(|k| m.get(*k))
        .find_map(|v| v.get("interactive"))
}

fn normalized_ack(a: &Map<String, Value>) -> Option<EventKind> {
    let message_id = string_field(a, "id")?;
    let status = Delivery::parse(a.get("status")?.as_str()?)?;
    let error = a.get("error").and_then(error_text);
    Some(EventKind::Ack {
        message_id,
        status,
        error,
        phone: phone_of(a),
        at: a.get("time").and_then(unix_time),
    })
}

/// `phone`, else `chatId` `<digits>@c.us`, else `author`.
fn phone_of(m: &Map<String, Value>) -> Option<String> {
    ["phone", "chatId", "author"]
        .iter()
        .find_map(|k| m.get(*k).and_then(chat_phone))
}

// ---- Meta raw format (§3.3) ----

fn parse_meta_entries(entries: &Value, out: &mut Vec<InboundEvent>) {
    let Some(entries) = entries.as_array() else {
        out.push(unknown(entries));
        return;
    };
    for entry in entries {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            out.push(unknown(entry));
            continue;
        };
        for change in changes {
            let value = change.get("value").and_then(Value::as_object);
            let mut any = false;
            if let Some(value) = value {
                for (key, items) in value {
                    let f: fn(&Map<String, Value>) -> Option<EventKind> = match key.as_str() {
                        "messages" => meta_message,
                        "statuses" => meta_status,
                        "message_echoes" => meta_echo,
                        _ => continue,
                    };
                    any = true;
                    for_each_item(items, out, f);
                }
            }
            if !any {
                out.push(unknown(change));
            }
        }
    }
}

/// A customer's message in either format: a submitted Flow when it carries
/// an `nfm_reply`, otherwise an inbound message (it opens the window).
fn customer_message(
    message_id: Option<String>,
    phone: Option<String>,
    at: Option<DateTime<Utc>>,
    interactive: Option<&Value>,
) -> Option<EventKind> {
    if let Some(reply) = interactive.and_then(nfm_reply) {
        let (flow_token, fields) = reply?;
        return Some(EventKind::Completion {
            message_id,
            phone,
            flow_token,
            fields,
            at,
        });
    }
    if message_id.is_none() && phone.is_none() {
        return None;
    }
    Some(EventKind::Inbound {
        message_id,
        phone,
        at,
    })
}

fn meta_message(m: &Map<String, Value>) -> Option<EventKind> {
    let message_id = string_field(m, "id");
    let phone = m.get("from").and_then(chat_phone);
    let at = m.get("timestamp").and_then(unix_time);
    customer_message(message_id, phone, at, m.get("interactive"))
}

fn meta_status(s: &Map<String, Value>) -> Option<EventKind> {
    let message_id = string_field(s, "id")?;
    let status = Delivery::parse(s.get("status")?.as_str()?)?;
    let error = s.get("errors").and_then(meta_errors);
    Some(EventKind::Ack {
        message_id,
        status,
        error,
        phone: s.get("recipient_id").and_then(chat_phone),
        at: s.get("timestamp").and_then(unix_time),
    })
}

fn meta_echo(m: &Map<String, Value>) -> Option<EventKind> {
    Some(EventKind::Echo {
        message_id: string_field(m, "id"),
    })
}

/// Meta's `errors[]` as one readable line: `code title: details`.
fn meta_errors(v: &Value) -> Option<String> {
    let parts: Vec<String> = v
        .as_array()?
        .iter()
        .filter_map(|e| {
            let code = e.get("code").map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let title = e
                .get("title")
                .or_else(|| e.get("message"))
                .and_then(Value::as_str);
            let details = e
                .get("error_data")
                .and_then(|d| d.get("details"))
                .and_then(Value::as_str);
            let mut s = [code.as_deref(), title]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(d) = details.filter(|d| Some(*d) != title) {
                if !s.is_empty() {
                    s.push_str(": ");
                }
                s.push_str(d);
            }
            (!s.is_empty()).then_some(s)
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

// ---- shared ----

type Reply = (Option<String>, Map<String, Value>);

/// `None` when `interactive` is not an `nfm_reply`; `Some(None)` when it is
/// one but its `response_json` is unreadable (kept as Unknown);
/// `Some(Some((flow_token, fields)))` otherwise.
fn nfm_reply(interactive: &Value) -> Option<Option<Reply>> {
    let reply = interactive.get("nfm_reply");
    let typed = interactive.get("type").and_then(Value::as_str) == Some("nfm_reply");
    if !typed && reply.is_none() {
        return None;
    }
    let response = reply.and_then(|r| r.get("response_json"));
    let parsed = match response {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    let Some(Value::Object(mut fields)) = parsed else {
        return Some(None);
    };
    let flow_token = match fields.remove("flow_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(Some((flow_token, fields)))
}

fn string_field(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds as a number or a numeric string; milliseconds are
/// recognized by size.
fn unix_time(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    if secs <= 0 {
        return None;
    }
    if secs > 100_000_000_000 {
        return DateTime::from_timestamp_millis(secs);
    }
    DateTime::from_timestamp(secs, 0)
}

/// Meta's error text from a normalized ack's `error` (text, or an object).
fn error_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(body: Value) -> Vec<EventKind> {
        parse_value(&body).into_iter().map(|e| e.kind).collect()
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, 0)
    }

    #[test]
    fn normalized_acks_all_statuses() {
        let got = kinds(json!({"instanceId": "VID1", "ack": [
            {"id": "m1", "status": "sent", "chatId": "15551230001@c.us"},
            {"id": "m1", "status": "delivered", "phone": "15551230001"},
            {"id": "m2", "status": "viewed", "chatId": "15551230002@c.us"},
            {"id": "m3", "status": "read", "time": "1700000000"},
            {"id": "m4", "status": "failed", "error": "User's number is part of an experiment",
             "phone": "+1 555 123 0004", "bsuid": "CO.1"},
        ]}));
        assert_eq!(
            got,
            vec![
                EventKind::Ack {
                    message_id: "m1".into(),
                    status: Delivery::Sent,
                    error: None,
                    phone: Some("15551230001".into()),
                    at: None
                },
                EventKind::Ack {
                    message_id: "m1".into(),
                    status: Delivery::Delivered,
                    error: None,
                    phone: Some("15551230001".into()),
                    at: None
                },
                EventKind::Ack {
                    message_id: "m2".into(),
                    status: Delivery::Read,
                    error: None,
                    phone: Some("15551230002".into()),
                    at: None
                },
                EventKind::Ack {
                    message_id: "m3".into(),
                    status: Delivery::Read,
                    error: None,
                    phone: None,
                    at: at(1_700_000_000)
                },
                EventKind::Ack {
                    message_id: "m4".into(),
                    status: Delivery::Failed,
                    error: Some("User's number is part of an experiment".into()),
                    phone: Some("15551230004".into()),
                    at: None
                },
            ]
        );
    }

    #[test]
    fn normalized_messages_and_acks_in_one_body() {
        let got = kinds(json!({"instanceId": "VID1",
            "messages": [
                {"id": "in1", "type": "chat", "body": "hi", "fromMe": false, "time": 1665396610,
                 "chatId": "15551230001@c.us", "author": "15551230001@c.us"},
                {"id": "out1", "type": "chat", "body": "hello", "fromMe": "1", "self": 1},
                {"id": "out2", "fromMe": 1},
                {"id": "out3", "fromMe": "true"},
                {"id": "in2", "type": "image", "fromMe": 0, "author": "15551230002@c.us"},
            ],
            "ack": [{"id": "m9", "status": "delivered"}]}));
        assert_eq!(
            got,
            vec![
                EventKind::Inbound {
                    message_id: Some("in1".into()),
                    phone: Some("15551230001".into()),
                    at: at(1_665_396_610)
                },
                EventKind::Echo {
                    message_id: Some("out1".into())
                },
                EventKind::Echo {
                    message_id: Some("out2".into())
                },
                EventKind::Echo {
                    message_id: Some("out3".into())
                },
                EventKind::Inbound {
                    message_id: Some("in2".into()),
                    phone: Some("15551230002".into()),
                    at: None
                },
                EventKind::Ack {
                    message_id: "m9".into(),
                    status: Delivery::Delivered,
                    error: None,
                    phone: None,
                    at: None
                },
            ]
        );
    }

    #[test]
    fn normalized_flow_completion_as_the_sandbox_emits_it() {
        let response = json!({"flow_token": "tok-1", "name": "Ana",
            "address": {"city": "Lima", "zip": "15001"}, "topics": ["a", "b"]})
        .to_string();
        let got = kinds(json!({"instanceId": "sandbox", "messages": [
            {"id": "c1", "type": "interactive", "fromMe": false, "chatId": "15551230001@c.us",
             "time": "1700000100", "body": "Sent", "quotedMsgId": "m1",
             "interactive": {"type": "nfm_reply", "nfm_reply":
                 {"name": "flow", "body": "Sent", "response_json": response}}}]}));
        let fields = json!({"name": "Ana", "address": {"city": "Lima", "zip": "15001"},
            "topics": ["a", "b"]});
        assert_eq!(
            got,
            vec![EventKind::Completion {
                message_id: Some("c1".into()),
                phone: Some("15551230001".into()),
                flow_token: Some("tok-1".into()),
                fields: fields.as_object().cloned().unwrap_or_default(),
                at: at(1_700_000_100)
            }]
        );
    }

    #[test]
    fn meta_raw_statuses_messages_completion_and_echoes() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA",
        "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "statuses": [
                {"id": "wamid.1", "status": "read", "timestamp": "1700000200",
                 "recipient_id": "15551230001"},
                {"id": "wamid.2", "status": "failed", "timestamp": "1700000201",
                 "recipient_id": "15551230002",
                 "errors": [{"code": 131026, "title": "Message undeliverable"}]}],
            "messages": [
                {"from": "15551230001", "id": "wamid.in", "timestamp": "1700000300",
                 "type": "text", "text": {"body": "hi"}},
                {"from": "15551230003", "id": "wamid.f", "timestamp": "1700000400",
                 "type": "interactive", "context": {"from": "1555000", "id": "wamid.3"},
                 "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow",
                    "body": "Sent", "response_json": "{\"flow_token\":\"tok-3\",\"age\":31}"}}}],
            "message_echoes": [{"id": "wamid.echo", "from": "1555000"}]
        }}]}]});
        let got = kinds(body);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[0],
            EventKind::Ack {
                message_id: "wamid.1".into(),
                status: Delivery::Read,
                error: None,
                phone: Some("15551230001".into()),
                at: at(1_700_000_200)
            }
        );
        assert!(
            matches!(&got[1], EventKind::Ack { status: Delivery::Failed, error: Some(e), .. }
            if e == "131026 Message undeliverable")
        );
        assert!(matches!(&got[2], EventKind::Inbound { phone: Some(p), .. } if p == "15551230001"));
        match &got[3] {
            EventKind::Completion {
                flow_token, fields, ..
            } => {
                assert_eq!(flow_token.as_deref(), Some("tok-3"));
                assert_eq!(fields.get("age"), Some(&json!(31)));
                assert!(!fields.contains_key("flow_token"));
            }
            other => panic!("not a completion: {other:?}"),
        }
        assert_eq!(
            got[4],
            EventKind::Echo {
                message_id: Some("wamid.echo".into())
            }
        );
    }

    #[test]
    fn unclassifiable_items_are_kept_raw() {
        let events = parse_value(&json!({"instanceId": "x", "ack": [
            {"id": "m1", "status": "exploded"}, {"status": "read"}, 7],
            "messages": [{"type": "chat"},
              {"id": "f", "interactive": {"type": "nfm_reply",
                "nfm_reply": {"response_json": "{not json"}}}]}));
        assert_eq!(events.len(), 5);
        assert!(events.iter().all(|e| e.kind == EventKind::Unknown));
        assert_eq!(events[0].raw, json!({"id": "m1", "status": "exploded"}));
        assert_eq!(events[2].raw, json!(7));

        let whole = json!({"instanceId": "x", "type": "calls", "calls": []});
        let events = parse_value(&whole);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Unknown);
        assert_eq!(events[0].raw, whole);

        let events = parse_value(&json!([1, 2]));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Unknown);

        let change =
            json!({"field": "message_template_status_update", "value": {"event": "APPROVED"}});
        let events = parse_value(&json!({"entry": [{"changes": [change.clone()]}]}));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].raw, change);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(parse_body(b"{\"ack\": [").is_err());
        assert!(parse_body(b"not json").is_err());
        assert!(parse_body(b"").is_err());
        let ok = parse_body(br#"{"instanceId":"x","ack":[{"id":"a","status":"sent"}]}"#);
        assert_eq!(ok.map(|e| e.len()).ok(), Some(1));
    }

    #[test]
    fn times() {
        assert_eq!(unix_time(&json!("1700000000")), at(1_700_000_000));
        assert_eq!(
            unix_time(&json!(1_700_000_000_123_i64)).map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
        assert_eq!(unix_time(&json!("soon")), None);
    }
}
