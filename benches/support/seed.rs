//! Seeding a large ledger fast for the scale benches: one transaction of
//! prepared inserts on SQLite, `COPY` on PostgreSQL. The state API writes
//! intent by intent with outcomes after (as apply does), which would spend
//! most of a ten-million-row bench on seeding.

#![allow(dead_code)]

use std::io::{Cursor, Write as _};

use futures_util::SinkExt as _;
use waform::state::StateLocation;

const AT: &str = "2026-01-01T00:00:00.000Z";

/// Writes an `accepted` row of `send` for each phone (E.164 digits); the
/// schema is created first through waform itself. Returns the row count.
pub fn accepted(
    rt: &tokio::runtime::Runtime,
    location: &StateLocation,
    send: &str,
    phones: impl Iterator<Item = String>,
) -> u64 {
    drop(waform::state::open(location).expect("create the state"));
    match location {
        StateLocation::Sqlite(path) => sqlite(path, send, phones),
        StateLocation::Postgres(pg) => rt.block_on(postgres(&pg.url, send, phones)),
    }
}

fn sqlite(path: &std::path::Path, send: &str, phones: impl Iterator<Item = String>) -> u64 {
    let mut conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    let tx = conn.transaction().expect("tx");
    let mut n = 0u64;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO sends (send, phone, flow_token, kind, intent_at, outcome, message_id, outcome_at)
                 VALUES (?1, ?2, ?3, 'template', ?4, 'accepted', ?5, ?4)",
            )
            .expect("prepare");
        for phone in phones {
            insert
                .execute(rusqlite::params![
                    send,
                    phone,
                    format!("t{n}"),
                    AT,
                    format!("wamid.{n}")
                ])
                .expect("insert");
            n += 1;
        }
    }
    tx.commit().expect("commit");
    n
}

async fn postgres(url: &str, send: &str, phones: impl Iterator<Item = String>) -> u64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(connection);
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>(
            "COPY sends (send, phone, flow_token, kind, intent_at, outcome, message_id, outcome_at) FROM STDIN",
        )
        .await
        .expect("copy");
    futures_util::pin_mut!(sink);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut n = 0u64;
    for phone in phones {
        let _ = writeln!(
            buf,
            "{send}\t{phone}\tt{n}\ttemplate\t{AT}\taccepted\twamid.{n}\t{AT}"
        );
        n += 1;
        if buf.len() >= 1 << 20 {
            sink.send(Cursor::new(std::mem::take(&mut buf)))
                .await
                .expect("copy data");
        }
    }
    if !buf.is_empty() {
        sink.send(Cursor::new(buf)).await.expect("copy data");
    }
    sink.as_mut().finish().await.expect("copy end");
    client
        .batch_execute("ANALYZE sends")
        .await
        .expect("analyze");
    drop(client);
    let _ = task.await;
    n
}
