//! The PostgreSQL state backend, for teams whose plan runner, apply runner
//! and webhook hosts share one database.
//!
//! Same contract as the embedded SQLite ledger ([`super::SendLedger`]):
//! intents are durable when `record_intents` returns (a committed
//! transaction; keep `synchronous_commit` on), the unique (send, phone) key
//! refuses a second intent from any runner, webhook events are
//! deduplicated across receivers by the unique `dedupe_key`, and the apply
//! lock is a session advisory lock ([`lock`]).
//!
//! Each process talks through one session (plus one for the lock while
//! apply holds it): every caller of this API is a single writer (apply's
//! batches, a receiver's group commit), so a pool would add nothing. A
//! session that died is replaced on the next call.

mod acks;
mod audience;
mod config;
mod conn;
mod events;
mod lock;
mod schema;
mod sends;
mod transfer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::Client;

pub(crate) use config::redact;
pub(crate) use schema::LATEST;

use super::{
    Delivery, Group, InboundEvent, Intent, IntentStatus, LedgerCounts, LockGuard, LockHolder,
    OutcomeRecord, PgLocation, ReasonCount, Recorded, Response, SendKind, SendLedger, SendRow,
    StateError, StateLocation, StoreReport, StoredEvent,
};
use conn::{wait, Io};

/// Group commits that may run at once, each on a session of its own. The
/// server flushes commits that wait at the same moment together, so with
/// several lanes a request waits for its own commit rather than also for
/// the one before it.
const COMMIT_LANES: usize = 4;

const DANGLING_REASON: &str = "no outcome recorded: the process stopped during the request";

/// Runs the body in one transaction on the ledger's session, committed
/// (durable, with `synchronous_commit` on) before it returns; rolled back
/// when the body fails.
macro_rules! in_transaction {
    ($ledger:expr, $tx:ident => $body:expr) => {{
        let mut session = $ledger.session()?;
        wait(async {
            let $tx = session.client.transaction().await?;
            let out = $body;
            $tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(out)
        })
        .map_err(pg_err)
    }};
}

pub(crate) fn pg_err(source: tokio_postgres::Error) -> StateError {
    StateError::Backend {
        backend: "PostgreSQL",
        source: Box::new(source),
    }
}

/// A live session and the flag its I/O task sets when it ends.
struct Session {
    client: Client,
    closed: Arc<AtomicBool>,
    /// Counts reconnections: what a session created (temporary tables) is
    /// gone in the next generation.
    generation: u64,
    /// The group commit's statements, once prepared on this session.
    statements: Option<sends::Statements>,
    /// A receiver's batch statement, once prepared on this session.
    events_batch: Option<tokio_postgres::Statement>,
}

/// The PostgreSQL state. See the module docs.
pub(crate) struct PgLedger {
    io: Arc<Io>,
    config: tokio_postgres::Config,
    /// The URL without its password.
    location: String,
    session: Mutex<Session>,
    /// Sessions of apply's group commits, opened on first use.
    lanes: Vec<Mutex<Option<Session>>>,
    lock_key: i64,
}

