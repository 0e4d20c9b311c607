//! The managed-Flow part of every plan format: one line per Flow with its
//! action, the screen/component diff, and **breaking** marks.

use std::fmt::Write as _;

use crate::plan::flows::{FlowAction, FlowChange};
use crate::plan::model::Plan;

fn title(f: &FlowChange) -> String {
    let mut line = format!("{} flow {} \"{}\"", f.action.symbol(), f.key, f.name);
    if let Some(id) = &f.id {
        let _ = write!(line, " id {id}");
    }
    let _ = write!(line, ": {}", f.action.label());
    if f.publish && matches!(f.action, FlowAction::Create | FlowAction::Update) {
        line.push_str(", then publish");
    }
    line
}

/// Text lines (no colour codes: the caller paints whole lines).
pub(super) fn text(plan: &Plan) -> Vec<(FlowAction, bool, String)> {
    let mut out = Vec::new();
    for f in &plan.flow_changes {
        out.push((f.action, false, format!("  {}", title(f))));
        for line in &f.diff {
            out.push((f.action, false, format!("      {line}")));
        }
        for b in &f.breaking {
            out.push((
                f.action,
                true,
                format!("      ! breaking: {b} (messages already sent keep the old version)"),
            ));
        }
    }
    out
}

/// A markdown section, or nothing when no Flow is managed.
pub(super) fn markdown(plan: &Plan) -> Option<String> {
    if plan.flow_changes.is_empty() {
        return None;
    }
    let mut out = String::from("#### Flows\n\n");
    for f in &plan.flow_changes {
        let _ = writeln!(out, "- `{}`", title(f));
        if let Some(url) = &f.preview_url {
            let _ = writeln!(out, "  - [preview the Flow on the account]({url})");
        }
        for b in &f.breaking {
            let _ = writeln!(
                out,
                "  - **breaking**: {b} (messages already sent keep the old version)"
            );
        }
        if !f.diff.is_empty() {
            let _ = writeln!(out, "\n  ```diff");
            for line in &f.diff {
                let _ = writeln!(out, "  {}", line.replace("```", "'''"));
            }
            let _ = writeln!(out, "  ```");
        }
    }
    out.push('\n');
    Some(out)
}

/// The JSON form: everything but the (large) Flow JSON itself.
pub(super) fn json(plan: &Plan) -> serde_json::Value {
    let items: Vec<serde_json::Value> = plan
        .flow_changes
        .iter()
        .filter_map(|f| {
            let mut v = serde_json::to_value(f).ok()?;
            if let Some(map) = v.as_object_mut() {
                map.remove("json");
            }
            Some(v)
        })
        .collect();
    serde_json::Value::Array(items)
}
