//! Sending one send's due recipients, each exactly once (docs/design.md §5).
//!
//! # Guarantees
//! - An intent row is durable in the ledger before its request is made; a
//!   row that already exists (any outcome, or none) is never sent again
//!   automatically.
//! - Every request's result is recorded: `accepted`, `rejected`, or
//!   `unknown` when the request may have reached WhatsApp.
//! - Requests certainly not sent (429, connection refused) are retried with
//!   backoff honoring `Retry-After`, under the same intent.
//! - At most `cap` recipients are attempted (a plan file's due count).
//!
//! # Assumptions
//! The caller holds the apply lock for this ledger.
//!
//! # Caveats
//! A process killed between a request and its outcome leaves an intent
//! without outcome; plan and status report it as unknown.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ratelimit::RateLimiter;
use crate::config::interp::{Interp, Var};
use crate::config::recipients::Row;
use crate::config::types::{FlowButton, Send};
use crate::plan::tally;
use crate::provider::{FlowButtonParams, FlowMessage, Provider, SendOutcome, TemplateMessage};
use crate::state::Recorded;
use crate::state::{Intent, IntentStatus, Outcome, OutcomeRecord, SendKind, SendLedger};

/// Recipients per ledger transaction: large enough to keep SQLite out of
/// the way, small enough that a crash leaves few rows in doubt.
const MAX_BATCH: usize = 512;
/// Attempts for a request that was certainly not sent (429, refused).
const MAX_RETRIES: u32 = 12;

/// The account template a template (or fallback) message uses.
#[derive(Debug, Clone)]
pub struct TemplateTarget {
    pub name: String,
    pub language: String,
    pub namespace: Option<String>,
    pub flow_button: Option<usize>,
    pub body_params: Vec<Interp>,
    pub flow_token: Option<Interp>,
    pub action_data: Option<Fields>,
}

/// A JSON object from the config whose string values may hold `${...}`,
/// parsed once per send rather than once per recipient.
pub type Fields = Vec<(String, FieldValue)>;

#[derive(Debug, Clone)]
pub enum FieldValue {
    Text(Interp),
    Json(Value),
}

fn compile_fields(map: &std::collections::BTreeMap<String, Value>) -> anyhow::Result<Fields> {
    map.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => FieldValue::Text(Interp::parse(s).map_err(|e| anyhow!(e))?),
                other => FieldValue::Json(other.clone()),
            };
            Ok((k.clone(), v))
        })
        .collect()
}

fn compile(text: &str) -> anyhow::Result<Interp> {
    Interp::parse(text).map_err(|e| anyhow!(e))
}

/// An interactive Flow message with its texts parsed once.
#[derive(Debug, Clone)]
pub struct FlowTarget {
    pub flow_id: String,
    pub body: Interp,
    pub cta: String,
    pub header: Option<Interp>,
    pub footer: Option<Interp>,
    pub action: String,
    pub screen: Option<String>,
    pub data: Option<Fields>,
    pub mode: String,
    pub token: Option<Interp>,
}

impl FlowTarget {
    pub fn new(
        flow_id: String,
        spec: &crate::config::types::FlowMessageSpec,
    ) -> anyhow::Result<Self> {
        Ok(FlowTarget {
            flow_id,
            body: compile(&spec.body)?,
            cta: spec.cta.clone(),
            header: spec.header.as_deref().map(compile).transpose()?,
            footer: spec.footer.as_deref().map(compile).transpose()?,
            action: spec.action.as_str().to_string(),
            screen: spec.screen.clone(),
            data: spec.data.as_ref().map(compile_fields).transpose()?,
            mode: spec.mode.as_str().to_string(),
            token: spec.token.as_deref().map(compile).transpose()?,
        })
    }
}

