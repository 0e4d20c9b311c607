//! Components and actions: types allowed in the declared version, their
//! properties and value types, text limits, option counts, per-screen caps,
//! and empty strings (docs/flow-json-rules.md "Components", "Limits",
//! "Actions").

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::structure::unknown_field;
use super::{is_binding, Action, Ctx, Model, Node, Screen};
use crate::flow::spec::{self, Component, Kind, Prop, ACTIONS, COMPONENTS};
use crate::flow::version::Version;

pub(super) fn check(ctx: &mut Ctx<'_>, model: &Model<'_>) {
    for screen in &model.screens {
        let mut per_kind: HashMap<&str, Vec<&Node<'_>>> = HashMap::new();
        let mut names: HashMap<&str, &str> = HashMap::new();
        for node in &screen.nodes {
            per_kind.entry(node.kind).or_default().push(node);
            component(ctx, node);
            if spec::component(node.kind).is_some_and(|c| c.input) {
                if let Some(name) = node.map.get("name").and_then(Value::as_str) {
                    if let Some(first) = names.get(name) {
                        ctx.error(
                            &format!("{}.name", node.path),
                            format!("field name `{name}` is used twice on this screen (first at {first})"),
                            "give every input on a screen its own `name`",
                        );
                    } else {
                        names.insert(name, &node.path);
                    }
                }
            }
        }
        for c in COMPONENTS {
            let (Some(cap), Some(nodes)) = (c.per_screen, per_kind.get(c.name)) else {
                continue;
            };
            if nodes.len() > cap {
                ctx.error(
                    &nodes[cap].path,
                    format!(
                        "screen `{}` has {} {} components; Meta allows {cap} per screen",
                        screen.id.unwrap_or("?"),
                        nodes.len(),
                        c.name
                    ),
                    format!("keep at most {cap} {} on one screen", c.name),
                );
            }
        }
        for action in &screen.actions {
            self::action(ctx, model, screen, action);
        }
    }
    if ctx.version >= Version::new(6, 0) {
        for (key, value) in model.root {
            empty_strings(ctx, value, key);
        }
    }
}

fn component(ctx: &mut Ctx<'_>, node: &Node<'_>) {
    let path = &node.path;
    let Some(kind) = node.map.get("type") else {
        ctx.error(
            path,
            "the component has no `type`",
            "add `\"type\": \"TextBody\"` (or another component type)",
        );
        return;
    };
    let Some(kind) = kind.as_str() else {
        ctx.error(&format!("{path}.type"), "`type` must be a string", "");
        return;
    };
    let Some(spec) = spec::component(kind) else {
        let known: Vec<String> = COMPONENTS.iter().map(|c| c.name.to_string()).collect();
        let help = match crate::schema::closest(kind, &known) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("components: {}", known.join(", ")),
        };
        ctx.error(
            &format!("{path}.type"),
            format!("unknown component `{kind}`"),
            help,
        );
        return;
    };
    if spec.since > ctx.version {
        ctx.error(
            &format!("{path}.type"),
            format!(
                "{kind} needs Flow JSON {} or later; this Flow is {}",
                spec.since, ctx.version
            ),
            format!("raise `version` to {} or use another component", spec.since),
        );
    }
    for prop in spec.props {
        if prop.required && !node.map.contains_key(prop.name) {
            ctx.error(
                path,
                format!("{kind} is missing `{}`", prop.name),
                format!("add `\"{}\"`", prop.name),
            );
        }
    }
    let known: Vec<String> = spec.props.iter().map(|p| p.name.to_string()).collect();
    for (key, value) in node.map {
        if key == "type" {
            continue;
        }
        let kpath = format!("{path}.{key}");
        match spec.prop(key) {
            None => unknown_field(ctx, &kpath, key, &known, kind),
            Some(prop) => {
                if prop.since > ctx.version {
                    ctx.error(
                        &kpath,
                        format!("`{key}` on {kind} needs Flow JSON {} or later", prop.since),
                        format!("raise `version` to {} or remove `{key}`", prop.since),
                    );
                }
                value_kind(ctx, spec, prop, value, &kpath);
                limit(ctx, spec, prop, value, &kpath);
            }
        }
    }
    if let Some(limit) = spec::text_limit(kind) {
        if let Some(text) = node.map.get("text").and_then(Value::as_str) {
            let len = text.chars().count();
            if !is_binding(text) && len > limit {
                ctx.error(
                    &format!("{path}.text"),
                    format!("{kind} text is {len} characters; Meta allows {limit}"),
                    "shorten the text or split it into several components",
                );
            }
            // From 6.0 every empty string is reported by `empty_strings`.
            let empty_reported = text.is_empty() && ctx.version >= Version::new(6, 0);
            if text.trim().is_empty() && !empty_reported {
                ctx.error(
                    &format!("{path}.text"),
                    format!("{kind} text is empty"),
                    "write the text or remove the component",
                );
            }
        }
    }
    if kind == "TextInput"
        && node.map.contains_key("pattern")
        && !node.map.contains_key("helper-text")
    {
        ctx.error(
            &format!("{path}.pattern"),
            "a TextInput with `pattern` needs `helper-text`",
            "add `helper-text` telling the user the expected format (shown when the input does not match)",
        );
    }
}

