//! The Flow JSON rules (docs/flow-json-rules.md). The document is read once
//! into a [`Model`] (screens, their components and actions, with document
//! paths); each rule family then reads the model and reports every problem
//! it finds, none stopping the others.

mod bindings;
mod components;
mod routing;
mod structure;

use serde_json::{Map, Value};

use super::spec::{self, Kind};
use super::version::{Version, LATEST};
use super::FlowFacts;
use crate::config::spans::SpanMap;
use crate::diag::{Diagnostic, Diagnostics};

/// Reports at document paths, located through the span map. `prefix` is the
/// path of the Flow inside its document: empty for a JSON file,
/// `flows.<key>.json` for a Flow written inline in the config.
pub(crate) struct Ctx<'a> {
    spans: &'a SpanMap,
    prefix: &'a str,
    pub(crate) version: Version,
    pub(crate) diags: Diagnostics,
}

impl Ctx<'_> {
    fn full(&self, path: &str) -> String {
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.to_string(),
            (false, false) if path.starts_with('[') => format!("{}{path}", self.prefix),
            (false, false) => format!("{}.{path}", self.prefix),
        }
    }

    pub(super) fn error(
        &mut self,
        path: &str,
        summary: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary), path, help.into());
    }

    pub(super) fn warning(
        &mut self,
        path: &str,
        summary: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::warning(summary), path, help.into());
    }

    fn push(&mut self, mut diag: Diagnostic, path: &str, help: String) {
        let full = self.full(path);
        if let Some(loc) = self.spans.locate(&full) {
            diag = diag.at(loc);
        }
        diag = diag.path(if full.is_empty() {
            "(top level)".to_string()
        } else {
            full
        });
        if !help.is_empty() {
            diag = diag.help(help);
        }
        self.diags.push(diag);
    }
}

/// A component with where it is.
pub(crate) struct Node<'v> {
    pub(crate) path: String,
    pub(crate) kind: &'v str,
    pub(crate) map: &'v Map<String, Value>,
}

/// An action object (`on-click-action` and friends).
pub(crate) struct Action<'v> {
    pub(crate) path: String,
    pub(crate) map: &'v Map<String, Value>,
}

impl Action<'_> {
    pub(super) fn name(&self) -> Option<&str> {
        self.map.get("name").and_then(Value::as_str)
    }

    /// The screen a `navigate` goes to.
    pub(super) fn target(&self) -> Option<&str> {
        self.map
            .get("next")
            .and_then(|n| n.get("name"))
            .and_then(Value::as_str)
    }
}

pub(crate) struct Screen<'v> {
    pub(crate) path: String,
    pub(crate) id: Option<&'v str>,
    pub(crate) map: &'v Map<String, Value>,
    pub(crate) terminal: bool,
    pub(crate) nodes: Vec<Node<'v>>,
    pub(crate) actions: Vec<Action<'v>>,
}

impl Screen<'_> {
    /// Declared `data` keys, in order.
    pub(super) fn data_keys(&self) -> Vec<&str> {
        self.map
            .get("data")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Names of the input components (form fields), in order.
    pub(super) fn field_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| spec::component(n.kind).is_some_and(|c| c.input))
            .filter_map(|n| n.map.get("name").and_then(Value::as_str))
            .collect()
    }
}

pub(crate) struct Model<'v> {
    pub(crate) root: &'v Map<String, Value>,
    pub(crate) screens: Vec<Screen<'v>>,
    pub(crate) endpoint: bool,
}

impl<'v> Model<'v> {
    pub(super) fn screen(&self, id: &str) -> Option<&Screen<'v>> {
        self.screens.iter().find(|s| s.id == Some(id))
    }
}

