//! The backend-neutral state API: everything plan, apply, webhook, status
//! and responses store or read goes through [`SendLedger`], so the
//! exactly-once machinery does not depend on which database holds the rows.
//! Backend types (connections, driver errors) stay inside their modules.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::audience::AudienceScan;
use super::{
    InboundEvent, Intent, IntentStatus, LedgerCounts, OutcomeRecord, ReasonCount, Recorded,
    Response, SendRow, StateError, StoreReport, StoredEvent, WINDOW,
};

/// The state contract every backend implements.
///
/// # Guarantees an implementation must give
/// - `record_intents` is durable when it returns, and refuses a second row
///   for the same (send, phone) (`AlreadyRecorded`), also against another
///   process writing at the same time.
/// - `record_outcomes` never creates a row; `withdraw_intents` only deletes
///   rows without an outcome.
/// - Acks never move a row's delivery backwards (see [`super::Delivery`]).
/// - `store_event_groups` is durable when it returns, and stores an event
///   (by its dedupe key) once, whichever receiver gets it first.
/// - `acquire_lock` admits one holder per state at a time, across hosts.
pub trait SendLedger: Send + Sync {
    /// Where the state is, for messages: a file path, or a URL without its
    /// password.
    fn location(&self) -> String;

    /// Takes the one-apply-per-state lock, polling up to `timeout`.
    fn acquire_lock(&self, timeout: Duration) -> Result<LockGuard, StateError>;
    /// The current lock holder, if any.
    fn lock_holder(&self) -> Result<Option<LockHolder>, StateError>;

    /// Writes intents before their requests, in one transaction; per item,
    /// whether it is new (send it) or the row already existed (do not).
    fn record_intents(&self, intents: &[Intent]) -> Result<Vec<IntentStatus>, StateError>;
    /// Records what became of requests; returns how many rows changed.
    fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Result<usize, StateError>;
    /// Deletes intents whose requests were certainly never made (refused
    /// before sending), so those recipients stay due; returns rows removed.
    fn withdraw_intents(&self, send: &str, phones: &[String]) -> Result<usize, StateError>;
    /// Calls `f` with every recorded (phone, state) of a send.
    fn visit_rows(&self, send: &str, f: &mut dyn FnMut(&str, Recorded)) -> Result<(), StateError>;
    /// What the ledger holds for each of `phones` in `send` (`None`: never
    /// attempted), in input order.
    fn lookup(&self, send: &str, phones: &[&str]) -> Result<Vec<Option<Recorded>>, StateError>;
    /// Starts classifying the audience of `send` in batches through the
    /// database (see [`super::audience`]): who came before, who is
    /// excluded, what the ledger holds. Plan and apply never load a send's
    /// rows into memory.
    fn audience(&self, send: &str) -> Result<Box<dyn AudienceScan + '_>, StateError>;
    /// The full row for (send, phone), if any.
    fn row(&self, send: &str, phone: &str) -> Result<Option<SendRow>, StateError>;
    /// Turns intents without an outcome into `unknown` (call under the lock).
    fn mark_dangling_intents_unknown(&self) -> Result<usize, StateError>;
    /// Every `unknown` row, oldest intent first (`reconcile` looks them up).
    fn unknown_rows(&self) -> Result<Vec<SendRow>, StateError>;
    /// Deletes the unknown rows of `send` (`apply --resend-unknown`).
    fn forget_unknown(&self, send: &str) -> Result<usize, StateError>;
    /// How many [`SendLedger::commit_group`] calls may usefully run at
    /// once (from several threads): 1 where commits serialize anyway.
    fn commit_lanes(&self) -> usize {
        1
    }
    /// One group commit of apply (docs/exactly-once.md): the group's
    /// outcomes, then its withdrawals, then its intents, in ONE durable
    /// transaction. Returns the intents' statuses in input order.
    ///
    /// With `replace_unknown` (the `--resend-unknown` decision) an intent
    /// replaces an existing `unknown` row of the same (send, phone) without
    /// a Flow completion, in the same transaction, so the old row disappears
    /// only when the new request is about to start.
    fn commit_group(&self, group: &Group<'_>) -> Result<Vec<IntentStatus>, StateError>;

    /// Per-send funnel counts, for one send or all, sorted by name.
    fn counts(&self, send: Option<&str>) -> Result<BTreeMap<String, LedgerCounts>, StateError>;
    /// The rows of `send` that were not accepted, grouped by (state, stored
    /// reason) in one query in the database, in no particular order: status
    /// reads why messages failed without loading a send's rows.
    fn reason_counts(&self, send: &str) -> Result<Vec<ReasonCount>, StateError>;
    /// Submitted forms of `send`, oldest first.
    fn responses(&self, send: &str) -> Result<Vec<Response>, StateError>;

    /// Group commit of several webhook requests, each all-or-nothing; the
    /// `Ok` results are durable when this returns `Ok`.
    fn store_event_groups(
        &self,
        groups: &[&[InboundEvent]],
    ) -> Result<Vec<Result<StoreReport, StateError>>, StateError>;
    /// Number of stored webhook events.
    fn event_count(&self) -> Result<u64, StateError>;
    /// Stored webhook events, oldest first, optionally of one kind.
    fn events(&self, kind: Option<&str>) -> Result<Vec<StoredEvent>, StateError>;
    /// The time of the customer's last inbound message, if any.
    fn last_inbound(&self, phone: &str) -> Result<Option<DateTime<Utc>>, StateError>;

    /// Stores the events of one webhook request (see `store_event_groups`).
    fn store_events(&self, events: &[InboundEvent]) -> Result<StoreReport, StateError> {
        let mut results = self.store_event_groups(&[events])?;
        results.pop().unwrap_or(Ok(StoreReport::default()))
    }

    /// When the 24-hour window for `phone` opened, if it is open at `now`.
    /// The ledger only knows the messages the webhook saw, so `None` means
    /// "not known to be open", not "closed".
    fn window_open_since(
        &self,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(self
            .last_inbound(phone)?
            .filter(|at| *at <= now && now - *at < WINDOW))
    }
}

/// What one group commit of apply writes, for one send.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// The send all of it belongs to.
    pub send: &'a str,
    /// Outcomes of finished requests.
    pub outcomes: &'a [OutcomeRecord],
    /// Phones whose intents are withdrawn (request certainly not made).
    pub withdrawn: &'a [String],
    /// Intents of requests about to start.
    pub intents: &'a [Intent],
    /// `apply --resend-unknown`: an intent may replace an unknown row.
    pub replace_unknown: bool,
}

