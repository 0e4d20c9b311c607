//! The reconcile engine's apply side: executes a plan against an account
//! and a ledger, pass by pass, and reports through a [`Reporter`]. The CLI
//! (`waform apply`) and library users drive the same code; `--watch` is a
//! loop over [`Applier::pass`] sleeping [`PassOutcome::requeue_after`].
//!
//! The send-safety rules it enforces are described in docs/exactly-once.md:
//! the lock held for the whole run, dangling intents marked unknown before
//! anything is sent, the reviewed plan as the upper bound of who is
//! messaged, input files checked right before the first request.

use std::cell::{Cell, OnceCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};

use super::dispatch::{Dispatcher, SendJob, Window};
use super::held_lock::HeldApplyLock;
use super::message;
use super::ratelimit::RateLimiter;
use super::reconcile::Reconciler;
use super::reporter::{Event, Reporter, Stage};
use super::stop::Stop;
use super::templates;
use crate::account::Account;
use crate::config::Config;
use crate::exit::ExitStatus;
use crate::plan::file::PlanFile;
use crate::plan::planned::Review;
use crate::plan::target::SendTarget;
use crate::plan::{Observed, Plan, PlanInputs, SendState, TemplateAction};
use crate::state::{SendLedger, StateLocation};

/// How an apply behaves, resolved by the caller (CLI flags, or a library
/// user's choice).
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// Sends per second; `None`: the config's `provider.rate_limit` (or
    /// the default), read again each pass.
    pub rate_limit: Option<f64>,
    /// Requests in flight; `None`: the config's `provider.concurrency`.
    pub concurrency: Option<usize>,
    /// How long to wait for template review.
    pub approval_timeout: Duration,
    /// How long to wait for another apply holding the state lock.
    pub lock_timeout: Duration,
    /// Wait for templates in review (`false`: `--no-wait`).
    pub wait_for_review: bool,
    /// Ask [`Reporter::confirm`] before the first pass changes anything.
    pub confirm: bool,
    /// The run keeps watching: a signal between passes interrupted nothing.
    pub watch: bool,
    /// Flows under `removed:` may be deprecated (`--allow-deprecate`).
    pub allow_deprecate: bool,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            rate_limit: None,
            concurrency: None,
            approval_timeout: Duration::from_secs(30 * 60),
            lock_timeout: Duration::from_secs(30),
            wait_for_review: true,
            confirm: false,
            watch: false,
            allow_deprecate: false,
        }
    }
}

/// Everything an applier works with.
pub struct ApplyInputs<'a> {
    /// The account written to.
    pub account: &'a Account,
    /// The state ledger.
    pub state: &'a StateLocation,
    /// A reviewed plan file to execute exactly (`None`: plan from the config).
    pub plan_file: Option<&'a PlanFile>,
    /// A pinned clock (`--now`, sandbox only); `None`: the wall clock.
    pub now: Option<DateTime<Utc>>,
    /// Sends whose unknown outcomes the first pass sends again.
    pub resend_unknown: Vec<String>,
    /// Pace, timeouts, waiting and confirmation.
    pub settings: ApplySettings,
    /// Raised by signals (or the lock watcher) to stop sending.
    pub stop: Arc<Stop>,
}

/// What a pass ended with, and when the next one could have work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassOutcome {
    /// How the pass ended.
    pub status: ExitStatus,
    /// When to look again: the next `at`, capped at a minute, or sooner
    /// while a review is pending.
    pub requeue_after: Duration,
}

/// The longest a watch sleeps between passes: new recipients and approved
/// templates are noticed within a minute.
pub(crate) const MAX_REQUEUE: Duration = Duration::from_secs(60);

/// How soon a watch looks again while a review is pending (a template in
/// review, a Flow not yet published): soon at first, then less often, the
/// interval doubling pass by pass up to [`MAX_REQUEUE`].
const REVIEW_RECHECK: crate::backoff::Backoff = crate::backoff::Backoff {
    base: Duration::from_secs(2),
    max: MAX_REQUEUE,
};

/// Whether the plan waits on someone else's review: a template in review
/// (sends waiting for it, or a superseded version waiting for its
/// successor), or a Flow the sends need that is not yet published.
fn awaits_review(plan: &Plan) -> bool {
    plan.count(TemplateAction::Pending) + plan.count(TemplateAction::Superseded) > 0
        || plan.flows.iter().any(|f| {
            matches!(
                f.status,
                crate::plan::FlowCheckStatus::Account(
                    crate::provider::FlowStatus::Draft | crate::provider::FlowStatus::Throttled
                )
            )
        })
}

