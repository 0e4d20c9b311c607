//! Rules for `sends`: references to templates and Flows, parameter counts,
//! schedules, interpolation and recipients (phones, duplicates, columns).

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use super::duplicates::Duplicates;
use super::templates::known;
use super::Ctx;
use crate::config::interp::{Interp, Var};
use crate::config::meta;
use crate::config::recipients;
use crate::config::types::{Button, FlowAction, FlowButton, RawConfig, RecipientSource, SendSpec};

pub(super) fn check(ctx: &mut Ctx<'_>, config: &RawConfig, base_dir: &Path, read_recipients: bool) {
    check_tokens(ctx, config);
    for (name, send) in &config.sends {
        let path = format!("sends.{name}");
        check_kind(ctx, config, &path, send);
        check_schedule(ctx, &path, send);
        let columns = check_recipients(ctx, &path, send, base_dir, read_recipients);
        check_interpolation(ctx, &path, send, columns.as_ref());
    }
}

fn check_kind(ctx: &mut Ctx<'_>, config: &RawConfig, path: &str, send: &SendSpec) {
    match (&send.template, &send.flow_message) {
        (Some(_), Some(_)) => ctx.error(
            path,
            "a send has both `template` and `flow_message`",
            "a template send uses `template:`; an interactive Flow message uses `flow_message:` (with an optional `fallback:` template)",
        ),
        (None, None) => ctx.error(
            path,
            "a send needs `template` or `flow_message`",
            "add `template: <name>` (with `language:`) or a `flow_message:` block",
        ),
        (Some(template), None) => {
            check_template_use(
                ctx,
                config,
                path,
                template,
                send.language.as_deref(),
                &send.body_params,
                send.flow_button.as_ref(),
            );
            if send.fallback.is_some() {
                ctx.error(
                    &format!("{path}.fallback"),
                    "`fallback` only applies to `flow_message` sends",
                    "template sends need no window; remove `fallback:`",
                );
            }
        }
        (None, Some(fm)) => {
            let fpath = format!("{path}.flow_message");
            if !config.flows.contains_key(&fm.flow) {
                ctx.error(
                    &format!("{fpath}.flow"),
                    format!("flow `{}` is not defined in `flows:`", fm.flow),
                    known("flows", config.flows.keys()),
                );
            }
            limit(ctx, &format!("{fpath}.body"), "body", &fm.body, meta::BODY_MAX);
            if fm.body.trim().is_empty() {
                ctx.error(&format!("{fpath}.body"), "the Flow message body is empty", "");
            }
            limit(ctx, &format!("{fpath}.cta"), "cta", &fm.cta, meta::FLOW_CTA_MAX);
            if fm.cta.trim().is_empty() {
                ctx.error(&format!("{fpath}.cta"), "the Flow button text (cta) is empty", "");
            }
            if let Some(h) = &fm.header {
                limit(ctx, &format!("{fpath}.header"), "header", h, meta::HEADER_MAX);
            }
            if let Some(f) = &fm.footer {
                limit(ctx, &format!("{fpath}.footer"), "footer", f, meta::FOOTER_MAX);
            }
            if fm.action == FlowAction::Navigate && fm.screen.is_none() {
                ctx.error(
                    &fpath,
                    "a `navigate` Flow message needs `screen`",
                    "add `screen: <FIRST_SCREEN_ID>` (or use `action: data_exchange`)",
                );
            }
            for field in ["language", "body_params", "flow_button"] {
                let set = match field {
                    "language" => send.language.is_some(),
                    "body_params" => !send.body_params.is_empty(),
                    _ => send.flow_button.is_some(),
                };
                if set {
                    ctx.error(
                        &format!("{path}.{field}"),
                        format!("`{field}` belongs to template sends, not `flow_message` sends"),
                        "for the template sent outside the window, put it under `fallback:`",
                    );
                }
            }
            if let Some(fb) = &send.fallback {
                check_template_use(
                    ctx,
                    config,
                    &format!("{path}.fallback"),
                    &fb.template,
                    Some(&fb.language),
                    &fb.body_params,
                    fb.flow_button.as_ref(),
                );
            }
        }
    }
}

fn limit(ctx: &mut Ctx<'_>, path: &str, what: &str, text: &str, max: usize) {
    let len = text.chars().count();
    if len > max {
        ctx.error(
            path,
            format!("{what} is {len} characters; Meta allows {max}"),
            format!("shorten the {what}"),
        );
    }
}

