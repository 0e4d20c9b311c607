//! The embedded SQLite ledger (the default state backend).
//!
//! WAL with `synchronous = FULL`: a committed transaction survives a
//! SIGKILL (and a power cut) right after the call returns, which is what
//! "intent recorded before the request" needs. Writes are batched by the
//! callers (one transaction per batch of intents, outcomes or webhook
//! events), so apply stays linear in recipients.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    fmt_time, lock, migrations, parse_time, EventKind, InboundEvent, Intent, IntentStatus,
    LockGuard, Outcome, OutcomeRecord, Recorded, Response, SendCounts, StateError, StoreReport,
};

/// The ledger of one state file.
#[derive(Debug)]
pub struct Ledger {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn connect(path: &Path) -> Result<Connection, StateError> {
    let conn = Connection::open(path).map_err(|source| StateError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Ledger {
    /// Opens (creating folders and file as needed) and migrates the ledger.
    pub fn open(path: &Path) -> Result<Ledger, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut conn = connect(path)?;
        migrations::migrate(&mut conn, path)?;
        Ok(Ledger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Who holds the apply lock now, if anyone.
    pub fn lock_holder(&self) -> Result<Option<super::LockHolder>, StateError> {
        lock::holder(&self.conn())
    }

    /// Takes the one-apply-per-state lock, waiting up to `timeout`.
    pub fn acquire_lock(&self, timeout: Duration) -> Result<LockGuard, StateError> {
        lock::acquire(connect(&self.path)?, &self.path, timeout)
    }

    /// Records intents in one transaction. A (send, phone) that already has
    /// a row is left alone and reported `AlreadyRecorded`: the caller must
    /// not send it.
    pub fn record_intents(&self, intents: &[Intent]) -> Result<Vec<IntentStatus>, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(intents.len());
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO sends (send, phone, flow_token, kind, template, intent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for i in intents {
                let n = stmt.execute(params![
                    i.send,
                    i.phone,
                    i.flow_token,
                    i.kind.as_str(),
                    i.template,
                    fmt_time(i.at)
                ])?;
                out.push(if n == 1 {
                    IntentStatus::Recorded
                } else {
                    IntentStatus::AlreadyRecorded
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records outcomes in one transaction.
    pub fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Result<(), StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE sends SET outcome = ?3, message_id = ?4, job_id = ?5, reason = ?6,
                        outcome_at = ?7, kind = COALESCE(?8, kind), template = COALESCE(?9, template)
                 WHERE send = ?1 AND phone = ?2",
            )?;
            for o in outcomes {
                let (message_id, job_id, reason) = match &o.outcome {
                    Outcome::Accepted { message_id, job_id } => {
                        (message_id.clone(), job_id.clone(), None)
                    }
                    Outcome::Rejected { reason } | Outcome::Unknown { reason } => {
                        (None, None, Some(reason.clone()))
                    }
                };
                stmt.execute(params![
                    o.send,
                    o.phone,
                    o.outcome.as_str(),
                    message_id,
                    job_id,
                    reason,
                    fmt_time(o.at),
                    o.kind.map(|k| k.as_str()),
                    o.template
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every recorded recipient of a send.
    pub fn rows_for_send(&self, send: &str) -> Result<HashMap<String, Recorded>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT phone, outcome FROM sends WHERE send = ?1")?;
        let mut rows = stmt.query(params![send])?;
        let mut out = HashMap::new();
        while let Some(row) = rows.next()? {
            let phone: String = row.get(0)?;
            let outcome: Option<String> = row.get(1)?;
            let recorded = match outcome.as_deref() {
                None => Recorded::IntentOnly,
                Some("accepted") => Recorded::Accepted,
                Some("rejected") => Recorded::Rejected,
                Some("unknown") => Recorded::Unknown,
                Some(other) => {
                    return Err(StateError::Corrupt {
                        column: "outcome",
                        value: other.to_string(),
                    })
                }
            };
            out.insert(phone, recorded);
        }
        Ok(out)
    }

    /// Forgets the unknown outcomes (and dangling intents) of a send so the
    /// next apply attempts them again: `apply --resend-unknown SEND`.
    pub fn forget_unknown(&self, send: &str) -> Result<usize, StateError> {
        let conn = self.conn();
        Ok(conn.execute(
            "DELETE FROM sends WHERE send = ?1 AND (outcome IS NULL OR outcome = 'unknown')",
            params![send],
        )?)
    }

    /// Per-send funnel counts (all sends, or one).
    pub fn counts(&self, send: Option<&str>) -> Result<BTreeMap<String, SendCounts>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT send, COUNT(*),
                    SUM(outcome = 'accepted'), SUM(outcome = 'rejected'),
                    SUM(outcome IS NULL OR outcome = 'unknown'),
                    SUM(delivery_rank >= 3 OR completed_at IS NOT NULL),
                    SUM(delivery_rank >= 4 OR completed_at IS NOT NULL),
                    SUM(completed_at IS NOT NULL)
             FROM sends WHERE (?1 IS NULL OR send = ?1) GROUP BY send ORDER BY send",
        )?;
        let mut rows = stmt.query(params![send])?;
        let mut out = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let n = |i: usize| -> Result<u64, rusqlite::Error> {
                Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
            };
            out.insert(
                r.get::<_, String>(0)?,
                SendCounts {
                    recipients: n(1)?,
                    accepted: n(2)?,
                    rejected: n(3)?,
                    unknown: n(4)?,
                    delivered: n(5)?,
                    read: n(6)?,
                    completed: n(7)?,
                },
            );
        }
        Ok(out)
    }

    /// Stores webhook events in one transaction and applies them to send
    /// rows: acks by message id (never moving a row backwards), completions
    /// by flow_token, inbound messages as an open 24-hour window.
    /// Re-delivered events (same dedupe key) are counted once.
    pub fn store_events(&self, events: &[InboundEvent]) -> Result<StoreReport, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut report = StoreReport::default();
        let now = Utc::now();
        for e in events {
            let raw = e.raw.to_string();
            let (message_id, status, error, phone, token, at) = match &e.kind {
                EventKind::Ack {
                    message_id,
                    status,
                    error,
                    phone,
                    at,
                } => (
                    Some(message_id.clone()),
                    Some(status.as_str().to_string()),
                    error.clone(),
                    phone.clone(),
                    None,
                    *at,
                ),
                EventKind::Completion {
                    message_id,
                    phone,
                    flow_token,
                    at,
                    ..
                } => (
                    message_id.clone(),
                    None,
                    None,
                    phone.clone(),
                    flow_token.clone(),
                    *at,
                ),
                EventKind::Inbound {
                    message_id,
                    phone,
                    at,
                } => (message_id.clone(), None, None, phone.clone(), None, *at),
                EventKind::Echo { message_id } => {
                    (message_id.clone(), None, None, None, None, None)
                }
                EventKind::Unknown => (None, None, None, None, None, None),
            };
            let dedupe = match (&message_id, &status) {
                (Some(id), Some(st)) => format!("{}:{id}:{st}", e.kind.name()),
                (Some(id), None) => format!("{}:{id}", e.kind.name()),
                _ => format!("{}:{}", e.kind.name(), sha(&raw)),
            };
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO events (received_at, kind, dedupe_key, message_id, status, error, phone, flow_token, event_at, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![fmt_time(now), e.kind.name(), dedupe, message_id, status, error, phone, token, at.map(fmt_time), raw],
            )?;
            if inserted == 0 {
                report.duplicates += 1;
                continue;
            }
            report.stored += 1;
            let at_s = fmt_time(at.unwrap_or(now));
            match &e.kind {
                EventKind::Ack {
                    message_id,
                    status,
                    error,
                    ..
                } => {
                    let col = match status {
                        super::Delivery::Sent => "sent_at",
                        super::Delivery::Failed => "failed_at",
                        super::Delivery::Delivered => "delivered_at",
                        super::Delivery::Read => "read_at",
                    };
                    let sql = format!(
                        "UPDATE sends SET {col} = COALESCE({col}, ?2),
                            delivery = CASE WHEN delivery_rank < ?3 THEN ?4 ELSE delivery END,
                            delivery_error = CASE WHEN ?4 = 'failed' AND delivery_rank < ?3 THEN ?5 ELSE delivery_error END,
                            delivery_rank = MAX(delivery_rank, ?3)
                         WHERE message_id = ?1"
                    );
                    let n = tx.execute(
                        &sql,
                        params![message_id, at_s, status.rank(), status.as_str(), error],
                    )?;
                    if n > 0 {
                        report.acks_applied += 1;
                    } else {
                        report.unmatched += 1;
                    }
                }
                EventKind::Completion {
                    flow_token,
                    fields,
                    phone,
                    ..
                } => {
                    let n = match flow_token {
                        Some(token) => tx.execute(
                            "UPDATE sends SET completed_at = COALESCE(completed_at, ?2), response_json = COALESCE(response_json, ?3)
                             WHERE flow_token = ?1",
                            params![token, at_s, serde_json::Value::Object(fields.clone()).to_string()],
                        )?,
                        None => 0,
                    };
                    if n > 0 {
                        report.completions_matched += 1;
                    } else {
                        report.unmatched += 1;
                    }
                    if let Some(phone) = phone {
                        open_window(&tx, phone, &at_s)?;
                    }
                }
                EventKind::Inbound {
                    phone: Some(phone), ..
                } => open_window(&tx, phone, &at_s)?,
                _ => {}
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// When the customer last wrote (their 24-hour window opened then).
    pub fn window_open_since(&self, phone: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        let conn = self.conn();
        let s: Option<String> = conn
            .query_row(
                "SELECT last_inbound_at FROM windows WHERE phone = ?1",
                params![phone],
                |r| r.get(0),
            )
            .optional()?;
        s.map(|s| parse_time("last_inbound_at", &s)).transpose()
    }

    /// Submitted Flow forms of a send, in submission order.
    pub fn responses(&self, send: &str) -> Result<Vec<Response>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT phone, flow_token, completed_at, response_json FROM sends
             WHERE send = ?1 AND completed_at IS NOT NULL ORDER BY completed_at, phone",
        )?;
        let mut rows = stmt.query(params![send])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let at: String = r.get(2)?;
            let json: Option<String> = r.get(3)?;
            let mut fields = json
                .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            fields.remove("flow_token");
            out.push(Response {
                phone: r.get(0)?,
                flow_token: r.get(1)?,
                submitted_at: parse_time("completed_at", &at)?,
                fields,
            });
        }
        Ok(out)
    }

    /// Number of stored webhook events (for status and tests).
    pub fn event_count(&self) -> Result<u64, StateError> {
        let conn = self.conn();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
}

fn open_window(tx: &rusqlite::Transaction<'_>, phone: &str, at: &str) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO windows (phone, last_inbound_at) VALUES (?1, ?2)
         ON CONFLICT(phone) DO UPDATE SET last_inbound_at = MAX(last_inbound_at, excluded.last_inbound_at)",
        params![phone, at],
    )?;
    Ok(())
}

fn sha(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}
