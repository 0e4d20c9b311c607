//! The config's JSON Schema: generated from the Rust types with schemars,
//! committed as `schemas/waform.schema.json` (a test fails when stale), and
//! used to check a config's structure before the semantic rules run.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::config::spans::SpanMap;
use crate::config::types::RawConfig;
use crate::diag::{Diagnostic, Diagnostics};

/// The schema as a JSON value.
pub(crate) fn schema_value() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$id".into(),
            Value::String("https://waform.dev/schemas/waform.schema.json".into()),
        );
    }
    schema
}

/// The schema as printed by `waform schema` (pretty JSON, newline-terminated).
pub fn schema_json() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&schema_value())?)
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(&schema_value()).ok())
        .as_ref()
}

/// Checks `value` against the schema; every violation becomes a diagnostic
/// at the offending node.
pub(crate) fn check(value: &Value, spans: &SpanMap) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(validator) = validator() else {
        diags.push(Diagnostic::error(
            "internal error: the built-in JSON Schema does not compile",
        ));
        return diags;
    };
    let schema = schema_value();
    let mut found = Diagnostics::default();
    for error in validator.iter_errors(value) {
        report(&error, value, spans, &schema, &mut found);
    }
    // A misspelled required field is one mistake, not two: "unknown field
    // `txt` (did you mean `text`?)" already says `text` is missing.
    // (object path, field) pairs some did-you-mean already names: looked up
    // per diagnostic, so thousands of errors stay linear.
    let mut suggested: std::collections::HashSet<(String, String)> = Default::default();
    for d in found.iter() {
        let (Some(path), Some(help)) = (d.path.as_deref(), d.help.as_deref()) else {
            continue;
        };
        let objects: Vec<&str> = path.match_indices('.').map(|(i, _)| &path[..i]).collect();
        for part in help.split("did you mean `").skip(1) {
            if let Some(field) = part.split('`').next() {
                for object in &objects {
                    suggested.insert((object.to_string(), field.to_string()));
                }
            }
        }
    }
    found.retain(|d| {
        let object = d.path.as_deref().unwrap_or_default().to_string();
        !d.summary
            .strip_prefix("missing required field `")
            .and_then(|rest| rest.strip_suffix('`'))
            .is_some_and(|field| suggested.contains(&(object, field.to_string())))
    });
    diags.extend(found);
    diags
}

/// The document without the nodes the schema refuses, so the semantic rules
/// can still check everything else in the same run. Returns the pruned copy
/// and the document paths removed, or `None` when what is wrong is the
/// document itself (nothing sensible is left to check).
pub(crate) fn prune(value: &Value) -> Option<(Value, Vec<String>)> {
    let validator = validator()?;
    // Past this many refused nodes the rest of the document is not worth
    // checking (the report is cut at 200 anyway), and copying and pruning a
    // flood of them would cost memory in proportion.
    const MAX_PRUNED: usize = 10_000;
    let refused: usize = validator
        .iter_errors(value)
        .map(|error| match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.len(),
            _ => 1,
        })
        .sum();
    if refused > MAX_PRUNED {
        return None;
    }
    let mut doc = value.clone();
    let mut pruned = Vec::new();
    // Removing a node can expose another error (a `required` field removed
    // from its object): a few rounds settle it.
    for _ in 0..16 {
        let mut remove: Vec<String> = Vec::new();
        let mut missing_version = false;
        for error in validator.iter_errors(&doc) {
            let pointer = error.instance_path().as_str().to_string();
            match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for key in unexpected {
                        remove.push(format!(
                            "{pointer}/{}",
                            key.replace('~', "~0").replace('/', "~1")
                        ));
                    }
                }
                ValidationErrorKind::Required { property }
                    if pointer.is_empty() && property.as_str() == Some("version") =>
                {
                    missing_version = true;
                }
                _ if pointer.is_empty() => return None,
                _ => remove.push(pointer),
            }
        }
        if remove.is_empty() && !missing_version {
            return Some((doc, pruned));
        }
        if missing_version {
            if let Value::Object(map) = &mut doc {
                map.insert("version".into(), Value::from(1));
            }
        }
        remove.sort_by(|a, b| pointer_order(b, a));
        remove.dedup();
        let mut done: std::collections::HashSet<String> = Default::default();
        for pointer in remove {
            let inside_removed = pointer
                .match_indices('/')
                .any(|(i, _)| done.contains(&pointer[..i]));
            if inside_removed {
                continue;
            }
            pruned.push(dotted_path(&pointer, &doc));
            done.insert(pointer);
        }
        remove_all(&mut doc, done);
    }
    None
}

