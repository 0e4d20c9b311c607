//! `plan --format markdown`: a pull-request comment. Summary tables on top,
//! details collapsible, no ANSI codes, recipients only as counts (a PR is
//! public to the team; phone numbers are personal data), and always under
//! GitHub's 65,536-character comment limit: the summary is bounded (long
//! lists end in a totals row), and details are added whole, section by
//! section, while they fit.

use std::fmt::Write as _;

use crate::plan::model::{Plan, SendCounts, TemplateAction, TemplateChange};

/// GitHub's comment limit.
pub const LIMIT: usize = 65_536;
/// Room kept for the truncation note and closing tags.
const RESERVE: usize = 600;
/// Rows of the sends table and plan messages shown before a totals line.
const MAX_SEND_ROWS: usize = 50;
const MAX_MESSAGES: usize = 20;

/// The plan as Markdown for a pull-request comment, kept under GitHub's
/// comment size by summarising long tables.
pub fn render(plan: &Plan) -> String {
    let head = summary(plan);
    let sections = detail_sections(plan);
    let mut out = head;
    let budget = LIMIT.saturating_sub(RESERVE);
    out.push_str("\n<details><summary>Details</summary>\n\n");
    let mut truncated = false;
    for section in sections {
        if out.len() + section.len() > budget {
            truncated = true;
            break;
        }
        out.push_str(&section);
    }
    out.push_str("\n</details>\n");
    if truncated {
        out.push_str("\n> Details truncated to stay under GitHub's comment limit; run `waform plan` for the full plan.\n");
    }
    out
}

fn send_row(out: &mut String, name: &str, kind: &str, state: &str, c: &SendCounts) {
    let _ = writeln!(
        out,
        "| {name} | {kind} | {state} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        c.recipients,
        c.due,
        c.waiting,
        c.scheduled,
        c.already_sent,
        c.unknown,
        c.blocked,
        c.expired,
        c.excluded
    );
}

fn summary(plan: &Plan) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "### waform plan\n");
    let _ = writeln!(head, "{}\n", super::headline(plan));
    let _ = writeln!(head, "| templates | count |\n|---|---:|");
    for (label, action) in [
        ("create", TemplateAction::Create),
        ("replace", TemplateAction::Replace),
        ("delete", TemplateAction::Delete),
        ("pending approval", TemplateAction::Pending),
        ("rejected", TemplateAction::Rejected),
        ("conflict", TemplateAction::Conflict),
        ("unchanged", TemplateAction::Unchanged),
    ] {
        let _ = writeln!(head, "| {label} | {} |", plan.count(action));
    }
    let _ = writeln!(
        head,
        "\n| send | kind | state | recipients | due | after approval | scheduled | already sent | unknown | blocked | expired | excluded |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in plan.sends.iter().take(MAX_SEND_ROWS) {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        send_row(
            &mut head,
            &format!("`{}`", s.name),
            s.kind.as_str(),
            &state,
            &s.counts,
        );
    }
    if plan.sends.len() > MAX_SEND_ROWS {
        let rest = &plan.sends[MAX_SEND_ROWS..];
        let mut total = SendCounts::default();
        for s in rest {
            let c = &s.counts;
            total.recipients += c.recipients;
            total.due += c.due;
            total.waiting += c.waiting;
            total.scheduled += c.scheduled;
            total.already_sent += c.already_sent;
            total.unknown += c.unknown;
            total.blocked += c.blocked;
            total.expired += c.expired;
            total.excluded += c.excluded;
        }
        send_row(
            &mut head,
            &format!("…and {} more sends", rest.len()),
            "",
            "",
            &total,
        );
    }
    for m in plan.messages.iter().take(MAX_MESSAGES) {
        let _ = writeln!(head, "\n> **{}**: {}", m.severity, escape(&m.message));
    }
    if plan.messages.len() > MAX_MESSAGES {
        let errors = plan.messages[MAX_MESSAGES..]
            .iter()
            .filter(|m| m.severity == crate::diag::Severity::Error)
            .count();
        let _ = writeln!(
            head,
            "\n> …and {} more messages ({errors} errors); run `waform plan` for all of them.",
            plan.messages.len() - MAX_MESSAGES
        );
    }
    head
}

/// One self-contained markdown section per changed template, then sends.
fn detail_sections(plan: &Plan) -> Vec<String> {
    let mut sections = Vec::new();
    sections.extend(super::flows::markdown(plan));
    for t in plan
        .templates
        .iter()
        .filter(|t| t.action != TemplateAction::Unchanged)
    {
        sections.push(template_section(t));
    }
    let mut sends = String::from("#### Sends\n\n");
    for s in &plan.sends {
        let _ = writeln!(sends, "- `{}`: {}", s.name, escape(&super::send_line(s)));
    }
    sections.push(sends);
    sections
}

fn template_section(t: &TemplateChange) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#### `{}` `{}` [{}] {}\n",
        t.action.symbol(),
        t.name,
        t.language,
        t.action.label()
    );
    if let Some(r) = &t.replaces {
        let _ = writeln!(out, "replaces `{r}`\n");
    }
    if let Some(reason) = &t.reason {
        let _ = writeln!(out, "{}\n", escape(reason));
    }
    if !t.before.is_empty() || !t.after.is_empty() {
        let _ = writeln!(out, "```diff");
        let before = t.before.join("\n") + "\n";
        let after = t.after.join("\n") + "\n";
        for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => ' ',
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            let line = change.value().trim_end_matches('\n');
            if !(t.before.is_empty() && line.is_empty()) {
                let _ = writeln!(out, "{sign} {}", fence_safe(line));
            }
        }
        let _ = writeln!(out, "```\n");
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

fn fence_safe(s: &str) -> String {
    s.replace("```", "'''")
}
