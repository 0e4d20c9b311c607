//! Managed Flows in the config: their own fields (`name`, `categories`,
//! `endpoint_uri`) and their Flow JSON, read from the file or from the
//! inline mapping and checked with the Flow rules.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{check_file, check_value, FlowSource, LoadedFlow};
use crate::config::spans::SpanMap;
use crate::config::types::{FlowJson, RawConfig};
use crate::diag::{Diagnostic, Diagnostics};

/// Every managed Flow that could be read, by key, with all diagnostics.
pub(crate) struct Managed {
    pub(crate) flows: BTreeMap<String, LoadedFlow>,
    pub(crate) diagnostics: Diagnostics,
}

pub(crate) fn load(
    config: &RawConfig,
    spans: &SpanMap,
    base_dir: &Path,
    sources: &mut HashMap<Arc<str>, String>,
) -> Managed {
    let mut out = Managed {
        flows: BTreeMap::new(),
        diagnostics: Diagnostics::default(),
    };
    let report = |diags: &mut Diagnostics, path: String, summary: String, help: &str| {
        let mut d = Diagnostic::error(summary).path(path.clone()).help(help);
        if let Some(loc) = spans.locate(&path) {
            d = d.at(loc);
        }
        diags.push(d);
    };
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (key, flow) in &config.flows {
        let path = format!("flows.{key}");
        let Some(json) = &flow.json else {
            for (field, set) in [
                ("categories", !flow.categories.is_empty()),
                ("endpoint_uri", flow.endpoint_uri.is_some()),
                ("publish", flow.publish.is_some()),
            ] {
                if set {
                    report(
                        &mut out.diagnostics,
                        format!("{path}.{field}"),
                        format!("`{field}` applies only to a managed flow (one with `json`)"),
                        "add `json: flows/<file>.json` to manage the Flow here, or remove the field",
                    );
                }
            }
            continue;
        };
        if flow.id.is_some() {
            report(
                &mut out.diagnostics,
                format!("{path}.id"),
                format!("managed flow `{key}` has an `id`"),
                "a managed flow is keyed by `name`; remove `id` (waform learns it and keeps it in state)",
            );
        }
        match flow.name.as_deref() {
            None => report(
                &mut out.diagnostics,
                path.clone(),
                format!("managed flow `{key}` has no `name`"),
                "add `name: \"<unique Flow name>\"`: it identifies the Flow on the account",
            ),
            Some(name) if name.trim().is_empty() => report(
                &mut out.diagnostics,
                format!("{path}.name"),
                "empty Flow name".into(),
                "",
            ),
            Some(name) => {
                // `<name> #N` is the name a 139001 clone of `<name>` takes
                // (plan/flows.rs): plan would take one Flow for a
                // generation of the other and write its JSON over it.
                let clash = names.iter().find(|(other, _)| {
                    crate::plan::flows::generation(other, name).is_some_and(|n| n >= 2)
                        || crate::plan::flows::generation(name, other).is_some_and(|n| n >= 2)
                });
                if let Some((other, other_key)) = clash {
                    report(
                        &mut out.diagnostics,
                        format!("{path}.name"),
                        format!(
                            "flows `{other_key}` \"{other}\" and `{key}` \"{name}\": one is named like a clone of the other"
                        ),
                        "waform names the clone of a Flow the account cannot edit `<name> #2`, `#3`…, so it would take one for a generation of the other: rename one",
                    );
                }
                if let Some(first) = names.insert(name, key) {
                    report(
                        &mut out.diagnostics,
                        format!("{path}.name"),
                        format!("flows `{first}` and `{key}` have the same name \"{name}\""),
                        "Flow names are unique per account: rename one",
                    );
                }
            }
        }
        if flow.categories.is_empty() {
            report(
                &mut out.diagnostics,
                path.clone(),
                format!("managed flow `{key}` has no `categories`"),
                "add e.g. `categories: [SIGN_UP]` (Meta needs at least one)",
            );
        }
        if let Some(uri) = &flow.endpoint_uri {
            if !uri.starts_with("https://") {
                report(
                    &mut out.diagnostics,
                    format!("{path}.endpoint_uri"),
                    format!("endpoint_uri \"{uri}\" is not an https URL"),
                    "Meta calls Flow endpoints over HTTPS only",
                );
            }
        }
        let (value, source, facts, diags) = match json {
            FlowJson::File(rel) => {
                let file = base_dir.join(rel);
                let shown: Arc<str> = Arc::from(file.display().to_string());
                if !file.is_file() {
                    report(
                        &mut out.diagnostics,
                        format!("{path}.json"),
                        format!("Flow JSON file {shown} does not exist"),
                        "the path is relative to the config's folder",
                    );
                    continue;
                }
                let (parsed, diags) = check_file(&file, &shown, sources);
                match parsed {
                    Some((value, facts)) => (value, FlowSource::File(file), facts, diags),
                    None => {
                        out.diagnostics.extend(diags);
                        continue;
                    }
                }
            }
            FlowJson::Inline(map) => {
                let value = Value::Object(map.clone());
                let (facts, diags) = check_value(&value, spans, &format!("{path}.json"));
                (value, FlowSource::Inline, facts, diags)
            }
        };
        if facts.endpoint && flow.endpoint_uri.is_none() {
            report(
                &mut out.diagnostics,
                path.clone(),
                format!("flow `{key}` talks to an endpoint (`data_api_version`) but has no `endpoint_uri`"),
                "add `endpoint_uri: https://…` (Meta calls it for data_exchange)",
            );
        }
        out.diagnostics.extend(diags);
        out.flows.insert(
            key.clone(),
            LoadedFlow {
                json: serde_json::to_string(&value).unwrap_or_default(),
                source,
                facts,
            },
        );
    }
    out
}