fn value_kind(ctx: &mut Ctx<'_>, spec: &Component, prop: &Prop, value: &Value, path: &str) {
    let dynamic = value.as_str().is_some_and(is_binding);
    let name = prop.name;
    let problem: Option<String> = match prop.kind {
        Kind::Text => (!value.is_string()).then(|| format!("`{name}` must be a string")),
        Kind::TextOrLines => match value {
            Value::String(_) => None,
            Value::Array(lines) if ctx.version >= Version::new(5, 1) => {
                (!lines.iter().all(Value::is_string))
                    .then(|| format!("every line of `{name}` must be a string"))
            }
            Value::Array(_) => Some(format!(
                "`{name}` as an array of lines needs Flow JSON 5.1 or later"
            )),
            _ => Some(format!("`{name}` must be a string")),
        },
        Kind::Bool => (!value.is_boolean() && !dynamic)
            .then(|| format!("`{name}` must be true, false or a `${{…}}` binding")),
        Kind::Int => (!(value.is_i64() || value.is_u64() || dynamic))
            .then(|| format!("`{name}` must be a whole number or a `${{…}}` binding")),
        Kind::Enum(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) || dynamic => None,
            _ => Some(format!("`{name}` must be one of {}", allowed.join(", "))),
        },
        Kind::Options => match value {
            Value::Array(items) => {
                options(ctx, spec, items, path);
                None
            }
            _ if dynamic => None,
            _ => Some(format!(
                "`{name}` must be an array of options or a `${{data.…}}` binding"
            )),
        },
        Kind::Action | Kind::Object => {
            (!value.is_object()).then(|| format!("`{name}` must be an object"))
        }
        Kind::Children => {
            (!value.is_array()).then(|| format!("`{name}` must be an array of components"))
        }
        Kind::Array => (!value.is_array() && !dynamic)
            .then(|| format!("`{name}` must be an array or a `${{…}}` binding")),
        Kind::Any => None,
    };
    if let Some(summary) = problem {
        ctx.error(path, format!("{} on {}", summary, spec.name), "");
    }
}

fn limit(ctx: &mut Ctx<'_>, spec: &Component, prop: &Prop, value: &Value, path: &str) {
    let (Some(max), Some(text)) = (prop.max_chars, value.as_str()) else {
        return;
    };
    let len = text.chars().count();
    if len > max && !is_binding(text) {
        ctx.error(
            path,
            format!(
                "{} `{}` is {len} characters; Meta allows {max}",
                spec.name, prop.name
            ),
            format!("shorten the {}", prop.name),
        );
    }
}

