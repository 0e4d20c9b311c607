//! How `waform apply` looks on a terminal: the plan, the ✓ lines, a
//! progress bar (plain lines in CI logs), each send's summary, the
//! interruption message and the confirmation prompt. Implements the
//! engine's [`Reporter`]; everything here is output only.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;

use super::signals::signal_name;
use waform::apply::dispatch::SendReport;
use waform::apply::{Event, FlowStep, Reporter, Stage, TemplateStep};
use waform::plan::{render, Plan};

/// The terminal renderer of an apply.
pub(crate) struct TerminalView {
    /// Colour in the plan.
    pub color: bool,
    /// The `status` command for this run's ledger, named in hints.
    pub status_command: String,
    progress: Option<Progress>,
}

impl TerminalView {
    /// A view; `status_command` is `waform status [--sandbox] PATH`.
    pub(crate) fn new(color: bool, status_command: String) -> Self {
        TerminalView {
            color,
            status_command,
            progress: None,
        }
    }
}

impl Reporter for TerminalView {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::LockWait { timeout, holder } => waform::errln!(
                "waiting up to {} for the state lock held by pid {} on {} since {}",
                humantime::format_duration(timeout),
                holder.pid,
                holder.host,
                holder.since
            ),
            Event::Reconciled(report) => {
                if report.skipped > 0 {
                    waform::outln!(
                        "{} unknown outcome(s) were not found in the account's history before; `waform reconcile` looks again",
                        report.skipped
                    );
                }
                if report.rows > 0 {
                    waform::outln!(
                        "Unknown outcomes checked against the account's message history: {} found (now accepted), {} not found (still unknown){}",
                        report.found,
                        report.not_found,
                        match (&report.unavailable, report.unanswered) {
                            (_, 0) => String::new(),
                            (why, n) => format!(
                                ", {n} not checked ({})",
                                why.as_deref().unwrap_or("the history did not answer")
                            ),
                        }
                    );
                }
            }
            Event::Plan(plan) => waform::out!("{}", render::text::render(plan, self.color)),
            Event::PlanHasErrors => {
                waform::errln!("error: the plan has errors (above); nothing was sent or changed")
            }
            Event::NoChanges => {
                waform::outln!("\nNo changes. The account and the ledger match the config.")
            }
            Event::Dangling(n) => waform::outln!("{n} request(s) from an interrupted apply have an unknown outcome; they are not resent automatically"),
            Event::Stage(Stage::Flows) => waform::outln!("\nFlows:"),
            Event::Stage(Stage::Templates) => waform::outln!("\nTemplates:"),
            Event::Stage(Stage::Sends) => waform::outln!("\nSends:"),
            Event::Template(step) => waform::outln!("{}", template_line(step)),
            Event::Flow(step) => waform::outln!("{}", flow_line(step)),
            Event::NotWaiting(n) => waform::outln!("  {n} template(s) in review; not waiting (--no-wait). A later apply sends once they are approved."),
            Event::InterruptedInReview { signal, pending } => waform::errln!(
                "\ninterrupted ({}) while waiting for template approval; nothing was sent. {pending} template(s) still in review; run apply again to continue",
                signal_name(signal),
            ),
            Event::ApprovalTimeout { timeout, pending } => {
                waform::errln!(
                    "error: approval timeout ({}) reached; still in review:",
                    humantime::format_duration(timeout)
                );
                for (n, l) in pending {
                    waform::errln!("  {n} [{l}]");
                }
                waform::errln!("run apply again later (or use --no-wait in scheduled jobs); it picks up where this run stopped");
            }
            Event::SendNotDue(sp) => waform::outln!("  {}: {}", sp.name, render::send_line(sp)),
            Event::SendNotReviewed { name, due } => waform::outln!(
                "  {name}: {due} due now but not in the reviewed plan; run apply again to send them"
            ),
            Event::SendUnresolved { why, .. } => {
                waform::errln!("error: {why}; nothing of this send was sent")
            }
            Event::SendStale { name, file } => waform::errln!(
                "error: send {name}: plan is stale: {file} changed after the plan; run plan again. Nothing of this send was sent."
            ),
            Event::SendStarted { name, total } => self.progress = Some(Progress::new(name, total)),
            Event::SendProgress { report, .. } => {
                if let Some(p) = &mut self.progress {
                    p.update(report);
                }
            }
            Event::SendFinished { name, report, took } => {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
                print_report(name, report, took, &self.status_command);
            }
            Event::Interrupted { signal, left } => waform::errln!(
                "\ninterrupted ({}): {}",
                signal_name(signal),
                if left > 0 {
                    format!("{left} not yet sent; run apply again to continue")
                } else {
                    "nothing was left to send".to_string()
                }
            ),
        }
    }

    /// Asks on a terminal; refuses without one (a pipeline must say
    /// --auto-approve).
    fn confirm(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let people = plan.send_total(|c| c.due + c.waiting);
        let changes = plan
            .templates
            .iter()
            .filter(|t| t.action.is_change())
            .count();
        if !std::io::stdin().is_terminal() {
            bail!("apply would message {people} people and make {changes} template change(s), and there is no terminal to confirm on; review the plan and pass --auto-approve");
        }
        waform::out!("\nThis will message {people} people and make {changes} template change(s). Type `yes` to continue: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            bail!("apply cancelled; nothing was sent or changed");
        }
        Ok(())
    }
}

