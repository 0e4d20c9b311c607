//! The sandbox judges an uploaded Flow JSON with waform's own Flow rules
//! (docs/flow-json-rules.md) and answers in Meta's `validation_errors`
//! shape: `{error, error_type, message, line_start, line_end, column_start,
//! column_end, pointers: [{…, path}]}`, positions counted in the Flow JSON as
//! Meta stores it (pretty-printed), so a client has to map them back to its
//! own file — as it must with the real API.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::diag::Severity;

pub(super) fn validation_errors(flow_json: &Value) -> Vec<Value> {
    let text = serde_json::to_string_pretty(flow_json).unwrap_or_default();
    let file: Arc<str> = Arc::from("flow.json");
    let doc = match crate::flow::json::parse(&file, &text) {
        Ok(doc) => doc,
        Err(diag) => return vec![meta_error(&diag.summary, None, 1, 1)],
    };
    let (_, diags) = crate::flow::check_value(&doc.value, &doc.spans, "");
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let (line, column) = d.location.as_ref().map_or((1, 1), |l| (l.line, l.column));
            meta_error(&d.summary, d.path.as_deref(), line, column)
        })
        .collect()
}

fn meta_error(message: &str, path: Option<&str>, line: usize, column: usize) -> Value {
    let mut error = json!({
        "error": "INVALID_FLOW_JSON",
        "error_type": "FLOW_JSON_ERROR",
        "message": message,
        "line_start": line,
        "line_end": line,
        "column_start": column,
        "column_end": column,
    });
    if let Some(path) = path {
        error["pointers"] = json!([{
            "line_start": line,
            "line_end": line,
            "column_start": column,
            "column_end": column,
            "path": path,
        }]);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_metas_shape() {
        let flow = json!({"version": "7.3", "screens": [{"id": "A", "terminal": true,
            "layout": {"type": "SingleColumnLayout", "children": []}}]});
        let errors = validation_errors(&flow);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0]["error_type"], "FLOW_JSON_ERROR");
        assert_eq!(errors[0]["pointers"][0]["path"], "screens[0]");
        assert_eq!(errors[0]["line_start"], 4);
    }
}
