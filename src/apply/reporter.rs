//! What an [`Applier`](super::applier::Applier) tells its caller while it
//! works. The engine never prints: the CLI renders these events on a
//! terminal (progress bar, colour) or as plain lines; a library user may
//! log them or ignore them.

use std::time::Duration;

use crate::apply::dispatch::SendReport;
use crate::apply::reconcile::ReconcileReport;
use crate::plan::{Plan, SendPlan};
use crate::state::LockHolder;

/// The part of the run an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Managed Flows created, updated, published.
    Flows,
    /// Templates submitted, reviewed, deleted.
    Templates,
    /// Due sends dispatched.
    Sends,
}

/// A step of template work (`apply/templates.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateStep<'a> {
    /// Submitted to Meta for review.
    Submitted {
        /// Account name.
        name: &'a str,
        /// Language code.
        language: &'a str,
    },
    /// Meta approved it.
    Approved {
        /// Account name.
        name: &'a str,
        /// Language code.
        language: &'a str,
        /// Since the approval wait began.
        after: Duration,
    },
    /// Meta rejected it (or paused or disabled it).
    Rejected {
        /// Account name.
        name: &'a str,
        /// Language code.
        language: &'a str,
        /// Meta's reason, or the status.
        reason: &'a str,
    },
    /// Templates are still in review; the account is read again after `recheck`.
    StillInReview {
        /// How many.
        count: usize,
        /// The wait before the next look.
        recheck: Duration,
    },
    /// Deleted, in every language.
    Deleted {
        /// Account name.
        name: &'a str,
    },
}

/// A step of managed-Flow work (`apply/flows.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStep<'a> {
    /// Created as DRAFT with its JSON.
    Created {
        /// Key under `flows:`.
        key: &'a str,
        /// Name on the account.
        name: &'a str,
        /// The id the account gave it.
        id: &'a str,
    },
    /// Its JSON was replaced in place (same id).
    JsonReplaced {
        /// Key under `flows:`.
        key: &'a str,
        /// Name on the account.
        name: &'a str,
        /// Its id.
        id: &'a str,
    },
    /// Published.
    Published {
        /// Key under `flows:`.
        key: &'a str,
        /// Name on the account.
        name: &'a str,
        /// Its id.
        id: &'a str,
    },
    /// Deprecated (irreversible).
    Deprecated {
        /// Name on the account.
        name: &'a str,
        /// Its id.
        id: &'a str,
    },
    /// The account refused to edit it (Meta error 139001): cloned.
    Cloned {
        /// Key under `flows:`.
        key: &'a str,
        /// Name on the account of the Flow that cannot be edited.
        name: &'a str,
        /// Its id.
        id: &'a str,
        /// The clone's name (the next generation).
        clone_name: &'a str,
        /// The clone's id.
        clone_id: &'a str,
    },
}

/// One thing that happened during a pass.
#[derive(Debug)]
pub enum Event<'a> {
    /// Another apply holds the state lock; waiting up to `timeout`.
    LockWait {
        /// How long the applier waits.
        timeout: Duration,
        /// Who holds the lock.
        holder: &'a LockHolder,
    },
    /// Unknown outcomes were looked up in the account's history at start.
    Reconciled(&'a ReconcileReport),
    /// The plan this pass executes (the first pass only: it is the one
    /// confirmed).
    Plan(&'a Plan),
    /// The plan has errors; nothing was sent or changed.
    PlanHasErrors,
    /// The account and the ledger already match the config.
    NoChanges,
    /// Requests of an interrupted apply were marked `unknown`.
    Dangling(usize),
    /// A stage starts.
    Stage(Stage),
    /// A step of template work.
    Template(TemplateStep<'a>),
    /// A step of managed-Flow work.
    Flow(FlowStep<'a>),
    /// Templates in review are not waited for (`--no-wait`).
    NotWaiting(usize),
    /// Stopped by a signal while waiting for template review.
    InterruptedInReview {
        /// The signal.
        signal: i32,
        /// Templates still in review.
        pending: usize,
    },
    /// The approval timeout passed with templates still in review.
    ApprovalTimeout {
        /// The timeout.
        timeout: Duration,
        /// (name, language) still in review.
        pending: &'a [(String, String)],
    },
    /// A send that is not due now (waiting, scheduled, blocked, done).
    SendNotDue(&'a SendPlan),
    /// A send came due after the reviewed plan was made: not sent.
    SendNotReviewed {
        /// The send.
        name: &'a str,
        /// How many are due now.
        due: u64,
    },
    /// A due send's planned target cannot be completed (the template it
    /// waits for was not approved by this apply): not sent.
    SendUnresolved {
        /// The send.
        name: &'a str,
        /// Why, naming the template or Flow.
        why: &'a str,
    },
    /// A send's recipient file changed after the plan: not sent.
    SendStale {
        /// The send.
        name: &'a str,
        /// The changed file.
        file: &'a str,
    },
    /// A send starts: at most `total` messages.
    SendStarted {
        /// The send.
        name: &'a str,
        /// Messages it may send.
        total: u64,
    },
    /// Counts so far of the running send.
    SendProgress {
        /// The send.
        name: &'a str,
        /// Counts so far.
        report: &'a SendReport,
    },
    /// A send finished (or was stopped).
    SendFinished {
        /// The send.
        name: &'a str,
        /// Its final counts.
        report: &'a SendReport,
        /// How long it took.
        took: Duration,
    },
    /// The pass was cut short by a signal; `left` messages were not sent.
    Interrupted {
        /// The signal.
        signal: i32,
        /// Messages not yet sent.
        left: u64,
    },
}

/// Receives an applier's events, and confirms the plan before anything is
/// changed.
pub trait Reporter {
    /// Something happened.
    fn event(&mut self, event: Event<'_>);

    /// Asked once, after the first pass's plan is shown, unless the applier
    /// was told not to ask. An error cancels the apply with nothing sent.
    ///
    /// # Errors
    /// The apply is cancelled (the user said no, or cannot be asked).
    fn confirm(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let _ = plan;
        Ok(())
    }
}

/// A reporter that ignores everything and confirms every plan.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _event: Event<'_>) {}
}
