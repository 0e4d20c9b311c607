//! The Flow API calls (docs/provider-1msg.md §2.8–2.11): `GET /flows/{id}`,
//! `POST /flows` (JSON body `name`, `categories`, `endpointUri`, `publish`,
//! `flowJson`), `PATCH /flows/{id}/assets` (JSON body `flowJson`),
//! `POST /flows/{id}/publish`. Writes are never retried once they may have
//! reached the API (the client's `Safety::Write`).

use reqwest::Method;
use serde_json::{json, Value};

use super::{in_body_error, OneMsgClient, Safety};
use crate::provider::{FlowWrite, NewFlow, ProviderError};
use crate::secret::Secret;

/// The `validation_errors` of an answer, in either spelling, with the
/// token removed from every text in them (they are shown to the user).
fn validation_errors(token: &Secret, answer: &Value) -> Vec<Value> {
    let mut errors = answer
        .get("validation_errors")
        .or_else(|| answer.get("validationErrors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    errors.iter_mut().for_each(|e| redact_strings(token, e));
    errors
}

fn redact_strings(token: &Secret, value: &mut Value) {
    match value {
        Value::String(s) => *s = token.redact(s),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(token, v)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_strings(token, v)),
        _ => {}
    }
}

impl OneMsgClient {
    /// `GET /flows/{id}`: the Flow with its JSON and categories.
    async fn get_flow(&self, id: &str) -> Result<Value, ProviderError> {
        let path = format!("flows/{}", urlencode(id));
        let answer = self
            .json(Safety::Read, || self.request(Method::GET, &path, &[]))
            .await?;
        in_body_error(&self.token, &answer)?;
        Ok(answer)
    }

    /// The Flow's categories: an array of names (or one name).
    pub(super) async fn get_flow_categories(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        let answer = self.get_flow(id).await?;
        Ok(match answer.get("categories") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        })
    }

    pub(super) async fn get_flow_json(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        let answer = self.get_flow(id).await?;
        Ok(answer
            .get("flow_json")
            .or_else(|| answer.get("flowJson"))
            .and_then(|j| match j {
                Value::String(text) => serde_json::from_str(text).ok(),
                Value::Object(_) => Some(j.clone()),
                _ => None,
            }))
    }

    pub(super) async fn post_flow(&self, flow: &NewFlow) -> Result<FlowWrite, ProviderError> {
        let mut body = json!({
            "name": flow.name,
            "categories": flow.categories,
            "flowJson": flow.json,
            "publish": flow.publish,
        });
        if let Some(uri) = &flow.endpoint_uri {
            body["endpointUri"] = json!(uri);
        }
        if let Some(from) = &flow.clone_flow_id {
            // docs/provider-1msg.md §2.9: 1msg's body is camelCase (verify).
            body["cloneFlowId"] = json!(from);
        }
        let answer = self
            .json(Safety::Write, || {
                self.request(Method::POST, "flows", &[]).json(&body)
            })
            .await?;
        in_body_error(&self.token, &answer)?;
        let id = answer
            .get("id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| ProviderError::Decode("the created Flow has no id".into()))?;
        Ok(FlowWrite {
            id,
            validation_errors: validation_errors(&self.token, &answer),
        })
    }

    pub(super) async fn patch_flow_json(
        &self,
        id: &str,
        flow_json: &Value,
    ) -> Result<FlowWrite, ProviderError> {
        let path = format!("flows/{}/assets", urlencode(id));
        let body = json!({ "flowJson": flow_json });
        let answer = self
            .execute(Safety::Write, || {
                self.request(Method::PATCH, &path, &[]).json(&body)
            })
            .await?;
        // Meta's 139001, whatever status 1msg passes it through with: the
        // caller clones the Flow instead (docs/provider-1msg.md §2.11).
        let parsed: Option<Value> = serde_json::from_str(&answer.body).ok();
        if let Some(message) = parsed.as_ref().and_then(not_editable) {
            return Err(ProviderError::FlowNotEditable(self.token.redact(&message)));
        }
        let text = self.check_status(answer)?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            ProviderError::Decode(format!("{e} in the answer to a Flow JSON update"))
        })?;
        in_body_error(&self.token, &answer)?;
        Ok(FlowWrite {
            id: id.to_string(),
            validation_errors: validation_errors(&self.token, &answer),
        })
    }

    pub(super) async fn get_preview_url(&self, id: &str) -> Result<Option<String>, ProviderError> {
        let path = format!("flows/{}/preview", urlencode(id));
        let answer = self
            .json(Safety::Read, || self.request(Method::GET, &path, &[]))
            .await?;
        in_body_error(&self.token, &answer)?;
        Ok(answer
            .get("preview")
            .and_then(|p| p.get("preview_url"))
            .or_else(|| answer.get("preview_url"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    pub(super) async fn post_publish(&self, id: &str) -> Result<(), ProviderError> {
        let path = format!("flows/{}/publish", urlencode(id));
        let answer = self
            .json(Safety::Write, || self.request(Method::POST, &path, &[]))
            .await?;
        in_body_error(&self.token, &answer)
    }
}

impl OneMsgClient {
    pub(super) async fn post_deprecate(&self, id: &str) -> Result<(), ProviderError> {
        let path = format!("flows/{}/deprecate", urlencode(id));
        let answer = self
            .json(Safety::Write, || self.request(Method::POST, &path, &[]))
            .await?;
        in_body_error(&self.token, &answer)
    }
}

/// The message of a Graph error with code 139001 ("Flow can't be
/// updated"), at the top level or under `error`.
fn not_editable(answer: &Value) -> Option<String> {
    let error = answer
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(answer);
    let code = error.get("code").and_then(|c| {
        c.as_u64()
            .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
    })?;
    (code == 139001)
        .then(|| super::wire::message_of(error).unwrap_or_else(|| "Flow can't be updated".into()))
}

/// Flow ids are digits; anything else is encoded so it stays one segment.
fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts in the account's `validation_errors` are shown to the user:
    /// the token is removed from every one, however deep.
    #[test]
    fn validation_errors_never_carry_the_token() {
        let token = Secret::new("Tk+/=&%~* xZq9");
        let answer = json!({"validationErrors": [
            {"message": "bad token Tk+/=&%~* xZq9", "pointers": [{"path": "a", "hint": ["Tk+/=&%~* xZq9"]}]},
            {"error": {"detail": {"x": "Tk+/=&%~* xZq9"}}}
        ]});
        let errors = validation_errors(&token, &answer);
        assert_eq!(errors.len(), 2);
        let shown = serde_json::to_string(&errors).expect("json");
        assert!(!shown.contains("xZq9"), "{shown}");
        assert!(shown.contains("bad token"), "{shown}");
    }
}
