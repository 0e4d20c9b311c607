//! Terraform-style text: symbols, colors on a terminal, word-level diffs of
//! replaced templates, recipients as counts.

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use crate::plan::model::{Plan, TemplateAction, TemplateChange};

struct Paint(bool);

impl Paint {
    fn code(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn color_of(action: TemplateAction) -> &'static str {
    match action {
        TemplateAction::Create => "32",
        TemplateAction::Delete => "31",
        TemplateAction::Replace => "33",
        TemplateAction::Rejected | TemplateAction::Conflict => "1;31",
        _ => "36",
    }
}

/// The plan for a terminal; `color` adds ANSI colours.
pub fn render(plan: &Plan, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let shown: Vec<&TemplateChange> = plan
        .templates
        .iter()
        .filter(|t| t.action != TemplateAction::Unchanged)
        .collect();
    let unchanged = plan.count(TemplateAction::Unchanged);
    let _ = writeln!(out, "Templates:");
    if shown.is_empty() {
        let _ = writeln!(out, "  no changes");
    }
    for t in shown {
        let sym = p.code(color_of(t.action), &format!("{:>3}", t.action.symbol()));
        let _ = write!(
            out,
            "{sym} {} [{}] {}",
            t.name,
            t.language,
            t.action.label()
        );
        if let Some(r) = &t.replaces {
            let _ = write!(out, " (replaces {r})");
        }
        out.push('\n');
        if let Some(reason) = &t.reason {
            let _ = writeln!(out, "      {reason}");
        }
        if matches!(t.action, TemplateAction::Replace | TemplateAction::Conflict) {
            word_diff(&mut out, &p, &t.before.join("\n"), &t.after.join("\n"));
        } else if t.action == TemplateAction::Create {
            for line in &t.after {
                let _ = writeln!(out, "      {}", p.code("32", &format!("+ {line}")));
            }
        }
    }
    let _ = writeln!(
        out,
        "  ({unchanged} unchanged, {} unmanaged on the account left alone)",
        plan.unmanaged
    );
    if !plan.flow_changes.is_empty() {
        let _ = writeln!(out, "\nManaged Flows:");
        for (action, breaking, line) in super::flows::text(plan) {
            let code = match (breaking, action) {
                (true, _) => "1;31",
                (_, crate::plan::flows::FlowAction::Create) => "32",
                (_, crate::plan::flows::FlowAction::Update) => "33",
                (_, crate::plan::flows::FlowAction::Publish) => "36",
                (_, crate::plan::flows::FlowAction::Deprecate) => "31",
                (_, crate::plan::flows::FlowAction::DeprecateBlocked) => "1;31",
                (_, crate::plan::flows::FlowAction::Unchanged) => "0",
                (_, crate::plan::flows::FlowAction::Inline) => "36",
            };
            let _ = writeln!(out, "{}", p.code(code, &line));
        }
    }
    if !plan.flows.is_empty() {
        let _ = writeln!(out, "\nFlows:");
        for f in &plan.flows {
            let mut line = format!("  {}", f.key);
            if let Some(name) = f.name.as_ref().filter(|n| **n != f.key) {
                let _ = write!(line, " \"{name}\"");
            }
            if let Some(id) = &f.id {
                let _ = write!(line, " id {id}");
            }
            let _ = writeln!(out, "{line} ({})", f.status);
        }
    }
    let _ = writeln!(out, "\nSends:");
    if plan.sends.is_empty() {
        let _ = writeln!(out, "  none declared");
    }
    for s in &plan.sends {
        // A Flow message goes as itself; its template is only the fallback.
        let flow_message = s.kind == crate::plan::SendPlanKind::FlowMessage;
        let target = match (&s.template, &s.language) {
            (Some(t), Some(l)) if !flow_message => format!(" via {t} [{l}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {} ({}{}): {}",
            s.name,
            s.kind,
            target,
            super::send_line(s)
        );
        if let Some(reason) = &s.reason {
            let _ = writeln!(out, "      {reason}");
        }
        if let (true, Some(t), Some(l)) = (flow_message, &s.template, &s.language) {
            let _ = writeln!(
                out,
                "      24-hour window closed (no message from the person in the last 24 h) → fallback template {t} [{l}]"
            );
        }
    }
    if !plan.messages.is_empty() {
        out.push('\n');
        for m in &plan.messages {
            let label = if m.severity == crate::diag::Severity::Error {
                p.code("1;31", "error")
            } else {
                p.code("1;33", "warning")
            };
            let _ = writeln!(out, "{label}: {}", m.message);
        }
    }
    let _ = writeln!(out, "\n{}", super::headline(plan));
    out
}

/// A word-level diff of the account's version against the declared one.
fn word_diff(out: &mut String, p: &Paint, before: &str, after: &str) {
    let diff = TextDiff::from_words(before, after);
    let mut line = String::from("      ");
    for change in diff.iter_all_changes() {
        let v = change.value();
        let piece = match change.tag() {
            ChangeTag::Equal => v.to_string(),
            ChangeTag::Delete => p.code("31", &format!("[-{v}-]")),
            ChangeTag::Insert => p.code("32", &format!("{{+{v}+}}")),
        };
        for (i, part) in piece.split('\n').enumerate() {
            if i > 0 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from("      ");
            }
            line.push_str(part);
        }
    }
    if !line.trim().is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
}
