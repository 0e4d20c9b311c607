//! The emulated account: templates, Flows, conversation windows and the log
//! of accepted sends, with the rules the real service applies to them.
//!
//! No IO and no clock of its own: every operation takes `now`, so the rules
//! (approval delay, 30-day name block, 24-hour window) are plain functions to
//! test. The HTTP layer holds this behind one mutex, briefly.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Map, Value};

mod flows;
mod snapshot;

pub(super) use self::flows::NewFlow;

pub(crate) use self::snapshot::AccountSnapshot;
use super::rules::{self, ButtonFlow, TemplateShape};
use crate::provider::{AccountFlow, AccountTemplate, FlowStatus, TemplateStatus};

/// The rules' timings, copied out of [`super::SandboxConfig`].
#[derive(Debug, Clone)]
pub(super) struct Timings {
    pub(crate) approve_after: Duration,
    pub(crate) reject_containing: Option<String>,
    /// How long a removed approved name stays blocked (Meta: 30 days).
    pub(crate) name_block: Duration,
    /// The customer-service window (Meta: 24 hours).
    pub(crate) window: Duration,
}

/// One accepted send, as `GET /_sandbox/sends` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentMessage {
    pub id: String,
    /// `template` or `flow`.
    pub kind: &'static str,
    pub phone: String,
    pub(crate) template: Option<String>,
    pub(crate) language: Option<String>,
    pub flow_id: Option<String>,
    pub flow_token: Option<String>,
    /// Body parameters (template) in order.
    pub params: Vec<String>,
    /// `flow_action_data` (template button) or `flowActionPayload.data` (sendFlow).
    pub action_data: Option<Value>,
    /// Unix seconds.
    pub(crate) time: i64,
    /// Set when the send was accepted but the answer was a fault
    /// (`"500"` or `"drop"`): the client saw no success, yet it went out.
    pub fault: Option<&'static str>,
    /// Position in the account's message history.
    #[serde(skip)]
    pub(crate) number: u64,
}

/// One send request as the sandbox received it, whatever its answer
/// (`GET /_sandbox/requests`): the ground truth of what reached the API,
/// including requests answered 429 that sent nothing.
#[derive(Debug, Clone, Serialize)]
pub struct ReceivedRequest {
    /// `sendTemplate` or `sendFlow`.
    pub(crate) method: String,
    /// Digits, when the request named a valid phone.
    pub phone: Option<String>,
    /// `accepted`, `429`, `500` and `drop` (accepted, then the fault),
    /// `not_sent` (HTTP 200 `sent: false`), `bad_request`; `in_progress`
    /// until answered.
    pub(crate) answer: &'static str,
    /// The message id when one was sent.
    pub(crate) id: Option<String>,
    /// Unix milliseconds when the request arrived.
    pub at_ms: i64,
}

/// An inbound customer message (for `GET /messages`).
#[derive(Debug, Clone)]
struct Inbound {
    number: u64,
    id: String,
    phone: String,
    time: i64,
    kind: &'static str,
    body: String,
}

#[derive(Debug, Clone)]
struct Template {
    id: String,
    name: String,
    language: String,
    category: String,
    components: Vec<Value>,
    shape: TemplateShape,
    created: Instant,
    /// A decision made through `/_sandbox/templates/NAME/approve|reject`.
    decision: Option<(TemplateStatus, Option<String>)>,
    auto_reject: bool,
}

impl Template {
    /// Review is computed lazily from the creation time: no timers needed.
    fn status(&self, now: Instant, approve_after: Duration) -> (TemplateStatus, Option<String>) {
        if let Some(d) = &self.decision {
            return d.clone();
        }
        if now.saturating_duration_since(self.created) < approve_after {
            return (TemplateStatus::Pending, None);
        }
        if self.auto_reject {
            (
                TemplateStatus::Rejected,
                Some("ABUSIVE_CONTENT".to_string()),
            )
        } else {
            (TemplateStatus::Approved, None)
        }
    }
}

/// Why a request was refused, and how the real API says it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Refusal {
    /// Malformed request: HTTP 400 `{"error"}`.
    BadRequest(String),
    /// A rule said no: HTTP 200 `{"sent": false, "message"}` (docs/provider-1msg.md
    /// §1.4: "many failures come back as HTTP 200 with sent:false").
    NotSent(String),
    /// A Graph API error with Meta's code (e.g. 139001, a Flow that cannot
    /// be edited): HTTP 400 `{"error": {"code", "message", …}}`.
    Meta {
        code: u32,
        title: String,
        message: String,
    },
}

pub(super) struct Account {
    timings: Timings,
    namespace: String,
    /// name → one entry per language, in creation order.
    templates: BTreeMap<String, Vec<Template>>,
    blocked_names: HashMap<String, Instant>,
    flows: Vec<AccountFlow>,
    /// Flow id → categories, Flow JSON and its validation errors (Flows
    /// created through the API; Flows given at start have none).
    flow_assets: BTreeMap<String, flows::FlowAsset>,
    next_flow_id: u64,
    /// phone digits → time of the last inbound message.
    windows: HashMap<String, Instant>,
    sends: Vec<SentMessage>,
    requests: Vec<ReceivedRequest>,
    /// flow_token → index in `sends` (latest send carrying it).
    by_flow_token: HashMap<String, usize>,
    inbound: Vec<Inbound>,
    rng: fastrand::Rng,
    next_number: u64,
    next_template_id: u64,
}

