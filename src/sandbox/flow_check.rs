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
    let mut errors: Vec<Value> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let (line, column) = d.location.as_ref().map_or((1, 1), |l| (l.line, l.column));
            meta_error(&d.summary, d.path.as_deref(), line, column)
        })
        .collect();
    let mut images = Vec::new();
    image_sources(&doc.value, "", &mut images);
    for path in images {
        let (line, column) = doc
            .spans
            .locate(&path)
            .map_or((1, 1), |l| (l.line, l.column));
        errors.push(meta_error(
            "Invalid value found for property 'src': an Image's src must be the image itself, base64-encoded",
            Some(&path),
            line,
            column,
        ));
    }
    errors
}

/// Meta checks more than waform's offline rules; one such rule, so that a
/// client meets account-side `validation_errors` it could not predict: an
/// Image's `src` is the image's base64 data, not a URL (Meta's Flow JSON
/// components reference, Image). Collects the paths of `src` values that
/// cannot be base64.
fn image_sources(node: &Value, path: &str, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            let is_image = map.get("type").and_then(Value::as_str) == Some("Image");
            for (key, value) in map {
                let here = crate::flow::json::join(path, key);
                if is_image && key == "src" {
                    if value.as_str().is_some_and(|s| !looks_base64(s)) {
                        out.push(here);
                    }
                } else {
                    image_sources(value, &here, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                image_sources(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn looks_base64(s: &str) -> bool {
    // A `${data.x}` binding is filled in at run time.
    if s.starts_with("${") {
        return true;
    }
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
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

    #[test]
    fn an_image_src_that_is_no_base64_is_refused_like_meta_does() {
        let flow = |src: &str| {
            json!({"version": "7.3", "screens": [{"id": "A", "terminal": true,
                "layout": {"type": "SingleColumnLayout", "children": [
                    {"type": "Image", "src": src},
                    {"type": "Footer", "label": "Done",
                     "on-click-action": {"name": "complete", "payload": {}}}]}}]})
        };
        let errors = validation_errors(&flow("https://example.com/logo.png"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0]["pointers"][0]["path"],
            "screens[0].layout.children[0].src"
        );
        assert!(validation_errors(&flow("iVBORw0KGgo=")).is_empty());
    }
}
