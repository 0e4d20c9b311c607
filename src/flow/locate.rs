//! Where a problem the account found in an uploaded Flow JSON is in the
//! user's own file. Meta's `validation_errors` give positions in its copy
//! of the JSON (`line_start`/`column_start`), which is not the file that
//! was written, plus the JSON path of the node (`pointers[].path`, e.g.
//! `screens[0].layout.children[1].src`) — and paths are what waform's
//! span maps are keyed by: a `.json` file is read again with the
//! span-preserving reader, an inline YAML Flow is looked up in the config's
//! own spans under `flows.<key>.json`.

use std::sync::Arc;

use super::FlowSource;
use crate::config::Config;
use crate::diag::Location;

/// The file, line and column of JSON path `path` of managed Flow `key`
/// (or of its nearest ancestor that has one).
pub(crate) fn locate(config: &Config, key: &str, path: &str) -> Option<Location> {
    match &config.flows.get(key)?.source {
        FlowSource::File(file) => {
            let text = std::fs::read_to_string(file).ok()?;
            // The name validate uses for the file (flow/managed.rs).
            let shown: Arc<str> = Arc::from(file.display().to_string());
            let doc = super::json::parse(&shown, &text).ok()?;
            doc.spans.locate(path)
        }
        FlowSource::Inline => {
            let prefix = format!("flows.{key}.json");
            let full = if path.is_empty() || path.starts_with('[') {
                format!("{prefix}{path}")
            } else {
                format!("{prefix}.{path}")
            };
            config.spans.locate(&full)
        }
    }
}
