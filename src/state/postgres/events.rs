//! Webhook events into PostgreSQL: one transaction per group commit, one
//! savepoint per request, dedup by the unique `dedupe_key` (never a read
//! then a write), so N receivers on one database store each event once.

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, Transaction};

use super::super::event_row::{columns, dedupe_key};
use super::super::{Delivery, EventKind, InboundEvent, StateError, StoreReport};
use super::conn::wait;
use super::pg_err;

type PgResult<T> = Result<T, tokio_postgres::Error>;

pub(crate) fn store_groups(
    client: &mut Client,
    groups: &[&[InboundEvent]],
) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
    let received_at = Utc::now();
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
    tx: &Transaction<'_>,
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