/// Unix seconds now (history and webhooks carry wall-clock times).
pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Account {
    pub(super) fn new(timings: Timings, flows: Vec<AccountFlow>, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Shaped like a real namespace (docs/provider-1msg.md §2.1 example).
        let namespace = format!(
            "{:08x}_{:04x}_{:04x}_{:04x}_{:012x}",
            rng.u32(..),
            rng.u16(..),
            rng.u16(..),
            rng.u16(..),
            rng.u64(..) & 0xffff_ffff_ffff
        );
        Account {
            timings,
            namespace,
            templates: BTreeMap::new(),
            blocked_names: HashMap::new(),
            flows,
            flow_assets: BTreeMap::new(),
            next_flow_id: 2_000_000_000_000_000 + seed % 1_000_000,
            windows: HashMap::new(),
            sends: Vec::new(),
            requests: Vec::new(),
            by_flow_token: HashMap::new(),
            inbound: Vec::new(),
            rng,
            next_number: 1,
            next_template_id: 1_000_000_000_000_000 + seed % 1_000_000,
        }
    }

    pub(super) fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    pub(super) fn namespace(&self) -> &str {
        &self.namespace
    }

    fn message_id(&mut self) -> String {
        let n = self.next_number;
        self.next_number += 1;
        // Cloud-API style ids (docs/provider-1msg.md §2.4: "newer ids are wamid.…").
        format!("wamid.SBX{n:010}{:08X}", self.rng.u32(..))
    }

    // ---- templates -------------------------------------------------------

    /// `POST /addTemplate`: validation, duplicate name+language, the 30-day
    /// block; the template starts PENDING.
    pub(super) fn add_template(
        &mut self,
        name: &str,
        category: &str,
        language: &str,
        components: Vec<Value>,
        now: Instant,
    ) -> Result<Value, Refusal> {
        let shape = rules::validate_template(name, category, language, &components)
            .map_err(|e| Refusal::BadRequest(format!("Invalid template: {e}")))?;
        if let Some(removed) = self.blocked_names.get(name) {
            if now.saturating_duration_since(*removed) < self.timings.name_block {
                // docs/meta-rules.md "Template lifecycle": a deleted approved
                // name cannot be used again for 30 days.
                return Err(Refusal::BadRequest(format!(
                    "Template name {name:?} was deleted recently and cannot be reused for 30 days"
                )));
            }
        }
        match &shape.flow_ref {
            Some(ButtonFlow::Id(id)) if !self.flows.iter().any(|f| &f.id == id) => {
                return Err(Refusal::BadRequest(format!(
                    "Invalid template: FLOW button refers to unknown flow_id {id:?}"
                )))
            }
            Some(ButtonFlow::Name(n)) if !self.flows.iter().any(|f| &f.name == n) => {
                return Err(Refusal::BadRequest(format!(
                    "Invalid template: FLOW button refers to unknown flow_name {n:?}"
                )))
            }
            Some(ButtonFlow::Inline) => flows::check_inline(&components)?,
            _ => {}
        }
        let siblings = self.templates.entry(name.to_string()).or_default();
        if siblings.iter().any(|t| t.language == language) {
            return Err(Refusal::BadRequest(format!(
                "Template {name:?} already exists in language {language}"
            )));
        }
        let auto_reject = self
            .timings
            .reject_containing
            .as_deref()
            .filter(|w| !w.is_empty())
            .is_some_and(|w| shape.body.to_lowercase().contains(&w.to_lowercase()));
        let id = self.next_template_id.to_string();
        self.next_template_id += 1;
        siblings.push(Template {
            id: id.clone(),
            name: name.to_string(),
            language: language.to_string(),
            category: category.to_string(),
            components,
            shape,
            created: now,
            decision: None,
            auto_reject,
        });
        Ok(json!({"id": id, "status": "PENDING", "category": category}))
    }

    /// `POST /removeTemplate`: every language of the name goes; an approved
    /// name is blocked for 30 days.
    pub(super) fn remove_template(&mut self, name: &str, now: Instant) -> Result<(), Refusal> {
        let Some(removed) = self.templates.remove(name) else {
            return Err(Refusal::BadRequest(format!("Template {name:?} not found")));
        };
        let was_approved = removed.iter().any(|t| {
            matches!(
                t.status(now, self.timings.approve_after).0,
                TemplateStatus::Approved | TemplateStatus::Paused | TemplateStatus::Disabled
            )
        });
        if was_approved {
            self.blocked_names.insert(name.to_string(), now);
        }
        Ok(())
    }

    /// Every template with its status as of `now`, ordered by name then
    /// creation.
    pub(super) fn templates(&self, now: Instant) -> Vec<AccountTemplate> {
        self.templates
            .values()
            .flatten()
            .map(|t| {
                let (status, rejected_reason) = t.status(now, self.timings.approve_after);
                AccountTemplate {
                    id: Some(t.id.clone()),
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category.clone(),
                    status,
                    rejected_reason,
                    components: t.components.clone(),
                    namespace: Some(self.namespace.clone()),
                }
            })
            .collect()
    }

    /// The `GET /templates` body for one page. Status is lower case and
    /// `rejected_reason` is `"NONE"` when not rejected, as 1msg returns them
    /// (docs/provider-1msg.md §2.1), so clients exercise their tolerant parsing.
    ///
    /// With `quirks`, every other quirk seen in the wild shows up too
    /// (§2.1, §5 item 15): `offset` ignored, `language` as `{code}`,
    /// `components` as a JSON string, status in upper case, the namespace
    /// missing or under `message_template_namespace`, and a bare array
    /// instead of `{total, templates}`.
    pub(super) fn templates_json(
        &self,
        now: Instant,
        offset: usize,
        limit: Option<usize>,
        quirks: bool,
    ) -> Value {
        let total = self.templates.values().map(Vec::len).sum::<usize>();
        let offset = if quirks { 0 } else { offset };
        let items: Vec<Value> = self
            .templates
            .values()
            .flatten()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .enumerate()
            .map(|(i, t)| {
                let (status, reason) = t.status(now, self.timings.approve_after);
                let mut item = json!({
                    "id": t.id,
                    "name": t.name,
                    "language": t.language,
                    "category": t.category,
                    "status": status_word(&status),
                    "rejected_reason": reason.unwrap_or_else(|| "NONE".into()),
                    "components": t.components,
                    "namespace": self.namespace,
                });
                if quirks {
                    match i % 4 {
                        0 => {
                            item["language"] = json!({"code": t.language});
                            item["status"] = json!(status_word(&status).to_ascii_uppercase());
                        }
                        1 => {
                            item["components"] =
                                json!(Value::from(t.components.clone()).to_string());
                            if let Some(obj) = item.as_object_mut() {
                                obj.remove("namespace");
                            }
                        }
                        2 => {
                            if let Some(obj) = item.as_object_mut() {
                                obj.remove("namespace");
                                obj.insert(
                                    "message_template_namespace".into(),
                                    json!(self.namespace),
                                );
                            }
                        }
                        _ => {}
                    }
                }
                item
            })
            .collect();
        if quirks {
            Value::Array(items)
        } else {
            json!({"total": total, "templates": items})
        }
    }

    /// Control: force a review decision on every language of `name`.
    pub(super) fn decide(
        &mut self,
        name: &str,
        status: TemplateStatus,
        reason: Option<String>,
    ) -> bool {
        match self.templates.get_mut(name) {
            Some(list) => {
                for t in list {
                    t.decision = Some((status.clone(), reason.clone()));
                }
                true
            }
            None => false,
        }
    }

    // ---- flows -----------------------------------------------------------

    pub(super) fn flows(&self) -> &[AccountFlow] {
        &self.flows
    }

    /// Adds a Flow or replaces the one with the same id.
    pub(super) fn upsert_flow(&mut self, flow: AccountFlow) {
        match self.flows.iter_mut().find(|f| f.id == flow.id) {
            Some(existing) => *existing = flow,
            None => self.flows.push(flow),
        }
    }

    // ---- sends -----------------------------------------------------------

    /// `POST /sendTemplate` rules: an approved template in that language,
    /// one body parameter per variable (Meta 132000), FLOW button params on
    /// a FLOW button (docs/meta-rules.md "Sending a template with a Flow
    /// button"). No window needed: template sends are business-initiated.
    pub(super) fn send_template(
        &mut self,
        req: &Value,
        now: Instant,
    ) -> Result<SentMessage, Refusal> {
        let phone = phone_of(req)?;
        let name = str_field(req, "template")
            .ok_or_else(|| Refusal::BadRequest("template is required".into()))?;
        let language = match req.get("language") {
            Some(Value::Object(l)) => l.get("code").and_then(Value::as_str),
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        }
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Refusal::BadRequest("language.code is required".into()))?;
        if let Some(policy) = req.pointer("/language/policy").and_then(Value::as_str) {
            if policy != "deterministic" {
                return Err(Refusal::BadRequest(format!(
                    "language.policy must be \"deterministic\", got {policy:?}"
                )));
            }
        }
        if let Some(ns) = str_field(req, "namespace") {
            if ns != self.namespace {
                return Err(Refusal::NotSent(format!(
                    "(#132001) Template name does not exist in the translation: namespace {ns:?} is not this account's"
                )));
            }
        }
        let approve_after = self.timings.approve_after;
        let template = self
            .templates
            .get(name)
            .and_then(|list| list.iter().find(|t| t.language == language))
            .ok_or_else(|| {
                Refusal::NotSent(format!(
                    "(#132001) Template name does not exist in the translation: template is not defined: {name} ({language})"
                ))
            })?;
        match template.status(now, approve_after) {
            (TemplateStatus::Approved, _) => {}
            (TemplateStatus::Paused, _) => {
                return Err(Refusal::NotSent(format!(
                    "(#132015) Template {name} is paused"
                )))
            }
            (TemplateStatus::Disabled, _) => {
                return Err(Refusal::NotSent(format!(
                    "(#132016) Template {name} is disabled"
                )))
            }
            (status, _) => {
                return Err(Refusal::NotSent(format!(
                    "Template {name} ({language}) is not approved: status {}",
                    status_word(&status).to_ascii_uppercase()
                )))
            }
        }
        let params = match req.get("params") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(p)) => p.as_slice(),
            Some(_) => {
                return Err(Refusal::BadRequest(
                    "params must be an array of component objects".into(),
                ))
            }
        };
        let mut body_params = Vec::new();
        let mut flow_token = None;
        let mut action_data = None;
        for component in params {
            let kind = component
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match kind.to_ascii_lowercase().as_str() {
                "body" => {
                    for p in component
                        .get("parameters")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                    {
                        body_params.push(match p.get("text") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => p.to_string(),
                        });
                    }
                }
                "button" => {
                    let index = match component.get("index") {
                        Some(Value::String(s)) => s.trim().parse::<usize>().ok(),
                        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
                        _ => None,
                    };
                    let sub_type = component
                        .get("sub_type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let Some(index) = index else {
                        return Err(Refusal::NotSent(
                            "(#131009) Parameter value is not valid: button index missing".into(),
                        ));
                    };
                    let button = template.shape.buttons.get(index);
                    let expected = match sub_type.as_str() {
                        "flow" => "FLOW",
                        "quick_reply" => "QUICK_REPLY",
                        "url" => "URL",
                        "copy_code" | "coupon_code" => "COPY_CODE",
                        "catalog" => "CATALOG",
                        _ => "",
                    };
                    if button.map(String::as_str) != Some(expected) {
                        return Err(Refusal::NotSent(format!(
                            "(#131009) Parameter value is not valid: button {index} of {name} is not a {} button",
                            if expected.is_empty() { sub_type.as_str() } else { expected }
                        )));
                    }
                    if expected == "FLOW" {
                        let action = component.pointer("/parameters/0/action");
                        flow_token = action
                            .and_then(|a| a.get("flow_token"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        action_data = action.and_then(|a| a.get("flow_action_data")).cloned();
                    }
                }
                "header" => {}
                other => {
                    return Err(Refusal::BadRequest(format!(
                        "unsupported params component type {other:?}"
                    )))
                }
            }
        }
        if body_params.len() != template.shape.body_vars {
            return Err(Refusal::NotSent(format!(
                "(#132000) Number of parameters does not match the expected number of params: template {name} expects {}, got {}",
                template.shape.body_vars,
                body_params.len()
            )));
        }
        let record = SentMessage {
            id: String::new(),
            kind: "template",
            phone,
            template: Some(name.to_string()),
            language: Some(language.to_string()),
            flow_id: None,
            flow_token,
            params: body_params,
            action_data,
            time: unix_now(),
            fault: None,
            number: 0,
        };
        Ok(self.log(record))
    }

    /// `POST /sendFlow` rules: required fields, Meta's lengths, a PUBLISHED
    /// Flow (DRAFT only with `mode: draft`), and an open 24-hour window
    /// (docs/provider-1msg.md §2.5; docs/meta-rules.md "Sending an interactive Flow",
    /// "Flows").
    pub(super) fn send_flow(&mut self, req: &Value, now: Instant) -> Result<SentMessage, Refusal> {
        let phone = phone_of(req)?;
        let required = |k: &str| {
            str_field(req, k)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| Refusal::BadRequest(format!("{k} is required")))
        };
        let body = required("body")?;
        let flow_id = required("flowId")?.to_string();
        let flow_token = required("flowToken")?.to_string();
        let cta = required("flowCta")?;
        // Lengths marked (verify) in docs/meta-rules.md; CTA ≤ 20 is Meta's
        // "Sending a Flow" page.
        if cta.chars().count() > 20 {
            return Err(Refusal::BadRequest(
                "flowCta is longer than 20 characters".into(),
            ));
        }
        if body.chars().count() > 1024 {
            return Err(Refusal::BadRequest(
                "body is longer than 1024 characters".into(),
            ));
        }
        for k in ["header", "footer"] {
            let text = match req.get(k) {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(Value::Object(o)) => o.get("text").and_then(Value::as_str),
                _ => None,
            };
            if text.is_some_and(|t| t.chars().count() > 60) {
                return Err(Refusal::BadRequest(format!(
                    "{k} is longer than 60 characters"
                )));
            }
        }
        if let Some(v) = req.get("flowMessageVersion").and_then(Value::as_str) {
            if v != "3" {
                return Err(Refusal::BadRequest(
                    "flowMessageVersion must be \"3\"".into(),
                ));
            }
        }
        let action = str_field(req, "flowAction").unwrap_or("navigate");
        let payload = req.get("flowActionPayload").and_then(Value::as_object);
        let screen = payload
            .and_then(|p| p.get("screen"))
            .or_else(|| req.get("flowActionScreen"))
            .and_then(Value::as_str);
        let data = payload
            .and_then(|p| p.get("data"))
            .or_else(|| req.get("flowActionData"))
            .cloned();
        match action {
            "navigate" if screen.is_none_or(str::is_empty) => {
                return Err(Refusal::BadRequest(
                    "flowActionPayload.screen is required for flowAction navigate".into(),
                ))
            }
            "navigate" | "data_exchange" => {}
            other => {
                return Err(Refusal::BadRequest(format!(
                    "flowAction must be navigate or data_exchange, got {other:?}"
                )))
            }
        }
        if let Some(d) = &data {
            if d.as_object().is_none_or(|o| o.is_empty()) {
                return Err(Refusal::BadRequest(
                    "flowActionPayload.data must be a non-empty object".into(),
                ));
            }
        }
        let mode = str_field(req, "mode").unwrap_or("published");
        let flow = self
            .flows
            .iter()
            .find(|f| f.id == flow_id)
            .ok_or_else(|| Refusal::NotSent(format!("Flow {flow_id} not found")))?;
        match (&flow.status, mode) {
            (FlowStatus::Published, _) | (FlowStatus::Draft, "draft") => {}
            (FlowStatus::Draft, _) => {
                return Err(Refusal::NotSent(format!(
                    "Flow {flow_id} is DRAFT: publish it or send with mode draft"
                )))
            }
            (status, _) => {
                return Err(Refusal::NotSent(format!(
                    "Flow {flow_id} cannot be sent: status {status:?}"
                )))
            }
        }
        let open = self
            .windows
            .get(&phone)
            .is_some_and(|last| now.saturating_duration_since(*last) < self.timings.window);
        if !open {
            // Meta 131047; the wording matches what clients look for
            // (docs/provider-1msg.md §1.4).
            return Err(Refusal::NotSent(
                "(#131047) Re-engagement message: more than 24 hours have passed since the recipient last replied; the dialog window is closed".into(),
            ));
        }
        let record = SentMessage {
            id: String::new(),
            kind: "flow",
            phone,
            template: None,
            language: None,
            flow_id: Some(flow_id),
            flow_token: Some(flow_token),
            params: Vec::new(),
            action_data: data,
            time: unix_now(),
            fault: None,
            number: 0,
        };
        Ok(self.log(record))
    }

    fn log(&mut self, mut record: SentMessage) -> SentMessage {
        record.number = self.next_number;
        record.id = self.message_id();
        if let Some(token) = &record.flow_token {
            self.by_flow_token.insert(token.clone(), self.sends.len());
        }
        self.sends.push(record.clone());
        record
    }

    /// Marks the latest send as answered by a fault (it still went out).
    pub(super) fn mark_fault(&mut self, id: &str, fault: &'static str) {
        if let Some(s) = self.sends.iter_mut().rev().find(|s| s.id == id) {
            s.fault = Some(fault);
        }
    }

    pub(super) fn sends(&self) -> &[SentMessage] {
        &self.sends
    }

    pub(super) fn requests(&self) -> &[ReceivedRequest] {
        &self.requests
    }

    /// Logs a send request on arrival (answer `in_progress`); returns its
    /// index for [`Account::answer_request`].
    pub(super) fn log_request(&mut self, method: &str, req: &Value) -> usize {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.requests.push(ReceivedRequest {
            method: method.to_string(),
            phone: phone_of(req).ok(),
            answer: "in_progress",
            id: None,
            at_ms,
        });
        self.requests.len() - 1
    }

    pub(super) fn answer_request(
        &mut self,
        index: usize,
        answer: &'static str,
        id: Option<String>,
    ) {
        if let Some(r) = self.requests.get_mut(index) {
            r.answer = answer;
            r.id = id;
        }
    }

    // ---- customer side ---------------------------------------------------

    /// A customer message: opens (or renews) the 24-hour window. Returns the
    /// message id and time.
    pub(super) fn inbound(&mut self, phone: &str, body: &str, now: Instant) -> (String, i64) {
        let number = self.next_number;
        let id = self.message_id();
        let time = unix_now();
        self.windows.insert(phone.to_string(), now);
        self.inbound.push(Inbound {
            number,
            id: id.clone(),
            phone: phone.to_string(),
            time,
            kind: "chat",
            body: body.to_string(),
        });
        (id, time)
    }

    /// The customer submits the Flow sent with `flow_token`. Returns the send
    /// it answers and the reply's (id, time); the reply is a customer message,
    /// so it opens the window too.
    pub(super) fn complete(
        &mut self,
        flow_token: &str,
        now: Instant,
    ) -> Option<(SentMessage, String, i64)> {
        let send = self
            .sends
            .get(*self.by_flow_token.get(flow_token)?)?
            .clone();
        let number = self.next_number;
        let id = self.message_id();
        let time = unix_now();
        self.windows.insert(send.phone.clone(), now);
        self.inbound.push(Inbound {
            number,
            id: id.clone(),
            phone: send.phone.clone(),
            time,
            kind: "interactive",
            body: "Sent".into(),
        });
        Some((send, id, time))
    }

    /// `GET /messages` (docs/provider-1msg.md §2.6): every accepted send
    /// (faulted ones included: they went out) and every customer message,
    /// as history items, filtered and paged like the real API.
    pub(super) fn messages_json(&self, q: &HistoryFilter) -> Value {
        let keep = |number: u64, phone: &str, id: &str, time: i64| {
            number > q.after
                && q.chat.as_deref().is_none_or(|c| c == phone)
                && q.msg_id.as_deref().is_none_or(|m| m == id)
                && q.min_time.is_none_or(|t| time >= t)
                && q.max_time.is_none_or(|t| time <= t)
        };
        let mut rows: Vec<(u64, Value)> = Vec::new();
        for s in self
            .sends
            .iter()
            .filter(|s| keep(s.number, &s.phone, &s.id, s.time))
        {
            rows.push((
                s.number,
                json!({
                    "messageNumber": s.number, "id": s.id, "fromMe": true, "self": 1,
                    "isForwarded": 0, "author": format!("{}@c.us", s.phone),
                    "time": s.time, "chatId": format!("{}@c.us", s.phone),
                    "type": if s.kind == "flow" { "interactive" } else { "chat" },
                    "body": s.template.clone().or_else(|| s.flow_id.clone()).unwrap_or_default(),
                    "senderName": "", "chatName": s.phone,
                    "caption": Value::Null, "quotedMsgId": Value::Null,
                }),
            ));
        }
        for m in self
            .inbound
            .iter()
            .filter(|m| keep(m.number, &m.phone, &m.id, m.time))
        {
            rows.push((
                m.number,
                json!({
                    "messageNumber": m.number, "id": m.id, "fromMe": false, "self": 0,
                    "isForwarded": 0, "author": format!("{}@c.us", m.phone),
                    "time": m.time, "chatId": format!("{}@c.us", m.phone),
                    "type": m.kind, "body": m.body,
                    "senderName": m.phone, "chatName": m.phone,
                    "caption": Value::Null, "quotedMsgId": Value::Null,
                }),
            ));
        }
        rows.sort_by_key(|(n, _)| *n);
        if q.last {
            rows.reverse();
        }
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        let messages: Vec<Value> = rows.into_iter().take(limit).map(|(_, v)| v).collect();
        json!({"messages": messages})
    }
}

