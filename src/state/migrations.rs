//! Versioned schema of the state database.
//!
//! The state file outlives waform versions (it sits in a user's repo or CI
//! cache), so its schema only moves forward through numbered steps recorded in
//! SQLite's `user_version`. Never edit a step that has shipped: append one.
//! A database from a newer waform is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::StateError;

/// Step N brings the schema from version N-1 to N.
const STEPS: &[&str] = &[
    // 1: send rows, webhook events, windows, the apply lock.
    r#"
    CREATE TABLE sends (
        send           TEXT NOT NULL,
        phone          TEXT NOT NULL,
        flow_token     TEXT NOT NULL,
        kind           TEXT NOT NULL,
        template       TEXT,
        intent_at      TEXT NOT NULL,
        outcome        TEXT,
        message_id     TEXT,
        job_id         TEXT,
        reason         TEXT,
        outcome_at     TEXT,
        delivery       TEXT,
        delivery_rank  INTEGER NOT NULL DEFAULT 0,
        delivery_error TEXT,
        sent_at        TEXT,
        delivered_at   TEXT,
        read_at        TEXT,
        failed_at      TEXT,
        completed_at   TEXT,
        response_json  TEXT,
        PRIMARY KEY (send, phone)
    ) WITHOUT ROWID;
    CREATE INDEX sends_message_id ON sends (message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX sends_flow_token ON sends (flow_token);

    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        kind        TEXT NOT NULL,
        dedupe_key  TEXT NOT NULL UNIQUE,
        message_id  TEXT,
        status      TEXT,
        error       TEXT,
        phone       TEXT,
        flow_token  TEXT,
        event_at    TEXT,
        raw         TEXT NOT NULL
    );
    CREATE INDEX events_message_id ON events (message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX events_flow_token ON events (flow_token) WHERE flow_token IS NOT NULL;

    CREATE TABLE windows (
        phone           TEXT PRIMARY KEY,
        last_inbound_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE apply_lock (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        host  TEXT NOT NULL,
        pid   INTEGER NOT NULL,
        since TEXT NOT NULL,
        token TEXT NOT NULL
    );
    "#,
    // 2: the apply lock is an OS file lock beside the database
    // (state/lock.rs). The row it replaces goes, and an older waform, which
    // would still trust that row, refuses this file as newer.
    "DROP TABLE IF EXISTS apply_lock;",
    // 3: every apply starts by reconciling the `unknown` rows
    // (apply/reconcile.rs): found through this small partial index instead
    // of a scan of every row ever sent.
    "CREATE INDEX sends_unknown ON sends (intent_at) WHERE outcome = 'unknown';",
];

/// The schema version this waform writes.
pub const LATEST: i64 = STEPS.len() as i64;

/// Brings the database to [`LATEST`]; a no-op when it is already there.
///
/// # Errors
/// [`StateError::FutureSchema`] when the file was written by a newer waform.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, StateError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > LATEST {
        return Err(StateError::FutureSchema {
            location: path.display().to_string(),
            found,
            supported: LATEST,
        });
    }
    if found == LATEST {
        return Ok(found);
    }
    // IMMEDIATE so two processes opening a fresh file do not both migrate.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, step) in STEPS.iter().enumerate().skip(now.max(0) as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(LATEST)
}
