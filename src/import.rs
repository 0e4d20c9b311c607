//! `waform import`'s engine: reads what an account holds (templates, Flows,
//! and with managed files their Flow JSON) and writes it back as a config
//! (`naming: exact`), so an existing account can be adopted and `plan`
//! right after shows no template changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::config::types::Category;
use crate::provider::{
    AccountFlow, AccountTemplate, FlowList, FlowStatus, Provider, ProviderError, TemplateStatus,
};

/// A managed Flow file import writes: its path relative to the config's
/// folder, and its JSON.
pub type FlowFile = (String, Value);

/// What the account holds, as import needs it.
#[derive(Debug, Clone, Default)]
pub struct AccountExport {
    /// Every template, every language.
    pub templates: Vec<AccountTemplate>,
    /// The account's Flows (empty when it does not list them).
    pub flows: Vec<AccountFlow>,
    /// By Flow id: its JSON and Meta categories, for Flows imported as
    /// managed files.
    pub flow_jsons: BTreeMap<String, (Value, Vec<String>)>,
    /// Things the user should know (`note: ...`, `warning: ...`): an import
    /// that goes on with less than everything.
    pub notes: Vec<String>,
}

/// Reads the account. `with_flow_json` also reads each live Flow's JSON
/// (for managed Flow files); a Flow the account does not show stays a
/// reference.
///
/// # Errors
/// The templates cannot be listed (Flows that cannot be listed or read
/// only add a note).
pub async fn read_account(
    provider: &dyn Provider,
    with_flow_json: bool,
) -> Result<AccountExport, ProviderError> {
    let templates = provider.list_templates().await?;
    let mut notes = Vec::new();
    // Flow names make readable keys; a channel without the Flows endpoint
    // still imports, with keys made from ids.
    let flows = match provider.list_flows().await {
        Ok(FlowList::Flows(flows)) => flows,
        Ok(FlowList::Unavailable(why) | FlowList::NotImplemented(why)) => {
            notes.push(format!(
                "note: the account does not list its Flows ({why}); Flow keys use their ids"
            ));
            Vec::new()
        }
        Err(e) => {
            notes.push(format!(
                "warning: cannot list the account's Flows ({e}); Flow keys use their ids"
            ));
            Vec::new()
        }
    };
    let mut flow_jsons = BTreeMap::new();
    if with_flow_json {
        for f in flows
            .iter()
            .filter(|f| !matches!(f.status, FlowStatus::Deprecated))
        {
            match provider.flow_json(&f.id).await {
                Ok(Some(json)) => {
                    // Unknown categories fall back to [OTHER], marked.
                    let categories = provider.flow_categories(&f.id).await.unwrap_or_default();
                    flow_jsons.insert(f.id.clone(), (json, categories));
                }
                Ok(None) => {}
                Err(e) => notes.push(format!(
                    "warning: cannot read Flow \"{}\" ({}): {e}; it stays a reference",
                    f.name, f.id
                )),
            }
        }
    }
    tracing::debug!(
        templates = templates.len(),
        flows = flows.len(),
        flow_jsons = flow_jsons.len(),
        "account read for import"
    );
    Ok(AccountExport {
        templates,
        flows,
        flow_jsons,
        notes,
    })
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn text<'a>(c: &'a Value, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Value::as_str)
}

fn component<'a>(t: &'a AccountTemplate, kind: &str) -> Option<&'a Value> {
    t.components
        .iter()
        .find(|c| text(c, "type").is_some_and(|k| k.eq_ignore_ascii_case(kind)))
}

