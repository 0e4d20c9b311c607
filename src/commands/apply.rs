//! `waform apply`: carries out the plan — templates created, approval
//! awaited, due Flows sent to each person exactly once.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};

use super::context::{self, Account};
use crate::apply::dispatch::{Dispatcher, SendJob, SendReport, Window};
use crate::apply::held_lock::HeldApplyLock;
use crate::apply::ratelimit::RateLimiter;
use crate::apply::reconcile::Reconciler;
use crate::apply::sends::{FlowTarget, Message, TemplateTarget};
use crate::apply::stop::Stop;
use crate::apply::templates;
use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::plan::diff::{resolve_template, Resolved};
use crate::plan::file::PlanFile;
use crate::plan::{render, Plan, SendState, TemplateAction};
use crate::state::{SendLedger, StateLocation};

pub fn run(args: ApplyArgs) -> anyhow::Result<u8> {
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
    let (config_path, now_flag) = match &planfile {
        Some(pf) => {
            // Schedules are judged by the clock at apply time: a plan
            // previewed with --now must not send early (or after expiry).
            if let Some(then) = &pf.now {
                if args.now.is_none() {
                    crate::errln!("note: the plan was made with --now {then}; apply judges `at`/`expires` by the current time");
                }
            }
            (pf.config.clone(), args.now.clone())
        }
        None => (args.path.clone(), args.now.clone()),
    };
    let color = context::color_enabled(args.no_color);
    let cfg = context::load_config(&config_path, color)?;
    let approval_timeout = humantime::parse_duration(&args.approval_timeout)
        .map_err(|e| anyhow!("--approval-timeout {:?}: {e}", args.approval_timeout))?;
    let lock_timeout = humantime::parse_duration(&args.lock_timeout)
        .map_err(|e| anyhow!("--lock-timeout {:?}: {e}", args.lock_timeout))?;
    let stop = Arc::new(Stop::new());
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
            crate::outln!(
                "Sandbox run: an in-process emulator of the 1msg API; nobody real is messaged \
                 (state {ledger_path}).\n"
            );
        }
        // The lock, once taken, is held until apply exits (watch included).
        let held = std::cell::OnceCell::new();
        let run = Run {
            cfg: &cfg,
            args: &args,
            account: &account,
            ledger_path: &ledger_path,
            planfile: planfile.as_ref(),
            now_flag: now_flag.as_deref(),
            approval_timeout,
            lock_timeout,
            stop: stop.clone(),
            color,
            held: &held,
        };
        super::plan::check_resend_names(&cfg, &args.resend_unknown)?;
        run.reconcile_unknown().await?;
        let first = run.pass(true).await;
        // Saved even when the pass failed: whatever was sent stays sent.
        context::persist_sandbox(&account)?;
        let mut code = first?;
        let mut wait = run.next_wake().await;
        while args.watch && !stop.is_requested() {
            let pause = wait.unwrap_or(Duration::from_secs(60));
            crate::outln!(
                "Watching: next check in {}s (Ctrl-C to stop).",
                pause.as_secs().max(1)
            );
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = wait_stop(stop.clone()) => break,
            }
            // The config may have changed (a merged pull request, a new CSV):
            // each pass plans from the files as they are now. An invalid
            // config is reported and the previous pass's result stands.
            let cfg = match context::load_config(&config_path, color) {
                Ok(cfg) => cfg,
                Err(err) => {
                    crate::errln!("error: {err}; keeping watch, nothing sent this round");
                    continue;
                }
            };
            let run = run.clone_with_cfg(&cfg);
            // A failed pass (an API outage, say) is reported; the watch goes on.
            code = match run.pass(false).await {
                Ok(code) => code,
                Err(err) => {
                    crate::errln!("error: {err:#}; retrying at the next check");
                    1
                }
            };
            if let Err(err) = context::persist_sandbox(&account) {
                crate::errln!("error: {err:#}");
            }
            wait = run.next_wake().await;
        }
        if let Some((sandbox, _)) = &account.sandbox {
            crate::outln!(
                "\nSandbox: {} message(s) accepted in this run; state ledger {}",
                sandbox.sends().len().saturating_sub(sent_before),
                ledger_path
            );
        }
        // Interrupted: not a success, whatever was done (130/143 as shells
        // do). A watch stopped between passes interrupted nothing.
        if let (false, Some(sig)) = (args.watch, stop.signal()) {
            return Ok(interrupted_code(sig));
        }
        if code == 0 {
            crate::out!("{}", next_steps(&config_path, args.sandbox));
        }
        Ok(code)
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

