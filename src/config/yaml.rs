//! YAML → JSON value, remembering where every node came from.
//!
//! serde_yaml is deprecated upstream and loses positions after parsing, so
//! the config is read from yaml-rust2's event stream into a
//! `serde_json::Value` plus a map from document path
//! (`templates.x.languages.en_US.body`, `sends.s.recipients[0].phone`) to
//! file, line and column. Every later check — schema, semantic rules —
//! reports through that map, which is how an error names the exact line.
//! This is the only place that knows the YAML library (STYLE.md #12).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Diagnostic, Location};
use crate::limits::MAX_DEPTH;

/// Most alias uses in one file. Hardened loaders bound aliases the same way
/// (SnakeYAML's `maxAliasesForCollections`, go-yaml's alias ratio): a
/// "billion laughs" file of a few lines otherwise expands to gigabytes.
const MAX_ALIASES: usize = 10_000;

/// Most nodes (plus text bytes) that alias uses may add to a file, and that
/// anchors may copy: far above any real config, far below a memory problem.
const MAX_EXPANSION: usize = 250_000;

/// Most nodes (keys, values, containers) in one file: a config of
/// thousands of templates has a few hundred thousand bytes, and each node
/// costs a few hundred bytes of memory once parsed and located; long
/// recipient lists belong in CSV files, which are streamed.
const MAX_NODES: usize = 250_000;

/// One parsed YAML file.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) value: Value,
    /// Path → where the node's value starts.
    pub(crate) spans: HashMap<String, Location>,
}

/// Parses `source` (the contents of `file`). A syntax error, a duplicate key
/// or an empty document is a diagnostic with its position.
pub(crate) fn parse(file: &Arc<str>, source: &str) -> Result<Document, Box<Diagnostic>> {
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        spans: HashMap::new(),
        root: None,
        error: None,
        documents: 0,
        aliases: 0,
        expanded: 0,
        nodes: 0,
    };
    let mut parser = Parser::new_from_str(source);
    // Events are pulled one at a time rather than through `Parser::load`,
    // which recurses once per nesting level (a stack overflow on deep input)
    // and asserts on what it does not expect. The first problem ends the read.
    while builder.error.is_none() {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => builder.on_event(event, mark),
            Err(err) => {
                let mark = err.marker();
                let (mut line, mut column) = (mark.line(), mark.col() + 1);
                let mut help = "fix the YAML syntax at this position (indentation, quotes, colons)";
                if err.info().contains("tab") {
                    // The scanner may mark where the scalar before the tab began
                    // (the previous line): point at the tab itself.
                    if let Some((l, c)) = first_tab_from(source, line) {
                        (line, column) = (l, c);
                    }
                    help = "YAML indents with spaces only: replace the tab with spaces";
                }
                return Err(Box::new(
                    Diagnostic::error(format!("YAML syntax error: {}", err.info()))
                        .at(Location::new(file.clone(), line, column))
                        .help(help),
                ));
            }
        }
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    if builder.documents > 1 {
        return Err(Box::new(
            Diagnostic::error("this file holds more than one YAML document (`---`)")
                .at(Location::new(file.clone(), 1, 1))
                .help("put each config part in its own file of the config folder"),
        ));
    }
    let value = builder.root.unwrap_or(Value::Null);
    Ok(Document {
        value,
        spans: builder.spans,
    })
}

enum Frame {
    Map {
        path: String,
        map: Map<String, Value>,
        pending_key: Option<(String, Marker)>,
        anchor: usize,
        /// Nodes and text bytes below this container (for the alias budget).
        size: usize,
    },
    Seq {
        path: String,
        items: Vec<Value>,
        anchor: usize,
        size: usize,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    /// Anchor id → its value and size.
    anchors: HashMap<usize, (Value, usize)>,
    spans: HashMap<String, Location>,
    root: Option<Value>,
    error: Option<Box<Diagnostic>>,
    documents: usize,
    /// Alias uses so far.
    aliases: usize,
    /// Size added by aliases and copied by anchors so far.
    expanded: usize,
    /// Nodes read so far (keys included).
    nodes: usize,
}

impl Builder {
    fn location(&self, mark: Marker) -> Location {
        Location::new(self.file.clone(), mark.line(), mark.col() + 1)
    }

