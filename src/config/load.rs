//! Reading a config: one file, or a folder whose `*.yaml` files are merged.
//!
//! Merging is by top-level section: `flows`, `templates` and `sends` entries
//! may live in different files, `removed` lists are concatenated, and the
//! singletons (`version`, `provider`, `state`) may be written in one file
//! only — anything defined twice is an error naming both places.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::spans::SpanMap;
use super::yaml;
use crate::diag::{Diagnostic, Diagnostics, Location};

/// The merged document of every config file, before any checking.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) value: Value,
    pub(crate) spans: SpanMap,
    /// File name (as shown in diagnostics) → text, for rendering source lines.
    pub(crate) sources: HashMap<Arc<str>, String>,
    /// The folder relative paths (CSV files, state) are resolved against.
    pub(crate) base_dir: PathBuf,
}

const MAP_SECTIONS: [&str; 3] = ["flows", "templates", "sends"];

/// Reads `path` (a file or a folder of `*.yaml`). Problems are pushed to
/// `diags`; what could be read is returned regardless.
pub(crate) fn read(path: &Path, diags: &mut Diagnostics) -> Loaded {
    let mut loaded = Loaded {
        value: Value::Object(Map::new()),
        ..Loaded::default()
    };
    let files = match config_files(path) {
        Ok(files) => files,
        Err(diag) => {
            diags.push(*diag);
            return loaded;
        }
    };
    loaded.base_dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    for file in files {
        let name: Arc<str> = Arc::from(file.display().to_string());
        let text = match crate::limits::read_text(&file, crate::limits::MAX_CONFIG_BYTES) {
            // Editors on Windows save UTF-8 with a byte-order mark; it is not content.
            Ok(text) => match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_string(),
                None => text,
            },
            Err(err) => {
                diags.push(
                    Diagnostic::error(format!("cannot read {name}: {err}"))
                        .help("check the path and its permissions"),
                );
                continue;
            }
        };
        match yaml::parse(&name, &text) {
            Ok(doc) => merge(&mut loaded, &name, doc, diags),
            Err(diag) => diags.push(*diag),
        }
        loaded.sources.insert(name, text);
    }
    loaded
}

fn config_files(path: &Path) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|err| {
            Box::new(Diagnostic::error(format!(
                "cannot read folder {}: {err}",
                path.display()
            )))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Box::new(
                Diagnostic::error(format!("{} holds no *.yaml files", path.display()))
                    .help("point waform at a waform.yaml or a folder of *.yaml config files"),
            ));
        }
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(Box::new(
            Diagnostic::error(format!("config {} does not exist", path.display())).help(
                "pass the path of a waform.yaml or of a folder of *.yaml files (default: ./waform.yaml)",
            ),
        ))
    }
}

fn merge(loaded: &mut Loaded, file: &Arc<str>, doc: yaml::Document, diags: &mut Diagnostics) {
    let Value::Object(top) = doc.value else {
        if !doc.value.is_null() {
            diags.push(
                Diagnostic::error("a config file must be a mapping of sections")
                    .at(Location::new(file.clone(), 1, 1))
                    .help("start the file with `version: 1` and sections like `templates:`"),
            );
        }
        return;
    };
    let Value::Object(target) = &mut loaded.value else {
        return;
    };
    if target.is_empty() {
        // The first file is taken whole: rebuilding it key by key would hold
        // two copies of a large document at once.
        loaded.value = Value::Object(top);
        loaded.spans.absorb_all(doc.spans);
        return;
    }
    let spans = doc.spans;
    let mut taken: Vec<String> = Vec::new();
    for (key, value) in top {
        match (target.get_mut(&key), &value) {
            (Some(Value::Object(existing)), Value::Object(entries))
                if MAP_SECTIONS.contains(&key.as_str()) =>
            {
                for (name, entry) in entries {
                    let path = format!("{key}.{name}");
                    if existing.contains_key(name) {
                        duplicate(diags, &path, loaded.spans.get(&path), spans.get(&path));
                        continue;
                    }
                    existing.insert(name.clone(), entry.clone());
                    taken.push(path);
                }
            }
            (Some(Value::Array(existing)), Value::Array(items)) if key == "removed" => {
                let offset = existing.len();
                for (i, item) in items.iter().enumerate() {
                    let from = format!("removed[{i}]");
                    if let Some(loc) = spans.get(&from) {
                        loaded
                            .spans
                            .insert(format!("removed[{}]", offset + i), loc.clone());
                    }
                    existing.push(item.clone());
                }
            }
            (Some(_), _) => {
                duplicate(diags, &key, loaded.spans.get(&key), spans.get(&key));
            }
            (None, _) => {
                target.insert(key.clone(), value);
                taken.push(key);
            }
        }
    }
    loaded.spans.absorb(spans, &taken);
}

fn duplicate(
    diags: &mut Diagnostics,
    path: &str,
    first: Option<&Location>,
    second: Option<&Location>,
) {
    let mut diag = Diagnostic::error(format!("`{path}` is defined in two files")).path(path);
    if let Some(second) = second {
        diag = diag.at(second.clone());
    }
    if let Some(first) = first {
        diag = diag.note(format!("first defined at {first}"));
    }
    diags.push(diag.help("keep one definition: each key may appear in only one config file"));
}
