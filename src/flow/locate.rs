//! Where a problem the account found in an uploaded Flow JSON is in the
//! user's own file. Meta's `validation_errors` give positions in its copy
//! of the JSON (`line_start`/`column_start`), which is not the file that
//! was written, plus the JSON path of the node (`pointers[].path`, e.g.
//! `screens[0].layout.children[1].src`) — and paths are what waform's
//! span maps are keyed by: a `.json` file is read again with the
//! span-preserving reader, an inline YAML Flow is looked up in the config's
//! own spans under `flows.<key>.json`.

use std::collections::HashMap;
use std::sync::Arc;

use super::FlowSource;
use crate::config::spans::SpanMap;
use crate::config::Config;
use crate::diag::Location;

/// Longest pointer path looked up: a real one is a few dozen characters;
/// walking up a huge one (an account's answer is not the user's input) is
/// quadratic.
const MAX_PATH: usize = 1024;

/// Finds the places of many pointer paths, reading and parsing each Flow
/// file once however many problems the account reports in it.
pub(crate) struct Locator<'a> {
    config: &'a Config,
    files: HashMap<String, Option<SpanMap>>,
}

impl<'a> Locator<'a> {
    /// A locator over `config`'s managed Flows.
    pub(crate) fn new(config: &'a Config) -> Self {
        Locator {
            config,
            files: HashMap::new(),
        }
    }

    /// The file, line and column of JSON path `path` of managed Flow `key`
    /// (or of its nearest ancestor that has one).
    pub(crate) fn locate(&mut self, key: &str, path: &str) -> Option<Location> {
        if path.len() > MAX_PATH {
            return None;
        }
        match &self.config.flows.get(key)?.source {
            FlowSource::File(file) => self
                .files
                .entry(key.to_string())
                .or_insert_with(|| {
                    let text = std::fs::read_to_string(file).ok()?;
                    // The name validate uses for the file (flow/managed.rs).
                    let shown: Arc<str> = Arc::from(file.display().to_string());
                    super::json::parse(&shown, &text).ok().map(|doc| doc.spans)
                })
                .as_ref()?
                .locate(path),
            FlowSource::Inline => {
                let prefix = format!("flows.{key}.json");
                let full = if path.is_empty() || path.starts_with('[') {
                    format!("{prefix}{path}")
                } else {
                    format!("{prefix}.{path}")
                };
                self.config.spans.locate(&full)
            }
        }
    }
}
