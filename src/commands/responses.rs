//! `waform responses SEND`: exports the submitted Flow forms of a send, one
//! row per recipient who completed it, as CSV (one column per form field)
//! or JSON lines.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::{ResponsesArgs, ResponsesFormat};
use waform::state::Response;

pub(crate) fn run(args: ResponsesArgs) -> anyhow::Result<waform::ExitStatus> {
    let source = super::ledger_source::resolve(
        &args.config,
        args.state.as_deref(),
        args.sandbox,
        "responses",
    )?;
    let responses = match super::status::open_existing(&source.ledger)? {
        None => {
            source.check_send(&args.send, &[])?;
            waform::errln!(
                "{}",
                super::ledger_source::missing_ledger_note(&source, args.sandbox)
            );
            Vec::new()
        }
        Some(ledger) => {
            let recorded: Vec<String> = ledger.counts(None)?.into_keys().collect();
            source.check_send(&args.send, &recorded)?;
            ledger.responses(&args.send)?
        }
    };
    let declared = source
        .config
        .as_ref()
        .and_then(|cfg| waform::flow::response_fields(cfg, &args.send));
    if let Some(declared) = &declared {
        let extra: BTreeSet<&str> = responses
            .iter()
            .flat_map(|r| r.fields.keys().map(String::as_str))
            .filter(|f| !declared.iter().any(|d| d == f))
            .collect();
        for field in extra {
            waform::errln!("warning: submitted field `{field}` is not in the Flow's `complete` payload (an older version of the Flow?); it gets its own column after the declared ones");
        }
    }
    let bytes = match args.format {
        ResponsesFormat::Csv => render_csv_declared(&responses, declared.as_deref())?,
        ResponsesFormat::Jsonl => render_jsonl(&responses),
    };
    let bytes = match waform::secret::scrub(&String::from_utf8_lossy(&bytes)) {
        std::borrow::Cow::Owned(scrubbed) => scrubbed.into_bytes(),
        std::borrow::Cow::Borrowed(_) => bytes,
    };
    match &args.out {
        Some(file) => std::fs::write(file, &bytes)
            .with_context(|| format!("could not write {}", file.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(waform::ExitStatus::Success)
}

/// A field's value as CSV text: strings as they are, null empty, anything
/// else (numbers, booleans, nested objects and lists) as compact JSON.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => spreadsheet_safe(s),
        Some(other) => other.to_string(),
    }
}

/// Form answers are typed by the public: a leading `=`, `+`, `-`, `@`, tab
/// or carriage return would run as a formula when the CSV is opened in a
/// spreadsheet (CSV injection), so such cells are prefixed with `'`.
fn spreadsheet_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A form field's column name; fields named like the fixed columns get a
/// `field.` prefix so every header is unique.
fn column(field: &str) -> String {
    match field {
        "phone" | "flow_token" | "submitted_at" => format!("field.{field}"),
        // Field names come from the public's form too: escaped like cells.
        other => spreadsheet_safe(other),
    }
}

/// `phone, flow_token, submitted_at`, then the sorted union of field names.
#[cfg(test)]
fn render_csv(responses: &[Response]) -> anyhow::Result<Vec<u8>> {
    render_csv_declared(responses, None)
}

/// Like [`render_csv`], but a managed Flow's `complete` payload fields come
/// first, in declared order (stable columns even before anyone answered);
/// undeclared submitted fields follow, sorted.
pub(crate) fn render_csv_declared(
    responses: &[Response],
    declared: Option<&[String]>,
) -> anyhow::Result<Vec<u8>> {
    let submitted: BTreeSet<&str> = responses
        .iter()
        .flat_map(|r| r.fields.keys().map(String::as_str))
        .collect();
    let mut fields: Vec<&str> = declared
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let rest: Vec<&str> = submitted
        .into_iter()
        .filter(|f| !fields.contains(f))
        .collect();
    fields.extend(rest);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["phone", "flow_token", "submitted_at"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(fields.iter().map(|f| column(f)));
    w.write_record(&header)?;
    for r in responses {
        let mut row = vec![
            r.phone.clone(),
            r.flow_token.clone(),
            waform::state::fmt_time(r.submitted_at),
        ];
        row.extend(fields.iter().map(|f| cell(r.fields.get(*f))));
        w.write_record(&row)?;
    }
    w.into_inner().context("could not finish the CSV")
}

/// One object per line: `{"phone", "flow_token", "submitted_at", "fields"}`
/// (fields nested so a form field named `phone` cannot collide).
pub(crate) fn render_jsonl(responses: &[Response]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in responses {
        let line = json!({
            "phone": r.phone,
            "flow_token": r.flow_token,
            "submitted_at": waform::state::fmt_time(r.submitted_at),
            "fields": r.fields,
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_fields_come_first_in_declared_order() {
        let r = Response {
            phone: "1".into(),
            flow_token: "t".into(),
            submitted_at: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            fields: json!({"zeta": 1, "extra": 2, "alpha": 3})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let declared = vec!["zeta".to_string(), "alpha".to_string(), "never".to_string()];
        let csv = String::from_utf8(render_csv_declared(&[r], Some(&declared)).expect("csv"))
            .expect("utf8");
        assert_eq!(
            csv.lines().next(),
            Some("phone,flow_token,submitted_at,zeta,alpha,never,extra")
        );
    }

    #[test]
    fn csv_is_safe_for_spreadsheets_and_headers_are_unique() {
        let mut fields = serde_json::Map::new();
        fields.insert("phone".into(), Value::String("+1 555".into()));
        fields.insert("note".into(), Value::String("=HYPERLINK(\"x\")".into()));
        let r = Response {
            phone: "15551234567".into(),
            flow_token: "t".into(),
            submitted_at: chrono::Utc::now(),
            fields,
        };
        let csv = String::from_utf8(render_csv(&[r]).expect("csv")).expect("utf8");
        let header = csv.lines().next().expect("header");
        assert_eq!(header, "phone,flow_token,submitted_at,note,field.phone");
        assert!(csv.contains("'=HYPERLINK"));
        assert!(csv.contains("'+1 555"));
    }

    #[test]
    fn csv_has_a_column_per_field_and_nested_values_as_json() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let resp = |phone: &str, fields: Value| Response {
            phone: phone.into(),
            flow_token: format!("tok-{phone}"),
            submitted_at: at,
            fields: fields.as_object().cloned().unwrap_or_default(),
        };
        let rows = vec![
            resp("1", json!({"name": "Ana", "address": {"city": "Lima"}})),
            resp("2", json!({"age": 31, "name": "Bo, Jr."})),
        ];
        let csv = String::from_utf8(render_csv(&rows).expect("csv")).expect("utf8");
        assert_eq!(
            csv,
            "phone,flow_token,submitted_at,address,age,name\n\
             1,tok-1,2023-11-14T22:13:20.000Z,\"{\"\"city\"\":\"\"Lima\"\"}\",,Ana\n\
             2,tok-2,2023-11-14T22:13:20.000Z,,31,\"Bo, Jr.\"\n"
        );
        let jsonl = String::from_utf8(render_jsonl(&rows)).expect("utf8");
        assert_eq!(jsonl.lines().count(), 2);
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn field_names_are_escaped_like_cells() {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "=HYPERLINK(\"http://x\",\"y\")".into(),
            Value::String("=1+1".into()),
        );
        let response = Response {
            phone: "15551230001".into(),
            flow_token: "t".into(),
            submitted_at: chrono::Utc::now(),
            fields,
        };
        let csv = String::from_utf8(render_csv(&[response]).expect("csv")).expect("utf8");
        let header = csv.lines().next().expect("header");
        assert!(header.contains("\"'=HYPERLINK("), "{header}");
        assert!(
            !header.contains(",=HYPERLINK") && !header.contains(",\"=HYPERLINK"),
            "{header}"
        );
    }
}