/// Executes plans against one account and ledger; holds the state lock
/// from its first use until dropped.
pub struct Applier<'a> {
    inputs: ApplyInputs<'a>,
    held: OnceCell<HeldApplyLock>,
    /// The last pass ended with a review pending.
    awaiting: Cell<bool>,
    /// Passes in a row that ended with a review pending.
    rechecks: Cell<u32>,
}

impl<'a> Applier<'a> {
    /// An applier over `inputs`; nothing is read or locked yet.
    pub fn new(inputs: ApplyInputs<'a>) -> Self {
        Applier {
            inputs,
            held: OnceCell::new(),
            awaiting: Cell::new(false),
            rechecks: Cell::new(0),
        }
    }

    /// The stop flag this applier obeys.
    pub fn stop(&self) -> &Arc<Stop> {
        &self.inputs.stop
    }

    /// Takes the state lock on first use and keeps it for the rest of the
    /// run; later calls only check it is still ours. Returns whether it had
    /// to wait for another apply (whose sends the plan did not see).
    fn hold_lock(
        &self,
        ledger: &dyn SendLedger,
        reporter: &mut dyn Reporter,
    ) -> anyhow::Result<bool> {
        if let Some(held) = self.held.get() {
            held.check()?;
            return Ok(false);
        }
        let timeout = self.inputs.settings.lock_timeout;
        let (guard, waited) = match ledger.acquire_lock(Duration::ZERO) {
            Ok(guard) => (guard, false),
            Err(crate::state::StateError::Locked { holder, .. }) => {
                reporter.event(Event::LockWait {
                    timeout,
                    holder: &holder,
                });
                (ledger.acquire_lock(timeout)?, true)
            }
            Err(e) => return Err(e.into()),
        };
        let _ = self.held.set(HeldApplyLock::watch(
            guard,
            ledger.location(),
            self.inputs.stop.clone(),
        ));
        Ok(waited)
    }

    /// Fails once the lock is lost: nothing more may be sent.
    fn check_lock(&self) -> anyhow::Result<()> {
        if let Some(held) = self.held.get() {
            held.check()?;
        }
        Ok(())
    }

    /// Before anything is planned or offered for resending, looks the
    /// ledger's new `unknown` outcomes up in the account's history
    /// (`apply::reconcile`; rows an earlier pass did not find are left to
    /// `waform reconcile`). Nothing recorded yet: nothing to do, and no
    /// state is created.
    ///
    /// # Errors
    /// The ledger cannot be opened or locked, or the lookup fails.
    pub async fn reconcile_unknown(
        &self,
        cfg: &Config,
        reporter: &mut dyn Reporter,
    ) -> anyhow::Result<()> {
        let Some(ledger) = crate::state::open_existing(self.inputs.state)? else {
            return Ok(());
        };
        self.hold_lock(ledger.as_ref(), reporter)?;
        ledger.mark_dangling_intents_unknown()?;
        let reconciler = Reconciler {
            recheck: false,
            ..Reconciler::for_config(cfg, self.inputs.account.provider.clone())
        };
        let report = reconciler.run(ledger.as_ref(), Utc::now()).await?;
        reporter.event(Event::Reconciled(&report));
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        self.inputs.now.unwrap_or_else(Utc::now)
    }

    /// Plans against the account with the ledger (read only; a missing
    /// ledger means nothing was sent yet and is not created here).
    async fn plan(&self, cfg: &Config, resend: &[String]) -> anyhow::Result<(Plan, Observed)> {
        let state = self.inputs.state;
        let ledger = crate::state::open_existing(state)
            .with_context(|| format!("cannot open the state ledger {state}"))?;
        let account = self.inputs.account;
        Ok(crate::plan::build(PlanInputs {
            config: cfg,
            provider: account.provider.as_ref(),
            account_identity: &account.identity,
            ledger: ledger.as_deref(),
            now: self.now(),
            resend_unknown: resend,
            allow_deprecate: self.inputs.settings.allow_deprecate,
        })
        .await?)
    }

    /// The sends whose unknown outcomes this pass resends: the decision is
    /// taken once (the first pass; a plan file's own), never by a watch loop.
    fn resend(&self, first: bool) -> Vec<String> {
        match self.inputs.plan_file {
            Some(pf) => pf.review.as_ref().map_or_else(Vec::new, |r| {
                r.sends
                    .iter()
                    .filter(|(_, s)| s.resend_unknown)
                    .map(|(n, _)| n.clone())
                    .collect()
            }),
            None if first => self.inputs.resend_unknown.clone(),
            None => Vec::new(),
        }
    }

