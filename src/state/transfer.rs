//! `waform state migrate --from URL --to URL`: moves every row of a state
//! to another backend (typically from the embedded SQLite file to a
//! team's PostgreSQL), refusing a target that already holds anything, and
//! verifying the copy by counts before reporting success.
//!
//! Rows are copied as stored, every column, in batches streamed from the
//! source, so a ledger of millions of rows needs no more memory than a
//! batch. Apply must not run meanwhile: the source's apply lock is held
//! for the whole copy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::postgres::PgLedger;
use super::{fmt_time, open, open_existing, parse_time, StateError, StateLocation};

/// Rows per write transaction on the target.
const BATCH: usize = 5_000;

/// One `sends` row, every column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendRecord {
    pub(crate) send: String,
    pub(crate) phone: String,
    pub(crate) flow_token: String,
    pub(crate) kind: String,
    pub(crate) template: Option<String>,
    pub(crate) intent_at: DateTime<Utc>,
    pub(crate) outcome: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) job_id: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) outcome_at: Option<DateTime<Utc>>,
    pub(crate) delivery: Option<String>,
    pub(crate) delivery_rank: i64,
    pub(crate) delivery_error: Option<String>,
    pub(crate) sent_at: Option<DateTime<Utc>>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
    pub(crate) read_at: Option<DateTime<Utc>>,
    pub(crate) failed_at: Option<DateTime<Utc>>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) response_json: Option<String>,
}

/// One `events` row, every column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRecord {
    pub(crate) id: i64,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) kind: String,
    pub(crate) dedupe_key: String,
    pub(crate) message_id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) flow_token: Option<String>,
    pub(crate) event_at: Option<DateTime<Utc>>,
    pub(crate) raw: String,
}

/// One `windows` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowRecord {
    pub(crate) phone: String,
    pub(crate) last_inbound_at: DateTime<Utc>,
}

/// Row counts of a state, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows of `sends` (one per recipient per send).
    pub sends: u64,
    /// Stored webhook events.
    pub events: u64,
    /// Open 24-hour windows (last inbound message per phone).
    pub windows: u64,
}