impl TemplateTarget {
    pub fn new(
        name: String,
        language: String,
        namespace: Option<String>,
        flow_button: Option<usize>,
        body_params: &[String],
        button: Option<&FlowButton>,
    ) -> anyhow::Result<Self> {
        Ok(TemplateTarget {
            name,
            language,
            namespace,
            flow_button,
            body_params: body_params
                .iter()
                .map(|p| Interp::parse(p).map_err(|e| anyhow!(e)))
                .collect::<Result<_, _>>()?,
            flow_token: button
                .and_then(|b| b.token.as_deref())
                .map(Interp::parse)
                .transpose()
                .map_err(|e| anyhow!(e))?,
            action_data: button
                .and_then(|b| b.action_data.as_ref())
                .map(compile_fields)
                .transpose()?,
        })
    }
}

/// What a send's messages look like.
#[derive(Debug, Clone)]
pub enum Message {
    Template(TemplateTarget),
    Flow {
        flow: Box<FlowTarget>,
        fallback: Option<TemplateTarget>,
    },
}

/// Counts of what one run did for one send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub accepted: u64,
    pub fallback: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub skipped_recorded: u64,
    /// Intents withdrawn because their request was never made.
    pub not_sent: u64,
    pub first_rejection: Option<String>,
}

/// The default flow_token: deterministic per (send, recipient), so webhook
/// completions correlate back to the ledger row.
pub fn default_flow_token(send: &str, phone: &str) -> String {
    format!("waform.{send}.{phone}")
}

fn render(t: &Interp, send: &str, row: &Row) -> String {
    t.render(|v| match v {
        Var::Recipient(c) => row.get(c),
        Var::SendName => Some(send),
        Var::Env(_) => None,
    })
    .unwrap_or_default()
}

fn render_map(items: &Fields, send: &str, row: &Row) -> Map<String, Value> {
    items
        .iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Text(t) => Value::String(render(t, send, row)),
                FieldValue::Json(json) => json.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn template_message(t: &TemplateTarget, send: &str, row: &Row, token: &str) -> TemplateMessage {
    TemplateMessage {
        phone: row.phone.clone(),
        template: t.name.clone(),
        language: t.language.clone(),
        namespace: t.namespace.clone(),
        body_params: t.body_params.iter().map(|p| render(p, send, row)).collect(),
        flow_button: t.flow_button.map(|index| FlowButtonParams {
            index,
            flow_token: token.to_string(),
            action_data: t.action_data.as_ref().map(|d| render_map(d, send, row)),
        }),
    }
}

struct Prepared {
    row: Row,
    token: String,
    kind: SendKind,
    template: Option<String>,
}

/// Everything a run needs to send.
pub struct SendJob<'a> {
    pub name: &'a str,
    pub send: &'a Send,
    pub base_dir: &'a Path,
    pub message: Message,
    pub cap: Option<u64>,
}

/// Shared by all sends of one apply.
pub struct Dispatcher {
    pub provider: Arc<dyn Provider>,
    pub limiter: Arc<RateLimiter>,
    pub concurrency: usize,
    /// Recipients per intent batch; see [`batch_size`].
    pub batch: usize,
    pub stop: Arc<AtomicBool>,
}

/// Recipients per intent batch: about one second of sending, so a killed
/// apply leaves at most that many rows in doubt. Without a rate limit, a
/// batch is 512 or 64 per request slot, whichever is smaller.
pub fn batch_size(rate: f64, concurrency: usize) -> usize {
    if rate > 0.0 && rate.is_finite() {
        (rate.ceil() as usize).clamp(1, MAX_BATCH)
    } else {
        (concurrency.max(1) * 64).min(MAX_BATCH)
    }
}

impl Dispatcher {
    /// Sends the job's never-attempted recipients.
    ///
    /// # Errors
    /// Ledger failures stop the run (nothing is sent without a durable
    /// intent); provider failures are outcomes, not errors.
    pub async fn run(
        &self,
        ledger: &dyn SendLedger,
        job: SendJob<'_>,
        mut on_progress: impl FnMut(&SendReport),
    ) -> anyhow::Result<SendReport> {
        let recorded: HashMap<u64, Recorded> = super::recorded_map(ledger, job.name)?;
        let excluded = tally::excluded(job.send, job.base_dir).map_err(|d| anyhow!(d.summary))?;
        let mut report = SendReport::default();
        let mut attempted: u64 = 0;
        let mut batch: Vec<Prepared> = Vec::with_capacity(self.batch);
        let rows = tally::audience(job.send, job.base_dir, &excluded, |_| {});
        for row in rows {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let row = row.map_err(|d| anyhow!("{}", d.summary))?;
            if recorded.contains_key(&tally::phone_key(&row.phone)) {
                report.skipped_recorded += 1;
                continue;
            }
            if job.cap.is_some_and(|cap| attempted >= cap) {
                break;
            }
            attempted += 1;
            batch.push(self.prepare(&job, row));
            if batch.len() >= self.batch {
                self.flush(ledger, &job, std::mem::take(&mut batch), &mut report)
                    .await?;
                on_progress(&report);
            }
        }
        if !batch.is_empty() {
            self.flush(ledger, &job, batch, &mut report).await?;
            on_progress(&report);
        }
        Ok(report)
    }

