//! `plan --format json`: one document, `format_version: "1"`.

use serde_json::json;

use crate::plan::model::Plan;

/// The plan as one JSON document (`format_version: "1"`, stable for scripts).
pub fn render(plan: &Plan) -> String {
    let doc = json!({
        "format_version": "1",
        "summary": plan.summary(),
        "has_changes": plan.has_changes(),
        "templates": plan.templates,
        "unmanaged_templates": plan.unmanaged,
        "flows": plan.flows,
        "flow_changes": super::flows::json(plan),
        "sends": plan.sends,
        "messages": plan.messages,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