/// Who holds the apply lock, as the holder wrote it down: for messages
/// only, never to decide whether the holder lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's host name.
    pub host: String,
    /// In the holder's own pid namespace: not comparable with ours.
    pub pid: u32,
    /// When it took the lock.
    pub since: DateTime<Utc>,
    /// The command line of the holder, when the backend records it.
    pub command: Option<String>,
}

/// A backend's hold on the apply lock.
///
/// # Guarantees an implementation must give
/// - While it is held and not [`HeldLock::is_lost`], no other holder of the
///   same state exists, in any process, pid namespace or host.
/// - It ends with the process, however the process ends; nothing is ever
///   inferred from a pid.
pub trait HeldLock: Send + fmt::Debug {
    /// Gives the lock up; called once, by [`LockGuard`].
    fn release(&mut self) -> Result<(), StateError>;
    /// Whether the lock is known to be lost (its session died, its lock
    /// file was replaced): the holder must stop before its next request.
    fn is_lost(&self) -> bool {
        false
    }
}

/// Holds the apply lock until dropped (or [`LockGuard::release`]d).
#[derive(Debug)]
pub struct LockGuard {
    held: Option<Box<dyn HeldLock>>,
}

impl LockGuard {
    pub(crate) fn new(held: Box<dyn HeldLock>) -> Self {
        LockGuard { held: Some(held) }
    }

    /// Releases the lock now, reporting a failure instead of ignoring it.
    pub fn release(mut self) -> Result<(), StateError> {
        match self.held.take() {
            Some(mut held) => held.release(),
            None => Ok(()),
        }
    }

    /// See [`HeldLock::is_lost`].
    pub fn is_lost(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.is_lost())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(mut held) = self.held.take() {
            // Best effort: a lock that cannot be released here is one whose
            // holder is about to end, which every backend recovers from.
            let _ = held.release();
        }
    }
}