impl Counts {
    fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

/// What a backend offers for a whole-state copy.
pub(crate) trait Transfer {
    fn table_counts(&self) -> Result<Counts, StateError>;
    fn export_sends(
        &self,
        f: &mut dyn FnMut(SendRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError>;
    fn export_events(
        &self,
        f: &mut dyn FnMut(EventRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError>;
    fn export_windows(
        &self,
        f: &mut dyn FnMut(WindowRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError>;
    fn import_sends(&self, rows: &[SendRecord]) -> Result<(), StateError>;
    fn import_events(&self, rows: &[EventRecord]) -> Result<(), StateError>;
    fn import_windows(&self, rows: &[WindowRecord]) -> Result<(), StateError>;
    /// After importing events with their ids: new ids continue after them.
    fn finish(&self) -> Result<(), StateError>;
}

/// Errors of a migration that are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source state does not exist.
    #[error("nothing to migrate: no state at {0}")]
    NoSource(String),
    /// Source and target name the same database.
    #[error("the source and the target are the same state ({0})")]
    Same(String),
    /// The target already holds rows; migrating would mix two histories.
    #[error("the target {location} is not empty ({} send rows, {} events, {} windows); migrate only into a new, empty state", counts.sends, counts.events, counts.windows)]
    TargetNotEmpty {
        /// The target, without its password.
        location: String,
        /// What it holds.
        counts: Counts,
    },
    /// After the copy, the counts differ.
    #[error("the copy does not match: source {from:?}, target {to:?}; the target is left as it is for inspection")]
    Mismatch {
        /// Counts of the source.
        from: Counts,
        /// Counts of the target.
        to: Counts,
    },
    /// Reading or writing either state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Copies every row from `from` to `to` (see the module docs); returns the
/// verified counts.
pub fn migrate(from: &StateLocation, to: &StateLocation) -> Result<Counts, MigrateError> {
    if from == to {
        return Err(MigrateError::Same(from.to_string()));
    }
    let source = open_existing(from)?.ok_or_else(|| MigrateError::NoSource(from.to_string()))?;
    // No apply may write to the source while it is copied.
    let _lock = source.acquire_lock(Duration::from_secs(30))?;
    let target_ledger = open(to)?;
    let src = transfer_side(from)?;
    let dst = transfer_side(to)?;
    let existing = dst.table_counts()?;
    if !existing.is_empty() {
        return Err(MigrateError::TargetNotEmpty {
            location: to.to_string(),
            counts: existing,
        });
    }
    let mut batch = Vec::with_capacity(BATCH);
    src.export_sends(&mut |r| {
        batch.push(r);
        if batch.len() >= BATCH {
            dst.import_sends(&batch)?;
            batch.clear();
        }
        Ok(())
    })?;
    dst.import_sends(&batch)?;
    let mut batch = Vec::with_capacity(BATCH);
    src.export_events(&mut |r| {
        batch.push(r);
        if batch.len() >= BATCH {
            dst.import_events(&batch)?;
            batch.clear();
        }
        Ok(())
    })?;
    dst.import_events(&batch)?;
    let mut batch = Vec::with_capacity(BATCH);
    src.export_windows(&mut |r| {
        batch.push(r);
        if batch.len() >= BATCH {
            dst.import_windows(&batch)?;
            batch.clear();
        }
        Ok(())
    })?;
    dst.import_windows(&batch)?;
    dst.finish()?;
    let (a, b) = (src.table_counts()?, dst.table_counts()?);
    // The funnel must read the same on both sides too.
    if a != b || source.counts(None)? != target_ledger.counts(None)? {
        return Err(MigrateError::Mismatch { from: a, to: b });
    }
    Ok(b)
}

fn transfer_side(location: &StateLocation) -> Result<Box<dyn Transfer>, StateError> {
    Ok(match location {
        StateLocation::Sqlite(path) => {
            let conn = Connection::open(path)?;
            conn.busy_timeout(Duration::from_secs(30))?;
            Box::new(SqliteSide(conn))
        }
        StateLocation::Postgres(pg) => Box::new(PgLedger::open(pg)?),
    })
}

struct SqliteSide(Connection);

fn count(conn: &Connection, table: &str) -> Result<u64, StateError> {
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn time_opt(column: &'static str, v: Option<String>) -> Result<Option<DateTime<Utc>>, StateError> {
    v.map(|s| parse_time(column, &s)).transpose()
}

impl Transfer for SqliteSide {
    fn table_counts(&self) -> Result<Counts, StateError> {
        Ok(Counts {
            sends: count(&self.0, "sends")?,
            events: count(&self.0, "events")?,
            windows: count(&self.0, "windows")?,
        })
    }

    fn export_sends(
        &self,
        f: &mut dyn FnMut(SendRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut stmt = self.0.prepare(
            "SELECT send, phone, flow_token, kind, template, intent_at, outcome, message_id,
                    job_id, reason, outcome_at, delivery, delivery_rank, delivery_error, sent_at,
                    delivered_at, read_at, failed_at, completed_at, response_json
             FROM sends ORDER BY send, phone",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let intent_at: String = r.get(5)?;
            f(SendRecord {
                send: r.get(0)?,
                phone: r.get(1)?,
                flow_token: r.get(2)?,
                kind: r.get(3)?,
                template: r.get(4)?,
                intent_at: parse_time("sends.intent_at", &intent_at)?,
                outcome: r.get(6)?,
                message_id: r.get(7)?,
                job_id: r.get(8)?,
                reason: r.get(9)?,
                outcome_at: time_opt("sends.outcome_at", r.get(10)?)?,
                delivery: r.get(11)?,
                delivery_rank: r.get(12)?,
                delivery_error: r.get(13)?,
                sent_at: time_opt("sends.sent_at", r.get(14)?)?,
                delivered_at: time_opt("sends.delivered_at", r.get(15)?)?,
                read_at: time_opt("sends.read_at", r.get(16)?)?,
                failed_at: time_opt("sends.failed_at", r.get(17)?)?,
                completed_at: time_opt("sends.completed_at", r.get(18)?)?,
                response_json: r.get(19)?,
            })?;
        }
        Ok(())
    }

    fn export_events(
        &self,
        f: &mut dyn FnMut(EventRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut stmt = self.0.prepare(
            "SELECT id, received_at, kind, dedupe_key, message_id, status, error, phone,
                    flow_token, event_at, raw FROM events ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let received_at: String = r.get(1)?;
            f(EventRecord {
                id: r.get(0)?,
                received_at: parse_time("events.received_at", &received_at)?,
                kind: r.get(2)?,
                dedupe_key: r.get(3)?,
                message_id: r.get(4)?,
                status: r.get(5)?,
                error: r.get(6)?,
                phone: r.get(7)?,
                flow_token: r.get(8)?,
                event_at: time_opt("events.event_at", r.get(9)?)?,
                raw: r.get(10)?,
            })?;
        }
        Ok(())
    }

    fn export_windows(
        &self,
        f: &mut dyn FnMut(WindowRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut stmt = self
            .0
            .prepare("SELECT phone, last_inbound_at FROM windows ORDER BY phone")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let at: String = r.get(1)?;
            f(WindowRecord {
                phone: r.get(0)?,
                last_inbound_at: parse_time("windows.last_inbound_at", &at)?,
            })?;
        }
        Ok(())
    }

    fn import_sends(&self, rows: &[SendRecord]) -> Result<(), StateError> {
        let tx = self.0.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO sends (send, phone, flow_token, kind, template, intent_at, outcome,
                    message_id, job_id, reason, outcome_at, delivery, delivery_rank,
                    delivery_error, sent_at, delivered_at, read_at, failed_at, completed_at,
                    response_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20)",
            )?;
            let t = |v: Option<DateTime<Utc>>| v.map(fmt_time);
            for r in rows {
                stmt.execute(params![
                    r.send,
                    r.phone,
                    r.flow_token,
                    r.kind,
                    r.template,
                    fmt_time(r.intent_at),
                    r.outcome,
                    r.message_id,
                    r.job_id,
                    r.reason,
                    t(r.outcome_at),
                    r.delivery,
                    r.delivery_rank,
                    r.delivery_error,
                    t(r.sent_at),
                    t(r.delivered_at),
                    t(r.read_at),
                    t(r.failed_at),
                    t(r.completed_at),
                    r.response_json,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn import_events(&self, rows: &[EventRecord]) -> Result<(), StateError> {
        let tx = self.0.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO events (id, received_at, kind, dedupe_key, message_id, status, error,
                                     phone, flow_token, event_at, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for r in rows {
                stmt.execute(params![
                    r.id,
                    fmt_time(r.received_at),
                    r.kind,
                    r.dedupe_key,
                    r.message_id,
                    r.status,
                    r.error,
                    r.phone,
                    r.flow_token,
                    r.event_at.map(fmt_time),
                    r.raw,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn import_windows(&self, rows: &[WindowRecord]) -> Result<(), StateError> {
        let tx = self.0.unchecked_transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO windows (phone, last_inbound_at) VALUES (?1, ?2)")?;
            for r in rows {
                stmt.execute(params![r.phone, fmt_time(r.last_inbound_at)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn finish(&self) -> Result<(), StateError> {
        // INTEGER PRIMARY KEY continues after the largest id by itself.
        Ok(())
    }
}