/// Renders the account's templates as a config. Returns the YAML, the
/// templates that could not be represented (with why), and the managed
/// Flow files to write: a referenced Flow whose JSON is in `jsons` (by id)
/// is declared managed, keyed by its name, its JSON in `flows/<key>.json`.
pub fn render(
    templates: &[AccountTemplate],
    account_flows: &[AccountFlow],
    jsons: &BTreeMap<String, (Value, Vec<String>)>,
) -> (String, Vec<String>, Vec<FlowFile>) {
    let mut skipped = Vec::new();
    let mut flows: BTreeMap<String, String> = BTreeMap::new();
    // name → (category, language → yaml lines)
    let mut by_name: BTreeMap<&str, (String, BTreeMap<&str, String>)> = BTreeMap::new();
    for t in templates {
        if matches!(t.status, TemplateStatus::Rejected) {
            skipped.push(format!(
                "{} [{}] is rejected on the account; not imported",
                t.name, t.language
            ));
            continue;
        }
        let category = match t.category.to_ascii_uppercase().as_str() {
            "MARKETING" => Category::Marketing,
            "UTILITY" => Category::Utility,
            "AUTHENTICATION" => Category::Authentication,
            other => {
                skipped.push(format!(
                    "{} [{}] has category {other}, which cannot be written back; not imported",
                    t.name, t.language
                ));
                continue;
            }
        };
        match language_yaml(t, account_flows, &mut flows) {
            Ok(lines) => {
                let entry = by_name
                    .entry(t.name.as_str())
                    .or_insert_with(|| (category.as_str().to_string(), BTreeMap::new()));
                entry.1.insert(t.language.as_str(), lines);
            }
            Err(why) => skipped.push(format!("{} [{}]: {why}; not imported", t.name, t.language)),
        }
    }
    let mut files = Vec::new();
    for (key, line) in flows.iter_mut() {
        // Only a Flow the template opens by name: a managed Flow is sent
        // by name (plan/desired.rs), so one opened by id would turn the
        // imported template into a content change.
        let found = account_flows
            .iter()
            .find(|f| line == &format!("{{ name: {} }}", q(&f.name)));
        let Some((flow, (json, categories))) = found.and_then(|f| Some((f, jsons.get(&f.id)?)))
        else {
            continue;
        };
        let file = format!("flows/{key}.json");
        // The account's categories (GET /flows/{id}) when it tells them and
        // waform knows them all; else OTHER, with a comment to fix it.
        let known: Option<Vec<&str>> = (!categories.is_empty())
            .then(|| {
                categories
                    .iter()
                    .map(|c| {
                        crate::provider::FLOW_CATEGORIES
                            .iter()
                            .find(|k| **k == c.as_str())
                            .copied()
                    })
                    .collect()
            })
            .flatten();
        let (categories, note) = match known {
            Some(list) => (list.join(", "), ""),
            None => (
                "OTHER".to_string(),
                "  # categories: the account did not tell them; OTHER is a placeholder, set the real ones",
            ),
        };
        *line = format!(
            "{{ name: {}, categories: [{categories}], json: {}, publish: {} }}{note}",
            q(&flow.name),
            q(&file),
            matches!(flow.status, FlowStatus::Published)
        );
        files.push((file, json.clone()));
    }
    let mut out = String::new();
    out.push_str("# Point editors at the schema: `waform schema > waform.schema.json`, then\n");
    out.push_str("# yaml-language-server: $schema=waform.schema.json\n");
    out.push_str("# Imported by `waform import`: the account's templates as they are, with\n");
    out.push_str("# `naming: exact`. A content change to one of these is a conflict that plan\n");
    out.push_str(
        "# explains; switch it to `naming: versioned` to let waform create new versions.\n",
    );
    out.push_str("version: 1\n");
    if !flows.is_empty() {
        out.push_str("\nflows:\n");
        for (key, line) in &flows {
            let _ = writeln!(out, "  {key}: {line}");
        }
    }
    out.push_str("\ntemplates:");
    if by_name.is_empty() {
        out.push_str(" {}\n");
    } else {
        out.push('\n');
    }
    for (name, (category, languages)) in by_name {
        let _ = writeln!(
            out,
            "  {name}:\n    naming: exact\n    category: {category}\n    languages:"
        );
        for (code, lines) in languages {
            let _ = writeln!(out, "      {code}:");
            out.push_str(&lines);
        }
    }
    (out, skipped, files)
}

