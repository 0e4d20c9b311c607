//! Sending one send's due recipients, each exactly once (docs/design.md §5,
//! docs/exactly-once.md).
//!
//! # Guarantees
//! - A request starts only once its intent row is durable, and an intent is
//!   written only for a request about to start (after the rate limiter, the
//!   stop check and the `at`/`expires` check). A row without outcome is
//!   therefore a request that started and was not answered.
//! - A request certainly not sent (429, connection refused) has its intent
//!   withdrawn before the backoff, so the recipient stays due.
//! - Each outcome is durable at most `MAX_DELAY` after its
//!   answer (group commit), so a SIGKILL leaves in doubt only the requests
//!   in flight and those answered in that last moment.
//! - No request starts before `at` or after `expires` (wall clock, per
//!   request); recipients left when `expires` passes are recorded nowhere.
//! - Only recipients of the reviewed plan are messaged (`planned`), at most
//!   `cap` of them.
//!
//! # Assumptions
//! The caller holds the apply lock for this ledger.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use super::group_commit::{GroupCommit, Write};
use super::ratelimit::RateLimiter;
use super::sends::{self, Message, Prepared};
use super::stop::Stop;
use crate::config::types::SendSpec;
use crate::plan::planned::PlannedSet;
use crate::plan::tally;
use crate::provider::{Provider, SendOutcome};
use crate::state::{IntentStatus, Outcome, OutcomeRecord, Seen, SendKind, SendLedger};

/// Attempts for a request that was certainly not sent (429, refused).
const MAX_RETRIES: u32 = 12;
/// Waits between attempts of a request that was certainly not sent.
const REFUSED_BACKOFF: crate::backoff::Backoff = crate::backoff::Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(30),
};
/// Longest single wait for one recipient, whatever `Retry-After` says.
const MAX_REFUSED_WAIT: Duration = Duration::from_secs(60);

/// Why a request in flight has no answer when apply halts at once.
pub(crate) const HALT_REASON: &str =
    "the request had started and was unanswered when apply was stopped at once (second interrupt)";

/// When a send's requests may start, judged per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub(crate) not_before: Option<DateTime<Utc>>,
    pub(crate) not_after: Option<DateTime<Utc>>,
    /// Added to the wall clock: non-zero only for the sandbox's `--now`.
    pub(crate) offset: TimeDelta,
    /// Tests under paused time: the clock is this instant plus the tokio
    /// time elapsed since the paired tokio instant.
    #[cfg(test)]
    pub(crate) timer: Option<(DateTime<Utc>, tokio::time::Instant)>,
}

enum Gate {
    Open,
    Early(Duration),
    Expired,
}

impl Window {
    /// The window of a send's `at` and `expires`.
    pub(crate) fn of(send: &SendSpec, offset: TimeDelta) -> Self {
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Window {
            not_before: parse(&send.at),
            not_after: parse(&send.expires),
            offset,
            #[cfg(test)]
            timer: None,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        #[cfg(test)]
        if let Some((then, at)) = self.timer {
            return then + TimeDelta::from_std(at.elapsed()).unwrap_or_default() + self.offset;
        }
        Utc::now() + self.offset
    }

    fn gate(&self) -> Gate {
        let now = self.now();
        if self.not_after.is_some_and(|e| now >= e) {
            return Gate::Expired;
        }
        match self.not_before {
            Some(at) if now < at => Gate::Early((at - now).to_std().unwrap_or_default()),
            _ => Gate::Open,
        }
    }
}

/// Everything a run needs to send.
pub struct SendJob<'a> {
    /// The send's name in the config (its rows' key in the ledger).
    pub name: &'a str,
    /// The send as configured (recipients, exclusions, parameters).
    pub send: &'a SendSpec,
    /// Folder its recipient files are relative to.
    pub base_dir: &'a Path,
    /// What each recipient's message looks like, resolved by the plan.
    pub message: Message,
    /// At most this many recipients are attempted (the plan's count).
    pub cap: Option<u64>,
    /// When sending may start and must end (`at`, `expires`).
    pub window: Window,
    /// The recipients the reviewed plan counted; others are never messaged.
    pub planned: Option<&'a PlannedSet>,
    /// `--resend-unknown`: recipients whose outcome is unknown are due again;
    /// their row is replaced when their new request is about to start.
    pub resend_unknown: bool,
}