/// How a step of template work reads on the terminal.
fn template_line(step: TemplateStep<'_>) -> String {
    match step {
        TemplateStep::Submitted { name, language } => {
            format!("  + {name} [{language}] submitted for review")
        }
        TemplateStep::Approved {
            name,
            language,
            after,
        } => format!(
            "  ✓ {name} [{language}] approved after {}s",
            after.as_secs()
        ),
        TemplateStep::Rejected {
            name,
            language,
            reason,
        } => format!("  ✗ {name} [{language}] rejected by Meta: {reason}"),
        TemplateStep::StillInReview { count, recheck } => format!(
            "  … {count} template(s) still in review; checking again in {}s",
            recheck.as_secs_f64().round()
        ),
        TemplateStep::Deleted { name } => format!("  - {name} deleted"),
    }
}

/// How a step of managed-Flow work reads on the terminal.
fn flow_line(step: FlowStep<'_>) -> String {
    match step {
        FlowStep::Created { key, name, id } => {
            format!("  + flow {key} \"{name}\" created as DRAFT, id {id}")
        }
        FlowStep::JsonReplaced { key, name, id } => {
            format!("  ~ flow {key} \"{name}\" ({id}): Flow JSON replaced")
        }
        FlowStep::Published { key, name, id } => {
            format!("  ^ flow {key} \"{name}\" ({id}) published")
        }
        FlowStep::Deprecated { name, id } => format!("  x flow \"{name}\" ({id}) deprecated"),
        FlowStep::Cloned {
            key,
            name,
            id,
            clone_name,
            clone_id,
        } => format!(
            "  ~ flow {key} \"{name}\" ({id}) cannot be edited (Meta error 139001): cloned as \"{clone_name}\", id {clone_id}"
        ),
    }
}

/// The one-line summary of a send, plus what the user should know.
/// `status` is the command that shows this send's funnel
/// (`waform status [--sandbox] PATH`).
fn print_report(name: &str, report: &SendReport, took: Duration, status: &str) {
    waform::outln!(
        "  {}: {} accepted{}, {} rejected, {} unknown in {:.1}s",
        name,
        report.accepted,
        if report.fallback > 0 {
            format!(" ({} window closed → fallback template)", report.fallback)
        } else {
            String::new()
        },
        report.rejected,
        report.unknown,
        took.as_secs_f64()
    );
    if report.resent > 0 {
        waform::outln!(
            "      {} of them resent (unknown before, --resend-unknown)",
            report.resent
        );
    }
    if report.expired > 0 {
        waform::outln!(
            "      {} expired: `expires` passed before their request could start; not sent, not recorded",
            report.expired
        );
    }
    if report.not_in_plan > 0 {
        waform::outln!(
            "      {} in the recipient files but not in the reviewed plan: not messaged",
            report.not_in_plan
        );
    }
    if report.halted {
        waform::outln!("      stopped at once: requests in flight are recorded unknown");
    }
    if let Some(reason) = &report.first_rejection {
        waform::outln!("      first rejection: {reason}");
    }
    if report.unknown > 0 {
        waform::outln!("      {} outcome(s) unknown: never resent automatically; check `{status} --send {name}` and decide with --resend-unknown {name}", report.unknown);
    }
}

/// Send progress: a bar on a terminal (indicatif), a plain line at most
/// every five seconds otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    name: String,
    total: u64,
    last_line: std::time::Instant,
}

impl Progress {
    fn new(name: &str, total: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "  {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name.to_string());
            bar
        });
        Progress {
            bar,
            name: name.to_string(),
            total,
            last_line: std::time::Instant::now(),
        }
    }

    fn update(&mut self, r: &SendReport) {
        let done = r.accepted + r.rejected + r.unknown;
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                waform::outln!("  {}: {done}/{} attempted…", self.name, self.total);
                self.last_line = std::time::Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A send that ended in an error (a lost lock) leaves no bar behind.
    fn drop(&mut self) {
        self.finish();
    }
}