fn options(ctx: &mut Ctx<'_>, spec: &Component, items: &[Value], path: &str) {
    if let Some((min, max)) = spec.options {
        if items.len() < min || items.len() > max {
            ctx.error(
                path,
                format!(
                    "{} has {} options; Meta allows {min} to {max}",
                    spec.name,
                    items.len()
                ),
                match (items.len() > max, spec.name) {
                    (false, _) => "add options",
                    (true, "Dropdown") => "remove options or split the choice over two questions",
                    (true, _) => "remove options, or use a Dropdown (up to 200) for long lists",
                },
            );
        }
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let Some(map) = item.as_object() else {
            ctx.error(
                &ipath,
                "an option must be an object with `id` and `title`",
                "",
            );
            continue;
        };
        for field in ["id", "title"] {
            match map.get(field) {
                Some(Value::String(_)) => {}
                Some(_) => ctx.error(
                    &format!("{ipath}.{field}"),
                    format!("option `{field}` must be a string"),
                    "",
                ),
                None => ctx.error(
                    &ipath,
                    format!("the option has no `{field}`"),
                    format!("add `\"{field}\"`"),
                ),
            }
        }
        if let Some(id) = map.get("id").and_then(Value::as_str) {
            if let Some(first) = ids.insert(id, i) {
                ctx.error(
                    &format!("{ipath}.id"),
                    format!("option id `{id}` is used twice (first at option {first})"),
                    "give every option its own id",
                );
            }
        }
    }
}

fn action(ctx: &mut Ctx<'_>, model: &Model<'_>, screen: &Screen<'_>, action: &Action<'_>) {
    let path = &action.path;
    let Some(name) = action.map.get("name") else {
        ctx.error(
            path,
            "the action has no `name`",
            "add `\"name\"`: navigate, complete, data_exchange, update_data or open_url",
        );
        return;
    };
    let npath = format!("{path}.name");
    let Some(name) = name.as_str() else {
        ctx.error(&npath, "the action `name` must be a string", "");
        return;
    };
    match ACTIONS.iter().find(|(n, _)| *n == name) {
        None => {
            let known: Vec<String> = ACTIONS.iter().map(|(n, _)| n.to_string()).collect();
            ctx.error(
                &npath,
                format!("unknown action `{name}`"),
                format!("actions: {}", known.join(", ")),
            );
            return;
        }
        Some((_, since)) if *since > ctx.version => ctx.error(
            &npath,
            format!("the `{name}` action needs Flow JSON {since} or later"),
            format!("raise `version` to {since}"),
        ),
        Some(_) => {}
    }
    if let Some(payload) = action.map.get("payload") {
        if !payload.is_object() {
            ctx.error(
                &format!("{path}.payload"),
                "`payload` must be an object",
                "",
            );
        }
    }
    match name {
        "navigate" => navigate_shape(ctx, action.map, path),
        "data_exchange" if !model.endpoint => ctx.error(
            &npath,
            format!(
                "`data_exchange` on screen `{}`, but the Flow has no endpoint",
                screen.id.unwrap_or("?")
            ),
            "declare `data_api_version` and a `routing_model`, and set `endpoint_uri:` on the flow",
        ),
        "open_url" if !action.map.get("url").is_some_and(Value::is_string) => ctx.error(
            path,
            "an `open_url` action needs a `url` string",
            "add `\"url\": \"https://…\"`",
        ),
        _ => {}
    }
}

fn navigate_shape(ctx: &mut Ctx<'_>, action: &Map<String, Value>, path: &str) {
    let Some(next) = action.get("next") else {
        ctx.error(
            path,
            "a `navigate` action needs `next`",
            "add `\"next\": {\"type\": \"screen\", \"name\": \"NEXT_SCREEN\"}`",
        );
        return;
    };
    let npath = format!("{path}.next");
    let Some(next) = next.as_object() else {
        ctx.error(&npath, "`next` must be an object", "");
        return;
    };
    if next.get("type").and_then(Value::as_str) != Some("screen") {
        ctx.error(
            &npath,
            "`next.type` must be \"screen\"",
            "write `\"next\": {\"type\": \"screen\", \"name\": \"NEXT_SCREEN\"}`",
        );
    }
    if !next.get("name").is_some_and(Value::is_string) {
        ctx.error(
            &npath,
            "`next.name` must name the next screen",
            "add `\"name\": \"NEXT_SCREEN\"`",
        );
    }
}

/// From 6.0 Meta rejects empty strings anywhere in the Flow.
fn empty_strings(ctx: &mut Ctx<'_>, value: &Value, path: &str) {
    match value {
        Value::String(s) if s.is_empty() => ctx.error(
            path,
            "empty string",
            "Flow JSON 6.0 and later reject empty strings: write a value or remove the field",
        ),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                empty_strings(ctx, item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                empty_strings(ctx, item, &crate::flow::json::join(path, key));
            }
        }
        _ => {}
    }
}