    /// The path of the node about to be produced in the current container.
    fn child_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Map {
                path, pending_key, ..
            }) => pending_key.as_ref().map(|(k, _)| join(path, k)),
            Some(Frame::Seq { path, items, .. }) => Some(format!("{path}[{}]", items.len())),
        }
    }

    /// True when the next scalar is a mapping key rather than a value.
    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                pending_key: None,
                ..
            })
        )
    }

    fn fail(&mut self, diag: Diagnostic) {
        if self.error.is_none() {
            self.error = Some(Box::new(diag));
        }
    }

    fn push_value(&mut self, value: Value, value_size: usize) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Map {
                map,
                pending_key,
                size,
                ..
            }) => {
                if let Some((key, _)) = pending_key.take() {
                    *size = size.saturating_add(value_size + key.len());
                    map.insert(key, value);
                }
            }
            Some(Frame::Seq { items, size, .. }) => {
                *size = size.saturating_add(value_size);
                items.push(value);
            }
        }
    }

    /// Remembers an anchored node. The copy counts against the expansion
    /// budget, so nested anchors cannot multiply memory either.
    fn anchor(&mut self, id: usize, value: &Value, size: usize, mark: Marker) {
        if size > 64 {
            self.expanded = self.expanded.saturating_add(size);
            if self.expanded > MAX_EXPANSION {
                self.expansion_error(mark);
                return;
            }
        }
        self.anchors.insert(id, (value.clone(), size));
    }

    fn expansion_error(&mut self, mark: Marker) {
        let diag = Diagnostic::error(format!(
            "YAML anchors and aliases expand to more than {MAX_EXPANSION} nodes (or {MAX_ALIASES} alias uses)"
        ))
        .at(self.location(mark))
        .help("write the repeated parts out, or reuse fewer and smaller anchors; nested aliases multiply (\"billion laughs\")");
        self.fail(diag);
    }

    fn on_key(&mut self, key: String, mark: Marker) {
        let duplicate = match self.stack.last() {
            Some(Frame::Map { map, path, .. }) if map.contains_key(&key) => Some(join(path, &key)),
            _ => None,
        };
        if let Some(path) = duplicate {
            let first = self.spans.get(&path).cloned();
            let mut diag = Diagnostic::error(format!("key `{key}` is defined twice"))
                .at(self.location(mark))
                .path(path)
                .help("remove one of the two definitions");
            if let Some(first) = first {
                diag = diag.note(format!("first defined at {first}"));
            }
            self.fail(diag);
        }
        if let Some(Frame::Map { pending_key, .. }) = self.stack.last_mut() {
            *pending_key = Some((key, mark));
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if matches!(
            ev,
            Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(_)
        ) {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                self.fail(
                    Diagnostic::error(format!("this file holds more than {MAX_NODES} YAML nodes"))
                        .at(self.location(mark))
                        .help("split the config into several files of a folder, and put long recipient lists in CSV files"),
                );
                return;
            }
        }
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(text, style, anchor, _tag) => {
                if self.expecting_key() {
                    self.on_key(text, mark);
                    return;
                }
                let Some(path) = self.child_path() else {
                    return;
                };
                let size = 1 + text.len();
                let value = resolve_scalar(text, style);
                self.spans.insert(path, self.location(mark));
                if anchor > 0 {
                    self.anchor(anchor, &value, size, mark);
                }
                self.push_value(value, size);
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    self.fail(
                        Diagnostic::error("an alias cannot be used as a mapping key")
                            .at(self.location(mark)),
                    );
                    return;
                }
                let size = self.anchors.get(&id).map_or(1, |(_, size)| *size);
                self.aliases += 1;
                self.expanded = self.expanded.saturating_add(size);
                if self.aliases > MAX_ALIASES || self.expanded > MAX_EXPANSION {
                    self.expansion_error(mark);
                    return;
                }
                let value = self
                    .anchors
                    .get(&id)
                    .map_or(Value::Null, |(value, _)| value.clone());
                if let Some(path) = self.child_path() {
                    self.spans.insert(path, self.location(mark));
                }
                self.push_value(value, size);
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if self.expecting_key() {
                    self.fail(
                        Diagnostic::error("a mapping key must be a plain string")
                            .at(self.location(mark))
                            .help("write keys as `name:`; complex keys are not supported"),
                    );
                    return;
                }
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(
                        Diagnostic::error(format!("the YAML nests deeper than {MAX_DEPTH} levels"))
                            .at(self.location(mark))
                            .help("a config never needs this depth; flatten the structure"),
                    );
                    return;
                }
                let path = self.child_path().unwrap_or_default();
                // A block container's own mark sits at its first entry; its
                // key is where a reader looks for it.
                let key_mark = match self.stack.last() {
                    Some(Frame::Map {
                        pending_key: Some((_, key_mark)),
                        ..
                    }) => *key_mark,
                    _ => mark,
                };
                self.spans.insert(path.clone(), self.location(key_mark));
                let frame = if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        path,
                        map: Map::new(),
                        pending_key: None,
                        anchor,
                        size: 1,
                    }
                } else {
                    Frame::Seq {
                        path,
                        items: Vec::new(),
                        anchor,
                        size: 1,
                    }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor, size) = match self.stack.pop() {
                    Some(Frame::Map {
                        map, anchor, size, ..
                    }) => (Value::Object(map), anchor, size),
                    Some(Frame::Seq {
                        items,
                        anchor,
                        size,
                        ..
                    }) => (Value::Array(items), anchor, size),
                    None => return,
                };
                if anchor > 0 {
                    self.anchor(anchor, &value, size, mark);
                }
                self.push_value(value, size);
            }
            _ => {}
        }
    }
}

