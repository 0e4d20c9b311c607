//! Group commit of apply's ledger writes (docs/exactly-once.md).
//!
//! Request tasks hand their writes to one buffer, owned by the dispatcher's
//! loop; the loop commits whatever has gathered in one transaction. Intents
//! are committed at once (a request waits for its own), outcomes at the
//! latest [`MAX_DELAY`] after they arrive or once [`MAX_ROWS`] are waiting.
//! While one commit runs, the next group gathers, so the number of
//! transactions follows the disk's speed, not the number of recipients.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::state::{Group, Intent, IntentStatus, OutcomeRecord, SendLedger, StateError};

/// The longest an answered request waits for its outcome to be durable.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(100);
/// Outcomes that make a commit due without waiting for [`MAX_DELAY`].
pub(crate) const MAX_ROWS: usize = 512;

/// One write handed over by a request task.
pub(crate) enum Write {
    /// The request is about to start; `ack` hears once the intent is durable
    /// (dropped unanswered when the commit failed: then nothing may be sent).
    Intent {
        intent: Intent,
        ack: oneshot::Sender<IntentStatus>,
    },
    Outcome(OutcomeRecord),
    /// The request certainly did not reach the API (429, refused connection):
    /// the intent is removed so the recipient stays due.
    Withdraw(String),
}

/// Writes gathered for the next commit, plus which recipients have a
/// durable intent and no outcome yet (the requests in flight).
pub(crate) struct GroupCommit {
    send: String,
    replace_unknown: bool,
    intents: Vec<Intent>,
    acks: Vec<oneshot::Sender<IntentStatus>>,
    outcomes: Vec<OutcomeRecord>,
    withdrawn: Vec<String>,
    oldest: Option<Instant>,
    in_flight: HashSet<String>,
}

impl GroupCommit {
    pub(crate) fn new(send: &str, replace_unknown: bool) -> Self {
        GroupCommit {
            send: send.to_string(),
            replace_unknown,
            intents: Vec::new(),
            acks: Vec::new(),
            outcomes: Vec::new(),
            withdrawn: Vec::new(),
            oldest: None,
            in_flight: HashSet::new(),
        }
    }

    pub(crate) fn send(&self) -> &str {
        &self.send
    }

    pub(crate) fn push(&mut self, write: Write) {
        match write {
            Write::Intent { intent, ack } => {
                self.intents.push(intent);
                self.acks.push(ack);
            }
            Write::Outcome(o) => {
                self.in_flight.remove(&o.phone);
                self.outcomes.push(o);
                self.oldest.get_or_insert_with(Instant::now);
            }
            Write::Withdraw(phone) => {
                self.in_flight.remove(&phone);
                self.withdrawn.push(phone);
                self.oldest.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Whether a commit should run now rather than at [`GroupCommit::deadline`]:
    /// a request waits for its intent, and a withdrawal (a 429, rare) is what
    /// keeps a certainly-unsent recipient from looking in doubt after a crash.
    pub(crate) fn urgent(&self) -> bool {
        !self.intents.is_empty() || !self.withdrawn.is_empty() || self.outcomes.len() >= MAX_ROWS
    }

    /// When the oldest waiting outcome must be durable.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + MAX_DELAY)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.intents.is_empty() && self.outcomes.is_empty() && self.withdrawn.is_empty()
    }

    /// Drops the intents not yet committed: their requests never start
    /// (apply is stopping at once).
    pub(crate) fn discard_intents(&mut self) {
        self.intents.clear();
        self.acks.clear();
    }

    /// Recipients whose request started and has not been answered.
    pub(crate) fn in_flight(&self) -> impl Iterator<Item = &String> {
        self.in_flight.iter()
    }

    /// Commits everything gathered in one transaction and answers the
    /// waiting intents.
    ///
    /// # Errors
    /// The ledger's; nothing of the group is then recorded, and the waiting
    /// requests are told so (their acks are dropped) and never start.
    pub(crate) fn commit(&mut self, ledger: &dyn SendLedger) -> Result<(), StateError> {
        if self.is_empty() {
            return Ok(());
        }
        let intents = std::mem::take(&mut self.intents);
        let acks = std::mem::take(&mut self.acks);
        let outcomes = std::mem::take(&mut self.outcomes);
        let withdrawn = std::mem::take(&mut self.withdrawn);
        self.oldest = None;
        let statuses = ledger.commit_group(&Group {
            send: &self.send,
            outcomes: &outcomes,
            withdrawn: &withdrawn,
            intents: &intents,
            replace_unknown: self.replace_unknown,
        })?;
        for ((intent, ack), status) in intents.into_iter().zip(acks).zip(statuses) {
            if status == IntentStatus::Recorded {
                self.in_flight.insert(intent.phone);
            }
            // A task that is gone (aborted) has nothing to start.
            let _ = ack.send(status);
        }
        Ok(())
    }
}