/// Removes every node at `pointers` (JSON pointers into `doc`), one pass per
/// container: removing thousands of keys one by one from an ordered map
/// shifts it each time (quadratic). Deeper containers go first, so the
/// indices of outer arrays stay valid until their own turn.
fn remove_all(doc: &mut Value, pointers: std::collections::HashSet<String>) {
    let mut by_parent: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for pointer in pointers {
        if let Some((parent, last)) = pointer.rsplit_once('/') {
            let key = last.replace("~1", "/").replace("~0", "~");
            by_parent.entry(parent.to_string()).or_default().insert(key);
        }
    }
    let mut parents: Vec<(String, std::collections::HashSet<String>)> =
        by_parent.into_iter().collect();
    parents.sort_by_key(|(parent, _)| std::cmp::Reverse(parent.matches('/').count()));
    for (parent, keys) in parents {
        match doc.pointer_mut(&parent) {
            Some(Value::Object(map)) => map.retain(|k, _| !keys.contains(k)),
            Some(Value::Array(items)) => {
                let mut index = 0;
                items.retain(|_| {
                    let gone = keys.contains(&index.to_string());
                    index += 1;
                    !gone
                });
            }
            _ => {}
        }
    }
}

/// Orders JSON pointers segment by segment, array indices numerically, so
/// removing in descending order never shifts an index still to be removed.
fn pointer_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    for (x, y) in sa.iter().zip(&sb) {
        let ord = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            _ => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    sa.len().cmp(&sb.len())
}

/// Turns one schema error into diagnostics. An `Option<T>` field is an
/// `anyOf [T, null]`: when only the `T` branch is plausible, its own errors
/// are reported (naming the field and what is wrong), not "matches no form".
fn report(
    error: &jsonschema::ValidationError<'_>,
    value: &Value,
    spans: &SpanMap,
    schema: &Value,
    diags: &mut Diagnostics,
) {
    let path = dotted_path(error.instance_path().as_str(), value);
    if let ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } =
        error.kind()
    {
        let plausible: Vec<&Vec<jsonschema::ValidationError<'static>>> = context
            .iter()
            .filter(|branch| !branch.iter().all(is_null_type_error))
            .collect();
        let recipients = path.contains("recipients") || path.contains("exclude");
        if plausible.len() == 1 && !recipients {
            for inner in plausible[0] {
                report(inner, value, spans, schema, diags);
            }
            return;
        }
        let instance = value.pointer(error.instance_path().as_str());
        if let Some(union) = tagged_union(schema, error.schema_path().as_str()) {
            match union.pick(instance) {
                Pick::Branch(i) => {
                    if let Some(branch) = context.get(i) {
                        for inner in branch {
                            report(inner, value, spans, schema, diags);
                        }
                        return;
                    }
                }
                Pick::Unknown(tag) => {
                    diags.push(union.unknown_tag(tag, &path, spans));
                    return;
                }
                Pick::Missing => {
                    diags.push(union.missing_tag(&path, spans));
                    return;
                }
                Pick::NotAnObject => {}
            }
        }
    }
    let (summary, help, at) = describe(error.kind(), &path, error.schema_path().as_str(), schema);
    let shown = at.clone().unwrap_or_else(|| path.clone());
    let mut diag = Diagnostic::error(summary).path(if shown.is_empty() {
        "(top level)".to_string()
    } else {
        shown
    });
    if let Some(loc) = spans.locate(at.as_deref().unwrap_or(&path)) {
        diag = diag.at(loc);
    }
    if let Some(help) = help {
        diag = diag.help(help);
    }
    diags.push(diag);
}

fn is_null_type_error(error: &jsonschema::ValidationError<'_>) -> bool {
    matches!(
        error.kind(),
        ValidationErrorKind::Type { kind: jsonschema::error::TypeKind::Single(t) }
            if format!("{t}") == "null"
    )
}

