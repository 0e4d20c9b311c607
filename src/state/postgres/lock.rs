//! One apply per PostgreSQL state: a session-level advisory lock.
//!
//! `pg_try_advisory_lock` on a key derived from the state's identity (the
//! database and schema), held by a connection of its own for the whole
//! apply. The server drops it when that session ends, so a runner killed
//! in CI never blocks the next one, on any host. A row in
//! `apply_lock_holder` names the holder (host, pid, since, command) for the
//! message a waiting apply prints.
//!
//! If the lock's session dies while apply runs, another apply may take the
//! lock: [`HeldLock::is_lost`] turns true and apply stops before its next
//! request.
//!
//! Transaction-pooling proxies (PgBouncer `pool_mode = transaction`) hand
//! each statement to any server session, which breaks session locks; the
//! acquisition checks that the lock is held by the session it talks to and
//! refuses otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, SimpleQueryMessage};

use super::super::lock::hostname;
use super::super::{HeldLock, LockGuard, LockHolder, StateError};
use super::conn::{wait, Io};
use super::pg_err;

const HINT: &str = "The lock belongs to that apply's database session and is released when it ends (a cancelled CI job's session ends within a minute); retry then, or raise --lock-timeout.";

/// The advisory lock key for a state: the first 8 bytes of a hash of its
/// identity, so two states sharing a database (different schemas) never
/// share a lock.
pub(crate) fn key(database: &str, schema: &str) -> i64 {
    let digest = Sha256::digest(format!("waform-apply-lock\n{database}\n{schema}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The held lock: its session, and the flag set when that session ends.
#[derive(Debug)]
struct PgLock {
    client: Option<Client>,
    closed: Arc<AtomicBool>,
    key: i64,
    _io: Arc<Io>,
}

impl HeldLock for PgLock {
    fn release(&mut self) -> Result<(), StateError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        if self.closed.load(Ordering::SeqCst) {
            // The session is gone, and the server released the lock with it.
            return Ok(());
        }
        let key = self.key;
        wait(async {
            client
                .execute(
                    "DELETE FROM apply_lock_holder WHERE backend_pid = pg_backend_pid()",
                    &[],
                )
                .await?;
            client
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .await?;
            Ok::<(), tokio_postgres::Error>(())
        })
        .map_err(pg_err)
        // Dropping the client ends the session either way.
    }

    fn is_lost(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Polls for the lock with backoff until `timeout`.
pub(crate) fn acquire(
    io: &Arc<Io>,
    config: &Config,
    location: &str,
    key: i64,
    timeout: Duration,
) -> Result<LockGuard, StateError> {
    let (client, closed) = io.connect(config, location)?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let got: bool = wait(client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]))
            .map_err(lock_err)?
            .get(0);
        if got {
            check_session_lock(&client, key)?;
            check_probe_session(io, config, location, key)?;
            record_holder(&client)?;
            tracing::debug!(
                lock = location,
                waited_ms = started.elapsed().as_millis(),
                "state lock acquired"
            );
            let held = PgLock {
                client: Some(client),
                closed,
                key,
                _io: io.clone(),
            };
            return Ok(LockGuard::new(Box::new(held)));
        }
        let waited = started.elapsed();
        if pause == Duration::from_millis(50) {
            tracing::debug!(lock = location, "state lock held by another apply; waiting");
        }
        if waited >= timeout {
            let holder = holder(&client)?.unwrap_or_else(|| LockHolder {
                host: "unknown".to_string(),
                pid: 0,
                since: Utc::now(),
                command: None,
            });
            return Err(StateError::Locked {
                holder,
                waited,
                hint: HINT.to_string(),
            });
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Refuses a lock that did not stay with this session (a transaction
/// pooler ran the statements on different server sessions).
fn check_session_lock(client: &Client, key: i64) -> Result<(), StateError> {
    let (classid, objid) = split_key(key);
    let mine: i64 = wait(client.query_one(
        "SELECT count(*) FROM pg_locks
         WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
           AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1",
        &[&classid, &objid],
    ))
    .map_err(lock_err)?
    .get(0);
    if mine == 0 {
        return Err(pooler_error());
    }
    Ok(())
}

/// A second check, for the pooler that happens to hand the lock's client
/// the same server session every time (PgBouncer reuses the most recently
/// freed one, so `check_session_lock` alone passes through it): a fresh
/// connection must never find itself holding the lock. Through a
/// transaction pooler it gets the session that just ran the lock's
/// statements and does; it then releases the lock there in the same
/// statement (so the pooled session does not keep it) and apply refuses.
fn check_probe_session(
    io: &Arc<Io>,
    config: &Config,
    location: &str,
    key: i64,
) -> Result<(), StateError> {
    let (classid, objid) = split_key(key);
    let (probe, _closed) = io.connect(config, location)?;
    // One simple-protocol statement is one transaction, so a pooler runs it
    // on one session (an extended-protocol query's Parse and Bind may land
    // on two). The values are integers of ours, not input.
    let sql = format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks
             WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
               AND classid = {classid}::bigint::oid AND objid = {objid}::bigint::oid AND objsubid = 1)
         THEN pg_advisory_unlock({key}) ELSE false END"
    );
    let pooled = wait(probe.simple_query(&sql))
        .map_err(lock_err)?
        .iter()
        .any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("t")));
    if pooled {
        return Err(pooler_error());
    }
    Ok(())
}

/// A statement prepared on one server session and run on another is the
/// other sign of a transaction pooler (PgBouncer before 1.21 does not
/// carry prepared statements across); it gets the pooler's explanation.
fn lock_err(e: tokio_postgres::Error) -> StateError {
    if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) {
        return pooler_error();
    }
    pg_err(e)
}

fn pooler_error() -> StateError {
    StateError::Backend {
        backend: "PostgreSQL",
        source: "the apply lock did not stay with the database session: a transaction-pooling proxy (PgBouncer pool_mode=transaction) is in between. Point waform's state URL at the server or at a session-mode pool".into(),
    }
}

/// pg_locks shows a bigint key as two 32-bit halves.
fn split_key(key: i64) -> (i64, i64) {
    let k = key as u64;
    ((k >> 32) as i64, (k & 0xffff_ffff) as i64)
}

fn record_holder(client: &Client) -> Result<(), StateError> {
    // A state URL on the command line may carry a password.
    let command = std::env::args()
        .skip(1)
        .map(|a| {
            if a.contains("://") {
                super::redact(&a)
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let host = hostname();
    let pid = i64::from(std::process::id());
    wait(client.execute(
        "INSERT INTO apply_lock_holder (id, host, pid, since, command, backend_pid)
         VALUES (1, $1, $2, now(), $3, pg_backend_pid())
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
             since = excluded.since, command = excluded.command,
             backend_pid = excluded.backend_pid",
        &[&host, &pid, &command],
    ))
    .map_err(pg_err)?;
    Ok(())
}

/// The holder row, if its session still holds an advisory lock (a row
/// left by a session that died is stale and not reported).
pub(crate) fn holder(client: &Client) -> Result<Option<LockHolder>, StateError> {
    let row = wait(client.query_opt(
        "SELECT host, pid, since, command FROM apply_lock_holder h
         WHERE id = 1 AND EXISTS (
             SELECT 1 FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.granted AND l.pid = h.backend_pid)",
        &[],
    ))
    .map_err(pg_err)?;
    Ok(row.map(|r| LockHolder {
        host: r.get(0),
        pid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        since: r.get::<_, DateTime<Utc>>(2),
        command: Some(r.get(3)),
    }))
}