    /// A plan file made from other inputs than the ones now in place is
    /// refused: apply executes exactly what was reviewed.
    fn check_plan_file(&self, cfg: &Config, plan: &Plan) -> anyhow::Result<()> {
        let Some(pf) = self.inputs.plan_file else {
            return Ok(());
        };
        let Some(review) = &pf.review else {
            bail!("the plan file has no list of its recipients (an older waform made it); run `waform plan --out` again");
        };
        // Apply sends with the targets the plan resolved, never its own.
        if pf.plan.sends.iter().any(|s| {
            s.target.is_none()
                && s.state != SendState::Blocked
                && s.counts.due + s.counts.waiting > 0
        }) {
            bail!("the plan file does not name the templates and Flows its sends use (an older waform made it); run `waform plan --out` again");
        }
        if pf.plan.fingerprints.config != plan.fingerprints.config {
            if let Some(file) = review.sends.iter().find_map(|(name, sr)| {
                cfg.raw
                    .sends
                    .get(name)
                    .and_then(|send| sr.changed_input(send, &cfg.base_dir))
            }) {
                bail!(
                    "plan is stale: {file} changed after the plan; run `waform plan --out` again"
                );
            }
            bail!("the plan file is stale: the config or its recipient files changed since it was made; run `waform plan --out` again");
        }
        if pf.plan.fingerprints.account != plan.fingerprints.account {
            bail!("the plan file is stale: the account's templates or Flows changed since it was made; run `waform plan --out` again");
        }
        // Same config, same account: plan resolves the same targets. One
        // that differs was edited in the file (or the file is corrupt), and
        // messages built from it would go out with a template, language,
        // button or Flow nobody reviewed, and burn the audience on
        // rejections.
        for reviewed in &pf.plan.sends {
            let now = plan
                .sends
                .iter()
                .find(|s| s.name == reviewed.name)
                .and_then(|s| s.target.as_ref());
            if reviewed.target.is_some() && reviewed.target.as_ref() != now {
                bail!(
                    "the plan file's target of send {} (template, language, button or Flow) is not what its config and account resolve to: the file was edited or damaged; run `waform plan --out` again",
                    reviewed.name
                );
            }
        }
        Ok(())
    }

    /// One reconcile pass over `cfg` (re-read by a watch between passes).
    /// `first` shows the plan and asks for confirmation.
    ///
    /// # Errors
    /// Planning, the account or the ledger failed, the plan file is stale,
    /// the confirmation was refused, or the state lock was lost.
    pub async fn pass(
        &self,
        cfg: &Config,
        first: bool,
        reporter: &mut dyn Reporter,
    ) -> anyhow::Result<PassOutcome> {
        self.awaiting.set(false);
        let status = self.execute(cfg, first, reporter).await?;
        let requeue_after = self.requeue_after(cfg);
        tracing::debug!(
            ?status,
            requeue_after_s = requeue_after.as_secs(),
            "reconcile pass finished"
        );
        Ok(PassOutcome {
            status,
            requeue_after,
        })
    }

