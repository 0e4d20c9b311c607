//! Group commit of apply's ledger writes (docs/exactly-once.md).
//!
//! Request tasks hand their writes to one buffer, owned by the dispatcher's
//! loop; whatever has gathered is committed in one transaction. Intents are
//! committed at once (a request waits for its own), outcomes at the latest
//! [`MAX_DELAY`] after they arrive or once [`MAX_ROWS`] are waiting.
//!
//! Commits run on threads of their own (the ledger API is synchronous), at
//! most [`SendLedger::commit_lanes`] at once (1 for SQLite, where commits
//! serialize anyway; several for PostgreSQL, whose server flushes commits
//! waiting at the same moment together). While the lanes are busy the
//! dispatcher keeps starting tasks and the next group gathers; it is handed
//! over the moment a lane frees. So a commit carries every intent that
//! arrived meanwhile, and the number of transactions follows the database's
//! commit latency, not the number of recipients. Writes that depend on each
//! other are never in two commits at once: a request's outcome or
//! withdrawal exists only after its intent's commit ended. A thread reports
//! a finished commit through the
//! same channel the tasks write to, before it answers the waiting intents;
//! so the dispatcher always learns that a request is in flight before that
//! request's outcome reaches it.

use std::collections::HashSet;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

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
        /// The row to write.
        intent: Intent,
        /// Answered once the intent is durable.
        ack: oneshot::Sender<IntentStatus>,
    },
    /// A request's answer.
    Outcome(OutcomeRecord),
    /// The request certainly did not reach the API (429, refused connection):
    /// the intent is removed so the recipient stays due.
    Withdraw(String),
    /// The commit thread finished a commit: the phones whose intent it
    /// recorded (their requests start now), or why nothing was recorded.
    Committed(Result<Vec<String>, StateError>),
}

/// Everything one commit writes, owned by the commit thread while it runs.
struct Batch {
    intents: Vec<Intent>,
    acks: Vec<oneshot::Sender<IntentStatus>>,
    outcomes: Vec<OutcomeRecord>,
    withdrawn: Vec<String>,
    /// Tests in paused tokio time: dropped when the commit ends, which
    /// lets the clock move again (see [`hold_clock`]).
    #[cfg(test)]
    _clock: Option<std_mpsc::Sender<()>>,
}

/// Tests in tokio's paused time: the clock would jump to the next timer
/// while the runtime only waits for the commit thread, so a commit would
/// seem to take seconds. A blocking task waiting for the commit's end
/// holds the clock still (tokio does not auto-advance while one runs), as
/// real time passes only by the commit's latency.
#[cfg(test)]
fn hold_clock() -> Option<std_mpsc::Sender<()>> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let (release, released) = std_mpsc::channel::<()>();
    handle.spawn_blocking(move || {
        let _ = released.recv();
    });
    Some(release)
}

