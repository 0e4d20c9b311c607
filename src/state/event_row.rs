//! How a webhook event is keyed and laid out in the `events` table, shared
//! by every backend so a migrated ledger deduplicates the same way.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Delivery, EventKind};

/// The columns of one `events` row besides the times and the raw body.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EventColumns<'a> {
    pub(crate) message_id: Option<&'a str>,
    pub(crate) status: Option<Delivery>,
    pub(crate) error: Option<&'a str>,
    pub(crate) phone: Option<&'a str>,
    pub(crate) flow_token: Option<&'a str>,
    pub(crate) at: Option<DateTime<Utc>>,
}

pub(crate) fn columns(kind: &EventKind) -> EventColumns<'_> {
    match kind {
        EventKind::Ack {
            message_id,
            status,
            error,
            phone,
            at,
        } => EventColumns {
            message_id: Some(message_id),
            status: Some(*status),
            error: error.as_deref(),
            phone: phone.as_deref(),
            flow_token: None,
            at: *at,
        },
        EventKind::Completion {
            message_id,
            phone,
            flow_token,
            at,
            ..
        } => EventColumns {
            message_id: message_id.as_deref(),
            phone: phone.as_deref(),
            flow_token: flow_token.as_deref(),
            at: *at,
            ..EventColumns::default()
        },
        EventKind::Inbound {
            message_id,
            phone,
            at,
        } => EventColumns {
            message_id: message_id.as_deref(),
            phone: phone.as_deref(),
            at: *at,
            ..EventColumns::default()
        },
        EventKind::Echo { message_id } => EventColumns {
            message_id: message_id.as_deref(),
            ..EventColumns::default()
        },
        EventKind::Unknown => EventColumns::default(),
    }
}

/// Same message id and status is the same ack, in either format; a message
/// is identified by its id; anything else by its content.
pub(crate) fn dedupe_key(kind: &EventKind, raw: &str) -> String {
    let hash = || hex::encode(&Sha256::digest(raw.as_bytes())[..16]);
    match kind {
        EventKind::Ack {
            message_id, status, ..
        } => format!("ack:{message_id}:{}", status.as_str()),
        EventKind::Completion {
            message_id: Some(id),
            ..
        }
        | EventKind::Inbound {
            message_id: Some(id),
            ..
        } => format!("msg:{id}"),
        EventKind::Echo {
            message_id: Some(id),
        } => format!("echo:{id}"),
        _ => format!("raw:{}", hash()),
    }
}