fn describe(
    kind: &ValidationErrorKind,
    path: &str,
    schema_path: &str,
    schema: &Value,
) -> (String, Option<String>, Option<String>) {
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_properties(schema, schema_path);
            // Thousands of unknown keys must not cost thousands of
            // suggestions or a megabyte summary: name the first few.
            const NAMED: usize = 10;
            let mut hints = Vec::new();
            for name in unexpected.iter().take(NAMED) {
                if let Some(best) = closest(name, &allowed) {
                    hints.push(format!("did you mean `{best}` instead of `{name}`?"));
                }
            }
            if hints.is_empty() && !allowed.is_empty() {
                hints.push(format!("allowed fields here: {}", allowed.join(", ")));
            }
            let mut names = unexpected
                .iter()
                .take(NAMED)
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            if unexpected.len() > NAMED {
                names.push_str(&format!(" and {} more", unexpected.len() - NAMED));
            }
            let at = unexpected.first().map(|n| join(path, n));
            (
                format!("unknown field {names}"),
                Some(hints.join("; ")).filter(|h| !h.is_empty()),
                at,
            )
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or("?").to_string();
            (
                format!("missing required field `{name}`"),
                Some(format!("add `{name}:` here")),
                None,
            )
        }
        ValidationErrorKind::Enum { options } => (
            format!("value is not one of the allowed values {options}"),
            Some("use one of the listed values (they are case-sensitive)".into()),
            None,
        ),
        ValidationErrorKind::Type { kind } => (
            format!("wrong type: expected {}", type_name(kind)),
            None,
            None,
        ),
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. }
            if path.contains("recipients") || path.contains("exclude") =>
        {
            (
                "a recipient entry must be `{ csv: FILE }` or a row like `{ phone: \"+15551234567\", fname: Anna }`"
                    .into(),
                Some("row values must be strings, numbers or booleans".into()),
                None,
            )
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. }
            if path == "version" =>
        {
            (
                "unsupported config version".into(),
                Some("write `version: 1`".into()),
                None,
            )
        }
        other => (schema_message(other), None, None),
    }
}

fn schema_message(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Minimum { limit } => format!("value is below the minimum {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("value is above the maximum {limit}"),
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            "value does not match any allowed form".into()
        }
        other => format!("{other:?}")
            .split(['{', '('])
            .next()
            .unwrap_or("invalid value")
            .trim()
            .to_string(),
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => format!("{t}"),
        jsonschema::error::TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.iter().map(|t| format!("{t}")).collect();
            names.join(" or ")
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

/// JSON pointer (`/sends/s/recipients/0`) → document path (`sends.s.recipients[0]`).
fn dotted_path(pointer: &str, root: &Value) -> String {
    let mut out = String::new();
    let mut node = Some(root);
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{seg}]"));
                node = seg.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                node = match other {
                    Some(Value::Object(map)) => map.get(&seg),
                    _ => None,
                };
                out.push_str(&seg);
            }
        }
    }
    out
}

/// A `oneOf`/`anyOf` whose branches are objects told apart by one property
/// with a constant value (serde's internally tagged enums: a button's `type`).
struct TaggedUnion {
    tag: String,
    /// The tag value of each branch, in branch order.
    values: Vec<String>,
}

enum Pick<'a> {
    Branch(usize),
    Unknown(&'a str),
    Missing,
    NotAnObject,
}

