//! `waform unlock [PATH] --force`: clears the apply lock of a state whose
//! holder is gone, and refuses while the holder lives.
//!
//! The backends' locks end with their holder, so there is never a live lock
//! to break; what a killed holder can leave is its name beside the lock.
//! This command checks that nobody holds the lock and clears that name.

use anyhow::bail;

use super::ledger_source;
use crate::cli::UnlockArgs;
use waform::state::{clear_stale_lock, Unlock};

pub(crate) fn run(args: UnlockArgs) -> anyhow::Result<waform::ExitStatus> {
    let source =
        ledger_source::resolve(&args.config, args.state.as_deref(), args.sandbox, "unlock")?;
    let state = &source.ledger;
    if !args.force {
        bail!(
            "unlock clears the apply lock of {state}; pass --force to do it (it refuses anyway while an apply holds the lock)"
        );
    }
    match clear_stale_lock(state)? {
        Unlock::Held(h) => {
            waform::errln!(
                "error: the state {state} is locked by a running apply (host {}, pid {}, since {}{}); refusing to unlock while its holder lives.\n\
                 The lock is released the moment that process ends, even when killed: let it finish, or stop it.",
                h.host,
                h.pid,
                waform::state::fmt_time(h.since),
                h.command.map(|c| format!(", running `waform {c}`")).unwrap_or_default(),
            );
            Ok(waform::ExitStatus::Failure)
        }
        Unlock::Cleared(Some(h)) => {
            waform::outln!(
                "The state {state} was not locked: its last holder (host {}, pid {}, since {}) is gone. Cleared its name.",
                h.host,
                h.pid,
                waform::state::fmt_time(h.since),
            );
            Ok(waform::ExitStatus::Success)
        }
        Unlock::Cleared(None) => {
            waform::outln!("The state {state} is not locked; nothing to clear.");
            Ok(waform::ExitStatus::Success)
        }
    }
}
