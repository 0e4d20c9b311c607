//! Webhook events into PostgreSQL, deduplicated by the unique `dedupe_key`
//! (never a read then a write), so N receivers on one database store each
//! event once.
//!
//! A receiver's group commit is one transaction. Normally it is one
//! statement ([`batch_sql`]): every event of every request in one `unnest`
//! insert (`ON CONFLICT (dedupe_key) DO NOTHING RETURNING`), the acks of
//! the events it stored applied set-based, their windows opened; `BEGIN`,
//! that statement and `COMMIT` go out in one pipelined round trip (Flow
//! completions, rare, are matched one by one before the `COMMIT`). If that
//! transaction fails, the group is stored again request by request, each in
//! its own savepoint, so one bad request fails alone.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::future::join3;
use tokio_postgres::{Client, GenericClient, Statement, Transaction};

use super::super::event_row::{columns, dedupe_key};
use super::super::{Delivery, EventKind, InboundEvent, StateError, StoreReport};
use super::acks;
use super::conn::wait;
use super::pg_err;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The one statement that stores a receiver's group (see the module docs).
/// Parameters: the events as columns (`$1`..`$9`, in arrival order) and the
/// time they were received (`$10`). Rows are inserted in `dedupe_key`
/// order, so receivers racing over the same keys lock them in the same
/// order and never deadlock (ids within one group follow that order).
/// Returns one row per stored event (its 1-based position, NULL) and one
/// per send row an ack touched (NULL, its message id).
pub(crate) fn batch_sql() -> String {
    let ack_source = format!(
        "SELECT message_id, status, error, coalesce(event_at, $10::timestamptz) AS at, ord,
                {} AS rank
         FROM stored WHERE kind = 'ack'",
        acks::rank_sql("status")
    );
    format!(
        "WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::text[], $8::timestamptz[], $9::text[])
                WITH ORDINALITY AS u(kind, dedupe_key, message_id, status, error, phone,
                                     flow_token, event_at, raw, ord)
         ),
         ins AS (
            INSERT INTO events (received_at, kind, dedupe_key, message_id, status, error,
                                phone, flow_token, event_at, raw)
            SELECT $10::timestamptz, kind, dedupe_key, message_id, status, error, phone,
                   flow_token, event_at, raw
            FROM input ORDER BY dedupe_key
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING dedupe_key
         ),
         stored AS (SELECT input.* FROM input JOIN ins USING (dedupe_key)),
         acked AS ({apply}),
         opened AS (
            INSERT INTO windows (phone, last_inbound_at)
            SELECT phone, max(coalesce(event_at, $10::timestamptz)) FROM stored
            WHERE kind IN ('completion', 'inbound') AND phone IS NOT NULL
            GROUP BY phone ORDER BY phone
            ON CONFLICT (phone) DO UPDATE SET
               last_inbound_at = greatest(windows.last_inbound_at, excluded.last_inbound_at)
         )
         SELECT ord, NULL::text FROM stored
         UNION ALL
         SELECT NULL, message_id FROM acked",
        apply = acks::apply_sql(&ack_source),
    )
}

/// Stores a receiver's group commit: the batched path, or request by
/// request when that fails.
pub(crate) fn store_groups(
    client: &mut Client,
    statement: &mut Option<Statement>,
    groups: &[&[InboundEvent]],
) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
    let received_at = Utc::now();
    let batched = wait(async {
        let st = match statement {
            Some(st) => st,
            none => none.insert(client.prepare(&batch_sql()).await?),
        };
        store_batch(client, st, groups, received_at).await
    });
    if let Ok(reports) = batched {
        return Ok(reports.into_iter().map(Ok).collect());
    }
    store_each(client, groups, received_at)
}

/// One event of the batch, with the request it came in.
struct Item<'a> {
    request: usize,
    event: &'a InboundEvent,
    /// An earlier event of this group has the same key: a duplicate.
    repeated: bool,
}