    fn prepare(&self, job: &SendJob<'_>, row: Row) -> Prepared {
        let (explicit, kind, template) = match &job.message {
            Message::Template(t) => (
                t.flow_token.clone(),
                SendKind::Template,
                Some(t.name.clone()),
            ),
            Message::Flow { flow, .. } => (flow.token.clone(), SendKind::Flow, None),
        };
        let token = explicit
            .map(|t| render(&t, job.name, &row))
            .unwrap_or_else(|| default_flow_token(job.name, &row.phone));
        Prepared {
            row,
            token,
            kind,
            template,
        }
    }

    async fn flush(
        &self,
        ledger: &dyn SendLedger,
        job: &SendJob<'_>,
        batch: Vec<Prepared>,
        report: &mut SendReport,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let intents: Vec<Intent> = batch
            .iter()
            .map(|p| Intent {
                send: job.name.to_string(),
                phone: p.row.phone.clone(),
                flow_token: p.token.clone(),
                kind: p.kind,
                template: p.template.clone(),
                at: now,
            })
            .collect();
        let statuses = ledger.record_intents(&intents)?;
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks: JoinSet<anyhow::Result<Delivered>> = JoinSet::new();
        let message = Arc::new(job.message.clone());
        let name: Arc<str> = Arc::from(job.name);
        // Requests never made: their intents are withdrawn so they stay due.
        let mut withdraw: Vec<String> = Vec::new();
        for (p, status) in batch.into_iter().zip(statuses) {
            if status != IntentStatus::Recorded {
                report.skipped_recorded += 1;
                continue;
            }
            if self.stop.load(Ordering::SeqCst) {
                withdraw.push(p.row.phone);
                continue;
            }
            let permit = semaphore.clone().acquire_owned().await?;
            let provider = self.provider.clone();
            let limiter = self.limiter.clone();
            let message = message.clone();
            let name = name.clone();
            let stop = self.stop.clone();
            tasks.spawn(async move {
                let _permit = permit;
                if stop.load(Ordering::SeqCst) {
                    return Ok(Delivered::NotSent {
                        phone: p.row.phone,
                        reason: None,
                    });
                }
                deliver(provider.as_ref(), &limiter, &name, &message, p).await
            });
        }
        // Every finished request is recorded, even when another one failed.
        let mut outcomes = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut refused: Option<String> = None;
        while let Some(done) = tasks.join_next().await {
            let delivered = match done.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok(d) => d,
                Err(err) => {
                    failure.get_or_insert(err);
                    continue;
                }
            };
            let record = match delivered {
                Delivered::Done(record) => record,
                Delivered::NotSent { phone, reason } => {
                    if let Some(reason) = reason {
                        refused.get_or_insert(reason);
                    }
                    withdraw.push(phone);
                    continue;
                }
            };
            match &record.outcome {
                Outcome::Accepted { .. } if record.kind == Some(SendKind::Fallback) => {
                    report.accepted += 1;
                    report.fallback += 1
                }
                Outcome::Accepted { .. } => report.accepted += 1,
                Outcome::Rejected { reason } => {
                    report.rejected += 1;
                    report.first_rejection.get_or_insert_with(|| reason.clone());
                }
                Outcome::Unknown { .. } => report.unknown += 1,
            }
            outcomes.push(record);
        }
        ledger.record_outcomes(&outcomes)?;
        if !withdraw.is_empty() {
            report.not_sent += withdraw.len() as u64;
            ledger.withdraw_intents(job.name, &withdraw)?;
        }
        if let Some(err) = failure {
            self.stop.store(true, Ordering::SeqCst);
            return Err(err);
        }
        if let Some(reason) = refused {
            // The API keeps refusing to take messages (rate limit storm, bad
            // token): stop instead of burning through the list.
            self.stop.store(true, Ordering::SeqCst);
            anyhow::bail!(
                "the API did not take {} message(s) after {MAX_RETRIES} attempts ({reason}); they were not sent and stay due for the next apply",
                withdraw.len()
            );
        }
        Ok(())
    }
}

