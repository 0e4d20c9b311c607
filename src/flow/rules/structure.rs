//! The Flow's frame: top-level fields, the version, screens and their ids,
//! layouts and terminal screens (docs/flow-json-rules.md "Structure",
//! "Versions", "Screens").

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Ctx, Model};
use crate::flow::spec::{self, DATA_API_VERSIONS, SCREEN_PROPS, TOP_LEVEL};
use crate::flow::version::{self, Standing, Version, LATEST};

/// Checks the top level; returns the declared version when it is usable.
pub(super) fn top_level(ctx: &mut Ctx<'_>, root: &Map<String, Value>) -> Option<Version> {
    for (name, required) in TOP_LEVEL {
        if required && !root.contains_key(name) {
            ctx.error(
                "",
                format!("missing required field `{name}`"),
                match name {
                    "version" => format!("add `\"version\": \"{LATEST}\"`"),
                    _ => "add `\"screens\": [...]` with at least one screen".to_string(),
                },
            );
        }
    }
    let known: Vec<String> = TOP_LEVEL.iter().map(|(n, _)| n.to_string()).collect();
    for key in root.keys() {
        if !known.iter().any(|k| k == key) {
            unknown_field(ctx, key, key, &known, "the top level of a Flow");
        }
    }
    let version = root.get("version").and_then(|v| check_version(ctx, v));
    match root.get("screens") {
        Some(Value::Array(items)) if items.is_empty() => ctx.error(
            "screens",
            "`screens` is empty",
            "a Flow needs at least one screen",
        ),
        Some(Value::Array(_)) | None => {}
        Some(_) => ctx.error("screens", "`screens` must be an array of screens", ""),
    }
    if let Some(v) = root.get("data_api_version") {
        match v.as_str() {
            Some(s) if DATA_API_VERSIONS.contains(&s) => {}
            _ => ctx.error(
                "data_api_version",
                format!(
                    "`data_api_version` must be one of {}",
                    DATA_API_VERSIONS.join(", ")
                ),
                "write it as a string, e.g. \"3.0\"",
            ),
        }
        if !root.contains_key("routing_model") {
            ctx.error(
                "data_api_version",
                "an endpoint Flow (`data_api_version`) needs a `routing_model`",
                "add `\"routing_model\": {\"SCREEN\": [\"NEXT_SCREEN\"], ...}`",
            );
        }
    }
    if root.contains_key("data_channel_uri") && version.is_some_and(|v| v >= Version::new(3, 0)) {
        ctx.error(
            "data_channel_uri",
            "`data_channel_uri` is not allowed from Flow JSON 3.0",
            "remove it and set `endpoint_uri:` on the flow in the config instead",
        );
    }
    if let Some(rm) = root.get("routing_model") {
        if !rm.is_object() {
            ctx.error(
                "routing_model",
                "`routing_model` must be an object of screen id → list of next screen ids",
                "",
            );
        }
    }
    version
}

fn check_version(ctx: &mut Ctx<'_>, value: &Value) -> Option<Version> {
    let Some(text) = value.as_str() else {
        ctx.error(
            "version",
            "`version` must be a string",
            format!("write the version as a string, e.g. \"{LATEST}\" (in YAML, quote it)"),
        );
        return None;
    };
    let Some(v) = Version::parse(text) else {
        ctx.error(
            "version",
            format!("`{text}` is not a Flow JSON version"),
            format!("use one of {}", version::publishable_list()),
        );
        return None;
    };
    match version::standing(v) {
        Standing::Publishable => Some(v),
        Standing::Frozen => {
            ctx.error(
                "version",
                format!("Flow JSON {v} is frozen: Meta no longer publishes Flows of this version"),
                format!(
                    "move the Flow to {LATEST} (recommended); publishable versions: {}",
                    version::publishable_list()
                ),
            );
            Some(v)
        }
        Standing::Newer => {
            ctx.warning(
                "version",
                format!("Flow JSON {v} is newer than the versions waform knows (up to {LATEST})"),
                format!(
                    "it may be an early-release version; waform checks it with the {LATEST} rules"
                ),
            );
            Some(LATEST)
        }
        Standing::Unknown => {
            ctx.error(
                "version",
                format!("Flow JSON {v} does not exist"),
                format!("use one of {}", version::publishable_list()),
            );
            None
        }
    }
}