impl std::fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLedger")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PgLedger {
    /// Connects and migrates (creating the tables on first use).
    ///
    /// # Errors
    /// The server cannot be reached or refuses the login;
    /// [`StateError::FutureSchema`] when a newer waform migrated it.
    pub(crate) fn open(location: &PgLocation) -> Result<PgLedger, StateError> {
        let ledger = PgLedger::connect(location)?;
        {
            let mut s = ledger.session()?;
            if let Some(schema) = &location.schema {
                let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
                wait(s.client.batch_execute(&sql)).map_err(pg_err)?;
            }
            schema::migrate(&mut s.client, &ledger.location)?;
        }
        Ok(ledger)
    }

    /// Connects; `None` when waform never wrote to this database, so
    /// read-only commands create nothing.
    pub(crate) fn open_existing(location: &PgLocation) -> Result<Option<PgLedger>, StateError> {
        let ledger = PgLedger::connect(location)?;
        let version = {
            let s = ledger.session()?;
            schema::version(&s.client)?
        };
        match version {
            None => Ok(None),
            Some(found) if found > LATEST => Err(StateError::FutureSchema {
                location: ledger.location.clone(),
                found,
                supported: LATEST,
            }),
            Some(_) => {
                {
                    let mut s = ledger.session()?;
                    schema::migrate(&mut s.client, &ledger.location)?;
                }
                Ok(Some(ledger))
            }
        }
    }

    fn connect(at: &PgLocation) -> Result<PgLedger, StateError> {
        let location = StateLocation::Postgres(at.clone()).to_string();
        let mut config = config::parse(&at.url)?;
        if let Some(schema) = &at.schema {
            // Every session of this state (data and lock) uses the schema.
            config.options(format!("-c search_path={schema}"));
        }
        let io = Io::new()?;
        let (client, closed) = io.connect(&config, &location)?;
        let row = wait(client.query_one(
            "SELECT current_database(), current_setting('search_path')",
            &[],
        ))
        .map_err(pg_err)?;
        let database: String = row.get(0);
        let search_path: String = row.get(1);
        let lock_key = lock::key(&database, &search_path);
        Ok(PgLedger {
            io,
            config,
            location,
            session: Mutex::new(Session {
                client,
                closed,
                generation: 0,
                statements: None,
                events_batch: None,
            }),
            lanes: (0..COMMIT_LANES).map(|_| Mutex::new(None)).collect(),
            lock_key,
        })
    }

    /// The session, reconnected first if the previous one died (a webhook
    /// receiver outlives a database restart).
    fn session(&self) -> Result<MutexGuard<'_, Session>, StateError> {
        let mut s = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if s.closed.load(Ordering::SeqCst) || s.client.is_closed() {
            let (client, closed) = self.io.connect(&self.config, &self.location)?;
            let generation = s.generation + 1;
            *s = Session {
                client,
                closed,
                generation,
                statements: None,
                events_batch: None,
            };
        }
        Ok(s)
    }

    /// A free group-commit session (else the first, once it is free),
    /// connected first if it never was or died.
    fn lane(&self) -> Result<MutexGuard<'_, Option<Session>>, StateError> {
        let free = self.lanes.iter().find_map(|l| match l.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        });
        let mut guard = match free {
            Some(g) => g,
            None => self.lanes[0]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        let dead = guard
            .as_ref()
            .is_none_or(|s| s.closed.load(Ordering::SeqCst) || s.client.is_closed());
        if dead {
            let (client, closed) = self.io.connect(&self.config, &self.location)?;
            *guard = Some(Session {
                client,
                closed,
                generation: 0,
                statements: None,
                events_batch: None,
            });
        }
        Ok(guard)
    }

    /// `waform unlock`: the advisory lock ends with its session, so there
    /// is never a lock to break; a holder row its dead session left is
    /// cleared. A live holder is reported and left alone.
    pub(crate) fn clear_stale_lock(&self) -> Result<super::Unlock, StateError> {
        let s = self.session()?;
        if let Some(holder) = lock::holder(&s.client)? {
            return Ok(super::Unlock::Held(holder));
        }
        let row = wait(s.client.query_opt(
            "DELETE FROM apply_lock_holder RETURNING host, pid, since, command",
            &[],
        ))
        .map_err(pg_err)?;
        Ok(super::Unlock::Cleared(row.map(|r| LockHolder {
            host: r.get(0),
            pid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            since: r.get(2),
            command: Some(r.get(3)),
        })))
    }
}

/// A schema name as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn no_params() -> Vec<&'static (dyn tokio_postgres::types::ToSql + Sync)> {
    Vec::new()
}

const ROW_COLUMNS: &str = "send, phone, flow_token, kind, template, intent_at, outcome, message_id,
    job_id, reason, outcome_at, delivery, delivery_error, delivered_at, read_at, completed_at,
    response_json";

fn row_from(r: &tokio_postgres::Row) -> SendRow {
    let kind: String = r.get(3);
    let outcome: Option<String> = r.get(6);
    let delivery: Option<String> = r.get(11);
    SendRow {
        send: r.get(0),
        phone: r.get(1),
        flow_token: r.get(2),
        kind: SendKind::parse(&kind).unwrap_or(SendKind::Template),
        template: r.get(4),
        intent_at: r.get(5),
        recorded: recorded_from(outcome.as_deref()),
        message_id: r.get(7),
        job_id: r.get(8),
        reason: r.get(9),
        outcome_at: r.get(10),
        delivery: delivery.as_deref().and_then(Delivery::parse),
        delivery_error: r.get(12),
        delivered_at: r.get(13),
        read_at: r.get(14),
        completed_at: r.get(15),
        response_json: r.get(16),
    }
}