/// Runs every rule on `value` and returns what later checks need to know.
pub(crate) fn check(value: &Value, spans: &SpanMap, prefix: &str) -> (FlowFacts, Diagnostics) {
    let mut ctx = Ctx {
        spans,
        prefix,
        version: LATEST,
        diags: Diagnostics::default(),
    };
    let Some(root) = value.as_object() else {
        ctx.error(
            "",
            "a Flow JSON must be an object",
            "start it with `{\"version\": \"7.3\", \"screens\": [...]}`",
        );
        return (FlowFacts::default(), ctx.diags);
    };
    let version = structure::top_level(&mut ctx, root);
    if let Some(v) = version {
        ctx.version = v;
    }
    let model = build(root);
    structure::screens(&mut ctx, &model);
    components::check(&mut ctx, &model);
    let entry = routing::check(&mut ctx, &model);
    bindings::check(&mut ctx, &model);
    let facts = FlowFacts {
        version,
        entry,
        endpoint: model.endpoint,
        screens: model
            .screens
            .iter()
            .filter_map(|s| {
                Some(super::ScreenFacts {
                    id: s.id?.to_string(),
                    terminal: s.terminal,
                    data: s.data_keys().iter().map(|k| k.to_string()).collect(),
                    fields: s.field_names().iter().map(|k| k.to_string()).collect(),
                    complete_payload: s
                        .actions
                        .iter()
                        .filter(|a| a.name() == Some("complete"))
                        .filter_map(|a| a.map.get("payload").and_then(Value::as_object))
                        .flat_map(|p| p.keys().cloned())
                        .fold(Vec::new(), |mut keys, k| {
                            if !keys.contains(&k) {
                                keys.push(k);
                            }
                            keys
                        }),
                })
            })
            .collect(),
    };
    (facts, ctx.diags)
}

fn build(root: &Map<String, Value>) -> Model<'_> {
    let mut screens = Vec::new();
    if let Some(items) = root.get("screens").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            let Some(map) = item.as_object() else {
                continue;
            };
            let path = format!("screens[{i}]");
            let mut screen = Screen {
                id: map.get("id").and_then(Value::as_str),
                terminal: map.get("terminal").and_then(Value::as_bool) == Some(true),
                map,
                nodes: Vec::new(),
                actions: Vec::new(),
                path: path.clone(),
            };
            if let Some(children) = map
                .get("layout")
                .and_then(|l| l.get("children"))
                .and_then(Value::as_array)
            {
                walk(&mut screen, children, &format!("{path}.layout.children"), 0);
            }
            screens.push(screen);
        }
    }
    Model {
        root,
        screens,
        endpoint: root.contains_key("data_api_version"),
    }
}

/// Collects the components under `items` (at `path`) and their actions.
fn walk<'v>(screen: &mut Screen<'v>, items: &'v [Value], path: &str, depth: usize) {
    // The JSON reader bounds depth already; this guards inline YAML too.
    if depth > 32 {
        return;
    }
    for (i, item) in items.iter().enumerate() {
        let Some(map) = item.as_object() else {
            continue;
        };
        let here = format!("{path}[{i}]");
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        let component = spec::component(kind);
        for (key, value) in map {
            let prop_kind = component.and_then(|c| c.prop(key)).map(|p| p.kind);
            let child = format!("{here}.{key}");
            match (prop_kind, value) {
                (Some(Kind::Children), Value::Array(children)) => {
                    walk(screen, children, &child, depth + 1);
                }
                (Some(Kind::Action), Value::Object(action)) => screen.actions.push(Action {
                    path: child,
                    map: action,
                }),
                _ => {}
            }
        }
        if kind == "Switch" {
            if let Some(cases) = map.get("cases").and_then(Value::as_object) {
                for (case, children) in cases {
                    if let Some(children) = children.as_array() {
                        walk(screen, children, &format!("{here}.cases.{case}"), depth + 1);
                    }
                }
            }
        }
        if kind == "NavigationList" {
            if let Some(list) = map.get("list-items").and_then(Value::as_array) {
                for (j, entry) in list.iter().enumerate() {
                    if let Some(action) = entry.get("on-click-action").and_then(Value::as_object) {
                        screen.actions.push(Action {
                            path: format!("{here}.list-items[{j}].on-click-action"),
                            map: action,
                        });
                    }
                }
            }
        }
        screen.nodes.push(Node {
            path: here,
            kind,
            map,
        });
    }
}

/// Whether a string is a single `${…}` binding (a dynamic value).
pub(crate) fn is_binding(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("${") && t.ends_with('}')
}
