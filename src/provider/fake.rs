//! An in-memory [`Provider`] for engine tests: it answers each phone's
//! sends from a script (accept, reject, a closed window, 429, 500, hang)
//! and records every call with the tokio time it was made, so tests under
//! paused time can check pacing, backoff and cut-offs without HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    AccountFlow, AccountTemplate, FlowList, FlowMessage, FlowStatus, History, HistoryQuery,
    NewTemplate, Provider, ProviderError, SendOutcome, TemplateMessage, TemplateStatus,
};

/// How the fake answers one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Accepted with a message id.
    Accept,
    /// Refused for good.
    Reject(&'static str),
    /// Refused because the 24-hour window is closed (Flow messages).
    WindowClosed,
    /// HTTP 429: certainly not sent, try again after the given wait.
    TooMany(Option<Duration>),
    /// HTTP 500: may or may not have been sent.
    ServerError,
    /// Never answers.
    Hang,
}

/// One send the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// The recipient.
    pub(crate) phone: String,
    /// `template` or `flow`.
    pub(crate) kind: &'static str,
    /// The template name (template sends).
    pub(crate) template: Option<String>,
    /// The template namespace sent (template sends).
    pub(crate) namespace: Option<String>,
    /// When it arrived (tokio's clock: virtual under paused time).
    pub(crate) at: tokio::time::Instant,
}

/// The scripted account.
#[derive(Debug, Default)]
pub(crate) struct FakeProvider {
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    calls: Mutex<Vec<Call>>,
    latency: Duration,
    /// Templates submitted, with when (tokio time); approved once
    /// `approve_after` has passed, with the namespace `ns-<name>`.
    templates: Mutex<Vec<(NewTemplate, tokio::time::Instant)>>,
    approve_after: Duration,
    /// The account's Flows.
    flows: Mutex<Vec<AccountFlow>>,
}

impl FakeProvider {
    /// Answers every send after `latency` (tokio time); `Accept` unless
    /// scripted otherwise.
    pub(crate) fn new(latency: Duration) -> Self {
        FakeProvider {
            latency,
            ..FakeProvider::default()
        }
    }

    /// Templates submitted to it are approved `after` that long (tokio time).
    pub(crate) fn approving_after(mut self, after: Duration) -> Self {
        self.approve_after = after;
        self
    }

    /// Puts a Flow on the account, or changes its status.
    pub(crate) fn set_flow(&self, id: &str, name: &str, status: FlowStatus) {
        if let Ok(mut flows) = self.flows.lock() {
            flows.retain(|f| f.id != id);
            flows.push(AccountFlow {
                id: id.into(),
                name: name.into(),
                status,
            });
        }
    }

    /// The answers `phone`'s next sends get, in order (then `Accept`).
    pub(crate) fn script(&self, phone: &str, answers: impl IntoIterator<Item = Answer>) {
        if let Ok(mut script) = self.script.lock() {
            script.entry(phone.to_string()).or_default().extend(answers);
        }
    }

    /// Every send received so far, in arrival order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The sends `phone` received.
    pub(crate) fn calls_to(&self, phone: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.phone == phone)
            .collect()
    }

    async fn answer(&self, call: Call) -> SendOutcome {
        let phone = call.phone.clone();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        let answer = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.get_mut(&phone).and_then(VecDeque::pop_front))
            .unwrap_or(Answer::Accept);
        tokio::time::sleep(self.latency).await;
        match answer {
            Answer::Accept => SendOutcome::Accepted {
                message_id: Some(format!("fake.{phone}")),
                job_id: None,
            },
            Answer::Reject(reason) => SendOutcome::Rejected {
                reason: reason.into(),
                window_closed: false,
            },
            Answer::WindowClosed => SendOutcome::Rejected {
                reason: "(#131047) the dialog window is closed".into(),
                window_closed: true,
            },
            Answer::TooMany(retry_after) => SendOutcome::Retry {
                reason: "HTTP 429".into(),
                retry_after,
            },
            Answer::ServerError => SendOutcome::Ambiguous {
                reason: "HTTP 500".into(),
            },
            Answer::Hang => std::future::pending().await,
        }
    }
}

#[async_trait]
impl Provider for FakeProvider {
    async fn list_templates(&self) -> Result<Vec<AccountTemplate>, ProviderError> {
        let templates = self.templates.lock().map(|t| t.clone()).unwrap_or_default();
        Ok(templates
            .into_iter()
            .map(|(t, at)| {
                let approved = at.elapsed() >= self.approve_after;
                AccountTemplate {
                    id: None,
                    namespace: approved.then(|| format!("ns-{}", t.name)),
                    name: t.name,
                    language: t.language,
                    category: t.category,
                    status: if approved {
                        TemplateStatus::Approved
                    } else {
                        TemplateStatus::Pending
                    },
                    rejected_reason: None,
                    components: t.components,
                }
            })
            .collect())
    }

    async fn add_template(&self, template: &NewTemplate) -> Result<(), ProviderError> {
        if let Ok(mut templates) = self.templates.lock() {
            templates.push((template.clone(), tokio::time::Instant::now()));
        }
        Ok(())
    }

    async fn remove_template(&self, _name: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn list_flows(&self) -> Result<FlowList, ProviderError> {
        Ok(FlowList::Flows(
            self.flows.lock().map(|f| f.clone()).unwrap_or_default(),
        ))
    }

    async fn send_template(&self, message: &TemplateMessage) -> SendOutcome {
        self.answer(Call {
            phone: message.phone.clone(),
            kind: "template",
            template: Some(message.template.clone()),
            namespace: message.namespace.clone(),
            at: tokio::time::Instant::now(),
        })
        .await
    }

    async fn send_flow(&self, message: &FlowMessage) -> SendOutcome {
        self.answer(Call {
            phone: message.phone.clone(),
            kind: "flow",
            template: None,
            namespace: None,
            at: tokio::time::Instant::now(),
        })
        .await
    }

    async fn list_messages(&self, _query: &HistoryQuery) -> Result<History, ProviderError> {
        Ok(History::Messages(Vec::new()))
    }
}