/// The `GET /messages` parameters the sandbox honours (docs/provider-1msg.md §2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct HistoryFilter {
    /// Phone digits of `chatId`.
    pub(crate) chat: Option<String>,
    pub(crate) min_time: Option<i64>,
    pub(crate) max_time: Option<i64>,
    /// `lastMessageNumber`: only items after this cursor.
    pub(crate) after: u64,
    /// 0 = all.
    pub(crate) limit: usize,
    /// Newest first.
    pub(crate) last: bool,
    pub(crate) msg_id: Option<String>,
}

/// Lower-case status words, as 1msg returns them.
fn status_word(status: &TemplateStatus) -> String {
    match status {
        TemplateStatus::Pending => "pending".into(),
        TemplateStatus::Approved => "approved".into(),
        TemplateStatus::Rejected => "rejected".into(),
        TemplateStatus::Paused => "paused".into(),
        TemplateStatus::Disabled => "disabled".into(),
        TemplateStatus::Other(s) => s.to_ascii_lowercase(),
    }
}

fn str_field<'a>(req: &'a Value, key: &str) -> Option<&'a str> {
    req.get(key).and_then(Value::as_str)
}

/// The recipient: `phone` as digit string or number, or `chatId`
/// `digits@c.us` (docs/provider-1msg.md §1.5: exactly one of them).
pub(crate) fn phone_of(req: &Value) -> Result<String, Refusal> {
    let phone = match (req.get("phone"), req.get("chatId")) {
        (Some(Value::String(p)), None) => p.trim().trim_start_matches('+').to_string(),
        (Some(Value::Number(n)), None) => n.to_string(),
        (None, Some(Value::String(c))) => c.split('@').next().unwrap_or_default().to_string(),
        (Some(_), Some(_)) => {
            return Err(Refusal::BadRequest(
                "give exactly one of phone or chatId".into(),
            ))
        }
        _ => return Err(Refusal::BadRequest("phone or chatId is required".into())),
    };
    // 6–15 digits (docs/provider-1msg.md §1.5).
    if phone.len() < 6 || phone.len() > 15 || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::BadRequest(format!(
            "invalid phone {phone:?}: country code and 6-15 digits, no +"
        )));
    }
    Ok(phone)
}

