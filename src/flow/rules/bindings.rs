//! Data and form bindings: each screen's `data` model, every `${data.x}`,
//! `${form.x}` and `${screen.ID.…}` reference, and `navigate` payloads
//! against the next screen's model (docs/flow-json-rules.md "Data and
//! bindings").

use serde_json::Value;

use super::{Ctx, Model, Screen};
use crate::flow::json::join;
use crate::flow::spec::DATA_TYPES;
use crate::flow::version::Version;

pub(super) fn check(ctx: &mut Ctx<'_>, model: &Model<'_>) {
    for screen in &model.screens {
        data_model(ctx, screen);
        for (key, value) in screen.map {
            if key != "data" && key != "id" {
                references(ctx, model, screen, value, &join(&screen.path, key));
            }
        }
        payloads(ctx, model, screen);
    }
}

fn data_model(ctx: &mut Ctx<'_>, screen: &Screen<'_>) {
    let Some(data) = screen.map.get("data") else {
        return;
    };
    let dpath = format!("{}.data", screen.path);
    let Some(data) = data.as_object() else {
        ctx.error(
            &dpath,
            "`data` must be an object of field → {type, __example__}",
            "",
        );
        return;
    };
    for (name, field) in data {
        let fpath = format!("{dpath}.{name}");
        let Some(field) = field.as_object() else {
            ctx.error(
                &fpath,
                format!("data field `{name}` must be an object with `type` and `__example__`"),
                format!("write `\"{name}\": {{\"type\": \"string\", \"__example__\": \"…\"}}`"),
            );
            continue;
        };
        match field.get("type").and_then(Value::as_str) {
            Some(t) if DATA_TYPES.contains(&t) => {}
            Some(t) => ctx.error(
                &format!("{fpath}.type"),
                format!("data type `{t}` does not exist"),
                format!("types: {}", DATA_TYPES.join(", ")),
            ),
            None => ctx.error(
                &fpath,
                format!("data field `{name}` has no `type`"),
                "add `\"type\": \"string\"` (or number, boolean, object, array)",
            ),
        }
        if !field.contains_key("__example__") {
            ctx.error(
                &fpath,
                format!("data field `{name}` has no `__example__`"),
                "Meta needs an example value for every data field (it renders the preview with it)",
            );
        }
    }
}

/// Checks every `${…}` in the strings under `value`.
fn references(
    ctx: &mut Ctx<'_>,
    model: &Model<'_>,
    screen: &Screen<'_>,
    value: &Value,
    path: &str,
) {
    match value {
        Value::String(text) => {
            for reference in scan(text) {
                reference_ok(ctx, model, screen, &reference, path);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(ctx, model, screen, item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                references(ctx, model, screen, item, &join(path, key));
            }
        }
        _ => {}
    }
}

/// The references in a string: the dotted name at the start of every
/// `${…}` (`data.x`, `form.y`, `screen.S.form.z`).
fn scan(text: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let end = inner
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(inner.len());
        let parts: Vec<&str> = inner[..end].split('.').collect();
        if parts.len() >= 2 {
            out.push(parts);
        }
        rest = &inner[end..];
    }
    out
}

fn reference_ok(
    ctx: &mut Ctx<'_>,
    model: &Model<'_>,
    screen: &Screen<'_>,
    parts: &[&str],
    path: &str,
) {
    let here = screen.id.unwrap_or("?");
    match parts {
        ["data", name, ..] if !screen.data_keys().contains(name) => {
            ctx.error(
                path,
                format!("`${{data.{name}}}` is not declared in screen `{here}`'s data"),
                format!(
                    "declare it: `\"data\": {{\"{name}\": {{\"type\": \"string\", \"__example__\": \"…\"}}}}`"
                ),
            );
        }
        ["form", name, ..] if !screen.field_names().contains(name) => {
            ctx.error(
                path,
                format!("`${{form.{name}}}` is not an input on screen `{here}`"),
                known_fields(screen),
            );
        }
        ["screen", id, which @ ("form" | "data"), name, ..] => {
            if ctx.version < Version::new(4, 0) {
                ctx.error(
                    path,
                    format!("`${{screen.{id}.…}}` needs Flow JSON 4.0 or later"),
                    "raise `version`, or pass the value in the navigate payload",
                );
                return;
            }
            let Some(other) = model.screen(id) else {
                ctx.error(
                    path,
                    format!("`${{screen.{id}.{which}.{name}}}` names screen `{id}`, which does not exist"),
                    "",
                );
                return;
            };
            let found = if *which == "form" {
                other.field_names().contains(name)
            } else {
                other.data_keys().contains(name)
            };
            if !found {
                ctx.error(
                    path,
                    format!("`${{screen.{id}.{which}.{name}}}`: screen `{id}` has no {which} field `{name}`"),
                    if *which == "form" {
                        known_fields(other)
                    } else {
                        String::new()
                    },
                );
            }
        }
        _ => {}
    }
}

fn known_fields(screen: &Screen<'_>) -> String {
    let names = screen.field_names();
    if names.is_empty() {
        format!(
            "screen `{}` has no inputs with a `name`",
            screen.id.unwrap_or("?")
        )
    } else {
        format!("inputs on this screen: {}", names.join(", "))
    }
}

/// A `navigate` payload must fill the next screen's `data` model, key for
/// key: an undeclared key is an error, a declared key left out a warning.
fn payloads(ctx: &mut Ctx<'_>, model: &Model<'_>, screen: &Screen<'_>) {
    for action in screen
        .actions
        .iter()
        .filter(|a| a.name() == Some("navigate"))
    {
        let Some(next) = action.target().and_then(|t| model.screen(t)) else {
            continue;
        };
        let next_id = next.id.unwrap_or("?");
        let declared = next.data_keys();
        let payload = action.map.get("payload").and_then(Value::as_object);
        if let Some(payload) = payload {
            for key in payload.keys() {
                if !declared.contains(&key.as_str()) {
                    ctx.error(
                        &format!("{}.payload.{key}", action.path),
                        format!("payload key `{key}` is not in screen `{next_id}`'s data"),
                        if declared.is_empty() {
                            format!("declare `{key}` in `{next_id}`'s `data`, or remove it")
                        } else {
                            format!("`{next_id}` declares: {}", declared.join(", "))
                        },
                    );
                }
            }
        }
        if model.endpoint {
            continue;
        }
        let missing: Vec<&str> = declared
            .iter()
            .copied()
            .filter(|k| !payload.is_some_and(|p| p.contains_key(*k)))
            .collect();
        if !missing.is_empty() {
            ctx.warning(
                &action.path,
                format!(
                    "navigate to `{next_id}` does not pass its data {}",
                    missing
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "add them to this action's `payload` (the screen shows them as `${data.…}`)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn references_are_found_in_text() {
        let found = scan("Hi ${data.name}! `${form.a} ${screen.S.form.b}` ${x}");
        assert_eq!(
            found,
            vec![
                vec!["data", "name"],
                vec!["form", "a"],
                vec!["screen", "S", "form", "b"]
            ]
        );
    }
}