async fn wait_stop(stop: Arc<Stop>) {
    while !stop.is_requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// First SIGINT/SIGTERM: no new request starts, the ones in flight finish.
/// Second: stop at once.
async fn watch_signals(stop: Arc<Stop>) {
    let mut first = true;
    while let Some(sig) = next_signal().await {
        if first {
            crate::errln!("waform: stopping after the requests in flight ({}); interrupt again to stop at once", signal_name(sig));
            stop.request(sig);
            first = false;
        } else {
            crate::errln!("waform: stopping at once; requests in flight are recorded as unknown");
            stop.halt();
        }
    }
}

fn interrupted_code(sig: i32) -> u8 {
    128u8.saturating_add(u8::try_from(sig).unwrap_or(0))
}

fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

async fn next_signal() -> Option<i32> {
    #[cfg(unix)]
    {
        use std::sync::OnceLock;
        use tokio::signal::unix::{signal, SignalKind};
        // One listener per kind for the whole process, so a second signal
        // is not missed between two calls.
        static TERM: OnceLock<tokio::sync::Mutex<Option<tokio::signal::unix::Signal>>> =
            OnceLock::new();
        static INT: OnceLock<tokio::sync::Mutex<Option<tokio::signal::unix::Signal>>> =
            OnceLock::new();
        let term =
            TERM.get_or_init(|| tokio::sync::Mutex::new(signal(SignalKind::terminate()).ok()));
        let int = INT.get_or_init(|| tokio::sync::Mutex::new(signal(SignalKind::interrupt()).ok()));
        let (mut term, mut int) = (term.lock().await, int.lock().await);
        match (term.as_mut(), int.as_mut()) {
            (Some(t), Some(i)) => tokio::select! {
                v = i.recv() => v.map(|_| libc::SIGINT),
                v = t.recv() => v.map(|_| libc::SIGTERM),
            },
            _ => None,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|_| 2)
    }
}

struct Run<'a> {
    cfg: &'a Config,
    args: &'a ApplyArgs,
    account: &'a Account,
    ledger_path: &'a StateLocation,
    planfile: Option<&'a PlanFile>,
    now_flag: Option<&'a str>,
    approval_timeout: Duration,
    lock_timeout: Duration,
    stop: Arc<Stop>,
    color: bool,
    held: &'a std::cell::OnceCell<HeldApplyLock>,
}

impl<'a> Run<'a> {
    /// The `status` command for this run's ledger (a plan file names its
    /// config).
    fn status_command(&self) -> String {
        let config = match self.planfile {
            Some(pf) => pf.config.display().to_string(),
            None => self.args.path.display().to_string(),
        };
        let sandbox = if self.args.sandbox { "--sandbox " } else { "" };
        format!("waform status {sandbox}{config}")
    }

