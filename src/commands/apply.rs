//! `waform apply`: carries out the plan — templates created, approval
//! awaited, due Flows sent to each person exactly once. The engine is
//! [`waform::apply::Applier`]; this file checks the arguments, runs the
//! passes (one, or a `--watch` loop) and renders through
//! [`TerminalView`](super::apply_view::TerminalView).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use super::apply_view::TerminalView;
use super::context;
use super::signals::{wait_stop, watch_signals};
use crate::cli::ApplyArgs;
use waform::apply::stop::Stop;
use waform::apply::{Applier, ApplyInputs, ApplySettings};
use waform::exit::ExitStatus;
use waform::plan::file::PlanFile;

pub(crate) fn run(args: ApplyArgs) -> anyhow::Result<ExitStatus> {
    let planfile = PlanFile::read(&args.path)?;
    if planfile.is_some() && args.watch {
        bail!("a plan file is applied once; --watch re-plans continuously: pass the config instead of the plan file");
    }
    if planfile.is_some() && !args.resend_unknown.is_empty() {
        bail!("--resend-unknown is part of the plan: run `waform plan --resend-unknown SEND --out FILE`, review it, then apply that file");
    }
    if planfile.is_some() && args.sandbox {
        bail!("a plan file is applied to the account it was made for; --sandbox cannot apply it (run `waform apply --sandbox CONFIG` instead)");
    }
    if args.now.is_some() && !args.sandbox {
        // A --now in the future once sent a December campaign in November.
        bail!("--now is only for `apply --sandbox` (and `plan`): a real apply judges `at` and `expires` by the clock");
    }
    let config_path = match &planfile {
        Some(pf) => {
            // Schedules are judged by the clock at apply time: a plan
            // previewed with --now must not send early (or after expiry).
            if let Some(then) = &pf.now {
                if args.now.is_none() {
                    waform::errln!("note: the plan was made with --now {then}; apply judges `at`/`expires` by the current time");
                }
            }
            pf.config.clone()
        }
        None => args.path.clone(),
    };
    let color = context::color_enabled(args.no_color);
    let cfg = context::load_config(&config_path, color)?;
    let approval_timeout = args.approval_timeout;
    let lock_timeout = args.lock_timeout;
    let stop = Arc::new(Stop::new());
    let sandbox_flag = if args.sandbox { "--sandbox " } else { "" };
    let mut view = TerminalView::new(
        color,
        format!("waform status {sandbox_flag}{}", config_path.display()),
    );
    let rt = super::runtime()?;
    rt.block_on(async {
        tokio::spawn(watch_signals(stop.clone()));
        let ledger_path =
            context::state_path(&cfg, args.state.as_deref(), &config_path, args.sandbox)?;
        let account = if args.sandbox {
            context::sandbox_account(&cfg, Duration::from_secs(1), &ledger_path).await?
        } else {
            context::real_account(&cfg)?
        };
        let sent_before = account.sandbox.as_ref().map_or(0, |(s, _)| s.sends().len());
        if args.sandbox {
            waform::outln!(
                "Sandbox run: an in-process emulator of the 1msg API; nobody real is messaged \
                 (state {ledger_path}).\n"
            );
        }
        let applier = Applier::new(ApplyInputs {
            account: &account,
            state: &ledger_path,
            plan_file: planfile.as_ref(),
            now: args.now.map(|t| t.with_timezone(&chrono::Utc)),
            resend_unknown: args.resend_unknown.clone(),
            settings: ApplySettings {
                rate_limit: None,
                concurrency: None,
                approval_timeout,
                lock_timeout,
                wait_for_review: !args.no_wait,
                confirm: !args.auto_approve && !args.sandbox,
                watch: args.watch,
                allow_deprecate: args.allow_deprecate,
            },
            stop: stop.clone(),
        });
        super::plan::check_resend_names(&cfg, &args.resend_unknown)?;
        applier.reconcile_unknown(&cfg, &mut view).await?;
        let first = applier.pass(&cfg, true, &mut view).await;
        // Saved even when the pass failed: whatever was sent stays sent.
        account.persist()?;
        let first = first?;
        let mut status = first.status;
        let mut wait = first.requeue_after;
        while args.watch && !stop.is_requested() {
            waform::outln!(
                "Watching: next check in {}s (Ctrl-C to stop).",
                wait.as_secs().max(1)
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wait_stop(stop.clone()) => break,
            }
            // The config may have changed (a merged pull request, a new CSV):
            // each pass plans from the files as they are now. An invalid
            // config is reported and the previous pass's result stands.
            let cfg = match context::load_config(&config_path, color) {
                Ok(cfg) => cfg,
                Err(err) => {
                    waform::errln!("error: {err}; keeping watch, nothing sent this round");
                    continue;
                }
            };
            // A failed pass (an API outage, say) is reported; the watch goes on.
            (status, wait) = match applier.pass(&cfg, false, &mut view).await {
                Ok(outcome) => (outcome.status, outcome.requeue_after),
                Err(err) => {
                    waform::errln!("error: {err:#}; retrying at the next check");
                    (ExitStatus::Failure, applier.requeue_after(&cfg))
                }
            };
            if let Err(err) = account.persist() {
                waform::errln!("error: {err:#}");
            }
        }
        if let Some((sandbox, _)) = &account.sandbox {
            waform::outln!(
                "\nSandbox: {} message(s) accepted in this run; state ledger {}",
                sandbox.sends().len().saturating_sub(sent_before),
                ledger_path
            );
        }
        // Interrupted: not a success, whatever was done (130/143 as shells
        // do). A watch stopped between passes interrupted nothing.
        if let (false, Some(sig)) = (args.watch, stop.signal()) {
            return Ok(ExitStatus::from_signal(sig));
        }
        if status.is_success() {
            waform::out!("{}", next_steps(&config_path, args.sandbox));
        }
        Ok(status)
    })
}

/// What to do after a successful apply: see the funnel, and (after a dry
/// run) how to run it for real.
fn next_steps(config: &std::path::Path, sandbox: bool) -> String {
    let path = config.display();
    if sandbox {
        format!(
            "\nNext: `waform status --sandbox {path}` shows the funnel of this dry run.\n\
             For real: set WAFORM_INSTANCE and WAFORM_TOKEN, review `waform plan {path}`, \
             then `waform apply {path}`.\n"
        )
    } else {
        format!(
            "\nNext: `waform status {path}` shows the funnel; deliveries and submitted forms \
             arrive through `waform webhook {path}`.\n"
        )
    }
}