async fn store_batch(
    client: &Client,
    st: &Statement,
    groups: &[&[InboundEvent]],
    received_at: DateTime<Utc>,
) -> PgResult<Vec<StoreReport>> {
    let mut keys = HashSet::new();
    let mut items = Vec::new();
    let mut c = BatchColumns::default();
    for (request, events) in groups.iter().enumerate() {
        for event in *events {
            let raw = event.raw.to_string();
            let key = dedupe_key(&event.kind, &raw);
            let repeated = !keys.insert(key.clone());
            items.push(Item {
                request,
                event,
                repeated,
            });
            if !repeated {
                c.push(&event.kind, key, raw);
            }
        }
    }
    let completions = items
        .iter()
        .any(|i| matches!(i.event.kind, EventKind::Completion { .. }));
    let params = c.params(&received_at);
    let (begin, rows, commit) = join3(
        client.batch_execute("BEGIN"),
        client.query(st, &params),
        async {
            // Completions are matched after the insert: then the COMMIT
            // waits for them.
            if completions {
                return Ok(());
            }
            client.batch_execute("COMMIT").await
        },
    )
    .await;
    let result = async {
        begin?;
        let rows = rows?;
        commit?;
        let mut stored = HashSet::new();
        let mut acked = HashSet::new();
        for r in &rows {
            match (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1)) {
                (Some(ord), _) => {
                    stored.insert(ord);
                }
                (None, Some(id)) => {
                    acked.insert(id);
                }
                (None, None) => {}
            }
        }
        let mut reports = vec![StoreReport::default(); groups.len()];
        let mut ord = 0i64;
        for item in &items {
            let report = &mut reports[item.request];
            if item.repeated {
                report.duplicates += 1;
                continue;
            }
            ord += 1;
            if !stored.contains(&ord) {
                report.duplicates += 1;
                continue;
            }
            report.stored += 1;
            match &item.event.kind {
                EventKind::Ack { message_id, .. } => {
                    if acked.contains(message_id) {
                        report.acks_applied += 1;
                    } else {
                        report.unmatched += 1;
                    }
                }
                EventKind::Completion {
                    phone,
                    flow_token,
                    fields,
                    at,
                    ..
                } => {
                    let matched = match flow_token {
                        Some(token) => {
                            let at = at.unwrap_or(received_at);
                            apply_completion(client, token, phone.as_deref(), fields, at).await?
                        }
                        None => false,
                    };
                    if matched {
                        report.completions_matched += 1;
                    } else {
                        report.unmatched += 1;
                    }
                }
                EventKind::Inbound { .. } | EventKind::Echo { .. } | EventKind::Unknown => {}
            }
        }
        if completions {
            client.batch_execute("COMMIT").await?;
        }
        Ok(reports)
    }
    .await;
    if result.is_err() {
        // Whatever failed, no transaction stays open on the session.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// The batch as columns, for one `unnest`.
#[derive(Default)]
struct BatchColumns<'a> {
    kind: Vec<&'static str>,
    key: Vec<String>,
    message_id: Vec<Option<&'a str>>,
    status: Vec<Option<&'static str>>,
    error: Vec<Option<&'a str>>,
    phone: Vec<Option<&'a str>>,
    flow_token: Vec<Option<&'a str>>,
    at: Vec<Option<DateTime<Utc>>>,
    raw: Vec<String>,
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

impl<'a> BatchColumns<'a> {
    fn push(&mut self, kind: &'a EventKind, key: String, raw: String) {
        let c = columns(kind);
        self.kind.push(kind.name());
        self.key.push(key);
        self.message_id.push(c.message_id);
        self.status.push(c.status.map(Delivery::as_str));
        self.error.push(c.error);
        self.phone.push(c.phone);
        self.flow_token.push(c.flow_token);
        self.at.push(c.at);
        self.raw.push(raw);
    }

    fn params<'p>(&'p self, received_at: &'p DateTime<Utc>) -> [Param<'p>; 10] {
        [
            &self.kind,
            &self.key,
            &self.message_id,
            &self.status,
            &self.error,
            &self.phone,
            &self.flow_token,
            &self.at,
            &self.raw,
            received_at,
        ]
    }
}

/// The group request by request, each in its own savepoint: a request that
/// fails is answered with its error, the others are stored.
fn store_each(
    client: &mut Client,
    groups: &[&[InboundEvent]],
    received_at: DateTime<Utc>,
) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
    wait(async {
        let mut tx = client.transaction().await?;
        let mut results = Vec::with_capacity(groups.len());
        for events in groups {
            let sp = tx.savepoint("request").await?;
            match store_group(&sp, events, received_at).await {
                Ok(report) => {
                    sp.commit().await?;
                    results.push(Ok(report));
                }
                Err(e) => {
                    sp.rollback().await?;
                    results.push(Err(pg_err(e)));
                }
            }
        }
        tx.commit().await?;
        Ok::<_, tokio_postgres::Error>(results)
    })
    .map_err(pg_err)
}

