//! The config as this account needs it: how a managed Flow is named in the
//! FLOW buttons that open it depends on what the channel offers, so the
//! planner (and apply, when it builds messages) works on a lowered copy.
//!
//! - The channel answers 501 on `/flows` (docs/provider-1msg.md §2.7): it has
//!   no Flow API, so every managed Flow travels inline — its canonical Flow
//!   JSON in the button's `flow_json` (docs/meta-rules.md "FLOW button"), and
//!   the template's content hash covers it (plan/desired.rs): a Flow change
//!   is a new template version.
//! - A managed Flow the account refused to edit (Meta error 139001) was
//!   cloned into its next generation (`"<name> #2"`, plan/flows.rs): FLOW
//!   buttons open the clone, a new template version.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::config::{Config, RawConfig};
use crate::provider::FlowList;

/// `config.raw`, with each managed Flow carried inline when the channel has
/// no Flow API; borrowed unchanged otherwise.
pub(crate) fn for_account<'a>(config: &'a Config, flows: &FlowList) -> Cow<'a, RawConfig> {
    if config.flows.is_empty() {
        return Cow::Borrowed(&config.raw);
    }
    match flows {
        FlowList::NotImplemented(_) => {
            let mut raw = config.raw.clone();
            for (key, loaded) in &config.flows {
                if let Some(flow) = raw.flows.get_mut(key) {
                    flow.inline = Some(canonical(&loaded.json));
                }
            }
            Cow::Owned(raw)
        }
        FlowList::Flows(account) => {
            // A managed Flow the account refused to edit lives on as a clone
            // (plan/flows.rs `generation_name`): templates open the clone.
            let renamed: Vec<(String, String)> = config
                .flows
                .keys()
                .filter_map(|key| {
                    let declared = config.raw.flows.get(key)?;
                    let name = declared.name.clone().unwrap_or_else(|| key.clone());
                    let (flow, n) = super::flows::current(&name, account)?;
                    (n > 1).then(|| (key.clone(), flow.name.clone()))
                })
                .collect();
            if renamed.is_empty() {
                return Cow::Borrowed(&config.raw);
            }
            let mut raw = config.raw.clone();
            for (key, name) in renamed {
                if let Some(flow) = raw.flows.get_mut(&key) {
                    flow.name = Some(name);
                }
            }
            Cow::Owned(raw)
        }
        FlowList::Unavailable(_) => Cow::Borrowed(&config.raw),
    }
}

/// A Flow JSON text in one spelling: compact, object keys sorted at every
/// level, so reformatting or reordering the file is not a new template
/// version. Text that is not JSON is returned as it is (validation has
/// already refused it before anything is planned).
pub(crate) fn canonical(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => sorted(v).to_string(),
        Err(_) => text.to_string(),
    }
}

/// The canonical form of an inline `flow_json` as an account returns it: a
/// string holding the JSON, or the object itself.
pub(crate) fn canonical_value(v: &Value) -> String {
    match v {
        Value::String(text) => canonical(text),
        other => sorted(other.clone()).to_string(),
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_canonical_form() {
        let a = r#"{"version": "7.3", "screens": [{"id": "A", "title": "x"}]}"#;
        let b = "{\"screens\":[{\"title\":\"x\",\"id\":\"A\"}],\n \"version\":\"7.3\"}";
        assert_eq!(canonical(a), canonical(b));
        assert_eq!(
            canonical(a),
            r#"{"screens":[{"id":"A","title":"x"}],"version":"7.3"}"#
        );
        assert_eq!(canonical_value(&Value::String(b.into())), canonical(a));
        let object: Value = serde_json::from_str(b).expect("json");
        assert_eq!(canonical_value(&object), canonical(a));
    }
}