/// Writes gathered for the next commit, the commit in progress, and which
/// recipients have a durable intent and no outcome yet (the requests in
/// flight).
pub(crate) struct GroupCommit {
    send: String,
    intents: Vec<Intent>,
    acks: Vec<oneshot::Sender<IntentStatus>>,
    outcomes: Vec<OutcomeRecord>,
    withdrawn: Vec<String>,
    oldest: Option<Instant>,
    in_flight: HashSet<String>,
    /// Commits handed to the threads that have not reported back.
    busy: usize,
    /// Commits that may run at once ([`SendLedger::commit_lanes`]).
    lanes: usize,
    jobs: Option<std_mpsc::Sender<Batch>>,
    threads: Vec<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the commit thread of one send; it reports finished commits
    /// as [`Write::Committed`] on `done` (the channel the tasks write to).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn new(
        send: &str,
        replace_unknown: bool,
        ledger: Arc<dyn SendLedger>,
        done: mpsc::UnboundedSender<Write>,
    ) -> std::io::Result<Self> {
        let (jobs, incoming) = std_mpsc::channel::<Batch>();
        let incoming = Arc::new(Mutex::new(incoming));
        let lanes = ledger.commit_lanes().max(1);
        let mut threads = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (ledger, done, incoming) = (ledger.clone(), done.clone(), incoming.clone());
            let name = send.to_string();
            threads.push(
                std::thread::Builder::new()
                    .name("waform-commit".into())
                    .spawn(move || loop {
                        let next = incoming.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(batch) = next else {
                            break;
                        };
                        commit_batch(ledger.as_ref(), &name, replace_unknown, batch, &done);
                    })?,
            );
        }
        Ok(GroupCommit {
            send: send.to_string(),
            intents: Vec::new(),
            acks: Vec::new(),
            outcomes: Vec::new(),
            withdrawn: Vec::new(),
            oldest: None,
            in_flight: HashSet::new(),
            busy: 0,
            lanes,
            jobs: Some(jobs),
            threads,
        })
    }

    /// The send whose writes these are.
    pub(crate) fn send(&self) -> &str {
        &self.send
    }

    /// Takes one write.
    ///
    /// # Errors
    /// A finished commit that failed: nothing of it was recorded and its
    /// requests were told so (they never start).
    pub(crate) fn push(&mut self, write: Write) -> Result<(), StateError> {
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
            Write::Committed(result) => {
                self.busy = self.busy.saturating_sub(1);
                self.in_flight.extend(result?);
            }
        }
        Ok(())
    }

    /// Whether a commit should run now rather than at [`GroupCommit::deadline`]:
    /// a request waits for its intent, and a withdrawal (a 429, rare) is what
    /// keeps a certainly-unsent recipient from looking in doubt after a crash.
    fn urgent(&self) -> bool {
        !self.intents.is_empty() || !self.withdrawn.is_empty() || self.outcomes.len() >= MAX_ROWS
    }

    /// When the oldest waiting outcome must be durable; `None` while a
    /// commit runs (its end wakes the dispatcher, which then looks again).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.busy >= self.lanes {
            return None;
        }
        self.oldest.map(|t| t + MAX_DELAY)
    }

    /// Nothing is waiting to be committed.
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

    /// Hands what has gathered to the commit thread if no commit runs and
    /// it is due (urgent, or its deadline has passed).
    ///
    /// # Errors
    /// The commit thread has stopped; nothing more can be recorded.
    pub(crate) fn commit_if_due(&mut self) -> Result<(), StateError> {
        let due = self.urgent() || self.deadline().is_some_and(|d| d <= Instant::now());
        if due {
            self.start()?;
        }
        Ok(())
    }

    /// Hands whatever has gathered to the commit thread (if no commit runs
    /// and anything is waiting).
    fn start(&mut self) -> Result<(), StateError> {
        if self.busy >= self.lanes || self.is_empty() {
            return Ok(());
        }
        let batch = Batch {
            intents: std::mem::take(&mut self.intents),
            acks: std::mem::take(&mut self.acks),
            outcomes: std::mem::take(&mut self.outcomes),
            withdrawn: std::mem::take(&mut self.withdrawn),
            #[cfg(test)]
            _clock: hold_clock(),
        };
        self.oldest = None;
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(batch).is_ok());
        if !sent {
            return Err(StateError::Backend {
                backend: "apply",
                source: "the ledger's commit thread stopped".into(),
            });
        }
        self.busy += 1;
        Ok(())
    }

    /// Commits everything still waiting and returns once it is durable
    /// (the end of a send, or of a halt). `written` is the channel the
    /// tasks and the commit thread write to.
    ///
    /// # Errors
    /// The first failed commit.
    pub(crate) async fn finish(
        &mut self,
        written: &mut mpsc::UnboundedReceiver<Write>,
    ) -> Result<(), StateError> {
        let mut first_err = None;
        loop {
            self.settle(written, &mut first_err).await;
            if self.is_empty() {
                break;
            }
            if let Err(e) = self.start() {
                first_err.get_or_insert(e);
                break;
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Waits until no commit runs, taking the writes that arrive meanwhile.
    async fn settle(
        &mut self,
        written: &mut mpsc::UnboundedReceiver<Write>,
        first_err: &mut Option<StateError>,
    ) {
        while self.busy > 0 {
            let Some(w) = written.recv().await else {
                break;
            };
            if let Err(e) = self.push(w) {
                first_err.get_or_insert(e);
            }
        }
    }

    /// Waits for the commit in progress, if any (see [`GroupCommit::finish`]).
    ///
    /// # Errors
    /// That commit failed.
    pub(crate) async fn wait_idle(
        &mut self,
        written: &mut mpsc::UnboundedReceiver<Write>,
    ) -> Result<(), StateError> {
        let mut first_err = None;
        self.settle(written, &mut first_err).await;
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for GroupCommit {
    /// Lets a commit in progress end before the send's run returns, so the
    /// ledger is never written after apply moved on (or released its lock).
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One commit on the commit thread: report the result on `done` first,
/// then answer the waiting intents (dropped unanswered on failure).
fn commit_batch(
    ledger: &dyn SendLedger,
    send: &str,
    replace_unknown: bool,
    batch: Batch,
    done: &mpsc::UnboundedSender<Write>,
) {
    let started = std::time::Instant::now();
    let result = ledger.commit_group(&Group {
        send,
        outcomes: &batch.outcomes,
        withdrawn: &batch.withdrawn,
        intents: &batch.intents,
        replace_unknown,
    });
    match result {
        Ok(statuses) => {
            tracing::debug!(
                send,
                intents = batch.intents.len(),
                outcomes = batch.outcomes.len(),
                withdrawn = batch.withdrawn.len(),
                latency_ms = started.elapsed().as_millis(),
                "ledger group committed"
            );
            let recorded = batch
                .intents
                .iter()
                .zip(&statuses)
                .filter(|(_, s)| **s == IntentStatus::Recorded)
                .map(|(i, _)| i.phone.clone())
                .collect();
            let _ = done.send(Write::Committed(Ok(recorded)));
            for (ack, status) in batch.acks.into_iter().zip(statuses) {
                // A task that is gone (aborted) has nothing to start.
                let _ = ack.send(status);
            }
        }
        Err(e) => {
            tracing::warn!(send, error = %e, "ledger group commit failed; nothing of it was recorded");
            let _ = done.send(Write::Committed(Err(e)));
        }
    }
}
