//! One apply per state file (docs/design.md §5 rule 5), for the SQLite backend.
//!
//! Two applies over the same ledger could both see a recipient as "not yet
//! sent" and both message them. The lock is a single row in the state
//! database itself, so it travels with the file and needs no lock-file
//! cleanup: it names its holder (host, pid, since) for the error a waiting
//! apply prints, and a row left by a process that died on this host is taken
//! over instead of blocking every later run.
//!
//! # Caveats
//! Liveness can only be checked on the holder's own host; a lock held from
//! another host is waited on until the timeout. A dead holder's pid reused by
//! an unrelated process looks alive (the lock is then waited on, never stolen).

use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{fmt_time, parse_time, HeldLock, LockGuard, LockHolder, StateError};

/// What a waiting apply is told to do when the holder is gone.
const HINT: &str = "If that apply is no longer running (a cancelled CI job on another host), remove the lock with: sqlite3 STATE_FILE 'DELETE FROM apply_lock'";

/// The SQLite hold on the lock: its own connection, so the
/// [`super::Ledger`] it came from stays free to be moved to a writer thread
/// while the lock is held.
#[derive(Debug)]
struct SqliteLock {
    conn: Option<Connection>,
    token: String,
}

impl HeldLock for SqliteLock {
    fn release(&mut self) -> Result<(), StateError> {
        match self.conn.take() {
            // If this fails the row names a pid that is about to die, and
            // the next apply on this host takes it over.
            Some(conn) => release(&conn, &self.token),
            None => Ok(()),
        }
    }
}

fn release(conn: &Connection, token: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM apply_lock WHERE token = ?1", params![token])?;
    Ok(())
}

/// Polls for the lock until `timeout`; see the module docs.
pub(crate) fn acquire(conn: Connection, timeout: Duration) -> Result<LockGuard, StateError> {
    let started = Instant::now();
    let host = hostname();
    let pid = std::process::id();
    let token = format!("{pid}-{:016x}", fastrand::u64(..));
    let mut conn = conn;
    loop {
        match try_acquire(&mut conn, &host, pid, &token)? {
            Attempt::Acquired { took_over } => {
                let held = SqliteLock {
                    conn: Some(conn),
                    token,
                };
                return Ok(LockGuard::new(Box::new(held), took_over));
            }
            Attempt::Held(holder) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(StateError::Locked {
                        holder,
                        waited,
                        hint: HINT.to_string(),
                    });
                }
                thread::sleep((timeout - waited).min(Duration::from_millis(100)));
            }
        }
    }
}

enum Attempt {
    Acquired { took_over: Option<LockHolder> },
    Held(LockHolder),
}

fn try_acquire(
    conn: &mut Connection,
    host: &str,
    pid: u32,
    token: &str,
) -> Result<Attempt, StateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let took_over = match holder(&tx)? {
        None => None,
        Some(holder) if holder.host == host && !pid_alive(holder.pid) => Some(holder),
        Some(holder) => return Ok(Attempt::Held(holder)),
    };
    tx.execute(
        "INSERT OR REPLACE INTO apply_lock (id, host, pid, since, token) VALUES (1, ?1, ?2, ?3, ?4)",
        params![host, pid, fmt_time(Utc::now()), token],
    )?;
    tx.commit()?;
    Ok(Attempt::Acquired { took_over })
}

/// Reads the current holder, if any (for `status` and error messages).
pub(crate) fn holder(conn: &Connection) -> Result<Option<LockHolder>, StateError> {
    let row = conn
        .query_row(
            "SELECT host, pid, since FROM apply_lock WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    row.map(|(host, pid, since)| {
        Ok(LockHolder {
            host,
            pid: u32::try_from(pid).unwrap_or(0),
            since: parse_time("apply_lock.since", &since)?,
            command: None,
        })
    })
    .transpose()
}

/// `kill(pid, 0)`: ESRCH means no such process; EPERM means it exists but
/// belongs to someone else (alive).
#[allow(unsafe_code)]
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negatives address process groups, not a holder.
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[allow(unsafe_code)]
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // when the name fits, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
