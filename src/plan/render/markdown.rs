//! `plan --format markdown`: a pull-request comment. Summary table on top,
//! details collapsible, no ANSI codes, recipients only as counts (a PR is
//! public to the team; phone numbers are personal data), and always under
//! GitHub's 65,536-character comment limit.

use std::fmt::Write as _;

use crate::plan::model::{Plan, TemplateAction};

/// GitHub's comment limit, with room for the truncation note.
pub const LIMIT: usize = 65_536;
const RESERVE: usize = 400;

pub fn render(plan: &Plan) -> String {
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
    let _ = writeln!(head, "\n| send | kind | state | due | scheduled | already sent | unknown | expired | excluded |\n|---|---|---|---:|---:|---:|---:|---:|---:|");
    for s in &plan.sends {
        let c = &s.counts;
        let _ = writeln!(
            head,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.kind,
            serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            c.due,
            c.scheduled,
            c.already_sent,
            c.unknown,
            c.expired,
            c.excluded
        );
    }
    for m in &plan.messages {
        let _ = writeln!(head, "\n> **{}**: {}", m.severity, escape(&m.message));
    }
    let mut details = String::new();
    let _ = writeln!(details, "\n<details><summary>Template changes</summary>\n");
    for t in plan
        .templates
        .iter()
        .filter(|t| t.action != TemplateAction::Unchanged)
    {
        let _ = writeln!(
            details,
            "#### `{}` `{}` [{}] {}\n",
            t.action.symbol(),
            t.name,
            t.language,
            t.action.label()
        );
        if let Some(r) = &t.replaces {
            let _ = writeln!(details, "replaces `{r}`\n");
        }
        if let Some(reason) = &t.reason {
            let _ = writeln!(details, "{}\n", escape(reason));
        }
        if !t.before.is_empty() || !t.after.is_empty() {
            let _ = writeln!(details, "```diff");
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
                    let _ = writeln!(details, "{sign} {}", fence_safe(line));
                }
            }
            let _ = writeln!(details, "```\n");
        }
    }
    let _ = writeln!(details, "</details>\n\n<details><summary>Sends</summary>\n");
    for s in &plan.sends {
        let _ = writeln!(details, "- `{}`: {}", s.name, escape(&super::send_line(s)));
    }
    let _ = writeln!(details, "\n</details>");
    let budget = LIMIT.saturating_sub(head.len() + RESERVE);
    if details.len() > budget {
        let mut cut = budget;
        while !details.is_char_boundary(cut) {
            cut -= 1;
        }
        details.truncate(cut);
        details.push_str("\n```\n\n</details>\n\n> Details truncated to stay under GitHub's comment limit; run `waform plan` for the full plan.\n");
    }
    head + &details
}

fn escape(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

fn fence_safe(s: &str) -> String {
    s.replace("```", "'''")
}
