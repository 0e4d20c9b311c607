//! Flows as code: a managed Flow's JSON (a file or inline in the config),
//! read with positions and checked offline against Meta's Flow JSON rules
//! (docs/flow-json-rules.md), then cross-checked with the templates and
//! sends that open it.

pub(crate) mod crosscheck;
pub(crate) mod json;
pub(crate) mod locate;
pub(crate) mod managed;
mod rules;
pub mod schema;
pub(crate) mod spec;
pub(crate) mod version;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::spans::SpanMap;
use crate::diag::{Diagnostic, Diagnostics};
use version::Version;

/// What the rest of waform needs to know about a checked Flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlowFacts {
    /// The declared version, when it is a usable one.
    pub(crate) version: Option<Version>,
    /// The screen the Flow opens on.
    pub(crate) entry: Option<String>,
    /// The Flow talks to an endpoint (`data_api_version`).
    pub(crate) endpoint: bool,
    pub(crate) screens: Vec<ScreenFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScreenFacts {
    pub(crate) id: String,
    pub(crate) terminal: bool,
    /// Declared `data` keys, in order.
    pub(crate) data: Vec<String>,
    /// Input names (form fields), in order.
    pub(crate) fields: Vec<String>,
    /// Keys of the `complete` payloads on this screen, in declared order:
    /// what a submitted Flow sends back.
    pub(crate) complete_payload: Vec<String>,
}

impl FlowFacts {
    pub(crate) fn screen(&self, id: &str) -> Option<&ScreenFacts> {
        self.screens.iter().find(|s| s.id == id)
    }

    /// The fields a completed Flow returns, in declared order, over every
    /// terminal screen.
    pub(crate) fn response_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for key in self.screens.iter().flat_map(|s| &s.complete_payload) {
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
        out
    }
}

/// The fields a send's managed Flow returns when completed, in declared
/// order: the Flow the send opens (its `flow_message`, or its template's
/// FLOW button). `None` when the send opens no managed Flow.
pub fn response_fields(config: &crate::config::Config, send: &str) -> Option<Vec<String>> {
    use crate::config::types::Button;
    let send = config.raw.sends.get(send)?;
    let key = match (&send.flow_message, &send.template) {
        (Some(fm), _) => fm.flow.clone(),
        (None, Some(t)) => config
            .raw
            .templates
            .get(t)?
            .languages
            .values()
            .flat_map(|l| &l.buttons)
            .find_map(|b| match b {
                Button::Flow { flow, .. } => Some(flow.clone()),
                _ => None,
            })?,
        (None, None) => return None,
    };
    let fields = config.flows.get(&key)?.facts.response_fields();
    (!fields.is_empty()).then_some(fields)
}

/// Where a managed Flow's JSON came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowSource {
    /// `json: path/to/flow.json`, relative to the config's folder.
    File(PathBuf),
    /// The Flow JSON written as a mapping inside the config.
    Inline,
}

/// A managed Flow that was read (it may still have errors, reported beside it).
#[derive(Debug, Clone)]
pub struct LoadedFlow {
    /// The Flow JSON, compact, in declared order: what is uploaded. Kept as
    /// text, not a `Value` tree, so hundreds of Flows stay small in memory.
    pub(crate) json: String,
    /// Where the JSON was read from, for diagnostics.
    pub source: FlowSource,
    pub(crate) facts: FlowFacts,
}

/// Checks a Flow JSON value whose node positions are in `spans` under
/// `prefix` (empty for a JSON file, `flows.<key>.json` for inline YAML).
pub(crate) fn check_value(
    value: &Value,
    spans: &SpanMap,
    prefix: &str,
) -> (FlowFacts, Diagnostics) {
    rules::check(value, spans, prefix)
}

/// Reads and checks one Flow JSON file; `shown` is its name in diagnostics.
/// Returns the value (when it parsed), facts and diagnostics.
pub(crate) fn check_file(
    path: &Path,
    shown: &Arc<str>,
    sources: &mut HashMap<Arc<str>, String>,
) -> (Option<(Value, FlowFacts)>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > json::MAX_BYTES as u64);
    if too_big {
        diags.push(
            Diagnostic::error(format!(
                "{shown} is larger than {} bytes; it cannot be a Flow JSON",
                json::MAX_BYTES
            ))
            .help("check the path"),
        );
        return (None, diags);
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            diags.push(
                Diagnostic::error(format!("cannot read Flow JSON {shown}: {err}"))
                    .help("check the path (relative to the config's folder) and its permissions"),
            );
            return (None, diags);
        }
    };
    let parsed = json::parse(shown, &text);
    sources.insert(shown.clone(), text);
    match parsed {
        Ok(doc) => {
            let (facts, found) = check_value(&doc.value, &doc.spans, "");
            diags.extend(found);
            (Some((doc.value, facts)), diags)
        }
        Err(diag) => {
            diags.push(*diag);
            (None, diags)
        }
    }
}

/// `waform validate FILE.json`: a Flow JSON file on its own.
pub fn validate_file(path: &Path) -> crate::config::LoadResult {
    let shown: Arc<str> = Arc::from(path.display().to_string());
    let mut sources = HashMap::new();
    let (_, mut diagnostics) = if path.exists() {
        check_file(path, &shown, &mut sources)
    } else {
        let mut d = Diagnostics::default();
        d.push(
            Diagnostic::error(format!("{shown} does not exist"))
                .help("pass the path of a Flow JSON file or of a waform config"),
        );
        (None, d)
    };
    diagnostics.sort();
    crate::config::LoadResult {
        config: None,
        diagnostics,
        sources,
    }
}