/// The `response_json` of a completion: the form's fields plus `flow_token`,
/// as a JSON string (docs/meta-rules.md "Completion and status webhooks").
pub(super) fn response_json(flow_token: &str, response: &Map<String, Value>) -> String {
    let mut obj = response.clone();
    obj.insert("flow_token".into(), Value::String(flow_token.to_string()));
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(approve_after: Duration) -> Account {
        Account::new(
            Timings {
                approve_after,
                reject_containing: Some("casino".into()),
                name_block: Duration::from_secs(30 * 86_400),
                window: Duration::from_secs(86_400),
            },
            vec![
                AccountFlow {
                    id: "111".into(),
                    name: "signup".into(),
                    status: FlowStatus::Published,
                },
                AccountFlow {
                    id: "222".into(),
                    name: "draft".into(),
                    status: FlowStatus::Draft,
                },
            ],
            42,
        )
    }

    fn components(body: &str, samples: &[&str]) -> Vec<Value> {
        vec![
            json!({"type": "BODY", "text": body, "example": {"body_text": [samples]}}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "No"},
                {"type": "FLOW", "text": "Sign up", "flow_id": "111", "flow_action": "navigate"}]}),
        ]
    }

    fn send(name: &str, params: &[&str], button: Option<&str>) -> Value {
        let mut p = vec![
            json!({"type": "body", "parameters": params.iter().map(|t| json!({"type": "text", "text": t})).collect::<Vec<_>>()}),
        ];
        if let Some(index) = button {
            p.push(json!({"type": "button", "sub_type": "flow", "index": index,
                "parameters": [{"type": "action", "action": {"flow_token": "ft", "flow_action_data": {"a": 1}}}]}));
        }
        json!({"template": name, "language": {"policy": "deterministic", "code": "en_US"}, "phone": "15551234567", "params": p})
    }

    #[test]
    fn approval_is_lazy_and_reject_word_rejects() {
        let mut a = account(Duration::from_secs(2));
        let t0 = Instant::now();
        a.add_template(
            "good",
            "MARKETING",
            "en_US",
            components("Hi {{1}}, welcome.", &["A"]),
            t0,
        )
        .expect("add");
        a.add_template(
            "bad",
            "MARKETING",
            "en_US",
            components("Hi {{1}}, win at the Casino.", &["A"]),
            t0,
        )
        .expect("add");
        assert!(a
            .templates(t0)
            .iter()
            .all(|t| t.status == TemplateStatus::Pending));
        let later = t0 + Duration::from_secs(3);
        let ts = a.templates(later);
        assert_eq!(
            ts.iter().find(|t| t.name == "good").map(|t| &t.status),
            Some(&TemplateStatus::Approved)
        );
        let bad = ts.iter().find(|t| t.name == "bad").expect("bad");
        assert_eq!(bad.status, TemplateStatus::Rejected);
        assert!(bad.rejected_reason.is_some());
    }

    #[test]
    fn duplicates_unknown_flows_and_name_block() {
        let mut a = account(Duration::ZERO);
        let t0 = Instant::now();
        let c = components("Hi {{1}}, welcome.", &["A"]);
        a.add_template("x", "MARKETING", "en_US", c.clone(), t0)
            .expect("add");
        assert!(
            matches!(a.add_template("x", "MARKETING", "en_US", c.clone(), t0), Err(Refusal::BadRequest(m)) if m.contains("already exists"))
        );
        a.add_template("x", "MARKETING", "ru", c.clone(), t0)
            .expect("other language");
        let mut unknown = c.clone();
        unknown[1] = json!({"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Go", "flow_id": "999"}]});
        assert!(a
            .add_template("y", "MARKETING", "en_US", unknown, t0)
            .is_err());
        a.remove_template("x", t0).expect("remove");
        assert!(a.templates(t0).is_empty());
        let blocked = a.add_template(
            "x",
            "MARKETING",
            "en_US",
            c.clone(),
            t0 + Duration::from_secs(86_400),
        );
        assert!(matches!(blocked, Err(Refusal::BadRequest(m)) if m.contains("30 days")));
        a.add_template(
            "x",
            "MARKETING",
            "en_US",
            c,
            t0 + Duration::from_secs(31 * 86_400),
        )
        .expect("after the block");
        assert!(a.remove_template("nope", t0).is_err());
    }

    #[test]
    fn template_send_rules() {
        let mut a = account(Duration::from_secs(60));
        let t0 = Instant::now();
        a.add_template(
            "t",
            "MARKETING",
            "en_US",
            components("Hi {{1}}, welcome.", &["A"]),
            t0,
        )
        .expect("add");
        assert!(
            matches!(a.send_template(&send("t", &["Anna"], Some("1")), t0), Err(Refusal::NotSent(m)) if m.contains("not approved"))
        );
        let t1 = t0 + Duration::from_secs(61);
        assert!(
            matches!(a.send_template(&send("nope", &["Anna"], None), t1), Err(Refusal::NotSent(m)) if m.contains("template is not defined"))
        );
        assert!(
            matches!(a.send_template(&send("t", &[], None), t1), Err(Refusal::NotSent(m)) if m.contains("132000"))
        );
        assert!(
            matches!(a.send_template(&send("t", &["A", "B"], None), t1), Err(Refusal::NotSent(m)) if m.contains("132000"))
        );
        assert!(
            matches!(a.send_template(&send("t", &["A"], Some("0")), t1), Err(Refusal::NotSent(m)) if m.contains("131009"))
        );
        assert!(matches!(
            a.send_template(&send("t", &["A"], Some("5")), t1),
            Err(Refusal::NotSent(_))
        ));
        let sent = a
            .send_template(&send("t", &["Anna"], Some("1")), t1)
            .expect("sent");
        assert_eq!(sent.params, vec!["Anna"]);
        assert_eq!(sent.flow_token.as_deref(), Some("ft"));
        assert_eq!(sent.action_data, Some(json!({"a": 1})));
        assert_eq!(a.sends().len(), 1);
        let mut wrong_ns = send("t", &["Anna"], None);
        wrong_ns["namespace"] = json!("other");
        assert!(a.send_template(&wrong_ns, t1).is_err());
        let mut bad_phone = send("t", &["Anna"], None);
        bad_phone["phone"] = json!("+1 555");
        assert!(matches!(
            a.send_template(&bad_phone, t1),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn flow_send_needs_published_flow_and_open_window() {
        let mut a = account(Duration::ZERO);
        let t0 = Instant::now();
        let req = |flow: &str, mode: &str| {
            json!({"body": "Finish", "flowId": flow, "flowToken": "tok", "flowCta": "Open",
            "flowAction": "navigate", "flowActionPayload": {"screen": "WELCOME"}, "mode": mode, "phone": 15551234567u64})
        };
        assert!(
            matches!(a.send_flow(&req("111", "published"), t0), Err(Refusal::NotSent(m)) if m.contains("131047"))
        );
        a.inbound("15551234567", "hi", t0);
        a.send_flow(&req("111", "published"), t0)
            .expect("window open");
        assert!(
            matches!(a.send_flow(&req("222", "published"), t0), Err(Refusal::NotSent(m)) if m.contains("DRAFT"))
        );
        a.send_flow(&req("222", "draft"), t0).expect("draft mode");
        assert!(a.send_flow(&req("999", "published"), t0).is_err());
        let expired = t0 + Duration::from_secs(86_401);
        assert!(
            matches!(a.send_flow(&req("111", "published"), expired), Err(Refusal::NotSent(m)) if m.contains("131047"))
        );
        let mut no_screen = req("111", "published");
        no_screen["flowActionPayload"] = json!({});
        assert!(matches!(
            a.send_flow(&no_screen, t0),
            Err(Refusal::BadRequest(_))
        ));
        let mut long_cta = req("111", "published");
        long_cta["flowCta"] = json!("x".repeat(21));
        assert!(matches!(
            a.send_flow(&long_cta, t0),
            Err(Refusal::BadRequest(_))
        ));
        let (send, _, _) = a.complete("tok", t0).expect("completion");
        assert_eq!(send.kind, "flow");
        assert!(a.complete("unknown", t0).is_none());
        let history = a.messages_json(&HistoryFilter::default());
        assert_eq!(history["messages"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn history_filters_by_chat_cursor_and_time_and_pages() {
        let mut a = account(Duration::ZERO);
        let t0 = Instant::now();
        for phone in ["15550001", "15550002", "15550001", "15550001"] {
            a.inbound(phone, "hi", t0);
        }
        let ids = |v: Value| -> Vec<u64> {
            v["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|i| i["messageNumber"].as_u64())
                        .collect()
                })
                .unwrap_or_default()
        };
        let one = |f: HistoryFilter| ids(a.messages_json(&f));
        let chat = Some("15550001".to_string());
        let all = one(HistoryFilter {
            chat: chat.clone(),
            ..HistoryFilter::default()
        });
        assert_eq!(all.len(), 3);
        let page = one(HistoryFilter {
            chat: chat.clone(),
            limit: 2,
            ..HistoryFilter::default()
        });
        assert_eq!(page, all[..2]);
        let next = one(HistoryFilter {
            chat: chat.clone(),
            after: page[1],
            limit: 2,
            ..HistoryFilter::default()
        });
        assert_eq!(next, all[2..]);
        let newest = one(HistoryFilter {
            last: true,
            limit: 1,
            ..HistoryFilter::default()
        });
        assert_eq!(newest, all[2..]);
        assert!(one(HistoryFilter {
            min_time: Some(unix_now() + 3600),
            ..HistoryFilter::default()
        })
        .is_empty());
    }

    #[test]
    fn listing_is_lower_case_with_none_reason_and_pages() {
        let mut a = account(Duration::ZERO);
        let t0 = Instant::now();
        for n in ["a", "b", "c"] {
            a.add_template(n, "UTILITY", "en", components("Hi {{1}}, ok.", &["x"]), t0)
                .expect("add");
        }
        let page = a.templates_json(t0, 1, Some(1), false);
        assert_eq!(page["total"], 3);
        assert_eq!(page["templates"][0]["name"], "b");
        assert_eq!(page["templates"][0]["status"], "approved");
        assert_eq!(page["templates"][0]["rejected_reason"], "NONE");
        assert!(response_json("ft", &Map::new()).contains("\"flow_token\":\"ft\""));
    }
}
