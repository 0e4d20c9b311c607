//! Managed Flows in the plan: `create`, `update` (with a screen and
//! component diff of the canonical JSON), `publish` and `unchanged`, and
//! the **breaking** marks a reviewer must see — a removed screen or form
//! field, a changed `data` model — because messages already sent keep the
//! old version of the Flow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Observed;
use crate::config::types::Button;
use crate::config::Config;
use crate::provider::{
    AccountFlow, AccountTemplate, FlowList, FlowStatus, Provider, TemplateStatus,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FlowAction {
    /// `+` created (as DRAFT, then published when `publish`).
    Create,
    /// `~` its JSON is replaced in place (same id), then republished.
    Update,
    /// `^` the JSON is current but the Flow is DRAFT: published.
    Publish,
    /// `x` a Flow listed under `removed:` is deprecated (irreversible:
    /// a deprecated Flow can never be sent or published again).
    Deprecate,
    /// A deprecate the plan may not do: `--allow-deprecate` was not given.
    DeprecateBlocked,
    Unchanged,
    /// The channel has no Flow API (HTTP 501): the Flow travels inline in
    /// its templates' FLOW buttons, so nothing is done to a Flow itself; a
    /// change of its JSON shows here (diff, breaking marks) and as a new
    /// version of each template that opens it.
    Inline,
}

impl FlowAction {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            FlowAction::Create => "+",
            FlowAction::Update => "~",
            FlowAction::Publish => "^",
            FlowAction::Deprecate => "x",
            FlowAction::DeprecateBlocked => "!",
            FlowAction::Unchanged => " ",
            FlowAction::Inline => "=",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            FlowAction::Create => "create",
            FlowAction::Update => "update in place",
            FlowAction::Publish => "publish",
            FlowAction::Deprecate => "deprecate (irreversible)",
            FlowAction::DeprecateBlocked => "deprecate blocked: needs --allow-deprecate",
            FlowAction::Unchanged => "unchanged",
            FlowAction::Inline => {
                "inline in its templates' FLOW buttons (the channel has no Flow API: HTTP 501)"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowChange {
    /// Key in `flows:`.
    pub(crate) key: String,
    /// The Flow name on the account.
    pub(crate) name: String,
    pub(crate) action: FlowAction,
    /// The account's id, when the Flow exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// Its status on the account, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    /// Screens and components added (`+`), removed (`-`), changed (`~`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) diff: Vec<String>,
    /// Why this update breaks messages already sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) breaking: Vec<String>,
    pub(crate) categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint_uri: Option<String>,
    pub(crate) publish: bool,
    /// A public link to try the Flow as it is on the account (existing
    /// Flows), for the reviewer of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) preview_url: Option<String>,
    /// The Flow JSON to upload (compact).
    pub(crate) json: String,
    /// An update only: the account name a clone takes should the account
    /// refuse the edit (Meta error 139001; see [`generation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) clone_name: Option<String>,
}

impl FlowChange {
    pub(crate) fn is_change(&self) -> bool {
        !matches!(
            self.action,
            FlowAction::Unchanged | FlowAction::DeprecateBlocked | FlowAction::Inline
        )
    }
}

/// Plans every managed Flow against the account's Flow list, reading the
/// current JSON of those that exist, then the Flows listed under
/// `removed:` (see [`removed`]). A channel without the Flow API (501) gets
/// the inline path (see [`inline`]). `Err` is a message for the plan: the
/// Flow list could not be read, so managed Flows cannot be reconciled.
pub(crate) async fn plan(
    config: &Config,
    observed: &Observed,
    provider: &dyn Provider,
) -> Result<Vec<FlowChange>, String> {
    if config.flows.is_empty() {
        return Ok(Vec::new());
    }
    let account: &[AccountFlow] = match &observed.flows {
        FlowList::Flows(flows) => flows,
        FlowList::NotImplemented(_) => return Ok(inline(config, &observed.templates)),
        FlowList::Unavailable(why) => {
            return Err(format!(
                "managed Flows ({}) cannot be created or updated: {why}; waform does not yet carry a managed Flow inline in its template's FLOW button",
                config.flows.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    };
    let mut out = Vec::new();
    for (key, loaded) in &config.flows {
        let Some(declared) = config.raw.flows.get(key) else {
            continue;
        };
        let name = declared.name.clone().unwrap_or_else(|| key.clone());
        let wanted: Value = serde_json::from_str(&loaded.json).unwrap_or(Value::Null);
        let publish = declared.publish.unwrap_or(true);
        let mut change = FlowChange {
            key: key.clone(),
            name: name.clone(),
            action: FlowAction::Create,
            id: None,
            status: None,
            diff: Vec::new(),
            breaking: Vec::new(),
            categories: declared
                .categories
                .iter()
                .map(|c| {
                    serde_json::to_value(c)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect(),
            endpoint_uri: declared.endpoint_uri.clone(),
            publish,
            preview_url: None,
            json: loaded.json.clone(),
            clone_name: None,
        };
        if let Some((existing, n)) = current(&name, account) {
            change.name = existing.name.clone();
            // Past every generation the account has, deprecated ones too:
            // names stay taken.
            let last = account
                .iter()
                .filter_map(|f| generation(&name, &f.name))
                .max()
                .unwrap_or(n);
            // None past the last number (an account Flow named `… #4294967295`):
            // apply then refuses a clone instead of reusing a taken name.
            change.clone_name = last.checked_add(1).map(|n| generation_name(&name, n));
            change.id = Some(existing.id.clone());
            change.status = Some(status_word(&existing.status));
            let current = provider
                .flow_json(&existing.id)
                .await
                .map_err(|e| format!("cannot read Flow `{key}` ({}): {e}", existing.id))?;
            // A preview is a convenience: a channel without one still plans.
            change.preview_url = provider.flow_preview_url(&existing.id).await.ok().flatten();
            let same = current.as_ref() == Some(&wanted);
            change.action = match (same, &existing.status) {
                (false, _) => FlowAction::Update,
                (true, FlowStatus::Draft) if publish => FlowAction::Publish,
                (true, _) => FlowAction::Unchanged,
            };
            if !same {
                let (diff, breaking) = match &current {
                    Some(current) => screen_diff(current, &wanted),
                    None => (
                        vec![
                            "~ the account does not show this Flow's JSON: it is uploaded again"
                                .to_string(),
                        ],
                        Vec::new(),
                    ),
                };
                change.diff = diff;
                change.breaking = breaking;
            }
        } else {
            change.diff = screens(&wanted)
                .keys()
                .map(|id| format!("+ screen {id}"))
                .collect();
        }
        out.push(change);
    }
    Ok(out)
}

/// The inline path (docs/provider-1msg.md §2.7: the channel answers 501):
/// one `inline` entry per managed Flow, diffed against the Flow JSON that
/// the account's templates opening it carry — none equal means the JSON
/// changed (or is new), shown with its breaking marks; the versioned
/// template names (plan/desired.rs) turn that into new template versions.
fn inline(config: &Config, templates: &[AccountTemplate]) -> Vec<FlowChange> {
    let mut out = Vec::new();
    for (key, loaded) in &config.flows {
        let Some(declared) = config.raw.flows.get(key) else {
            continue;
        };
        let wanted = super::lower::canonical(&loaded.json);
        let wanted_value: Value = serde_json::from_str(&wanted).unwrap_or(Value::Null);
        // What the account's versions of each template opening this Flow
        // carry inline, approved ones first.
        let mut carried: Vec<(bool, String, String)> = Vec::new();
        for (logical, template) in &config.raw.templates {
            let opens = template.languages.values().any(|l| {
                l.buttons
                    .iter()
                    .any(|b| matches!(b, Button::Flow { flow, .. } if flow == key))
            });
            if !opens {
                continue;
            }
            for t in templates
                .iter()
                .filter(|t| t.name == *logical || super::desired::is_version_of(&t.name, logical))
            {
                if let Some(json) = inline_json(&t.components) {
                    carried.push((t.status != TemplateStatus::Approved, t.name.clone(), json));
                }
            }
        }
        carried.sort();
        let (diff, breaking) = if carried.iter().any(|(_, _, json)| *json == wanted) {
            (Vec::new(), Vec::new())
        } else if let Some((_, _, before)) = carried.first() {
            let before: Value = serde_json::from_str(before).unwrap_or(Value::Null);
            screen_diff(&before, &wanted_value)
        } else {
            (
                screens(&wanted_value)
                    .keys()
                    .map(|id| format!("+ screen {id}"))
                    .collect(),
                Vec::new(),
            )
        };
        out.push(FlowChange {
            key: key.clone(),
            name: declared.name.clone().unwrap_or_else(|| key.clone()),
            action: FlowAction::Inline,
            id: None,
            status: None,
            diff,
            breaking,
            categories: Vec::new(),
            endpoint_uri: declared.endpoint_uri.clone(),
            publish: false,
            preview_url: None,
            json: wanted,
            clone_name: None,
        });
    }
    out
}

/// The canonical `flow_json` of a template's FLOW button, if it has one.
fn inline_json(components: &[Value]) -> Option<String> {
    components
        .iter()
        .filter_map(|c| c.get("buttons").and_then(Value::as_array))
        .flatten()
        .find_map(|b| b.get("flow_json"))
        .map(super::lower::canonical_value)
}

/// The account's Flows named under `removed:` (and not managed by this
/// config): `deprecate` when `allow` (`--allow-deprecate`), else
/// `deprecate blocked` with the error the plan carries; one already
/// DEPRECATED is `unchanged`. Deprecating is irreversible (docs/provider-1msg.md
/// §2.8), hence the explicit flag. A channel without the Flow API has
/// nothing to deprecate.
pub(crate) fn removed(
    config: &Config,
    observed: &FlowList,
    allow: bool,
) -> (Vec<FlowChange>, Vec<String>) {
    let FlowList::Flows(account) = observed else {
        return (Vec::new(), Vec::new());
    };
    let managed: Vec<String> = config
        .raw
        .flows
        .iter()
        .filter_map(|(key, f)| f.name.clone().or_else(|| Some(key.clone())))
        .collect();
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for name in config.raw.removed.iter().filter(|n| !managed.contains(n)) {
        for flow in account.iter().filter(|f| &f.name == name) {
            let action = match flow.status {
                FlowStatus::Deprecated => FlowAction::Unchanged,
                _ if allow => FlowAction::Deprecate,
                _ => {
                    errors.push(format!(
                        "Flow \"{name}\" (id {}) is listed under removed: deprecating it is irreversible (it can never be sent or published again); run plan/apply with --allow-deprecate to deprecate it, or take it out of removed:",
                        flow.id
                    ));
                    FlowAction::DeprecateBlocked
                }
            };
            changes.push(FlowChange {
                key: name.clone(),
                name: name.clone(),
                action,
                id: Some(flow.id.clone()),
                status: Some(status_word(&flow.status)),
                diff: Vec::new(),
                breaking: Vec::new(),
                categories: Vec::new(),
                endpoint_uri: None,
                publish: false,
                preview_url: None,
                json: String::new(),
                clone_name: None,
            });
        }
    }
    (changes, errors)
}

/// Generation `n` of managed Flow `name` on the account: the name itself,
/// then `"<name> #2"`, `#3`… A Flow the account refuses to edit (Meta error
/// 139001) is cloned into the next generation (apply/flows.rs); Flow names
/// are unique per account, so the account itself records which is current,
/// as versioned template names do.
pub(crate) fn generation_name(name: &str, n: u32) -> String {
    if n <= 1 {
        name.to_string()
    } else {
        format!("{name} #{n}")
    }
}

/// Which generation of `name` an account Flow name is.
pub(crate) fn generation(name: &str, account_name: &str) -> Option<u32> {
    if account_name == name {
        return Some(1);
    }
    let n: u32 = account_name
        .strip_prefix(name)?
        .strip_prefix(" #")?
        .parse()
        .ok()?;
    // Only the spelling generation_name writes ("#02" is not one).
    (n >= 2 && generation_name(name, n) == account_name).then_some(n)
}

/// The account Flow that managed Flow `name` is now: its latest generation,
/// a deprecated one only when no other is left.
pub(crate) fn current<'a>(
    name: &str,
    account: &'a [AccountFlow],
) -> Option<(&'a AccountFlow, u32)> {
    account
        .iter()
        .filter_map(|f| generation(name, &f.name).map(|n| (f, n)))
        .max_by_key(|(f, n)| (f.status != FlowStatus::Deprecated, *n))
}

fn status_word(s: &FlowStatus) -> String {
    match s {
        FlowStatus::Other(w) => w.clone(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

fn screens(flow: &Value) -> BTreeMap<String, &Map<String, Value>> {
    flow.get("screens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let map = s.as_object()?;
            Some((map.get("id")?.as_str()?.to_string(), map))
        })
        .collect()
}

/// Components of a screen keyed by input `name`, else `Type#n` in order.
fn components(screen: &Map<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut stack: Vec<&Value> = screen
        .get("layout")
        .and_then(|l| l.get("children"))
        .and_then(Value::as_array)
        .map(|c| c.iter().rev().collect())
        .unwrap_or_default();
    while let Some(node) = stack.pop() {
        let Some(map) = node.as_object() else {
            continue;
        };
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("?");
        let key = match map.get("name").and_then(Value::as_str) {
            Some(name) if kind != "Form" => format!("{kind} `{name}`"),
            _ => {
                let n = counts.entry(kind.to_string()).or_default();
                *n += 1;
                format!("{kind} #{n}")
            }
        };
        for nested in ["children", "then", "else"] {
            if let Some(items) = map.get(nested).and_then(Value::as_array) {
                stack.extend(items.iter().rev());
            }
        }
        out.insert(key, node.clone());
    }
    out
}

/// Form field names over the whole Flow.
fn fields(flow: &Value) -> Vec<String> {
    screens(flow)
        .values()
        .flat_map(|s| components(s).into_values())
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The screen and component diff of two Flow JSONs, and what in it breaks
/// messages already sent.
pub(crate) fn screen_diff(before: &Value, after: &Value) -> (Vec<String>, Vec<String>) {
    let (old, new) = (screens(before), screens(after));
    let mut diff = Vec::new();
    let mut breaking = Vec::new();
    for id in old.keys().filter(|id| !new.contains_key(*id)) {
        diff.push(format!("- screen {id}"));
        breaking.push(format!("screen {id} is removed"));
    }
    for (id, screen) in &new {
        let Some(previous) = old.get(id) else {
            diff.push(format!("+ screen {id}"));
            continue;
        };
        if previous == screen {
            continue;
        }
        diff.push(format!("~ screen {id}"));
        for (key, value) in screen
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "layout" | "data"))
        {
            if previous.get(key) != Some(value) {
                diff.push(format!("    ~ {key}"));
            }
        }
        for key in previous.keys().filter(|k| !screen.contains_key(*k)) {
            diff.push(format!("    - {key}"));
        }
        let (was, is) = (components(previous), components(screen));
        for key in was.keys().filter(|k| !is.contains_key(*k)) {
            diff.push(format!("    - {key}"));
        }
        for (key, component) in &is {
            match was.get(key) {
                None => diff.push(format!("    + {key}")),
                Some(c) if c != component => diff.push(format!("    ~ {key}")),
                Some(_) => {}
            }
        }
        if previous.get("data") != screen.get("data") {
            diff.push("    ~ data model".to_string());
            breaking.push(format!("screen {id}: its `data` model changes"));
        }
    }
    let kept = fields(after);
    for field in fields(before) {
        if !kept.contains(&field) {
            breaking.push(format!("form field `{field}` is removed"));
        }
    }
    if diff.is_empty() {
        diff.push("~ top-level fields change (version, routing, endpoint)".to_string());
    }
    (diff, breaking)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(fields: &[&str], data: Value) -> Value {
        let children: Vec<Value> = fields
            .iter()
            .map(|f| json!({"type": "TextInput", "name": f, "label": f}))
            .collect();
        json!({"version": "7.3", "screens": [
            {"id": "A", "data": data, "layout": {"type": "SingleColumnLayout", "children": children}}]})
    }

    #[test]
    fn the_current_generation_is_the_latest_clone_not_deprecated() {
        let flow = |id: &str, name: &str, status: FlowStatus| AccountFlow {
            id: id.into(),
            name: name.into(),
            status,
        };
        let account = vec![
            flow("1", "Sign-up", FlowStatus::Published),
            flow("2", "Sign-up #2", FlowStatus::Published),
            flow("3", "Sign-up #02", FlowStatus::Published),
            flow("4", "Sign-up #3", FlowStatus::Deprecated),
            flow("5", "Sign-up extra #9", FlowStatus::Published),
        ];
        let (f, n) = current("Sign-up", &account).expect("found");
        assert_eq!((f.id.as_str(), n), ("2", 2));
        assert_eq!(generation_name("Sign-up", n + 1), "Sign-up #3");
        assert!(current("Other", &account).is_none());
        let only_deprecated = vec![flow("4", "Sign-up", FlowStatus::Deprecated)];
        assert_eq!(
            current("Sign-up", &only_deprecated).map(|(f, _)| f.id.as_str()),
            Some("4")
        );
    }

    #[test]
    fn removed_fields_and_changed_data_are_breaking() {
        let before = flow(&["email", "phone"], json!({}));
        let after = flow(
            &["email", "city"],
            json!({"x": {"type": "string", "__example__": "1"}}),
        );
        let (diff, breaking) = screen_diff(&before, &after);
        assert_eq!(
            diff,
            vec![
                "~ screen A",
                "    - TextInput `phone`",
                "    + TextInput `city`",
                "    ~ data model"
            ]
        );
        assert!(breaking.contains(&"form field `phone` is removed".to_string()));
        assert!(breaking.iter().any(|b| b.contains("data` model")));
        let (_, breaking) = screen_diff(&before, &flow(&["email", "phone", "city"], json!({})));
        assert!(breaking.is_empty(), "an added field breaks nothing");
    }
}
