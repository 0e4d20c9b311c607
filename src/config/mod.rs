//! The declared state: YAML files → checked [`RawConfig`] (+ where each node
//! came from). `load` is the one entry point; it never panics on input and
//! reports every problem it finds, each with file, line and column.

pub(crate) mod interp;
pub(crate) mod load;
pub mod meta;
pub(crate) mod phone;
pub mod recipients;
pub(crate) mod rules;
pub(crate) mod secret_lines;
pub(crate) mod spans;
pub mod types;
pub(crate) mod yaml;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
pub(crate) use types::RawConfig;

/// A config that passed the schema (it may still carry semantic errors in
/// the diagnostics returned beside it).
#[derive(Debug)]
pub struct Config {
    /// The YAML as typed (after `${env.X}` interpolation), schema-checked.
    pub raw: RawConfig,
    /// Folder that CSV paths and the state URL are relative to.
    pub base_dir: PathBuf,
    /// Where each value sits in its file, for diagnostics found later.
    pub spans: spans::SpanMap,
    /// Managed Flows (those declared with `json`), read and checked.
    pub flows: std::collections::BTreeMap<String, crate::flow::LoadedFlow>,
}

/// Everything `load` found: the config (when structurally valid), every
/// diagnostic, and the source texts for rendering them.
#[derive(Debug)]
pub struct LoadResult {
    /// The config; `None` when it did not parse or failed the schema.
    pub config: Option<Config>,
    /// Every error and warning, with file, line and column.
    pub diagnostics: Diagnostics,
    pub(crate) sources: HashMap<Arc<str>, String>,
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

/// The nodes the schema step removed, indexed so that judging each semantic
/// finding costs the same however many were removed.
struct Pruned {
    /// The removed paths.
    removed: HashSet<String>,
    /// Every object that held a removed node (proper ancestors).
    holders: HashSet<String>,
    /// Parent path → keys removed under it.
    by_parent: HashMap<String, Vec<String>>,
    /// Removed `templates:`/`flows:`/`sends:` entries.
    entries: HashSet<String>,
}

impl Pruned {
    fn new(pruned: &[String]) -> Self {
        let mut index = Pruned {
            removed: HashSet::new(),
            holders: HashSet::new(),
            by_parent: HashMap::new(),
            entries: HashSet::new(),
        };
        for p in pruned {
            index.removed.insert(p.clone());
            for (i, _) in p.match_indices(['.', '[']) {
                index.holders.insert(p[..i].to_string());
            }
            if let Some((parent, key)) = p.rsplit_once('.') {
                index
                    .by_parent
                    .entry(parent.to_string())
                    .or_default()
                    .push(key.to_string());
            }
            if let Some(name) = p
                .strip_prefix("templates.")
                .or_else(|| p.strip_prefix("flows."))
                .or_else(|| p.strip_prefix("sends."))
                .filter(|rest| !rest.contains(['.', '[']))
            {
                index.entries.insert(name.to_string());
            }
        }
        index
    }

    /// Whether a semantic finding may only exist because the schema step
    /// removed nodes: it is about a removed node or an object that held one,
    /// about a sibling field whose name is close to a removed one
    /// (`body_param` removed reads as `body_params` missing), or names a
    /// removed `templates:`/`flows:`/`sends:` entry (a reference to it now
    /// dangles).
    fn explains(&self, d: &Diagnostic) -> bool {
        let path = d.path.as_deref().unwrap_or_default();
        let under = self.removed.contains(path)
            || path
                .match_indices(['.', '['])
                .any(|(i, _)| self.removed.contains(&path[..i]));
        let holder = !path.is_empty() && self.holders.contains(path);
        let sibling = path.rsplit_once('.').is_some_and(|(dparent, dkey)| {
            self.by_parent.get(dparent).is_some_and(|keys| {
                keys.iter()
                    .any(|key| crate::schema::closest(key, &[dkey.to_string()]).is_some())
            })
        });
        let entry = d
            .summary
            .split('`')
            .skip(1)
            .step_by(2)
            .any(|name| self.entries.contains(name));
        under || holder || sibling || entry
    }
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
    let missing_version = loaded
        .value
        .as_object()
        .is_some_and(|m| !m.contains_key("version"));
    if missing_version {
        let empty = result.sources.values().all(|text| {
            text.lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        });
        let mut d = if empty {
            Diagnostic::error("the config is empty").help(
                "start it with `version: 1`, then `templates:` and `sends:` (see `waform schema`)",
            )
        } else {
            Diagnostic::error("missing `version`").help("start the config with `version: 1`")
        }
        .path("version");
        if let Some(file) = result.sources.keys().min() {
            d = d.at(crate::diag::Location::new(file.clone(), 1, 1));
        }
        result.diagnostics.push(d);
    }
    let schema = crate::schema::check(&loaded.value, &loaded.spans);
    // A missing `version` is reported above, with where and what to write.
    let schema_failed = schema.has_errors();
    let mut schema = schema;
    schema.retain(|d| !(missing_version && d.summary == "missing required field `version`"));
    result.diagnostics.extend(schema);
    // Schema errors do not hide the semantic problems elsewhere: the rules
    // run on the document without the refused nodes, and only their findings
    // that cannot stem from a removed node are kept. The config itself stays
    // `None`: it is not structurally valid.
    let (value, pruned) = if schema_failed {
        match crate::schema::prune(&loaded.value) {
            Some(pruned) => pruned,
            None => {
                result.diagnostics.sort();
                return result;
            }
        }
    } else {
        (loaded.value, Vec::new())
    };
    match serde_path_to_error::deserialize::<_, RawConfig>(value) {
        Ok(raw) => {
            let mut semantic =
                rules::check(&raw, &loaded.spans, &loaded.base_dir, depth == Depth::Full);
            let managed = crate::flow::managed::load(
                &raw,
                &loaded.spans,
                &loaded.base_dir,
                &mut result.sources,
            );
            semantic.extend(managed.diagnostics);
            semantic.extend(crate::flow::crosscheck::check(
                &raw,
                &loaded.spans,
                &managed.flows,
            ));
            if schema_failed {
                let pruned = Pruned::new(&pruned);
                semantic.retain(|d| !pruned.explains(d));
                result.diagnostics.extend(semantic);
            } else {
                result.diagnostics.extend(semantic);
                result.config = Some(Config {
                    raw,
                    base_dir: loaded.base_dir,
                    spans: loaded.spans,
                    flows: managed.flows,
                });
            }
        }
        Err(_) if schema_failed => {}
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
