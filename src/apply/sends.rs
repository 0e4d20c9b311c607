//! What a send's messages look like (its targets, texts parsed once) and
//! the request(s) that deliver one recipient's message. The exactly-once
//! machinery around them is in [`super::dispatch`].

use anyhow::anyhow;
use chrono::Utc;
use serde_json::{Map, Value};

use super::ratelimit::RateLimiter;
use crate::config::interp::{Interp, Var};
use crate::config::recipients::Row;
use crate::config::types::FlowButton;
use crate::provider::{FlowButtonParams, FlowMessage, Provider, SendOutcome, TemplateMessage};
use crate::state::{Intent, SendKind};

/// The account template a template (or fallback) message uses.
#[derive(Debug, Clone)]
pub struct TemplateTarget {
    pub(crate) name: String,
    pub(crate) language: String,
    pub(crate) namespace: Option<String>,
    pub(crate) flow_button: Option<usize>,
    pub(crate) body_params: Vec<Interp>,
    pub(crate) flow_token: Option<Interp>,
    pub(crate) action_data: Option<Fields>,
}

/// A JSON object from the config whose string values may hold `${...}`,
/// parsed once per send rather than once per recipient.
pub(crate) type Fields = Vec<(String, FieldValue)>;

#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
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
    pub(crate) flow_id: String,
    pub(crate) body: Interp,
    pub(crate) cta: String,
    pub(crate) header: Option<Interp>,
    pub(crate) footer: Option<Interp>,
    pub(crate) action: String,
    pub(crate) screen: Option<String>,
    pub(crate) data: Option<Fields>,
    pub(crate) mode: String,
    pub(crate) token: Option<Interp>,
}

impl FlowTarget {
    pub(crate) fn new(
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
    /// A template message's target with its parameters compiled (`${...}`
    /// placeholders parsed once, filled per recipient).
    ///
    /// # Errors
    /// A parameter or token with a malformed placeholder.
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
    /// A template message (business-initiated, any time).
    Template(TemplateTarget),
    /// An interactive Flow message (24-hour window only).
    Flow {
        /// The Flow message itself.
        flow: Box<FlowTarget>,
        /// The template sent instead when the window is closed.
        fallback: Option<TemplateTarget>,
    },
}

/// The default flow_token: deterministic per (send, recipient), so webhook
/// completions correlate back to the ledger row.
pub(crate) fn default_flow_token(send: &str, phone: &str) -> String {
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

/// One recipient, ready to be sent.
pub(crate) struct Prepared {
    pub(crate) row: Row,
    pub(crate) token: String,
    kind: SendKind,
    template: Option<String>,
}

impl Prepared {
    /// The intent written just before this recipient's request starts.
    pub(crate) fn intent(&self, send: &str, at: chrono::DateTime<Utc>) -> Intent {
        Intent {
            send: send.to_string(),
            phone: self.row.phone.clone(),
            flow_token: self.token.clone(),
            kind: self.kind,
            template: self.template.clone(),
            at,
        }
    }
}

/// A recipient's flow_token (explicit or the default) and intent fields.
pub(crate) fn prepare(send: &str, message: &Message, row: Row) -> Prepared {
    let (explicit, kind, template) = match message {
        Message::Template(t) => (
            t.flow_token.clone(),
            SendKind::Template,
            Some(t.name.clone()),
        ),
        Message::Flow { flow, .. } => (flow.token.clone(), SendKind::Flow, None),
    };
    let token = explicit
        .map(|t| render(&t, send, &row))
        .unwrap_or_else(|| default_flow_token(send, &row.phone));
    Prepared {
        row,
        token,
        kind,
        template,
    }
}

/// One attempt at delivering a recipient's message: the request, and for a
/// Flow refused because the window is closed, the fallback template. Each
/// request waits for its rate-limit slot. Returns the outcome with the kind
/// and template actually used when they differ from the intent's.
pub(crate) async fn request(
    provider: &dyn Provider,
    limiter: &RateLimiter,
    send: &str,
    message: &Message,
    p: &Prepared,
) -> (SendOutcome, Option<SendKind>, Option<String>) {
    match message {
        Message::Template(t) => {
            let m = template_message(t, send, &p.row, &p.token);
            (provider.send_template(&m).await, None, None)
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
            let outcome = provider.send_flow(&m).await;
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
                    limiter.acquire().await;
                    (
                        provider.send_template(&m).await,
                        Some(SendKind::Fallback),
                        Some(fb.name.clone()),
                    )
                }
                _ => (outcome, None, None),
            }
        }
    }
}