/// Counts of what one run did for one send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Requests the API took.
    pub accepted: u64,
    /// Of the accepted, sent as the fallback template (window closed).
    pub fallback: u64,
    /// Requests the API refused for good.
    pub rejected: u64,
    /// Requests whose fate is unknown (recorded, never resent automatically).
    pub unknown: u64,
    /// Of the above, recipients whose earlier outcome was unknown.
    pub resent: u64,
    pub(crate) skipped_recorded: u64,
    /// Never requested because apply stopped or the API kept refusing:
    /// nothing recorded, they stay due.
    pub(crate) not_sent: u64,
    /// Never requested because `expires` passed: nothing recorded.
    pub expired: u64,
    /// In the recipient files but not in the reviewed plan: not messaged.
    pub not_in_plan: u64,
    /// Apply halted at once; requests in flight were recorded `unknown`.
    pub halted: bool,
    /// The first refusal's reason, to show why a send failed.
    pub first_rejection: Option<String>,
}

impl SendReport {
    pub(crate) fn attempted(&self) -> u64 {
        self.accepted + self.rejected + self.unknown
    }
}

/// Shared by all sends of one apply.
pub struct Dispatcher {
    /// The account sends go to.
    pub provider: Arc<dyn Provider>,
    /// The rate all sends share (`provider.rate_limit`).
    pub limiter: Arc<RateLimiter>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Asked to stop by a signal (or a caller).
    pub stop: Arc<Stop>,
}

/// What a request task needs, shared by the tasks of one send.
struct TaskCtx {
    provider: Arc<dyn Provider>,
    limiter: Arc<RateLimiter>,
    message: Message,
    name: String,
    window: Window,
    stop: Arc<Stop>,
    writes: mpsc::UnboundedSender<Write>,
}

/// How one recipient's task ended.
enum Finished {
    Done {
        outcome: Outcome,
        kind: Option<SendKind>,
    },
    /// The ledger already had a row.
    Recorded,
    /// Never requested: apply stopped (`None`) or the API kept refusing.
    NotSent(Option<String>),
    Expired,
    /// The ledger could not record the intent: nothing was sent.
    LedgerFailed,
}

