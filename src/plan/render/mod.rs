//! Views of a Plan. Commands never print plans themselves.

mod flows;
pub mod json;
pub mod markdown;
pub mod text;

use super::model::{Plan, SendPlan, SendState};

/// A one-line description of where a send stands.
pub fn send_line(s: &SendPlan) -> String {
    let c = &s.counts;
    let what = match s.state {
        SendState::Due => format!("{} due now", c.due),
        SendState::Scheduled => format!(
            "{} scheduled for {}",
            c.scheduled,
            s.at.as_deref().unwrap_or("later")
        ),
        SendState::Expired => format!(
            "{} expired at {} (never sent)",
            c.expired,
            s.expires.as_deref().unwrap_or("?")
        ),
        SendState::Waiting => format!("{} waiting for template approval", c.waiting),
        SendState::Blocked => format!("{} blocked", c.blocked),
        SendState::Done => "nothing left to send".to_string(),
    };
    let mut extra = Vec::new();
    for (n, label) in [
        (
            c.resend,
            "of them resend (unknown before, --resend-unknown)",
        ),
        (c.already_sent, "already sent"),
        (c.rejected, "rejected earlier"),
        (
            c.unknown,
            "unknown outcome (needs a decision: apply --resend-unknown)",
        ),
        (c.excluded, "excluded"),
        (c.duplicates, "duplicates dropped"),
    ] {
        if n > 0 {
            extra.push(format!("{n} {label}"));
        }
    }
    if extra.is_empty() {
        what
    } else {
        format!("{what}; {}", extra.join(", "))
    }
}

/// "Plan: 1 to create, ..." — the headline of every view.
pub(crate) fn headline(plan: &Plan) -> String {
    use super::model::TemplateAction as A;
    format!(
        "Plan: {} template(s) to create, {} to replace, {} to delete; {} message(s) to send now, {} after template approval, {} scheduled.",
        plan.count(A::Create),
        plan.count(A::Replace),
        plan.count(A::Delete),
        plan.send_total(|c| c.due),
        plan.send_total(|c| c.waiting),
        plan.send_total(|c| c.scheduled),
    )
}