async fn store_group(
    tx: &Transaction<'_>,
    events: &[InboundEvent],
    received_at: DateTime<Utc>,
) -> PgResult<StoreReport> {
    let mut report = StoreReport::default();
    let insert = tx
        .prepare(
            "INSERT INTO events (received_at, kind, dedupe_key, message_id, status, error, phone,
                                 flow_token, event_at, raw)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .await?;
    for event in events {
        let raw = event.raw.to_string();
        let key = dedupe_key(&event.kind, &raw);
        let c = columns(&event.kind);
        let n = tx
            .execute(
                &insert,
                &[
                    &received_at,
                    &event.kind.name(),
                    &key,
                    &c.message_id,
                    &c.status.map(Delivery::as_str),
                    &c.error,
                    &c.phone,
                    &c.flow_token,
                    &c.at,
                    &raw,
                ],
            )
            .await?;
        if n == 0 {
            report.duplicates += 1;
            continue;
        }
        report.stored += 1;
        let at = c.at.unwrap_or(received_at);
        match &event.kind {
            EventKind::Ack {
                message_id,
                status,
                error,
                ..
            } => {
                if apply_ack(tx, message_id, *status, error.as_deref(), at).await? {
                    report.acks_applied += 1;
                } else {
                    report.unmatched += 1;
                }
            }
            EventKind::Completion {
                phone,
                flow_token,
                fields,
                ..
            } => {
                if let Some(phone) = phone {
                    open_window(tx, phone, at).await?;
                }
                let matched = match flow_token {
                    Some(token) => {
                        apply_completion(tx, token, phone.as_deref(), fields, at).await?
                    }
                    None => false,
                };
                if matched {
                    report.completions_matched += 1;
                } else {
                    report.unmatched += 1;
                }
            }
            EventKind::Inbound {
                phone: Some(phone), ..
            } => open_window(tx, phone, at).await?,
            EventKind::Inbound { phone: None, .. }
            | EventKind::Echo { .. }
            | EventKind::Unknown => {}
        }
    }
    Ok(report)
}

/// Moves the row forward only (see [`Delivery`] for the order); each
/// stage's time is kept from its first ack.
pub(crate) async fn apply_ack(
    tx: &Transaction<'_>,
    message_id: &str,
    status: Delivery,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> PgResult<bool> {
    let rank = status.rank() as i16;
    let n = tx
        .execute(
            "UPDATE sends SET
                delivery = CASE WHEN delivery_rank < $2 THEN $1 ELSE delivery END,
                delivery_error = CASE WHEN $1 = 'failed' AND delivery_rank < $2 THEN $3
                                      ELSE delivery_error END,
                sent_at = CASE WHEN $1 = 'sent' THEN coalesce(sent_at, $4) ELSE sent_at END,
                delivered_at = CASE WHEN $1 = 'delivered' THEN coalesce(delivered_at, $4)
                                    ELSE delivered_at END,
                read_at = CASE WHEN $1 = 'read' THEN coalesce(read_at, $4) ELSE read_at END,
                failed_at = CASE WHEN $1 = 'failed' THEN coalesce(failed_at, $4)
                                 ELSE failed_at END,
                delivery_rank = greatest(delivery_rank, $2)
             WHERE message_id = $5",
            &[&status.as_str(), &rank, &error, &at, &message_id],
        )
        .await?;
    Ok(n > 0)
}

/// Stores the form on the row this submission belongs to: the row with
/// this token and the submitter's phone, or else the only row with this
/// token; a token shared by several rows without a phone to tell them
/// apart stays unmatched. A later submission replaces an earlier one.
async fn apply_completion(
    tx: &impl GenericClient,
    flow_token: &str,
    phone: Option<&str>,
    fields: &serde_json::Map<String, serde_json::Value>,
    at: DateTime<Utc>,
) -> PgResult<bool> {
    let mut fields = fields.clone();
    fields.remove("flow_token");
    let json = serde_json::Value::Object(fields).to_string();
    let rows: Vec<String> = tx
        .query(
            "SELECT phone FROM sends WHERE flow_token = $1 ORDER BY (phone = $2) DESC LIMIT 2",
            &[&flow_token, &phone.unwrap_or("")],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let target = match (phone, rows.as_slice()) {
        (_, []) => return Ok(false),
        (Some(p), _) if rows.iter().any(|r| r == p) => p.to_string(),
        (_, [only]) => only.clone(),
        _ => return Ok(false),
    };
    tx.execute(
        "UPDATE sends SET completed_at = $3, response_json = $4
         WHERE flow_token = $1 AND phone = $2 AND (completed_at IS NULL OR completed_at <= $3)",
        &[&flow_token, &target, &at, &json],
    )
    .await?;
    Ok(true)
}

async fn open_window(tx: &Transaction<'_>, phone: &str, at: DateTime<Utc>) -> PgResult<()> {
    tx.execute(
        "INSERT INTO windows (phone, last_inbound_at) VALUES ($1, $2)
         ON CONFLICT (phone) DO UPDATE SET
            last_inbound_at = greatest(windows.last_inbound_at, excluded.last_inbound_at)",
        &[&phone, &at],
    )
    .await?;
    Ok(())
}
