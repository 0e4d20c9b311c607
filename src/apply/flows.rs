//! Managed Flows, applied before the templates that open them: create as
//! DRAFT with the JSON, read Meta's `validation_errors`, publish; an update
//! replaces the JSON in place (same id; templates untouched) and publishes
//! again.

use std::collections::HashMap;

use anyhow::bail;
use serde_json::Value;

use super::reporter::FlowStep;
use crate::plan::flows::{FlowAction, FlowChange};
use crate::plan::Plan;
use crate::provider::{NewFlow, Provider};

/// Applies the plan's Flow changes. Returns the ids of the Flows it
/// created, by key, for the sends that open them.
pub(crate) async fn apply(
    provider: &dyn Provider,
    plan: &Plan,
    report: &mut dyn FnMut(FlowStep<'_>),
) -> anyhow::Result<HashMap<String, String>> {
    let mut created = HashMap::new();
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
                    })
                    .await?;
                report(FlowStep::Created {
                    key: &f.key,
                    name: &f.name,
                    id: &written.id,
                });
                refuse_invalid(f, &written.validation_errors)?;
                created.insert(f.key.clone(), written.id.clone());
                written.id
            }
            (FlowAction::Update, Some(id)) => {
                let written = provider.update_flow_json(id, &json).await?;
                report(FlowStep::JsonReplaced {
                    key: &f.key,
                    name: &f.name,
                    id,
                });
                refuse_invalid(f, &written.validation_errors)?;
                id.clone()
            }
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
    Ok(created)
}

/// Meta's validation errors stop the apply before anything uses the Flow.
fn refuse_invalid(f: &FlowChange, errors: &[Value]) -> anyhow::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = errors
        .iter()
        .map(|e| {
            let path = e
                .pointers_path()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            format!(
                "    {}{path}",
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid")
            )
        })
        .collect();
    bail!(
        "the account found {} problem(s) in Flow `{}` (left as DRAFT, not published):\n{}\n  run `waform validate` to see them at their line and column",
        errors.len(),
        f.key,
        lines.join("\n")
    )
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