    /// The same run over another (re-read) config.
    fn clone_with_cfg<'b>(&self, cfg: &'b Config) -> Run<'b>
    where
        'a: 'b,
    {
        Run {
            cfg,
            args: self.args,
            account: self.account,
            ledger_path: self.ledger_path,
            planfile: self.planfile,
            now_flag: self.now_flag,
            approval_timeout: self.approval_timeout,
            lock_timeout: self.lock_timeout,
            stop: self.stop.clone(),
            color: self.color,
            held: self.held,
        }
    }

    /// Takes the state lock on first use and keeps it for the rest of the
    /// run; later calls only check it is still ours. Returns whether it had
    /// to wait for another apply (whose sends the plan did not see).
    fn hold_lock(&self, ledger: &dyn SendLedger) -> anyhow::Result<bool> {
        if let Some(held) = self.held.get() {
            held.check()?;
            return Ok(false);
        }
        let (guard, waited) = match ledger.acquire_lock(Duration::ZERO) {
            Ok(guard) => (guard, false),
            Err(crate::state::StateError::Locked { holder, .. }) => {
                crate::errln!(
                    "waiting up to {} for the state lock held by pid {} on {} since {}",
                    humantime::format_duration(self.lock_timeout),
                    holder.pid,
                    holder.host,
                    holder.since
                );
                (ledger.acquire_lock(self.lock_timeout)?, true)
            }
            Err(e) => return Err(e.into()),
        };
        let _ = self.held.set(HeldApplyLock::watch(
            guard,
            ledger.location(),
            self.stop.clone(),
        ));
        Ok(waited)
    }

    /// Before anything is planned or offered for resending, looks the
    /// ledger's new `unknown` outcomes up in the account's history
    /// (`apply::reconcile`; rows an earlier pass did not find are left to
    /// `waform reconcile`). Nothing recorded yet: nothing to do, and no
    /// state is created.
    async fn reconcile_unknown(&self) -> anyhow::Result<()> {
        let Some(ledger) = crate::state::open_existing(self.ledger_path)? else {
            return Ok(());
        };
        self.hold_lock(ledger.as_ref())?;
        ledger.mark_dangling_intents_unknown()?;
        let reconciler = Reconciler {
            recheck: false,
            ..Reconciler::for_config(self.cfg, self.account.provider.clone())
        };
        let report = reconciler.run(ledger.as_ref(), chrono::Utc::now()).await?;
        if report.skipped > 0 {
            crate::outln!(
                "{} unknown outcome(s) were not found in the account's history before; `waform reconcile` looks again",
                report.skipped
            );
        }
        if report.rows == 0 {
            return Ok(());
        }
        crate::outln!(
            "Unknown outcomes checked against the account's message history: {} found (now accepted), {} not found (still unknown){}",
            report.found,
            report.not_found,
            match (&report.unavailable, report.unanswered) {
                (_, 0) => String::new(),
                (why, n) => format!(
                    ", {n} not checked ({})",
                    why.as_deref().unwrap_or("the history did not answer")
                ),
            }
        );
        Ok(())
    }

    /// Fails once the lock is lost: nothing more may be sent.
    fn check_lock(&self) -> anyhow::Result<()> {
        if let Some(held) = self.held.get() {
            held.check()?;
        }
        Ok(())
    }
    async fn plan(&self, resend: &[String]) -> anyhow::Result<(Plan, crate::plan::Observed)> {
        let now = context::now(self.now_flag)?;
        super::plan::compute(self.cfg, self.account, self.ledger_path, now, resend).await
    }

    /// The sends whose unknown outcomes this pass resends: the decision is
    /// taken once (the first pass; a plan file's own), never by a watch loop.
    fn resend(&self, first: bool) -> Vec<String> {
        match self.planfile {
            Some(pf) => pf.review.as_ref().map_or_else(Vec::new, |r| {
                r.sends
                    .iter()
                    .filter(|(_, s)| s.resend_unknown)
                    .map(|(n, _)| n.clone())
                    .collect()
            }),
            None if first => self.args.resend_unknown.clone(),
            None => Vec::new(),
        }
    }

    /// One reconcile pass. `first` prints the plan and asks for confirmation.
    async fn pass(&self, first: bool) -> anyhow::Result<u8> {
        let resend = self.resend(first);
        let (plan, observed) = self.plan(&resend).await?;
        if let Some(pf) = self.planfile {
            let Some(review) = &pf.review else {
                bail!("the plan file has no list of its recipients (an older waform made it); run `waform plan --out` again");
            };
            if pf.plan.fingerprints.config != plan.fingerprints.config {
                if let Some(file) = review.sends.iter().find_map(|(name, sr)| {
                    self.cfg
                        .raw
                        .sends
                        .get(name)
                        .and_then(|send| sr.changed_input(send, &self.cfg.base_dir))
                }) {
                    bail!("plan is stale: {file} changed after the plan; run `waform plan --out` again");
                }
                bail!("the plan file is stale: the config or its recipient files changed since it was made; run `waform plan --out` again");
            }
            if pf.plan.fingerprints.account != plan.fingerprints.account {
                bail!("the plan file is stale: the account's templates or Flows changed since it was made; run `waform plan --out` again");
            }
        }
        if first {
            crate::out!("{}", render::text::render(&plan, self.color));
        }
        if plan.has_errors() {
            crate::errln!("error: the plan has errors (above); nothing was sent or changed");
            return Ok(1);
        }
        let pending = plan.count(TemplateAction::Pending) + plan.count(TemplateAction::Superseded);
        if !plan.has_changes() && pending == 0 {
            crate::outln!("\nNo changes. The account and the ledger match the config.");
            return Ok(0);
        }
        if first && !self.args.auto_approve && !self.args.sandbox {
            confirm(&plan)?;
        }
        // What the reviewed plan (the file, or the plan just shown and
        // confirmed) promised: apply never messages anyone else.
        let promised = match self.planfile {
            Some(pf) => pf.review.clone().unwrap_or_default(),
            None => plan.review.clone(),
        };
        let ledger = crate::state::open(self.ledger_path)
            .with_context(|| format!("cannot open the state ledger {}", self.ledger_path))?;
        // Another apply held the lock: what it did is not in the plan.
        let (plan, observed) = if self.hold_lock(ledger.as_ref())? {
            self.plan(&resend).await?
        } else {
            (plan, observed)
        };
        // Intents without outcomes are requests a killed apply may have made.
        let dangling = ledger.mark_dangling_intents_unknown()?;
        if dangling > 0 {
            crate::outln!("{dangling} request(s) from an interrupted apply have an unknown outcome; they are not resent automatically");
        }
        let provider = self.account.provider.as_ref();
        let mut log = |line: String| crate::outln!("{line}");
        let mut code = 0u8;

        if plan.flow_changes.iter().any(|f| f.is_change()) {
            crate::outln!("\nFlows:");
            crate::apply::flows::apply(provider, &plan, &mut log).await?;
        }
        crate::outln!("\nTemplates:");
        let submitted = templates::create(provider, &plan, &mut log).await?;
        let mut waiting = submitted.clone();
        waiting.extend(
            plan.templates
                .iter()
                .filter(|t| t.action == TemplateAction::Pending)
                .map(|t| (t.name.clone(), t.language.clone())),
        );
        if !waiting.is_empty() {
            if self.args.no_wait {
                crate::outln!("  {} template(s) in review; not waiting (--no-wait). A later apply sends once they are approved.", waiting.len());
            } else {
                let review = templates::wait_for_review(
                    provider,
                    &waiting,
                    self.approval_timeout,
                    self.stop.flag(),
                    &mut log,
                )
                .await?;
                if !review.rejected.is_empty() {
                    code = 1;
                }
                if let (Some(sig), false) = (self.stop.signal(), review.pending.is_empty()) {
                    crate::errln!(
                        "\ninterrupted ({}) while waiting for template approval; nothing was sent. {} template(s) still in review; run apply again to continue",
                        signal_name(sig),
                        review.pending.len()
                    );
                    return Ok(interrupted_code(sig));
                }
                if !review.pending.is_empty() {
                    crate::errln!(
                        "error: approval timeout ({}) reached; still in review:",
                        humantime::format_duration(self.approval_timeout)
                    );
                    for (n, l) in &review.pending {
                        crate::errln!("  {n} [{l}]");
                    }
                    crate::errln!("run apply again later (or use --no-wait in scheduled jobs); it picks up where this run stopped");
                    code = 1;
                }
            }
        }
        // What the plan shown (and confirmed) said each send would reach:
        // the re-plan after the review never widens it.
        let shown: std::collections::HashMap<String, u64> = plan
            .sends
            .iter()
            .map(|s| (s.name.clone(), s.counts.due + s.counts.waiting))
            .collect();
        // Review results change what is due and what may be deleted.
        let (plan, observed) = if waiting.is_empty() {
            (plan, observed)
        } else {
            self.plan(&resend).await?
        };
        templates::delete(provider, &plan, &mut log).await?;

        crate::outln!("\nSends:");
        let dispatcher = Dispatcher {
            provider: self.account.provider.clone(),
            limiter: Arc::new(RateLimiter::new(self.rate())),
            concurrency: self.concurrency(),
            stop: self.stop.clone(),
        };
        let offset = match self.now_flag {
            Some(_) => context::now(self.now_flag)? - chrono::Utc::now(),
            None => chrono::TimeDelta::zero(),
        };
        let mut left: u64 = 0;
        for sp in &plan.sends {
            if self.stop.is_requested() {
                left += sp.counts.due;
                continue;
            }
            if sp.state != SendState::Due {
                crate::outln!("  {}: {}", sp.name, render::send_line(sp));
                if sp.state == SendState::Blocked {
                    code = 1;
                }
                continue;
            }
            let Some(send) = self.cfg.raw.sends.get(&sp.name) else {
                continue;
            };
            let Some(promise) = promised.sends.get(&sp.name) else {
                crate::outln!(
                    "  {}: {} due now but not in the reviewed plan; run apply again to send them",
                    sp.name,
                    sp.counts.due
                );
                continue;
            };
            // Checked after the approval wait and the confirmation, right
            // before the first request: the files must be the ones shown.
            if let Some(file) = promise.changed_input(send, &self.cfg.base_dir) {
                crate::errln!(
                    "error: send {}: plan is stale: {file} changed after the plan; run plan again. Nothing of this send was sent.",
                    sp.name
                );
                code = 1;
                continue;
            }
            let message =
                self.message(&sp.name, send, sp.flow_id.as_deref(), &observed.templates)?;
            let cap = match self.planfile {
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
                base_dir: &self.cfg.base_dir,
                message,
                cap,
                window: Window::of(send, offset),
                planned: Some(&promise.recipients),
                resend_unknown: promise.resend_unknown,
            };
            let started = std::time::Instant::now();
            let total = cap.unwrap_or(sp.counts.due);
            let mut progress = Progress::new(&sp.name, total);
            self.check_lock()?;
            let report = dispatcher
                .run(ledger.as_ref(), job, |r| progress.update(r))
                .await?;
            progress.finish();
            // Losing the lock raised the stop flag: say why sending stopped.
            self.check_lock()?;
            print_report(&sp.name, &report, started.elapsed(), &self.status_command());
            if report.expired > 0 {
                code = 1;
            }
            left += total.saturating_sub(report.attempted() + report.expired);
        }
        // A watch stopped once its pass had finished everything interrupted
        // nothing; a one-off apply reports any signal.
        let cut_short = left > 0 || self.stop.is_halted() || !self.args.watch;
        if let (Some(sig), true) = (self.stop.signal(), cut_short) {
            crate::errln!(
                "\ninterrupted ({}): {}",
                signal_name(sig),
                if left > 0 {
                    format!("{left} not yet sent; run apply again to continue")
                } else {
                    "nothing was left to send".to_string()
                }
            );
            return Ok(interrupted_code(sig));
        }
        Ok(code)
    }

    fn rate(&self) -> f64 {
        self.cfg
            .raw
            .provider
            .as_ref()
            .and_then(|p| p.rate_limit)
            .unwrap_or(20.0)
    }

    fn concurrency(&self) -> usize {
        self.cfg
            .raw
            .provider
            .as_ref()
            .and_then(|p| p.concurrency)
            .unwrap_or(8) as usize
    }

    fn message(
        &self,
        name: &str,
        send: &crate::config::types::SendSpec,
        flow_id: Option<&str>,
        observed_templates: &[crate::provider::AccountTemplate],
    ) -> anyhow::Result<Message> {
        if let Some(spec) = &send.flow_message {
            let fallback = match &send.fallback {
                Some(fb) => match resolve_template(
                    &self.cfg.raw,
                    &fb.template,
                    &fb.language,
                    observed_templates,
                ) {
                    Resolved::Ready {
                        name,
                        namespace,
                        flow_button,
                    } => Some(TemplateTarget::new(
                        name,
                        fb.language.clone(),
                        namespace,
                        flow_button,
                        &fb.body_params,
                        fb.flow_button.as_ref(),
                    )?),
                    _ => None,
                },
                None => None,
            };
            let flow_id = flow_id
                .ok_or_else(|| anyhow!("send {name}: the Flow id is unknown"))?
                .to_string();
            return Ok(Message::Flow {
                flow: Box::new(FlowTarget::new(flow_id, spec)?),
                fallback,
            });
        }
        let logical = send
            .template
            .as_deref()
            .ok_or_else(|| anyhow!("send {name} has no template"))?;
        let template = self
            .cfg
            .raw
            .templates
            .get(logical)
            .ok_or_else(|| anyhow!("template {logical} is not declared"))?;
        let language = send
            .language
            .clone()
            .or_else(|| template.languages.keys().next().cloned())
            .unwrap_or_default();
        match resolve_template(&self.cfg.raw, logical, &language, observed_templates) {
            Resolved::Ready {
                name: account_name,
                namespace,
                flow_button,
            } => Ok(Message::Template(TemplateTarget::new(
                account_name,
                language,
                namespace,
                flow_button,
                &send.body_params,
                send.flow_button.as_ref(),
            )?)),
            Resolved::Waiting(why) | Resolved::Blocked(why) => bail!("send {name}: {why}"),
        }
    }

    /// When the next pass could have work: the earliest future `at`.
    async fn next_wake(&self) -> Option<Duration> {
        let now = context::now(None).ok()?;
        self.cfg
            .raw
            .sends
            .values()
            .filter_map(|s| s.at.as_deref())
            .filter_map(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .filter(|t| *t > now)
            .min()
            .map(|t| {
                (t - now)
                    .to_std()
                    .unwrap_or_default()
                    .min(Duration::from_secs(60))
            })
    }
}