/// What became of one recipient's request.
enum Delivered {
    Done(OutcomeRecord),
    /// Certainly not sent: apply stopped first (`reason` None) or the API
    /// kept refusing it.
    NotSent {
        phone: String,
        reason: Option<String>,
    },
}

/// One recipient: the request, retried only while certainly not sent.
async fn deliver(
    provider: &dyn Provider,
    limiter: &RateLimiter,
    send: &str,
    message: &Message,
    p: Prepared,
) -> anyhow::Result<Delivered> {
    let (outcome, kind, template) = match message {
        Message::Template(t) => {
            let m = template_message(t, send, &p.row, &p.token);
            (
                attempt(limiter, || provider.send_template(&m)).await,
                None,
                None,
            )
        }
        Message::Flow { flow, fallback } => {
            let m = FlowMessage {
                phone: p.row.phone.clone(),
                flow_id: flow.flow_id.clone(),
                flow_token: p.token.clone(),
                body: render(&flow.body, send, &p.row),
                cta: flow.cta.clone(),
                header: flow.header.as_ref().map(|h| render(h, send, &p.row)),
                footer: flow.footer.as_ref().map(|f| render(f, send, &p.row)),
                action: flow.action.clone(),
                screen: flow.screen.clone(),
                data: flow.data.as_ref().map(|d| render_map(d, send, &p.row)),
                mode: flow.mode.clone(),
            };
            let outcome = attempt(limiter, || provider.send_flow(&m)).await;
            match (&outcome, fallback) {
                (
                    SendOutcome::Rejected {
                        window_closed: true,
                        ..
                    },
                    Some(fb),
                ) => {
                    // The window is closed: WhatsApp refused before sending,
                    // so the fallback template is the one message this person gets.
                    let m = template_message(fb, send, &p.row, &p.token);
                    (
                        attempt(limiter, || provider.send_template(&m)).await,
                        Some(SendKind::Fallback),
                        Some(fb.name.clone()),
                    )
                }
                _ => (outcome, None, None),
            }
        }
    };
    let outcome = match outcome {
        SendOutcome::Accepted { message_id, job_id } => Outcome::Accepted { message_id, job_id },
        SendOutcome::Rejected { reason, .. } => Outcome::Rejected { reason },
        SendOutcome::Ambiguous { reason } => Outcome::Unknown { reason },
        SendOutcome::Retry { reason, .. } => {
            return Ok(Delivered::NotSent {
                phone: p.row.phone,
                reason: Some(reason),
            })
        }
    };
    let mut record = OutcomeRecord::new(send, &p.row.phone, outcome, Utc::now());
    record.kind = kind;
    record.template = template;
    Ok(Delivered::Done(record))
}

/// Makes a request, retrying while the answer says it was certainly not sent.
async fn attempt<F, Fut>(limiter: &RateLimiter, mut call: F) -> SendOutcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = SendOutcome>,
{
    let mut delay = Duration::from_millis(200);
    for n in 0..MAX_RETRIES {
        limiter.acquire().await;
        let outcome = call().await;
        match outcome {
            SendOutcome::Retry { retry_after, .. } if n + 1 < MAX_RETRIES => {
                let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 2));
                let wait = retry_after
                    .unwrap_or(delay + jitter)
                    .min(Duration::from_secs(60));
                limiter.pause(wait).await;
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
    SendOutcome::Retry {
        reason: "gave up".into(),
        retry_after: None,
    }
}