impl TaggedUnion {
    fn pick<'a>(&self, instance: Option<&'a Value>) -> Pick<'a> {
        let Some(Value::Object(map)) = instance else {
            return Pick::NotAnObject;
        };
        match map.get(&self.tag) {
            None => Pick::Missing,
            Some(Value::String(tag)) => match self.values.iter().position(|v| v == tag) {
                Some(i) => Pick::Branch(i),
                None => Pick::Unknown(tag),
            },
            Some(_) => Pick::Unknown(""),
        }
    }

    fn allowed(&self) -> String {
        self.values.join(", ")
    }

    fn unknown_tag(&self, tag: &str, path: &str, spans: &SpanMap) -> Diagnostic {
        let at = join(path, &self.tag);
        let mut help = format!("`{}` is one of: {}", self.tag, self.allowed());
        if let Some(best) = closest(tag, &self.values) {
            help = format!("did you mean `{best}`? {help}");
        }
        let mut d = Diagnostic::error(format!("unknown {} `{tag}`", self.tag))
            .path(at.clone())
            .help(help);
        if let Some(loc) = spans.locate(&at).or_else(|| spans.locate(path)) {
            d = d.at(loc);
        }
        d
    }

    fn missing_tag(&self, path: &str, spans: &SpanMap) -> Diagnostic {
        let mut d = Diagnostic::error(format!("missing required field `{}`", self.tag))
            .path(path.to_string())
            .help(format!(
                "add `{}:` with one of: {}",
                self.tag,
                self.allowed()
            ));
        if let Some(loc) = spans.locate(path) {
            d = d.at(loc);
        }
        d
    }
}

/// The schema node at `schema_path` (following `$ref`s).
fn schema_node<'a>(schema: &'a Value, schema_path: &str) -> Option<&'a Value> {
    let mut node = schema;
    for seg in schema_path.split('/').skip(1) {
        if seg == "$ref" {
            continue;
        }
        node = deref(schema, node)?;
        node = match node {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    deref(schema, node)
}

fn deref<'a>(schema: &'a Value, node: &'a Value) -> Option<&'a Value> {
    match node.get("$ref").and_then(Value::as_str) {
        Some(target) => target.strip_prefix('#').and_then(|ptr| schema.pointer(ptr)),
        None => Some(node),
    }
}

/// The tagged union whose `oneOf`/`anyOf` keyword failed at `schema_path`.
fn tagged_union(schema: &Value, schema_path: &str) -> Option<TaggedUnion> {
    let branches = schema_node(schema, schema_path)?.as_array()?;
    let branches: Vec<&Value> = branches
        .iter()
        .map(|b| deref(schema, b))
        .collect::<Option<_>>()?;
    let first = branches.first()?.get("properties")?.as_object()?;
    let constant = |branch: &Value, key: &str| -> Option<String> {
        let prop = branch.get("properties")?.get(key)?;
        match (prop.get("const"), prop.get("enum")) {
            (Some(Value::String(c)), _) => Some(c.clone()),
            (None, Some(Value::Array(e))) if e.len() == 1 => e[0].as_str().map(str::to_string),
            _ => None,
        }
    };
    first.keys().find_map(|key| {
        let values: Option<Vec<String>> = branches.iter().map(|b| constant(b, key)).collect();
        values.map(|values| TaggedUnion {
            tag: key.clone(),
            values,
        })
    })
}

/// The property names allowed at the object whose `additionalProperties`
/// keyword failed, found by walking the schema path (following `$ref`s).
fn allowed_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let mut node = schema;
    let segments: Vec<&str> = schema_path.split('/').skip(1).collect();
    let Some((_, parents)) = segments.split_last() else {
        return Vec::new();
    };
    for seg in parents {
        if *seg == "$ref" {
            let Some(target) = node.get("$ref").and_then(Value::as_str) else {
                return Vec::new();
            };
            let Some(resolved) = target.strip_prefix('#').and_then(|ptr| schema.pointer(ptr))
            else {
                return Vec::new();
            };
            node = resolved;
            continue;
        }
        node = match node {
            Value::Object(map) => match map.get(*seg) {
                Some(next) => next,
                None => return Vec::new(),
            },
            Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(next) => next,
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
    }
    let mut names: Vec<String> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The allowed name closest to `name` by edit distance, if close enough to
/// be a likely typo.
pub fn closest<'a>(name: &str, allowed: &'a [String]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(name, a), a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_becomes_document_path() {
        let v = serde_json::json!({"sends": {"s": {"recipients": [{"phone": 1}]}}});
        assert_eq!(
            dotted_path("/sends/s/recipients/0/phone", &v),
            "sends.s.recipients[0].phone"
        );
    }

    #[test]
    fn typos_get_a_suggestion() {
        let allowed = vec!["body".to_string(), "body_examples".to_string()];
        assert_eq!(closest("bdy", &allowed), Some("body"));
        assert_eq!(closest("zzzzzz", &allowed), None);
    }
}
