//! waform as a library: validate → plan → apply → status, in-process,
//! against the embedded sandbox (nobody real is messaged).
//!
//! ```text
//! cargo run --example library -- examples/course-signup
//! ```
//!
//! The sandbox ledger is written beside the config (`.waform/`), as
//! `waform apply --sandbox` does; point it at a copy to keep a folder clean.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use waform::account::Account;
use waform::apply::stop::Stop;
use waform::apply::{Applier, ApplyInputs, ApplySettings, Event, FlowStep, Reporter, TemplateStep};
use waform::config::{self, Depth};
use waform::plan::PlanInputs;
use waform::settings::{self, Overrides};

/// Prints the template and Flow work as it happens; nothing else.
struct Log;

impl Reporter for Log {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Flow(FlowStep::Created { key, id, .. }) => {
                println!("flow {key} created, id {id}")
            }
            Event::Flow(FlowStep::Published { key, .. }) => println!("flow {key} published"),
            Event::Template(TemplateStep::Submitted { name, language }) => {
                println!("template {name} [{language}] submitted for review")
            }
            Event::Template(TemplateStep::Approved { name, language, .. }) => {
                println!("template {name} [{language}] approved")
            }
            Event::Template(TemplateStep::Rejected {
                name,
                language,
                reason,
            }) => println!("template {name} [{language}] rejected: {reason}"),
            Event::SendFinished { name, report, .. } => println!(
                "sent {name}: {} accepted, {} rejected, {} unknown",
                report.accepted, report.rejected, report.unknown
            ),
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("examples/course-signup"), PathBuf::from);

    // Validate: every diagnostic, with file, line and column.
    let loaded = config::load(&path, Depth::Full);
    if !loaded.diagnostics.is_empty() {
        eprint!("{}", loaded.render(false));
    }
    let cfg = match loaded.config {
        Some(cfg) if !loaded.diagnostics.has_errors() => cfg,
        _ => return Ok(ExitCode::FAILURE),
    };
    println!("validate: {} is valid", path.display());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let state = settings::state(&cfg, &Overrides::default(), &path, true)?;
        // Templates submitted to the sandbox are approved after a second.
        let account = Account::sandbox(&cfg, Duration::from_secs(1), &state).await?;

        // Plan: read-only; nothing is created, not even the ledger.
        let ledger = waform::state::open_existing(&state)?;
        let (plan, _) = waform::plan::build(PlanInputs {
            config: &cfg,
            provider: account.provider.as_ref(),
            account_identity: &account.identity,
            ledger: ledger.as_deref(),
            now: chrono::Utc::now(),
            resend_unknown: &[],
            allow_deprecate: false,
        })
        .await?;
        drop(ledger);
        println!(
            "plan: {} template change(s), {} message(s) due or waiting for approval",
            plan.templates
                .iter()
                .filter(|t| t.action.is_change())
                .count(),
            plan.send_total(|c| c.due + c.waiting)
        );

        // Apply: one pass, as `waform apply --sandbox --auto-approve`.
        let applier = Applier::new(ApplyInputs {
            account: &account,
            state: &state,
            plan_file: None,
            now: None,
            resend_unknown: Vec::new(),
            settings: ApplySettings::default(),
            stop: Arc::new(Stop::new()),
        });
        applier.reconcile_unknown(&cfg, &mut Log).await?;
        let outcome = applier.pass(&cfg, true, &mut Log).await;
        // The state lock is released with the applier.
        drop(applier);
        account.persist()?;
        let outcome = outcome?;
        println!("apply: {:?}", outcome.status);

        // Status: the funnel from the ledger.
        if let Some(ledger) = waform::state::open_existing(&state)? {
            for (send, c) in ledger.counts(None)? {
                println!(
                    "status {send}: {} recipients, {} accepted, {} rejected, {} unknown",
                    c.recipients, c.accepted, c.rejected, c.unknown
                );
            }
        }
        Ok(ExitCode::from(outcome.status.code()))
    })
}