    async fn execute(
        &self,
        cfg: &Config,
        first: bool,
        reporter: &mut dyn Reporter,
    ) -> anyhow::Result<ExitStatus> {
        let settings = &self.inputs.settings;
        let stop = &self.inputs.stop;
        let resend = self.resend(first);
        let (mut plan, _) = self.plan(cfg, &resend).await?;
        self.awaiting.set(awaits_review(&plan));
        self.check_plan_file(cfg, &plan)?;
        if first {
            reporter.event(Event::Plan(&plan));
        }
        if plan.has_errors() {
            reporter.event(Event::PlanHasErrors);
            return Ok(ExitStatus::Failure);
        }
        let pending = plan.count(TemplateAction::Pending) + plan.count(TemplateAction::Superseded);
        if !plan.has_changes() && pending == 0 {
            reporter.event(Event::NoChanges);
            return Ok(ExitStatus::Success);
        }
        if first && settings.confirm {
            reporter.confirm(&plan)?;
        }
        // What the reviewed plan (the file, or the plan just shown and
        // confirmed) promised: apply never messages anyone else.
        // Borrowed or moved, never copied: a promise holds a hash per
        // recipient (src/plan/planned.rs).
        let taken;
        let promised: &Review = match self.inputs.plan_file {
            Some(pf) => match &pf.review {
                Some(review) => review,
                None => {
                    taken = Review::default();
                    &taken
                }
            },
            None => {
                taken = std::mem::take(&mut plan.review);
                &taken
            }
        };
        let state = self.inputs.state;
        // Shared with each send's commit thread (src/apply/group_commit.rs).
        let ledger: Arc<dyn SendLedger> = Arc::from(
            crate::state::open(state)
                .with_context(|| format!("cannot open the state ledger {state}"))?,
        );
        // Another apply held the lock: what it did is not in the plan.
        let plan = if self.hold_lock(ledger.as_ref(), reporter)? {
            self.plan(cfg, &resend).await?.0
        } else {
            plan
        };
        self.awaiting.set(awaits_review(&plan));
        // The plan whose targets every message is built from: the reviewed
        // file, or this pass's own plan (made under the lock).
        let executed: &Plan = match self.inputs.plan_file {
            Some(pf) => &pf.plan,
            None => &plan,
        };
        let targets: HashMap<String, SendTarget> = executed
            .sends
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.target.clone()?)))
            .collect();
        let mut learnt = message::Learnt::default();
        // Intents without outcomes are requests a killed apply may have made.
        let dangling = ledger.mark_dangling_intents_unknown()?;
        if dangling > 0 {
            reporter.event(Event::Dangling(dangling));
        }
        let provider = self.inputs.account.provider.as_ref();
        let mut status = ExitStatus::Success;

        if plan.flow_changes.iter().any(|f| f.is_change()) {
            reporter.event(Event::Stage(Stage::Flows));
            learnt.flow_ids = super::flows::apply(provider, cfg, &plan, &mut |step| {
                reporter.event(Event::Flow(step))
            })
            .await?;
        }
        reporter.event(Event::Stage(Stage::Templates));
        let submitted = templates::create(provider, &plan, &mut |step| {
            reporter.event(Event::Template(step))
        })
        .await?;
        let mut waiting = submitted.clone();
        waiting.extend(
            plan.templates
                .iter()
                .filter(|t| t.action == TemplateAction::Pending)
                .map(|t| (t.name.clone(), t.language.clone())),
        );
        if !waiting.is_empty() {
            if !settings.wait_for_review {
                reporter.event(Event::NotWaiting(waiting.len()));
            } else {
                let review = templates::wait_for_review(
                    provider,
                    &waiting,
                    settings.approval_timeout,
                    stop.flag(),
                    &mut |step| reporter.event(Event::Template(step)),
                )
                .await?;
                learnt.approved.extend(
                    review
                        .approved
                        .iter()
                        .map(|(n, l, ns)| ((n.clone(), l.clone()), ns.clone())),
                );
                if !review.rejected.is_empty() {
                    status = ExitStatus::Failure;
                }
                if let (Some(signal), false) = (stop.signal(), review.pending.is_empty()) {
                    reporter.event(Event::InterruptedInReview {
                        signal,
                        pending: review.pending.len(),
                    });
                    return Ok(ExitStatus::from_signal(signal));
                }
                if !review.pending.is_empty() {
                    reporter.event(Event::ApprovalTimeout {
                        timeout: settings.approval_timeout,
                        pending: &review.pending,
                    });
                    status = ExitStatus::Failure;
                }
            }
        }
        // What the plan shown (and confirmed) said each send would reach:
        // the re-plan after the review never widens it.
        let shown: HashMap<String, u64> = plan
            .sends
            .iter()
            .map(|s| (s.name.clone(), s.counts.due + s.counts.waiting))
            .collect();
        // Review results change what is due and what may be deleted.
        let plan = if waiting.is_empty() {
            plan
        } else {
            let (plan, observed) = self.plan(cfg, &resend).await?;
            // The templates this apply submitted or found in review, read
            // again: approved without a wait (--no-wait), they are learnt too.
            for t in observed.templates.iter().filter(|t| {
                t.status == crate::provider::TemplateStatus::Approved
                    && waiting
                        .iter()
                        .any(|(n, l)| *n == t.name && *l == t.language)
            }) {
                learnt
                    .approved
                    .entry((t.name.clone(), t.language.clone()))
                    .or_insert_with(|| t.namespace.clone());
            }
            self.awaiting.set(awaits_review(&plan));
            plan
        };
        templates::delete(provider, &plan, &mut |step| {
            reporter.event(Event::Template(step))
        })
        .await?;

        reporter.event(Event::Stage(Stage::Sends));
        let rate = settings
            .rate_limit
            .unwrap_or_else(|| crate::settings::rate_limit(cfg).value);
        let concurrency = settings
            .concurrency
            .unwrap_or_else(|| crate::settings::concurrency(cfg).value);
        let dispatcher = Dispatcher {
            provider: self.inputs.account.provider.clone(),
            limiter: Arc::new(RateLimiter::new(rate)),
            concurrency,
            stop: stop.clone(),
        };
        let offset = match self.inputs.now {
            Some(now) => now - Utc::now(),
            None => chrono::TimeDelta::zero(),
        };
        let mut left: u64 = 0;
        for sp in &plan.sends {
            if stop.is_requested() {
                left += sp.counts.due;
                continue;
            }
            if sp.state != SendState::Due {
                reporter.event(Event::SendNotDue(sp));
                if sp.state == SendState::Blocked {
                    status = ExitStatus::Failure;
                }
                continue;
            }
            let Some(send) = cfg.raw.sends.get(&sp.name) else {
                continue;
            };
            let Some(promise) = promised.sends.get(&sp.name) else {
                reporter.event(Event::SendNotReviewed {
                    name: &sp.name,
                    due: sp.counts.due,
                });
                continue;
            };
            // Checked after the approval wait and the confirmation, right
            // before the first request: the files must be the ones shown.
            if let Some(file) = promise.changed_input(send, &cfg.base_dir) {
                reporter.event(Event::SendStale {
                    name: &sp.name,
                    file: &file,
                });
                status = ExitStatus::Failure;
                continue;
            }
            let message = match message::build(&sp.name, send, targets.get(&sp.name), &learnt) {
                Ok(message) => message,
                Err(e) => {
                    reporter.event(Event::SendUnresolved {
                        name: &sp.name,
                        why: &e.to_string(),
                    });
                    status = ExitStatus::Failure;
                    continue;
                }
            };
            let cap = match self.inputs.plan_file {
                // The plan showed these as going out now or once the template
                // is approved; apply never messages more than that.
                Some(pf) => Some(
                    pf.plan
                        .sends
                        .iter()
                        .find(|s| s.name == sp.name)
                        .map_or(0, |s| s.counts.due + s.counts.waiting),
                ),
                None => Some(sp.counts.due.min(shown.get(&sp.name).copied().unwrap_or(0))),
            };
            let job = SendJob {
                name: &sp.name,
                send,
                base_dir: &cfg.base_dir,
                message,
                cap,
                window: Window::of(send, offset),
                planned: Some(&promise.recipients),
                resend_unknown: promise.resend_unknown,
            };
            let started = std::time::Instant::now();
            let total = cap.unwrap_or(sp.counts.due);
            reporter.event(Event::SendStarted {
                name: &sp.name,
                total,
            });
            self.check_lock()?;
            let report = dispatcher
                .run(&ledger, job, |r| {
                    reporter.event(Event::SendProgress {
                        name: &sp.name,
                        report: r,
                    })
                })
                .await?;
            // Losing the lock raised the stop flag: say why sending stopped.
            self.check_lock()?;
            reporter.event(Event::SendFinished {
                name: &sp.name,
                report: &report,
                took: started.elapsed(),
            });
            if report.expired > 0 {
                status = ExitStatus::Failure;
            }
            left += total.saturating_sub(report.attempted() + report.expired);
        }
        // A watch stopped once its pass had finished everything interrupted
        // nothing; a one-off apply reports any signal.
        let cut_short = left > 0 || stop.is_halted() || !settings.watch;
        if let (Some(signal), true) = (stop.signal(), cut_short) {
            reporter.event(Event::Interrupted { signal, left });
            return Ok(ExitStatus::from_signal(signal));
        }
        Ok(status)
    }

    /// When the next pass could have work: the earliest future `at`,
    /// capped at a minute (also the wait when nothing is scheduled);
    /// sooner while the last pass left a review pending (a growing
    /// backoff, so an approval is picked up within seconds at first).
    pub fn requeue_after(&self, cfg: &Config) -> Duration {
        let next = self.next_at(cfg);
        if !self.awaiting.get() {
            self.rechecks.set(0);
            return next;
        }
        let attempt = self.rechecks.get();
        self.rechecks.set(attempt.saturating_add(1));
        REVIEW_RECHECK
            .delay(attempt, None, &mut fastrand::Rng::new())
            .min(next)
    }

    /// The earliest future `at`, capped at [`MAX_REQUEUE`].
    fn next_at(&self, cfg: &Config) -> Duration {
        let now = Utc::now();
        cfg.raw
            .sends
            .values()
            .filter_map(|s| s.at.as_deref())
            .filter_map(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t > now)
            .min()
            .map_or(MAX_REQUEUE, |t| {
                (t - now).to_std().unwrap_or_default().min(MAX_REQUEUE)
            })
    }
}

#[cfg(test)]
#[path = "applier_tests.rs"]
mod tests;
