//! `waform reconcile [PATH]`: looks every `unknown` send outcome up in the
//! account's message history and records the ones found as `accepted`
//! (the engine is `apply::reconcile`; apply runs the same pass at its start).

use std::time::Duration;

use super::context;
use crate::cli::ReconcileArgs;
use waform::apply::reconcile::{ReconcileReport, Reconciler};

pub(crate) fn run(args: ReconcileArgs) -> anyhow::Result<waform::ExitStatus> {
    let color = context::color_enabled(args.no_color);
    let cfg = context::load_config(&args.path, color)?;
    let lock_timeout = args.lock_timeout;
    let state = context::state_path(&cfg, args.state.as_deref(), &args.path, args.sandbox)?;
    let Some(ledger) = waform::state::open_existing(&state)? else {
        waform::outln!("Nothing recorded yet (no state at {state}); nothing to reconcile.");
        return Ok(waform::ExitStatus::Success);
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let account = if args.sandbox {
            context::sandbox_account(&cfg, Duration::from_secs(1), &state).await?
        } else {
            context::real_account(&cfg)?
        };
        // Rows change only under the lock: an apply in flight has intents
        // that are not unknown, only unanswered yet.
        let _lock = ledger.acquire_lock(lock_timeout)?;
        let dangling = ledger.mark_dangling_intents_unknown()?;
        if dangling > 0 {
            waform::outln!("{dangling} request(s) from an interrupted apply had no outcome; they are unknown until found");
        }
        let report = Reconciler::for_config(&cfg, account.provider.clone())
            .run(ledger.as_ref(), chrono::Utc::now())
            .await?;
        print_report(&report, &state.to_string());
        Ok(if report.unanswered > 0 {
            waform::ExitStatus::Failure
        } else {
            waform::ExitStatus::Success
        })
    })
}

/// What a pass did, in the words `apply` also uses at its start.
pub(crate) fn print_report(r: &ReconcileReport, state: &str) {
    if r.rows == 0 {
        waform::outln!("No unknown outcomes in {state}; nothing to reconcile.");
        return;
    }
    waform::outln!(
        "Reconciled {} unknown outcome(s) ({} phone(s)) against the account's message history:",
        r.rows,
        r.phones
    );
    waform::outln!("  {} found in the history: now accepted", r.found);
    if r.not_found > 0 {
        waform::outln!(
            "  {} not found: still unknown (history can be incomplete); never resent automatically, decide with `apply --resend-unknown SEND`",
            r.not_found
        );
    }
    if r.unanswered > 0 {
        waform::errln!(
            "error: {} unknown outcome(s) could not be checked and are unchanged: {}",
            r.unanswered,
            r.unavailable
                .as_deref()
                .unwrap_or("the message history did not answer")
        );
    }
}