/// The one-line summary of a send, plus what the user should know.
/// `status` is the command that shows this send's funnel
/// (`waform status [--sandbox] PATH`).
fn print_report(name: &str, report: &SendReport, took: Duration, status: &str) {
    crate::outln!(
        "  {}: {} accepted{}, {} rejected, {} unknown in {:.1}s",
        name,
        report.accepted,
        if report.fallback > 0 {
            format!(" ({} window closed → fallback template)", report.fallback)
        } else {
            String::new()
        },
        report.rejected,
        report.unknown,
        took.as_secs_f64()
    );
    if report.resent > 0 {
        crate::outln!(
            "      {} of them resent (unknown before, --resend-unknown)",
            report.resent
        );
    }
    if report.expired > 0 {
        crate::outln!(
            "      {} expired: `expires` passed before their request could start; not sent, not recorded",
            report.expired
        );
    }
    if report.not_in_plan > 0 {
        crate::outln!(
            "      {} in the recipient files but not in the reviewed plan: not messaged",
            report.not_in_plan
        );
    }
    if report.halted {
        crate::outln!("      stopped at once: requests in flight are recorded unknown");
    }
    if let Some(reason) = &report.first_rejection {
        crate::outln!("      first rejection: {reason}");
    }
    if report.unknown > 0 {
        crate::outln!("      {} outcome(s) unknown: never resent automatically; check `{status} --send {name}` and decide with --resend-unknown {name}", report.unknown);
    }
}

/// Send progress: a bar on a terminal (indicatif), a plain line at most
/// every five seconds otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    name: String,
    total: u64,
    last_line: std::time::Instant,
}

impl Progress {
    fn new(name: &str, total: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "  {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name.to_string());
            bar
        });
        Progress {
            bar,
            name: name.to_string(),
            total,
            last_line: std::time::Instant::now(),
        }
    }

    fn update(&mut self, r: &SendReport) {
        let done = r.accepted + r.rejected + r.unknown;
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                crate::outln!("  {}: {done}/{} attempted…", self.name, self.total);
                self.last_line = std::time::Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Asks on a terminal; refuses without one (a pipeline must say --auto-approve).
fn confirm(plan: &Plan) -> anyhow::Result<()> {
    let people = plan.send_total(|c| c.due + c.waiting);
    let changes = plan
        .templates
        .iter()
        .filter(|t| t.action.is_change())
        .count();
    if !std::io::stdin().is_terminal() {
        bail!("apply would message {people} people and make {changes} template change(s), and there is no terminal to confirm on; review the plan and pass --auto-approve");
    }
    crate::out!("\nThis will message {people} people and make {changes} template change(s). Type `yes` to continue: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("apply cancelled; nothing was sent or changed");
    }
    Ok(())
}