fn check_template_use(
    ctx: &mut Ctx<'_>,
    config: &RawConfig,
    path: &str,
    template: &str,
    language: Option<&str>,
    body_params: &[String],
    flow_button: Option<&FlowButton>,
) {
    let Some(t) = config.templates.get(template) else {
        ctx.error(
            &format!("{path}.template"),
            format!("template `{template}` is not defined in `templates:`"),
            known("templates", config.templates.keys()),
        );
        return;
    };
    let lang = match language {
        Some(code) => match t.languages.get(code) {
            Some(lang) => lang,
            None => {
                let have: Vec<&str> = t.languages.keys().map(String::as_str).collect();
                ctx.error(
                    &format!("{path}.language"),
                    format!("template `{template}` has no language `{code}`"),
                    format!("use one of: {}", have.join(", ")),
                );
                return;
            }
        },
        None if t.languages.len() == 1 => match t.languages.values().next() {
            Some(lang) => lang,
            None => return,
        },
        None => {
            ctx.error(
                path,
                format!("template `{template}` has several languages; the send needs `language`"),
                "add `language: <code>`",
            );
            return;
        }
    };
    let n = meta::variable_count(&lang.body);
    if body_params.len() != n {
        ctx.error(
            &format!("{path}.body_params"),
            format!(
                "template `{template}` has {n} body variable{} but the send gives {} body_params",
                if n == 1 { "" } else { "s" },
                body_params.len()
            ),
            "give exactly one value per `{{n}}` (Meta error 132000 otherwise)",
        );
    }
    let has_flow = lang
        .buttons
        .iter()
        .any(|b| matches!(b, Button::Flow { .. }));
    if flow_button.is_some() && !has_flow {
        ctx.error(
            &format!("{path}.flow_button"),
            format!("template `{template}` has no FLOW button"),
            "remove `flow_button:` or add a `type: flow` button to the template",
        );
    }
}

fn parse_time(ctx: &mut Ctx<'_>, path: &str, value: &str) -> Option<DateTime<FixedOffset>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t),
        Err(_) => {
            ctx.error(
                path,
                format!("\"{value}\" is not an RFC 3339 time with an offset"),
                "write it like 2026-12-01T09:00:00+03:00 (or ...Z for UTC)",
            );
            None
        }
    }
}

fn check_schedule(ctx: &mut Ctx<'_>, path: &str, send: &SendSpec) {
    let at = send
        .at
        .as_deref()
        .and_then(|v| parse_time(ctx, &format!("{path}.at"), v));
    let expires = send
        .expires
        .as_deref()
        .and_then(|v| parse_time(ctx, &format!("{path}.expires"), v));
    if let (Some(at), Some(expires)) = (at, expires) {
        if expires <= at {
            ctx.error(
                &format!("{path}.expires"),
                "`expires` is not after `at`: this send could never go out",
                "move `expires` later than `at`",
            );
        }
    }
}

/// Streams every recipient source: phones, duplicates, missing columns.
/// Returns the columns every source has (for `${recipient.X}` checks).
fn check_recipients(
    ctx: &mut Ctx<'_>,
    path: &str,
    send: &SendSpec,
    base_dir: &Path,
    read_rows: bool,
) -> Option<BTreeSet<String>> {
    if send.recipients.is_empty() {
        ctx.warning(
            path,
            "this send has no recipients",
            "add `recipients:` rows or a `- csv: FILE`",
        );
    }
    let mut common: Option<BTreeSet<String>> = None;
    let scratch = crate::state::Ledger::scratch().ok();
    for (list, sources) in [("recipients", &send.recipients), ("exclude", &send.exclude)] {
        let mut dups = Duplicates::new(scratch.as_ref());
        for (i, source) in sources.iter().enumerate() {
            let spath = format!("{path}.{list}[{i}]");
            let location = ctx.spans.locate(&spath);
            if list == "recipients" {
                if let Ok(cols) = recipients::columns(source, base_dir) {
                    let cols: BTreeSet<String> = cols.into_iter().collect();
                    common = Some(match common.take() {
                        None => cols,
                        Some(prev) => prev.intersection(&cols).cloned().collect(),
                    });
                }
            }
            let inline = matches!(source, RecipientSource::Row(_));
            if !read_rows && !inline {
                continue;
            }
            for row in recipients::stream(source, base_dir, location) {
                match row {
                    Ok(row) => {
                        if list == "recipients" {
                            dups.push(row.phone, &row.location);
                        }
                    }
                    Err(diag) => ctx.diags.push(diag.path(spath.clone())),
                }
            }
        }
        dups.flush();
        let (duplicates, first_dup) = (dups.count, dups.first.take());
        if duplicates > 0 {
            let mut d = crate::diag::Diagnostic::warning(format!(
                "{duplicates} duplicate recipient{} in `{path}`; each phone is sent to once",
                if duplicates == 1 { "" } else { "s" }
            ))
            .path(format!("{path}.{list}"))
            .help("duplicates are dropped; remove them from the list to silence this warning");
            if let Some(loc) = first_dup {
                d = d.at(loc).note("first duplicate shown");
            }
            ctx.diags.push(d);
        }
    }
    common
}