fn language_yaml(
    t: &AccountTemplate,
    account_flows: &[AccountFlow],
    flows: &mut BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let pad = "        ";
    if let Some(h) = component(t, "HEADER") {
        let format = text(h, "format").unwrap_or("TEXT");
        if !format.eq_ignore_ascii_case("TEXT") {
            return Err(format!("{format} headers are not supported by waform yet"));
        }
        let header_text = text(h, "text").unwrap_or_default();
        let example = h.pointer("/example/header_text/0").and_then(Value::as_str);
        match example {
            Some(e) => {
                let _ = writeln!(
                    out,
                    "{pad}header: {{ text: {}, example: {} }}",
                    q(header_text),
                    q(e)
                );
            }
            None => {
                let _ = writeln!(out, "{pad}header: {{ text: {} }}", q(header_text));
            }
        }
    }
    let body = component(t, "BODY")
        .and_then(|b| text(b, "text"))
        .ok_or("it has no BODY text")?;
    let _ = writeln!(out, "{pad}body: {}", q(body));
    let n = crate::config::meta::variable_count(body);
    let mut examples: Vec<String> = component(t, "BODY")
        .and_then(|b| b.pointer("/example/body_text/0"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    examples.truncate(n);
    while examples.len() < n {
        examples.push(format!("sample {}", examples.len() + 1));
    }
    if n > 0 {
        let list: Vec<String> = examples.iter().map(|e| q(e)).collect();
        let _ = writeln!(out, "{pad}body_examples: [{}]", list.join(", "));
    }
    if let Some(f) = component(t, "FOOTER").and_then(|f| text(f, "text")) {
        let _ = writeln!(out, "{pad}footer: {}", q(f));
    }
    let buttons = component(t, "BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !buttons.is_empty() {
        let _ = writeln!(out, "{pad}buttons:");
    }
    for b in &buttons {
        let kind = text(b, "type").unwrap_or_default().to_ascii_uppercase();
        let label = q(text(b, "text").unwrap_or_default());
        let line = match kind.as_str() {
            "QUICK_REPLY" => format!("{{ type: quick_reply, text: {label} }}"),
            "URL" => format!(
                "{{ type: url, text: {label}, url: {} }}",
                q(text(b, "url").unwrap_or_default())
            ),
            "PHONE_NUMBER" => format!(
                "{{ type: phone_number, text: {label}, phone_number: {} }}",
                q(text(b, "phone_number").unwrap_or_default())
            ),
            "FLOW" => {
                let key = match (text(b, "flow_id"), text(b, "flow_name")) {
                    (Some(id), _) => {
                        // Keyed by the Flow's name when the account knows it, still
                        // referenced by id (names can be renamed, ids cannot).
                        let key = match account_flows.iter().find(|f| f.id == id) {
                            Some(f) => name_key(&f.name),
                            None => format!("flow_{id}"),
                        };
                        let key = unique_key(flows, key, id);
                        flows.insert(key.clone(), format!("{{ id: {} }}", q(id)));
                        key
                    }
                    (None, Some(name)) => {
                        let key = name_key(name);
                        flows.insert(key.clone(), format!("{{ name: {} }}", q(name)));
                        key
                    }
                    (None, None) => return Err("its FLOW button names no Flow".into()),
                };
                let action = text(b, "flow_action").unwrap_or("navigate");
                let mut line =
                    format!("{{ type: flow, text: {label}, flow: {key}, action: {action}");
                if let Some(screen) = text(b, "navigate_screen") {
                    let _ = write!(line, ", screen: {}", q(screen));
                }
                line.push_str(" }");
                line
            }
            other => return Err(format!("{other} buttons are not supported by waform yet")),
        };
        let _ = writeln!(out, "{pad}  - {line}");
    }
    Ok(out)
}

/// `key`, or `key_<id>` when `key` already names a different Flow (two
/// Flows whose names slug alike).
fn unique_key(flows: &BTreeMap<String, String>, key: String, id: &str) -> String {
    match flows.get(&key) {
        Some(line) if !line.contains(&q(id)) => format!("{key}_{id}"),
        _ => key,
    }
}

/// A config key for a Flow named `name`: `Course application` →
/// `course_application` (prefixed `flow_` when it would not start with a letter).
fn name_key(name: &str) -> String {
    let s = slug(name);
    let s = s.trim_matches('_');
    if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.to_string()
    } else {
        format!("flow_{s}")
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
