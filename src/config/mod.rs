//! The declared state: YAML files → checked [`RawConfig`] (+ where each node
//! came from). `load` is the one entry point; it never panics on input and
//! reports every problem it finds, each with file, line and column.

pub mod interp;
pub mod load;
pub mod meta;
pub mod phone;
pub mod recipients;
pub mod rules;
pub mod spans;
pub mod types;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
pub use types::RawConfig;

/// A config that passed the schema (it may still carry semantic errors in
/// the diagnostics returned beside it).
#[derive(Debug)]
pub struct Config {
    pub raw: RawConfig,
    /// Folder that CSV paths and the state URL are relative to.
    pub base_dir: PathBuf,
    pub spans: spans::SpanMap,
}

/// Everything `load` found: the config (when structurally valid), every
/// diagnostic, and the source texts for rendering them.
#[derive(Debug)]
pub struct LoadResult {
    pub config: Option<Config>,
    pub diagnostics: Diagnostics,
    pub sources: HashMap<Arc<str>, String>,
}

impl LoadResult {
    /// The rendered diagnostics, as `validate` prints them.
    pub fn render(&self, color: bool) -> String {
        self.diagnostics.render(&self.sources, color)
    }
}

/// How much of the config to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Structure and rules, recipient files included (validate, plan, apply).
    Full,
    /// Structure and rules, but recipient files are not read row by row.
    NoRecipients,
}

/// Reads and checks the config at `path` (a file or a folder of `*.yaml`).
pub fn load(path: &Path, depth: Depth) -> LoadResult {
    let mut diagnostics = Diagnostics::default();
    let loaded = load::read(path, &mut diagnostics);
    let mut result = LoadResult {
        config: None,
        diagnostics,
        sources: loaded.sources,
    };
    if result.diagnostics.has_errors() {
        result.diagnostics.sort();
        return result;
    }
    if loaded
        .value
        .as_object()
        .is_some_and(|m| !m.contains_key("version"))
    {
        let mut d = Diagnostic::error("missing `version`")
            .path("version")
            .help("start the config with `version: 1`");
        if let Some(file) = result.sources.keys().min() {
            d = d.at(crate::diag::Location::new(file.clone(), 1, 1));
        }
        result.diagnostics.push(d);
    }
    result
        .diagnostics
        .extend(crate::schema::check(&loaded.value, &loaded.spans));
    if result.diagnostics.has_errors() {
        result.diagnostics.sort();
        return result;
    }
    match serde_path_to_error::deserialize::<_, RawConfig>(loaded.value) {
        Ok(raw) => {
            result.diagnostics.extend(rules::check(
                &raw,
                &loaded.spans,
                &loaded.base_dir,
                depth == Depth::Full,
            ));
            result.config = Some(Config {
                raw,
                base_dir: loaded.base_dir,
                spans: loaded.spans,
            });
        }
        Err(err) => {
            let path = err.path().to_string();
            let mut d = Diagnostic::error(err.inner().to_string()).path(path.clone());
            if let Some(loc) = loaded.spans.locate(&path) {
                d = d.at(loc);
            }
            result.diagnostics.push(d);
        }
    }
    result.diagnostics.sort();
    result
}