/// Screens: ids, known fields, layout, component count, terminal screens.
pub(super) fn screens(ctx: &mut Ctx<'_>, model: &Model<'_>) {
    let Some(items) = model.root.get("screens").and_then(Value::as_array) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            ctx.error(&format!("screens[{i}]"), "a screen must be an object", "");
        }
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let known: Vec<String> = SCREEN_PROPS.iter().map(|(n, _)| n.to_string()).collect();
    for screen in &model.screens {
        let path = &screen.path;
        match screen.map.get("id") {
            None => ctx.error(path, "the screen has no `id`", "add `\"id\": \"WELCOME\"`"),
            Some(Value::String(id)) => {
                let ipath = format!("{path}.id");
                if id == "SUCCESS" {
                    ctx.error(
                        &ipath,
                        "`SUCCESS` is a reserved screen id",
                        "name the screen differently, e.g. `DONE`",
                    );
                } else if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
                {
                    ctx.error(
                        &ipath,
                        format!("screen id `{id}` may hold only letters and underscores"),
                        "write screen ids like `WELCOME` or `CONTACT_DETAILS`",
                    );
                }
                if let Some(first) = seen.get(id.as_str()) {
                    ctx.error(
                        &ipath,
                        format!("screen id `{id}` is used twice (first at {first})"),
                        "give every screen its own id",
                    );
                } else {
                    seen.insert(id, path);
                }
            }
            Some(_) => ctx.error(&format!("{path}.id"), "a screen `id` must be a string", ""),
        }
        for (key, value) in screen.map {
            let kpath = format!("{path}.{key}");
            match SCREEN_PROPS.iter().find(|(n, _)| n == key) {
                None => unknown_field(ctx, &kpath, key, &known, "a screen"),
                Some((_, since)) if *since > ctx.version => ctx.error(
                    &kpath,
                    format!("screen field `{key}` needs Flow JSON {since} or later"),
                    format!("raise `version` to {since}+ or remove `{key}`"),
                ),
                Some(_) => {}
            }
            let want_bool = matches!(key.as_str(), "terminal" | "success" | "refresh_on_back");
            if want_bool && !value.is_boolean() {
                ctx.error(&kpath, format!("`{key}` must be true or false"), "");
            }
            if key == "title" && !value.is_string() {
                ctx.error(&kpath, "`title` must be a string", "");
            }
            if key == "sensitive" && !value.is_array() {
                ctx.error(&kpath, "`sensitive` must be an array of field names", "");
            }
        }
        if screen.map.get("success").and_then(Value::as_bool) == Some(true) && !screen.terminal {
            ctx.error(
                &format!("{path}.success"),
                "`success` is only meaningful on a terminal screen",
                "add `\"terminal\": true` or remove `success`",
            );
        }
        layout(ctx, screen.map, path);
        let count = screen.nodes.len();
        if count > spec::COMPONENTS_PER_SCREEN {
            ctx.error(
                &format!("{path}.layout.children"),
                format!(
                    "screen `{}` has {count} components; Meta allows {} per screen",
                    screen.id.unwrap_or("?"),
                    spec::COMPONENTS_PER_SCREEN
                ),
                "split the screen in two",
            );
        }
        if screen.terminal && !screen.nodes.iter().any(|n| n.kind == "Footer") {
            ctx.error(
                path,
                format!(
                    "terminal screen `{}` has no Footer",
                    screen.id.unwrap_or("?")
                ),
                "add a Footer whose on-click-action is `complete`",
            );
        }
        if !screen.terminal {
            for action in &screen.actions {
                if action.name() == Some("complete") {
                    ctx.error(
                        &format!("{}.name", action.path),
                        format!(
                            "`complete` on screen `{}`, which is not terminal",
                            screen.id.unwrap_or("?")
                        ),
                        "only a terminal screen (`\"terminal\": true`) may complete the Flow; navigate to one instead",
                    );
                }
            }
        }
    }
    if !model.screens.is_empty() && !model.screens.iter().any(|s| s.terminal) {
        ctx.error(
            "screens",
            "the Flow has no terminal screen",
            "mark the last screen `\"terminal\": true` and give it a Footer that completes the Flow",
        );
    }
}

fn layout(ctx: &mut Ctx<'_>, screen: &Map<String, Value>, path: &str) {
    let lpath = format!("{path}.layout");
    let Some(layout) = screen.get("layout") else {
        ctx.error(
            path,
            "the screen has no `layout`",
            "add `\"layout\": {\"type\": \"SingleColumnLayout\", \"children\": [...]}`",
        );
        return;
    };
    let Some(layout) = layout.as_object() else {
        ctx.error(&lpath, "`layout` must be an object", "");
        return;
    };
    match layout.get("type").and_then(Value::as_str) {
        Some("SingleColumnLayout") => {}
        Some(other) => ctx.error(
            &format!("{lpath}.type"),
            format!("layout type `{other}` does not exist"),
            "the only layout is `SingleColumnLayout`",
        ),
        None => ctx.error(
            &lpath,
            "the layout has no `type`",
            "add `\"type\": \"SingleColumnLayout\"`",
        ),
    }
    match layout.get("children") {
        Some(Value::Array(_)) => {}
        Some(_) => ctx.error(
            &format!("{lpath}.children"),
            "`children` must be an array of components",
            "",
        ),
        None => ctx.error(
            &lpath,
            "the layout has no `children`",
            "add `\"children\": [...]`",
        ),
    }
    for key in layout.keys() {
        if key != "type" && key != "children" {
            unknown_field(
                ctx,
                &format!("{lpath}.{key}"),
                key,
                &["type".to_string(), "children".to_string()],
                "a layout",
            );
        }
    }
}

/// A field waform does not know: a warning (Meta may know better), with the
/// closest known name when it looks like a typo.
pub(super) fn unknown_field(
    ctx: &mut Ctx<'_>,
    path: &str,
    name: &str,
    known: &[String],
    what: &str,
) {
    let help = match crate::schema::closest(name, known) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("known fields: {}", known.join(", ")),
    };
    ctx.warning(path, format!("unknown field `{name}` in {what}"), help);
}
