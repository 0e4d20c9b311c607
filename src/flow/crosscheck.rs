//! Templates and sends against the managed Flows they open: a FLOW button's
//! `screen` exists in that Flow, and the data a send passes to the first
//! screen (`flow_button.action_data`, `flow_message.data`) matches that
//! screen's `data` model (docs/flow-json-rules.md "Cross-checks").

use std::collections::BTreeMap;

use serde_json::Value;

use super::{FlowFacts, LoadedFlow};
use crate::config::spans::SpanMap;
use crate::config::types::{Button, FlowAction, FlowButton, RawConfig};
use crate::diag::{Diagnostic, Diagnostics};

struct Report<'a> {
    spans: &'a SpanMap,
    diags: Diagnostics,
}

impl Report<'_> {
    fn push(&mut self, diag: Diagnostic, path: &str, help: String) {
        let mut d = diag.path(path).help(help);
        if let Some(loc) = self.spans.locate(path) {
            d = d.at(loc);
        }
        self.diags.push(d);
    }
}

pub(crate) fn check(
    config: &RawConfig,
    spans: &SpanMap,
    flows: &BTreeMap<String, LoadedFlow>,
) -> Diagnostics {
    let mut r = Report {
        spans,
        diags: Diagnostics::default(),
    };
    for (tname, template) in &config.templates {
        for (code, lang) in &template.languages {
            for (i, button) in lang.buttons.iter().enumerate() {
                let Button::Flow {
                    flow,
                    action,
                    screen,
                    ..
                } = button
                else {
                    continue;
                };
                let Some(facts) = flows.get(flow).map(|f| &f.facts) else {
                    continue;
                };
                let path = format!("templates.{tname}.languages.{code}.buttons[{i}]");
                if let Some(screen) = screen {
                    screen_exists(&mut r, facts, flow, screen, &format!("{path}.screen"));
                }
                if *action == FlowAction::DataExchange && !facts.endpoint {
                    r.push(
                        Diagnostic::error(format!(
                            "a `data_exchange` button opens flow `{flow}`, which has no endpoint"
                        )),
                        &format!("{path}.action"),
                        "use `action: navigate` with `screen:`, or give the Flow `data_api_version` and an `endpoint_uri`".into(),
                    );
                }
            }
        }
    }
    for (sname, send) in &config.sends {
        let path = format!("sends.{sname}");
        if let Some(template) = &send.template {
            button_data(
                &mut r,
                config,
                flows,
                template,
                send.language.as_deref(),
                send.flow_button.as_ref(),
                &path,
            );
        }
        if let Some(fb) = &send.fallback {
            button_data(
                &mut r,
                config,
                flows,
                &fb.template,
                Some(&fb.language),
                fb.flow_button.as_ref(),
                &format!("{path}.fallback"),
            );
        }
        if let Some(fm) = &send.flow_message {
            let Some(facts) = flows.get(&fm.flow).map(|f| &f.facts) else {
                continue;
            };
            let fpath = format!("{path}.flow_message");
            if let Some(screen) = &fm.screen {
                if !screen_exists(&mut r, facts, &fm.flow, screen, &format!("{fpath}.screen")) {
                    continue;
                }
            }
            if fm.action == FlowAction::Navigate {
                let first = fm.screen.as_deref().or(facts.entry.as_deref());
                first_screen_data(
                    &mut r,
                    facts,
                    &fm.flow,
                    first,
                    fm.data.as_ref(),
                    &format!("{fpath}.data"),
                    &fpath,
                );
            }
        }
    }
    r.diags
}

fn screen_exists(
    r: &mut Report<'_>,
    facts: &FlowFacts,
    flow: &str,
    screen: &str,
    path: &str,
) -> bool {
    if facts.screen(screen).is_some() || facts.screens.is_empty() {
        return true;
    }
    let ids: Vec<&str> = facts.screens.iter().map(|s| s.id.as_str()).collect();
    r.push(
        Diagnostic::error(format!("screen `{screen}` is not in flow `{flow}`")),
        path,
        format!("screens of `{flow}`: {}", ids.join(", ")),
    );
    false
}

/// A template send's `flow_button.action_data` against the first screen of
/// the Flow its template's FLOW button opens.
fn button_data(
    r: &mut Report<'_>,
    config: &RawConfig,
    flows: &BTreeMap<String, LoadedFlow>,
    template: &str,
    language: Option<&str>,
    flow_button: Option<&FlowButton>,
    path: &str,
) {
    let Some(t) = config.templates.get(template) else {
        return;
    };
    let langs = t
        .languages
        .iter()
        .filter(|(code, _)| language.is_none_or(|l| l == code.as_str()));
    // One FLOW button per template; every language opens the same screen in
    // practice, so the first language's button speaks for the send.
    let button = langs.flat_map(|(_, l)| &l.buttons).find_map(|b| match b {
        Button::Flow {
            flow,
            action,
            screen,
            ..
        } => Some((flow, *action, screen)),
        _ => None,
    });
    let Some((flow, action, screen)) = button else {
        return;
    };
    let Some(facts) = flows.get(flow).map(|f| &f.facts) else {
        return;
    };
    if action != FlowAction::Navigate {
        return;
    }
    let first = screen.as_deref().or(facts.entry.as_deref());
    let data = flow_button.and_then(|b| b.action_data.as_ref());
    let fb_path = format!("{path}.flow_button");
    first_screen_data(
        r,
        facts,
        flow,
        first,
        data,
        &format!("{fb_path}.action_data"),
        if flow_button.is_some() {
            &fb_path
        } else {
            path
        },
    );
}

fn first_screen_data(
    r: &mut Report<'_>,
    facts: &FlowFacts,
    flow: &str,
    first: Option<&str>,
    data: Option<&BTreeMap<String, Value>>,
    data_path: &str,
    owner_path: &str,
) {
    let Some(screen) = first.and_then(|id| facts.screen(id)) else {
        return;
    };
    for key in data.into_iter().flat_map(|d| d.keys()) {
        if !screen.data.contains(key) {
            r.push(
                Diagnostic::error(format!(
                    "`{key}` is not in the data of screen `{}` (flow `{flow}`)",
                    screen.id
                )),
                &format!("{data_path}.{key}"),
                if screen.data.is_empty() {
                    format!(
                        "screen `{}` declares no data: remove `{key}`, or declare it in the Flow",
                        screen.id
                    )
                } else {
                    format!(
                        "screen `{}` declares: {}",
                        screen.id,
                        screen.data.join(", ")
                    )
                },
            );
        }
    }
    let missing: Vec<&str> = screen
        .data
        .iter()
        .filter(|k| !data.is_some_and(|d| d.contains_key(*k)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() && !facts.endpoint {
        r.push(
            Diagnostic::warning(format!(
                "screen `{}` of flow `{flow}` expects data {} that this send does not pass",
                screen.id,
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            if data.is_some() { data_path } else { owner_path },
            "pass them in `flow_button.action_data` / `flow_message.data`: the screen shows `${data.…}` from what the send passes".into(),
        );
    }
}
