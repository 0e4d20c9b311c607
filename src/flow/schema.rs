//! `schemas/flow-json.schema.json`: a JSON Schema of Flow JSON for editors,
//! generated from the same component table the validator uses (`spec`),
//! printed by `waform schema --flow-json` (a test fails when the committed
//! file is stale). Version-dependent rules, routing and bindings are beyond
//! a schema; `waform validate` checks those.

use serde_json::{json, Map, Value};

use super::spec::{self, Component, Kind, Prop, COMPONENTS};
use super::version::{FROZEN, LATEST, PUBLISHABLE};

const BINDING: &str = r"^\$\{.+\}$";

pub(crate) fn schema_value() -> Value {
    let mut defs = Map::new();
    defs.insert("screen".into(), screen());
    defs.insert("action".into(), action());
    defs.insert("option".into(), option());
    defs.insert(
        "binding".into(),
        json!({"type": "string", "pattern": BINDING}),
    );
    defs.insert(
        "children".into(),
        json!({"type": "array", "items": {"$ref": "#/$defs/component"}}),
    );
    defs.insert("component".into(), component_dispatch());
    for c in COMPONENTS {
        defs.insert(c.name.to_string(), component(c));
    }
    let versions: Vec<String> = PUBLISHABLE
        .iter()
        .chain(FROZEN.iter())
        .map(ToString::to_string)
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://waform.dev/schemas/flow-json.schema.json",
        "title": "WhatsApp Flow JSON (as checked by waform)",
        "description": format!("Structure of a WhatsApp Flow JSON. `waform validate` checks more: versions, routing, bindings, limits. Recommended version: {LATEST}."),
        "type": "object",
        "required": ["version", "screens"],
        "properties": {
            "version": {
                "description": format!("Flow JSON version. Publishable: {}; frozen (send only): {}.",
                    PUBLISHABLE.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    FROZEN.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
                "type": "string",
                "enum": versions,
            },
            "data_api_version": {
                "description": "Data API version of an endpoint Flow.",
                "type": "string",
                "enum": spec::DATA_API_VERSIONS,
            },
            "routing_model": {
                "description": "Endpoint Flows: screen id → the screens it may go to.",
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "string"},
                    "maxItems": spec::BRANCHES_PER_SCREEN,
                },
            },
            "screens": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/screen"},
            },
        },
        "$defs": defs,
    })
}

/// The schema as printed by `waform schema --flow-json`.
pub fn schema_json() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&schema_value())?)
}

fn screen() -> Value {
    json!({
        "type": "object",
        "required": ["id", "layout"],
        "properties": {
            "id": {
                "description": "Letters and underscores; SUCCESS is reserved.",
                "type": "string",
                "pattern": "^[A-Za-z_]+$",
                "not": {"const": "SUCCESS"},
            },
            "terminal": {"type": "boolean", "description": "The last screen of a path; needs a Footer."},
            "success": {"type": "boolean"},
            "title": {"type": "string"},
            "refresh_on_back": {"type": "boolean"},
            "sensitive": {"type": "array", "items": {"type": "string"}, "description": "Since 5.1."},
            "data": {
                "description": "The screen's data model: every field with a type and an __example__.",
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["type", "__example__"],
                    "properties": {"type": {"enum": spec::DATA_TYPES}},
                },
            },
            "layout": {
                "type": "object",
                "required": ["type", "children"],
                "properties": {
                    "type": {"const": "SingleColumnLayout"},
                    "children": {
                        "type": "array",
                        "maxItems": spec::COMPONENTS_PER_SCREEN,
                        "items": {"$ref": "#/$defs/component"},
                    },
                },
                "additionalProperties": false,
            },
        },
    })
}

fn action() -> Value {
    let names: Vec<&str> = spec::ACTIONS.iter().map(|(n, _)| *n).collect();
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"enum": names, "description": "update_data and open_url since 6.0."},
            "next": {
                "type": "object",
                "required": ["type", "name"],
                "properties": {"type": {"const": "screen"}, "name": {"type": "string"}},
            },
            "payload": {"type": "object"},
            "url": {"type": "string"},
        },
    })
}

fn option() -> Value {
    json!({
        "type": "object",
        "required": ["id", "title"],
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
    })
}

/// `type` picks the component's own schema.
fn component_dispatch() -> Value {
    let names: Vec<&str> = COMPONENTS.iter().map(|c| c.name).collect();
    let branches: Vec<Value> = COMPONENTS
        .iter()
        .map(|c| {
            json!({
                "if": {"properties": {"type": {"const": c.name}}, "required": ["type"]},
                "then": {"$ref": format!("#/$defs/{}", c.name)},
            })
        })
        .collect();
    json!({
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": names}},
        "allOf": branches,
    })
}

fn component(c: &Component) -> Value {
    let mut props = Map::new();
    props.insert("type".into(), json!({"const": c.name}));
    for p in c.props {
        props.insert(p.name.to_string(), prop(c, p));
    }
    let required: Vec<&str> = std::iter::once("type")
        .chain(c.props.iter().filter(|p| p.required).map(|p| p.name))
        .collect();
    let mut out = json!({
        "description": format!("Since Flow JSON {}.", c.since),
        "type": "object",
        "required": required,
        "properties": props,
    });
    if c.name == "TextInput" {
        out["dependentRequired"] = json!({"pattern": ["helper-text"]});
    }
    out
}

fn prop(c: &Component, p: &Prop) -> Value {
    let binding = json!({"$ref": "#/$defs/binding"});
    let max_chars = p.max_chars.or_else(|| {
        (p.name == "text")
            .then(|| spec::text_limit(c.name))
            .flatten()
    });
    let mut schema = match p.kind {
        Kind::Text => match max_chars {
            Some(max) => json!({"anyOf": [binding, {"type": "string", "maxLength": max}]}),
            None => json!({"type": "string"}),
        },
        Kind::TextOrLines => {
            let text = match max_chars {
                Some(max) => json!({"type": "string", "maxLength": max}),
                None => json!({"type": "string"}),
            };
            json!({"anyOf": [binding, text, {"type": "array", "items": {"type": "string"}}]})
        }
        Kind::Bool => json!({"anyOf": [{"type": "boolean"}, binding]}),
        Kind::Int => json!({"anyOf": [{"type": "integer"}, binding]}),
        Kind::Enum(values) => json!({"anyOf": [{"enum": values}, binding]}),
        Kind::Options => {
            let mut array = json!({"type": "array", "items": {"$ref": "#/$defs/option"}});
            if let Some((min, max)) = c.options {
                array["minItems"] = json!(min);
                array["maxItems"] = json!(max);
            }
            json!({"anyOf": [array, binding]})
        }
        Kind::Action => json!({"$ref": "#/$defs/action"}),
        Kind::Children => json!({"$ref": "#/$defs/children"}),
        Kind::Object => json!({"type": "object"}),
        Kind::Array => json!({"anyOf": [{"type": "array"}, binding]}),
        Kind::Any => json!({}),
    };
    if p.since > c.since {
        schema["description"] = json!(format!("Since Flow JSON {}.", p.since));
    }
    schema
}