/// A value outside the four outcomes reads as unknown: never resent.
fn recorded_from(outcome: Option<&str>) -> Recorded {
    match outcome {
        None => Recorded::IntentOnly,
        Some("accepted") => Recorded::Accepted,
        Some("rejected") => Recorded::Rejected,
        Some(_) => Recorded::Unknown,
    }
}

impl SendLedger for PgLedger {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn acquire_lock(&self, timeout: Duration) -> Result<LockGuard, StateError> {
        lock::acquire(
            &self.io,
            &self.config,
            &self.location,
            self.lock_key,
            timeout,
        )
    }

    fn lock_holder(&self) -> Result<Option<LockHolder>, StateError> {
        lock::holder(&self.session()?.client)
    }

    fn record_intents(&self, intents: &[Intent]) -> Result<Vec<IntentStatus>, StateError> {
        in_transaction!(self, tx => sends::insert_intents(&tx, intents, false).await?)
    }

    fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Result<usize, StateError> {
        in_transaction!(self, tx => sends::update_outcomes(&tx, outcomes).await?)
    }

    fn withdraw_intents(&self, send: &str, phones: &[String]) -> Result<usize, StateError> {
        in_transaction!(self, tx => sends::delete_intents(&tx, send, phones).await?)
    }

    fn commit_lanes(&self) -> usize {
        COMMIT_LANES
    }

    fn commit_group(&self, group: &Group<'_>) -> Result<Vec<IntentStatus>, StateError> {
        let mut guard = self.lane()?;
        let Some(s) = guard.as_mut() else {
            return Err(StateError::Backend {
                backend: "PostgreSQL",
                source: "no commit session".into(),
            });
        };
        wait(async {
            let st = match &mut s.statements {
                Some(st) => st,
                none => none.insert(sends::Statements::prepare(&s.client).await?),
            };
            sends::commit_group(&s.client, st, group).await
        })
        .map_err(pg_err)
    }

    fn visit_rows(&self, send: &str, f: &mut dyn FnMut(&str, Recorded)) -> Result<(), StateError> {
        let s = self.session()?;
        wait(async {
            let rows = s
                .client
                .query_raw("SELECT phone, outcome FROM sends WHERE send = $1", [send])
                .await?;
            pin_mut!(rows);
            while let Some(r) = rows.try_next().await? {
                let phone: &str = r.get(0);
                let outcome: Option<&str> = r.get(1);
                f(phone, recorded_from(outcome));
            }
            Ok::<(), tokio_postgres::Error>(())
        })
        .map_err(pg_err)
    }

    fn lookup(&self, send: &str, phones: &[&str]) -> Result<Vec<Option<Recorded>>, StateError> {
        let s = self.session()?;
        let rows = wait(s.client.query(
            "SELECT phone, outcome FROM sends WHERE send = $1 AND phone = ANY($2)",
            &[&send, &phones],
        ))
        .map_err(pg_err)?;
        let found: std::collections::HashMap<String, Recorded> = rows
            .iter()
            .map(|r| {
                let outcome: Option<&str> = r.get(1);
                (r.get::<_, String>(0), recorded_from(outcome))
            })
            .collect();
        Ok(phones.iter().map(|p| found.get(*p).copied()).collect())
    }