fn check_interpolation(
    ctx: &mut Ctx<'_>,
    path: &str,
    send: &SendSpec,
    columns: Option<&BTreeSet<String>>,
) {
    let mut fields: Vec<(String, &str)> = Vec::new();
    for (i, p) in send.body_params.iter().enumerate() {
        fields.push((format!("{path}.body_params[{i}]"), p));
    }
    if let Some(fb) = &send.flow_button {
        flow_button_fields(&format!("{path}.flow_button"), fb, &mut fields);
    }
    if let Some(fm) = &send.flow_message {
        let fpath = format!("{path}.flow_message");
        fields.push((format!("{fpath}.body"), &fm.body));
        if let Some(h) = &fm.header {
            fields.push((format!("{fpath}.header"), h));
        }
        if let Some(f) = &fm.footer {
            fields.push((format!("{fpath}.footer"), f));
        }
        if let Some(t) = &fm.token {
            fields.push((format!("{fpath}.token"), t));
        }
        if let Some(data) = &fm.data {
            for (k, v) in data {
                if let Some(s) = v.as_str() {
                    fields.push((format!("{fpath}.data.{k}"), s));
                }
            }
        }
    }
    if let Some(fb) = &send.fallback {
        for (i, p) in fb.body_params.iter().enumerate() {
            fields.push((format!("{path}.fallback.body_params[{i}]"), p));
        }
        if let Some(b) = &fb.flow_button {
            flow_button_fields(&format!("{path}.fallback.flow_button"), b, &mut fields);
        }
    }
    for (fpath, text) in fields {
        match Interp::parse(text) {
            Err(msg) => ctx.error(&fpath, msg, ""),
            Ok(t) => {
                for var in t.vars() {
                    match var {
                        Var::Env(_) => ctx.error(
                            &fpath,
                            format!("{var} cannot be used in a send"),
                            "`${env.NAME}` is only allowed in provider and state; use `${recipient.COLUMN}` or `${send.name}`",
                        ),
                        Var::Recipient(col) => {
                            if let Some(cols) = columns {
                                if col != "phone" && !cols.contains(col) {
                                    ctx.error(
                                        &fpath,
                                        format!("{var}: not every recipient source has a `{col}` column"),
                                        format!(
                                            "columns every source has: {}",
                                            cols.iter().cloned().collect::<Vec<_>>().join(", ")
                                        ),
                                    );
                                }
                            }
                        }
                        Var::SendName => {}
                    }
                }
            }
        }
    }
}

fn flow_button_fields<'a>(prefix: &str, fb: &'a FlowButton, fields: &mut Vec<(String, &'a str)>) {
    if let Some(t) = &fb.token {
        fields.push((format!("{prefix}.token"), t));
    }
    if let Some(data) = &fb.action_data {
        for (k, v) in data {
            if let Some(s) = v.as_str() {
                fields.push((format!("{prefix}.action_data.{k}"), s));
            }
        }
    }
}

/// Custom flow tokens are how a submitted form finds its recipient: each
/// must differ per recipient and per send, or one person's answers would be
/// filed under another's.
fn check_tokens(ctx: &mut Ctx<'_>, config: &RawConfig) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, send) in &config.sends {
        let mut tokens: Vec<(String, &str)> = Vec::new();
        if let Some(t) = send.flow_button.as_ref().and_then(|b| b.token.as_deref()) {
            tokens.push((format!("sends.{name}.flow_button.token"), t));
        }
        if let Some(t) = send.flow_message.as_ref().and_then(|m| m.token.as_deref()) {
            tokens.push((format!("sends.{name}.flow_message.token"), t));
        }
        if let Some(t) = send
            .fallback
            .as_ref()
            .and_then(|f| f.flow_button.as_ref())
            .and_then(|b| b.token.as_deref())
        {
            tokens.push((format!("sends.{name}.fallback.flow_button.token"), t));
        }
        for (path, token) in tokens {
            let Ok(parsed) = Interp::parse(token) else {
                continue;
            };
            let per_recipient = parsed.vars().any(|v| matches!(v, Var::Recipient(_)));
            if !per_recipient {
                ctx.error(
                    &path,
                    "this flow token is the same for every recipient",
                    "include `${recipient.phone}` so each submitted form finds its recipient (or omit `token` for the default)",
                );
            } else if !parsed
                .vars()
                .any(|v| matches!(v, Var::Recipient(c) if c == "phone"))
            {
                ctx.warning(
                    &path,
                    "this flow token does not include `${recipient.phone}`",
                    "make sure the columns it uses are unique per recipient, or add `${recipient.phone}`",
                );
            }
            if let Some((other, _)) = seen.iter().find(|(_, t)| t == token) {
                let other = other.clone();
                ctx.error(
                    &path,
                    format!("the same flow token is used by `{other}`"),
                    "give each send its own token (add `${send.name}` or a distinct prefix) so forms are filed under the right send",
                );
            }
            seen.push((path, token.to_string()));
        }
    }
}
