//! Ledger rows the state tests build: one intent, one outcome of each kind, at
//! fixed times, shared by the SQLite tests and the two-backend conformance
//! suite.

use chrono::{DateTime, Utc};
use waform::state::{Intent, Outcome, OutcomeRecord, SendKind};

pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
}

pub fn intent(send: &str, phone: &str) -> Intent {
    Intent {
        send: send.into(),
        phone: phone.into(),
        flow_token: format!("{send}-{phone}"),
        kind: SendKind::Template,
        template: Some("course_signup_1a2b3c4d".into()),
        at: t(0),
    }
}

pub fn accepted(send: &str, phone: &str, id: &str) -> OutcomeRecord {
    OutcomeRecord::new(
        send,
        phone,
        Outcome::Accepted {
            message_id: Some(id.into()),
            job_id: None,
        },
        t(1),
    )
}

pub fn rejected(send: &str, phone: &str, reason: &str) -> OutcomeRecord {
    OutcomeRecord::new(
        send,
        phone,
        Outcome::Rejected {
            reason: reason.into(),
        },
        t(1),
    )
}

pub fn unknown(send: &str, phone: &str, reason: &str) -> OutcomeRecord {
    OutcomeRecord::new(
        send,
        phone,
        Outcome::Unknown {
            reason: reason.into(),
        },
        t(1),
    )
}