/// YAML 1.2 core-schema resolution of a scalar, with one deliberate
/// exception: numbers written with a leading `+` or a leading zero stay
/// strings, so an unquoted phone like `+15551234567` keeps its `+` and its
/// digits (a number would silently drop them).
fn resolve_scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let keeps_text = text.starts_with('+')
        || (digits.len() > 1 && digits.starts_with('0') && digits.as_bytes()[1].is_ascii_digit());
    if !keeps_text && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
    }
    if !keeps_text && looks_like_float(digits) {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text)
}

fn looks_like_float(s: &str) -> bool {
    let mut seen_digit = false;
    let mut seen_dot = false;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            _ => return false,
        }
    }
    seen_digit && seen_dot
}

/// The first tab on 1-based `line` or after, as 1-based (line, column)
/// counted in characters.
fn first_tab_from(source: &str, line: usize) -> Option<(usize, usize)> {
    source
        .lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .find_map(|(i, text)| text.chars().position(|c| c == '\t').map(|c| (i + 1, c + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(src: &str) -> Document {
        parse(&Arc::from("t.yaml"), src).expect("parses")
    }

    #[test]
    fn positions_point_at_values() {
        let d = doc("a:\n  b: hello\n  c:\n    - x\n    - { phone: +15551234567 }\n");
        let b = &d.spans["a.b"];
        assert_eq!((b.line, b.column), (2, 6));
        let p = &d.spans["a.c[1].phone"];
        assert_eq!((p.line, p.column), (5, 16));
        assert_eq!(d.value["a"]["c"][1]["phone"], "+15551234567");
    }

    #[test]
    fn scalars_resolve_like_yaml_core() {
        let d = doc(
            "a: 1\nb: '1'\nc: true\nd: 0123\ne: 1.5\nf: ~\ng: 2026-12-01T09:00:00+03:00\nh: 0.5\n",
        );
        assert_eq!(d.value["h"], 0.5);
        assert_eq!(d.value["a"], 1);
        assert_eq!(d.value["b"], "1");
        assert_eq!(d.value["c"], true);
        assert_eq!(d.value["d"], "0123");
        assert_eq!(d.value["e"], 1.5);
        assert!(d.value["f"].is_null());
        assert_eq!(d.value["g"], "2026-12-01T09:00:00+03:00");
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_diagnostics() {
        let err = parse(&Arc::from("t.yaml"), "a: 1\nb: 2\na: 3\n").expect_err("dup");
        assert!(err.summary.contains("defined twice"));
        assert_eq!(err.location.as_ref().map(|l| l.line), Some(3));
        let err = parse(&Arc::from("t.yaml"), "a: [1, 2\nb: 3\n").expect_err("syntax");
        assert!(err.summary.contains("YAML syntax error"));
    }

    #[test]
    fn a_tab_is_reported_on_its_own_line() {
        for source in ["a:\n  b: x\n\tc: y\n", "a:\n  - x\n\t- y\n", "a:\n\tb: 1\n"] {
            let err = parse(&Arc::from("t.yaml"), source).expect_err("tab");
            let at = err.location.as_ref().map(|l| (l.line, l.column));
            let tab_line = source.lines().position(|l| l.contains('\t')).map(|i| i + 1);
            assert_eq!(at, tab_line.map(|l| (l, 1)), "{source:?}: {}", err.summary);
        }
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let d = doc("base: &b { x: 1 }\nother: *b\n");
        assert_eq!(d.value["other"]["x"], 1);
    }
}
