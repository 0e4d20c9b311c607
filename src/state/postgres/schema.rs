//! Versioned schema of the PostgreSQL state, hand-written SQL reviewed
//! like code.
//!
//! The same tables as the SQLite ledger (`sends`, `events`, `windows`),
//! with PostgreSQL types a team can query (`timestamptz`), plus
//! `apply_lock_holder`, the row naming who holds the advisory lock.
//! Applied steps are recorded in `waform_migrations`; never edit a step
//! that has shipped: append one. A database migrated by a newer waform is
//! refused rather than guessed at.

use tokio_postgres::Client;

use super::super::StateError;
use super::{conn::wait, pg_err};

/// Step N brings the schema from version N-1 to N.
const STEPS: &[&str] = &[
    // 1: send rows, webhook events, windows, the lock holder.
    r#"
    CREATE TABLE sends (
        send           text NOT NULL,
        phone          text NOT NULL,
        flow_token     text NOT NULL,
        kind           text NOT NULL,
        template       text,
        intent_at      timestamptz NOT NULL,
        outcome        text,
        message_id     text,
        job_id         text,
        reason         text,
        outcome_at     timestamptz,
        delivery       text,
        delivery_rank  smallint NOT NULL DEFAULT 0,
        delivery_error text,
        sent_at        timestamptz,
        delivered_at   timestamptz,
        read_at        timestamptz,
        failed_at      timestamptz,
        completed_at   timestamptz,
        -- text, not jsonb: kept byte for byte as written, so a migration
        -- round-trips exactly; query it with response_json::jsonb.
        response_json  text,
        PRIMARY KEY (send, phone)
    );
    CREATE INDEX sends_message_id ON sends (message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX sends_flow_token ON sends (flow_token);
    CREATE INDEX sends_open ON sends (send) WHERE outcome IS NULL;

    CREATE TABLE events (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at timestamptz NOT NULL,
        kind        text NOT NULL,
        -- The cross-replica dedup: a redelivered event conflicts here,
        -- whichever receiver stored it first.
        dedupe_key  text NOT NULL UNIQUE,
        message_id  text,
        status      text,
        error       text,
        phone       text,
        flow_token  text,
        event_at    timestamptz,
        raw         text NOT NULL
    );
    CREATE INDEX events_message_id ON events (message_id) WHERE message_id IS NOT NULL;

    CREATE TABLE windows (
        phone           text PRIMARY KEY,
        last_inbound_at timestamptz NOT NULL
    );

    CREATE TABLE apply_lock_holder (
        id          smallint PRIMARY KEY CHECK (id = 1),
        host        text NOT NULL,
        pid         bigint NOT NULL,
        since       timestamptz NOT NULL,
        command     text NOT NULL,
        backend_pid integer NOT NULL
    );
    "#,
];

/// The schema version this waform writes.
pub(crate) const LATEST: i64 = STEPS.len() as i64;

/// Advisory lock key serializing migrations of one database.
const MIGRATE_KEY: i64 = 0x7761_666f_726d_0001;

/// The version recorded in the database; `None` when waform never ran there.
pub(crate) fn version(client: &Client) -> Result<Option<i64>, StateError> {
    let exists: bool =
        wait(client.query_one("SELECT to_regclass('waform_migrations') IS NOT NULL", &[]))
            .map_err(pg_err)?
            .get(0);
    if !exists {
        return Ok(None);
    }
    let v: Option<i32> = wait(client.query_one("SELECT max(version) FROM waform_migrations", &[]))
        .map_err(pg_err)?
        .get(0);
    Ok(Some(i64::from(v.unwrap_or(0))))
}

/// Brings the database to [`LATEST`]; a no-op when it is already there.
///
/// # Errors
/// [`StateError::FutureSchema`] when a newer waform migrated it.
pub(crate) fn migrate(client: &mut Client, location: &str) -> Result<i64, StateError> {
    let refuse = |found| StateError::FutureSchema {
        location: location.to_string(),
        found,
        supported: LATEST,
    };
    match version(client)? {
        Some(found) if found > LATEST => return Err(refuse(found)),
        Some(found) if found == LATEST => return Ok(found),
        _ => {}
    }
    wait(async {
        let tx = client.transaction().await?;
        // Two processes opening a fresh database: one migrates, the other
        // waits here and then finds nothing to do.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_KEY])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS waform_migrations (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let now: Option<i32> = tx
            .query_one("SELECT max(version) FROM waform_migrations", &[])
            .await?
            .get(0);
        let now = i64::from(now.unwrap_or(0));
        for (i, step) in STEPS.iter().enumerate().skip(now.max(0) as usize) {
            tx.batch_execute(step).await?;
            tx.execute(
                "INSERT INTO waform_migrations (version) VALUES ($1)",
                &[&((i + 1) as i32)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<i64, tokio_postgres::Error>(now)
    })
    .map_err(pg_err)
    .and_then(|now| {
        if now > LATEST {
            Err(refuse(now))
        } else {
            Ok(LATEST)
        }
    })
}