impl Dispatcher {
    /// Sends the job's due recipients.
    ///
    /// # Errors
    /// Ledger failures stop the run (nothing is sent without a durable
    /// intent); so does an API that keeps refusing to take messages.
    /// Provider answers are outcomes, not errors.
    pub async fn run(
        &self,
        ledger: &Arc<dyn SendLedger>,
        job: SendJob<'_>,
        mut on_progress: impl FnMut(&SendReport),
    ) -> anyhow::Result<SendReport> {
        // Classified batch by batch by the database: intents this run
        // writes for one batch are committed rows for the next, and a
        // phone is only ever new once (docs/exactly-once.md, "How the due
        // set is computed").
        let mut rows = tally::Audience::open(ledger.as_ref(), job.name, job.send, job.base_dir)?;
        let (writes, mut written) = mpsc::unbounded_channel::<Write>();
        let ctx = Arc::new(TaskCtx {
            provider: self.provider.clone(),
            limiter: self.limiter.clone(),
            message: job.message.clone(),
            name: job.name.to_string(),
            window: job.window,
            stop: self.stop.clone(),
            writes: writes.clone(),
        });
        let mut group = GroupCommit::new(job.name, job.resend_unknown, ledger.clone(), writes)?;
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks: JoinSet<(bool, Finished)> = JoinSet::new();
        let mut report = SendReport::default();
        let mut attempted: u64 = 0;
        let mut feeding = true;
        let mut failure: Option<anyhow::Error> = None;
        let mut refused: Option<(u64, String)> = None;
        loop {
            if self.stop.is_halted() {
                self.halt(&mut tasks, &mut written, &mut group, &mut report)
                    .await?;
                return Ok(report);
            }
            if self.stop.is_requested() || failure.is_some() || refused.is_some() {
                feeding = false;
            }
            if !feeding && tasks.is_empty() {
                break;
            }
            let deadline = group.deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                _ = self.stop.halted() => {}
                Some(w) = written.recv() => {
                    let mut taken = group.push(w);
                    while let Ok(w) = written.try_recv() {
                        taken = taken.and(group.push(w));
                    }
                    if let Err(e) = taken.and_then(|()| group.commit_if_due()) {
                        failure.get_or_insert(e.into());
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    if let Err(e) = group.commit_if_due() {
                        failure.get_or_insert(e.into());
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let (resent, finished) = match done {
                        Ok(d) => d,
                        Err(e) => {
                            failure.get_or_insert(anyhow!("a send task failed: {e}"));
                            continue;
                        }
                    };
                    match finished {
                        Finished::Done { outcome, kind } => {
                            count(&mut report, &outcome, kind);
                            report.resent += u64::from(resent);
                        }
                        Finished::Recorded => report.skipped_recorded += 1,
                        Finished::NotSent(None) => report.not_sent += 1,
                        Finished::NotSent(Some(reason)) => {
                            report.not_sent += 1;
                            let r = refused.get_or_insert((0, reason));
                            r.0 += 1;
                        }
                        Finished::Expired => {
                            report.expired += 1;
                            feeding = false;
                        }
                        Finished::LedgerFailed => {
                            report.not_sent += 1;
                            failure.get_or_insert(anyhow!("the state ledger could not record an intent; nothing more is sent"));
                        }
                    }
                    on_progress(&report);
                }
                permit = slots.clone().acquire_owned(), if feeding => {
                    let permit = permit?;
                    match self.next_due(&job, &mut rows, &mut attempted, &mut report) {
                        Ok(Some((p, resent))) => {
                            let ctx = ctx.clone();
                            tasks.spawn(async move {
                                let _permit = permit;
                                (resent, recipient(&ctx, p).await)
                            });
                        }
                        Ok(None) => feeding = false,
                        // A bad row (a file changed during the send) or a
                        // failed classification: the requests in flight
                        // are answered and recorded before the error ends
                        // the send, or their outcomes would be lost.
                        Err(e) => {
                            failure.get_or_insert(e);
                            feeding = false;
                        }
                    }
                }
            }
        }
        if let Err(e) = group.finish(&mut written).await {
            failure.get_or_insert(e.into());
        }
        if job.window.gate_expired() {
            // Whoever was never reached expired with the send.
            report.expired += rows
                .by_ref()
                .filter_map(Result::ok)
                .filter(|(_, seen)| *seen == Seen::New(None))
                .filter(|(r, _)| job.planned.is_none_or(|p| p.contains(&r.phone)))
                .count() as u64;
        }
        if let Some(err) = failure {
            return Err(err);
        }
        if let Some((n, reason)) = refused {
            anyhow::bail!(
                "the API did not take {n} message(s) after {MAX_RETRIES} attempts ({reason}); they were not sent and stay due for the next apply"
            );
        }
        Ok(report)
    }

    /// The next recipient to attempt, with whether it had an unknown
    /// outcome before; `None` when the send has no one left (or the cap is
    /// reached).
    fn next_due(
        &self,
        job: &SendJob<'_>,
        rows: &mut tally::Audience<'_>,
        attempted: &mut u64,
        report: &mut SendReport,
    ) -> anyhow::Result<Option<(Prepared, bool)>> {
        for item in rows.by_ref() {
            let (row, seen) = item?;
            let resent = match seen {
                Seen::Duplicate | Seen::Excluded => continue,
                Seen::New(Some(r)) if job.resend_unknown && r.is_unknown() => true,
                Seen::New(Some(_)) => {
                    report.skipped_recorded += 1;
                    continue;
                }
                Seen::New(None) => false,
            };
            if job.planned.is_some_and(|p| !p.contains(&row.phone)) {
                report.not_in_plan += 1;
                continue;
            }
            if job.cap.is_some_and(|cap| *attempted >= cap) {
                return Ok(None);
            }
            *attempted += 1;
            return Ok(Some((sends::prepare(job.name, &job.message, row), resent)));
        }
        Ok(None)
    }

    /// The second interrupt: requests in flight are abandoned and recorded
    /// `unknown` with a reason that says so; intents not yet committed are
    /// dropped (their requests never start).
    async fn halt(
        &self,
        tasks: &mut JoinSet<(bool, Finished)>,
        written: &mut mpsc::UnboundedReceiver<Write>,
        group: &mut GroupCommit,
        report: &mut SendReport,
    ) -> anyhow::Result<()> {
        tasks.abort_all();
        while let Some(done) = tasks.join_next().await {
            if let Ok((_, Finished::Done { outcome, kind })) = done {
                count(report, &outcome, kind);
            }
        }
        // A commit in progress may still put requests in flight.
        group.wait_idle(written).await?;
        while let Ok(w) = written.try_recv() {
            group.push(w)?;
        }
        group.discard_intents();
        let now = Utc::now();
        let send = group.send().to_string();
        let abandoned: Vec<OutcomeRecord> = group
            .in_flight()
            .map(|phone| {
                OutcomeRecord::new(
                    &send,
                    phone,
                    Outcome::Unknown {
                        reason: HALT_REASON.into(),
                    },
                    now,
                )
            })
            .collect();
        report.unknown += abandoned.len() as u64;
        for o in abandoned {
            group.push(Write::Outcome(o))?;
        }
        group.finish(written).await?;
        report.halted = true;
        Ok(())
    }
}

fn count(report: &mut SendReport, outcome: &Outcome, kind: Option<SendKind>) {
    match outcome {
        Outcome::Accepted { .. } => {
            report.accepted += 1;
            if kind == Some(SendKind::Fallback) {
                report.fallback += 1;
            }
        }
        Outcome::Rejected { reason } => {
            report.rejected += 1;
            report.first_rejection.get_or_insert_with(|| reason.clone());
        }
        Outcome::Unknown { .. } => report.unknown += 1,
    }
}

/// Sleeps `wait` unless apply is asked to stop first (then `true`).
async fn nap(stop: &Stop, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < until {
        if stop.is_requested() {
            return true;
        }
        let step = until.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(step.min(Duration::from_millis(50))).await;
    }
    stop.is_requested()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Window {
    fn gate_expired(&self) -> bool {
        matches!(self.gate(), Gate::Expired)
    }
}

/// One recipient: wait for a slot, write the intent, make the request;
/// withdraw and retry while the answer says it was certainly not sent.
async fn recipient(ctx: &TaskCtx, p: Prepared) -> Finished {
    let mut rng = fastrand::Rng::new();
    let mut last_refusal = String::new();
    for attempt in 0..MAX_RETRIES {
        ctx.limiter.acquire().await;
        loop {
            if ctx.stop.is_requested() {
                return Finished::NotSent(None);
            }
            match ctx.window.gate() {
                Gate::Expired => return Finished::Expired,
                Gate::Open => break,
                // Never before `at`, even by the clock skew between plan and send.
                Gate::Early(wait) => {
                    nap(&ctx.stop, wait.min(Duration::from_secs(1))).await;
                }
            }
        }
        let (ack, acked) = oneshot::channel();
        let intent = p.intent(&ctx.name, Utc::now());
        if ctx.writes.send(Write::Intent { intent, ack }).is_err() {
            return Finished::LedgerFailed;
        }
        match acked.await {
            Ok(IntentStatus::Recorded) => {}
            Ok(IntentStatus::AlreadyRecorded) => return Finished::Recorded,
            Err(_) => return Finished::LedgerFailed,
        }
        let (outcome, kind, template) = sends::request(
            ctx.provider.as_ref(),
            &ctx.limiter,
            &ctx.name,
            &ctx.message,
            &p,
        )
        .await;
        let outcome = match outcome {
            SendOutcome::Accepted { message_id, job_id } => {
                Outcome::Accepted { message_id, job_id }
            }
            SendOutcome::Rejected { reason, .. } => Outcome::Rejected { reason },
            SendOutcome::Ambiguous { reason } => Outcome::Unknown { reason },
            SendOutcome::Retry {
                reason,
                retry_after,
            } => {
                let _ = ctx.writes.send(Write::Withdraw(p.row.phone.clone()));
                let wait = REFUSED_BACKOFF
                    .delay(attempt, retry_after, &mut rng)
                    .min(MAX_REFUSED_WAIT);
                tracing::debug!(
                    send = %ctx.name,
                    attempt,
                    wait_ms = wait.as_millis(),
                    reason = %reason,
                    "send refused before it was taken; backing off"
                );
                ctx.limiter.pause(wait).await;
                if nap(&ctx.stop, wait).await {
                    return Finished::NotSent(None);
                }
                last_refusal = reason;
                continue;
            }
        };
        let mut record = OutcomeRecord::new(&ctx.name, &p.row.phone, outcome.clone(), Utc::now());
        record.kind = kind;
        record.template = template;
        let _ = ctx.writes.send(Write::Outcome(record));
        return Finished::Done { outcome, kind };
    }
    Finished::NotSent(Some(last_refusal))
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