    fn audience(&self, send: &str) -> Result<Box<dyn super::AudienceScan + '_>, StateError> {
        Ok(Box::new(audience::PgScan::new(self, send)?))
    }

    fn row(&self, send: &str, phone: &str) -> Result<Option<SendRow>, StateError> {
        let s = self.session()?;
        let sql = format!("SELECT {ROW_COLUMNS} FROM sends WHERE send = $1 AND phone = $2");
        let row = wait(s.client.query_opt(sql.as_str(), &[&send, &phone])).map_err(pg_err)?;
        Ok(row.as_ref().map(row_from))
    }

    fn mark_dangling_intents_unknown(&self) -> Result<usize, StateError> {
        let s = self.session()?;
        let n = wait(s.client.execute(
            "UPDATE sends SET outcome = 'unknown', reason = $1, outcome_at = now()
             WHERE outcome IS NULL",
            &[&DANGLING_REASON],
        ))
        .map_err(pg_err)?;
        Ok(n as usize)
    }

    fn unknown_rows(&self) -> Result<Vec<SendRow>, StateError> {
        let s = self.session()?;
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM sends WHERE outcome = 'unknown'
             ORDER BY intent_at, send, phone"
        );
        let rows = wait(s.client.query(sql.as_str(), &[])).map_err(pg_err)?;
        Ok(rows.iter().map(row_from).collect())
    }

    fn forget_unknown(&self, send: &str) -> Result<usize, StateError> {
        let s = self.session()?;
        let n = wait(s.client.execute(
            "DELETE FROM sends
             WHERE send = $1 AND (outcome IS NULL OR outcome = 'unknown') AND completed_at IS NULL",
            &[&send],
        ))
        .map_err(pg_err)?;
        Ok(n as usize)
    }

    fn counts(&self, send: Option<&str>) -> Result<BTreeMap<String, LedgerCounts>, StateError> {
        let s = self.session()?;
        let rows = wait(s.client.query(
            "SELECT send, count(*),
                    count(*) FILTER (WHERE outcome = 'accepted'),
                    count(*) FILTER (WHERE outcome = 'rejected'),
                    count(*) FILTER (WHERE outcome IS NULL OR outcome = 'unknown'),
                    count(*) FILTER (WHERE delivery_rank >= 3 OR completed_at IS NOT NULL),
                    count(*) FILTER (WHERE delivery_rank >= 4 OR completed_at IS NOT NULL),
                    count(*) FILTER (WHERE completed_at IS NOT NULL)
             FROM sends WHERE $1::text IS NULL OR send = $1 GROUP BY send",
            &[&send],
        ))
        .map_err(pg_err)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    LedgerCounts {
                        recipients: n(r.get(1)),
                        accepted: n(r.get(2)),
                        rejected: n(r.get(3)),
                        unknown: n(r.get(4)),
                        delivered: n(r.get(5)),
                        read: n(r.get(6)),
                        completed: n(r.get(7)),
                    },
                )
            })
            .collect())
    }

    fn reason_counts(&self, send: &str) -> Result<Vec<ReasonCount>, StateError> {
        let s = self.session()?;
        let rows = wait(s.client.query(
            "SELECT outcome, reason, count(*) FROM sends
             WHERE send = $1 AND outcome IS DISTINCT FROM 'accepted' GROUP BY outcome, reason",
            &[&send],
        ))
        .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| ReasonCount {
                recorded: recorded_from(r.get(0)),
                reason: r.get(1),
                count: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
            })
            .collect())
    }

    fn responses(&self, send: &str) -> Result<Vec<Response>, StateError> {
        let s = self.session()?;
        let rows = wait(s.client.query(
            "SELECT phone, flow_token, completed_at, response_json FROM sends
             WHERE send = $1 AND completed_at IS NOT NULL ORDER BY completed_at, phone",
            &[&send],
        ))
        .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let json: Option<String> = r.get(3);
                let fields = match json.as_deref() {
                    None => serde_json::Map::new(),
                    Some(s) => serde_json::from_str(s).map_err(|_| StateError::Corrupt {
                        column: "sends.response_json",
                        value: s.chars().take(80).collect(),
                    })?,
                };
                Ok(Response {
                    phone: r.get(0),
                    flow_token: r.get(1),
                    submitted_at: r.get(2),
                    fields,
                })
            })
            .collect()
    }

    fn store_event_groups(
        &self,
        groups: &[&[InboundEvent]],
    ) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
        let mut guard = self.session()?;
        let s = &mut *guard;
        events::store_groups(&mut s.client, &mut s.events_batch, groups)
    }

    fn event_count(&self) -> Result<u64, StateError> {
        let s = self.session()?;
        let n: i64 = wait(s.client.query_one("SELECT count(*) FROM events", &[]))
            .map_err(pg_err)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn events(&self, kind: Option<&str>) -> Result<Vec<StoredEvent>, StateError> {
        let s = self.session()?;
        let rows = wait(s.client.query(
            "SELECT id, received_at, kind, dedupe_key, message_id, status, phone, flow_token, raw
             FROM events WHERE $1::text IS NULL OR kind = $1 ORDER BY id",
            &[&kind],
        ))
        .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                id: r.get(0),
                received_at: r.get(1),
                kind: r.get(2),
                dedupe_key: r.get(3),
                message_id: r.get(4),
                status: r.get(5),
                phone: r.get(6),
                flow_token: r.get(7),
                raw: r.get(8),
            })
            .collect())
    }

    fn last_inbound(&self, phone: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        let s = self.session()?;
        let row = wait(s.client.query_opt(
            "SELECT last_inbound_at FROM windows WHERE phone = $1",
            &[&phone],
        ))
        .map_err(pg_err)?;
        Ok(row.map(|r| r.get(0)))
    }
}
