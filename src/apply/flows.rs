//! Managed Flows, applied before the templates that open them: create as
//! DRAFT with the JSON, read Meta's `validation_errors`, publish; an update
//! replaces the JSON in place (same id; templates untouched) and publishes
//! again. A Flow the account refuses to edit (Meta error 139001) is cloned
//! into its next generation, which gets the JSON and is published; apply
//! then stops, since re-pointing its templates is a change to review.

use std::collections::HashMap;

use anyhow::bail;
use serde_json::Value;

use super::reporter::FlowStep;
use crate::config::Config;
use crate::plan::flows::{FlowAction, FlowChange};
use crate::plan::Plan;
use crate::provider::{NewFlow, Provider, ProviderError};

/// Applies the plan's Flow changes. Returns the ids of the Flows it
/// created, by key, for the sends that open them.
pub(crate) async fn apply(
    provider: &dyn Provider,
    config: &Config,
    plan: &Plan,
    report: &mut dyn FnMut(FlowStep<'_>),
) -> anyhow::Result<HashMap<String, String>> {
    let mut created = HashMap::new();
    let mut cloned: Vec<String> = Vec::new();
    for f in plan.flow_changes.iter().filter(|f| f.is_change()) {
        // A deprecate carries no JSON.
        let json: Value = serde_json::from_str(&f.json).unwrap_or(Value::Null);
        let id = match (f.action, &f.id) {
            (FlowAction::Create, _) => {
                let written = provider
                    .create_flow(&NewFlow {
                        name: f.name.clone(),
                        categories: f.categories.clone(),
                        endpoint_uri: f.endpoint_uri.clone(),
                        json,
                        publish: false,
                        clone_flow_id: None,
                    })
                    .await?;
                report(FlowStep::Created {
                    key: &f.key,
                    name: &f.name,
                    id: &written.id,
                });
                refuse_invalid(config, f, &written.validation_errors)?;
                created.insert(f.key.clone(), written.id.clone());
                written.id
            }
            (FlowAction::Update, Some(id)) => match provider.update_flow_json(id, &json).await {
                Ok(written) => {
                    report(FlowStep::JsonReplaced {
                        key: &f.key,
                        name: &f.name,
                        id,
                    });
                    refuse_invalid(config, f, &written.validation_errors)?;
                    id.clone()
                }
                Err(ProviderError::FlowNotEditable(why)) => {
                    let (clone_id, clone_name) =
                        clone_flow(provider, config, f, id, &json, &why, report).await?;
                    cloned.push(format!(
                        "Flow `{}` \"{}\" (id {id}) cannot be edited on the account (Meta error 139001): it was cloned as \"{clone_name}\" (id {clone_id}) with the new Flow JSON{}",
                        f.key,
                        f.name,
                        if f.publish { " and published" } else { "" }
                    ));
                    clone_id
                }
                Err(e) => return Err(e.into()),
            },
            (FlowAction::Publish, Some(id)) => id.clone(),
            (FlowAction::Deprecate, Some(id)) => {
                provider.deprecate_flow(id).await?;
                report(FlowStep::Deprecated { name: &f.name, id });
                continue;
            }
            _ => continue,
        };
        if f.publish {
            provider.publish_flow(&id).await?;
            report(FlowStep::Published {
                key: &f.key,
                name: &f.name,
                id: &id,
            });
        }
    }
    if !cloned.is_empty() {
        // The templates opening a cloned Flow must open the clone: a new
        // template version the reviewed plan did not show, so nothing after
        // the Flows runs; the next plan shows the re-pointing (plan/lower.rs).
        bail!(
            "{}.\n  The templates that open it must now open the clone: a new template version this plan did not show, so apply stops here (no template submitted, nothing sent). Run `waform plan` to review the re-pointed templates, then apply again.",
            cloned.join(".\n  ")
        );
    }
    Ok(created)
}

/// Meta's 139001 answer to an edit: `POST /flows` with `clone_flow_id`
/// under the next generation's name (plan/flows.rs `generation_name`),
/// then the new JSON, its `validation_errors`, and (by the caller) publish.
/// Returns the clone's id and name.
async fn clone_flow(
    provider: &dyn Provider,
    config: &Config,
    f: &FlowChange,
    id: &str,
    json: &Value,
    why: &str,
    report: &mut dyn FnMut(FlowStep<'_>),
) -> anyhow::Result<(String, String)> {
    let Some(name) = f.clone_name.clone() else {
        bail!(
            "Flow `{}` \"{}\" ({id}) cannot be edited on the account ({why}) and the plan names no clone for it; run `waform plan` again",
            f.key,
            f.name
        );
    };
    let written = provider
        .create_flow(&NewFlow {
            name: name.clone(),
            categories: f.categories.clone(),
            endpoint_uri: f.endpoint_uri.clone(),
            json: Value::Null,
            publish: false,
            clone_flow_id: Some(id.to_string()),
        })
        .await?;
    report(FlowStep::Cloned {
        key: &f.key,
        name: &f.name,
        id,
        clone_name: &name,
        clone_id: &written.id,
    });
    let uploaded = provider.update_flow_json(&written.id, json).await?;
    report(FlowStep::JsonReplaced {
        key: &f.key,
        name: &name,
        id: &written.id,
    });
    refuse_invalid(config, f, &uploaded.validation_errors)?;
    Ok((written.id, name))
}

/// Meta's validation errors stop the apply before anything uses the Flow.
/// Each is shown at its place in the user's file (flow/locate.rs): the
/// account's own line and column are in its copy of the JSON, not in it.
fn refuse_invalid(config: &Config, f: &FlowChange, errors: &[Value]) -> anyhow::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let mut locator = crate::flow::locate::Locator::new(config);
    // The account's answer, not the user's input: shown bounded.
    let mut lines: Vec<String> = errors
        .iter()
        .take(MAX_SHOWN)
        .map(|e| {
            let message = clip(
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid"),
            );
            let path = e.pointers_path();
            let at = path.and_then(|p| locator.locate(&f.key, p));
            match (at, path.map(clip)) {
                (Some(at), Some(path)) => format!("    {at}: {message} (at {path})"),
                (None, Some(path)) => format!("    {message} (at {path})"),
                (_, None) => {
                    let n = |k: &str| e.get(k).and_then(Value::as_u64);
                    match (n("line_start"), n("column_start")) {
                        (Some(l), Some(c)) => format!(
                            "    {message} (line {l}, column {c} of the account's copy of the Flow JSON)"
                        ),
                        _ => format!("    {message}"),
                    }
                }
            }
        })
        .collect();
    if errors.len() > MAX_SHOWN {
        lines.push(format!("    … and {} more", errors.len() - MAX_SHOWN));
    }
    bail!(
        "the account found {} problem(s) in Flow `{}` (left as DRAFT, not published; nothing after it was done):\n{}\n  fix them and apply again (`waform validate` checks most of Meta's rules offline)",
        errors.len(),
        f.key,
        lines.join("\n")
    )
}

/// Problems of one Flow listed in full; the rest are counted.
const MAX_SHOWN: usize = 20;

/// Longest message or path shown from the account's answer, in characters.
const MAX_TEXT: usize = 300;

/// `text` cut to [`MAX_TEXT`] characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

trait PointerPath {
    fn pointers_path(&self) -> Option<&str>;
}

impl PointerPath for Value {
    /// Meta's `pointers[0].path`: where in the Flow JSON the problem is.
    fn pointers_path(&self) -> Option<&str> {
        self.get("pointers")?.get(0)?.get("path")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::plan::flows::FlowAction;

    fn signup_change() -> FlowChange {
        FlowChange {
            key: "signup".into(),
            name: "Sign-up".into(),
            action: FlowAction::Create,
            id: None,
            status: None,
            diff: Vec::new(),
            breaking: Vec::new(),
            categories: vec!["SIGN_UP".into()],
            endpoint_uri: None,
            publish: true,
            preview_url: None,
            json: String::new(),
            clone_name: None,
        }
    }

    /// The account's `validation_errors` are its answer, not the user's
    /// input: thousands of them, huge or deep pointer paths, huge messages,
    /// odd line numbers are shown bounded and fast (the Flow file is parsed
    /// once, not once per problem).
    #[test]
    fn hostile_validation_errors_are_shown_bounded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/course-signup");
        let config = crate::config::load(&dir, crate::config::Depth::NoRecipients)
            .config
            .expect("example config");
        let deep = format!("screens[0]{}", ".children[0]".repeat(200_000));
        let mut errors: Vec<Value> = (0..5_000)
            .map(|i| json!({"message": "bad", "pointers": [{"path": format!("screens[{i}].layout")}]}))
            .collect();
        errors.push(json!({"message": "x".repeat(1_000_000), "pointers": [{"path": deep}]}));
        errors.push(json!({"message": 7, "line_start": -1, "column_start": u64::MAX}));
        errors.push(json!({"pointers": [], "line_start": 1e300}));
        errors.push(json!("not an object"));
        errors.rotate_right(4);
        let started = Instant::now();
        let err = refuse_invalid(&config, &signup_change(), &errors)
            .expect_err("refused")
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.contains("5004 problem(s) in Flow `signup`"),
            "{}",
            &err[..200]
        );
        assert!(err.contains("… and 4984 more"), "{}", &err[..200]);
        assert!(err.len() < 20_000, "{} bytes", err.len());
        // A path of the user's file is still located.
        assert!(err.contains("signup.json:"), "{}", &err[..2000]);
    }
}
