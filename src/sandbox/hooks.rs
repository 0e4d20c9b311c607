//! Webhook delivery from the sandbox to `--webhook URL`, in 1msg's normalized
//! format (docs/provider-1msg.md §3.1 messages, §3.2 acks; §3.4 for the Flow reply,
//! whose normalized shape is undocumented, so it carries Meta's
//! `interactive.nfm_reply` object inside a normalized message).
//!
//! Delivery runs on a background task behind a bounded queue so a slow or
//! dead receiver never slows sends; a full queue drops events and counts
//! them, like a real provider that gives up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

const QUEUE: usize = 8192;
const ATTEMPTS: u32 = 4;

/// Producer side; cheap to clone.
#[derive(Clone)]
pub(super) struct Hooks {
    instance: String,
    tx: Option<mpsc::Sender<Value>>,
    pub(crate) stats: Arc<HookStats>,
}

#[derive(Debug, Default)]
pub(super) struct HookStats {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Hooks {
    /// Starts the delivery task when a URL is given; without one, events are
    /// discarded at no cost.
    pub(super) fn start(instance: &str, url: Option<String>) -> Self {
        let stats = Arc::new(HookStats::default());
        let tx = url.map(|url| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(deliver(url, rx, stats.clone()));
            tx
        });
        Hooks {
            instance: instance.to_string(),
            tx,
            stats,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    fn push(&self, payload: Value) {
        if let Some(tx) = &self.tx {
            if tx.try_send(payload).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Delivery acks for an accepted send: `sent`, then `delivered`
    /// (§3.2 production statuses).
    pub(super) fn acks(&self, message_id: &str, phone: &str) {
        if !self.enabled() {
            return;
        }
        for status in ["sent", "delivered"] {
            self.push(json!({
                "instanceId": self.instance,
                "ack": [{"id": message_id, "status": status,
                         "chatId": format!("{phone}@c.us"), "phone": phone}],
            }));
        }
    }

    /// A `read` ack (the customer opened the message).
    pub(super) fn read(&self, message_id: &str, phone: &str) {
        self.push(json!({
            "instanceId": self.instance,
            "ack": [{"id": message_id, "status": "read",
                     "chatId": format!("{phone}@c.us"), "phone": phone}],
        }));
    }

    /// A customer's text message (§3.1).
    pub(super) fn inbound(&self, id: &str, phone: &str, time: i64, body: &str) {
        self.push(json!({
            "instanceId": self.instance,
            "messages": [{"id": id, "type": "chat", "fromMe": false,
                          "chatId": format!("{phone}@c.us"), "author": format!("{phone}@c.us"),
                          "senderName": "Sandbox customer", "time": time, "body": body}],
        }));
    }

    /// A submitted Flow: Meta's `nfm_reply` inside a normalized message,
    /// `quotedMsgId` pointing at the message that carried the Flow (Meta's
    /// `context.id`).
    pub(super) fn completion(
        &self,
        id: &str,
        phone: &str,
        time: i64,
        quoted: &str,
        response_json: String,
    ) {
        self.push(json!({
            "instanceId": self.instance,
            "messages": [{"id": id, "type": "interactive", "fromMe": false,
                          "chatId": format!("{phone}@c.us"), "author": format!("{phone}@c.us"),
                          "time": time, "body": "Sent", "quotedMsgId": quoted,
                          "interactive": {"type": "nfm_reply", "nfm_reply": {
                              "name": "flow", "body": "Sent", "response_json": response_json}}}],
        }));
    }
}

/// In order, one at a time (acks of one message must not overtake each
/// other), each payload retried a few times with a short backoff.
async fn deliver(url: String, mut rx: mpsc::Receiver<Value>, stats: Arc<HookStats>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent("waform-sandbox")
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    while let Some(payload) = rx.recv().await {
        let mut ok = false;
        for attempt in 0..ATTEMPTS {
            match client.post(&url).json(&payload).send().await {
                Ok(r) if r.status().is_success() => {
                    ok = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
        let counter = if ok { &stats.delivered } else { &stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
