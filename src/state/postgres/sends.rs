//! Apply's writes to `sends`, batched: one statement per batch over
//! `unnest`ed arrays, so a group commit costs a few round trips whatever
//! its size. Each runs inside the caller's transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use super::super::{Intent, IntentStatus, Outcome, OutcomeRecord, SendKind};
use super::events;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Inserts intents; a (send, phone) that already has a row is refused
/// (`AlreadyRecorded`), also a pair repeated within the batch. With
/// `replace_unknown` an `unknown` row without a completion is replaced.
pub(crate) async fn insert_intents(
    tx: &Transaction<'_>,
    intents: &[Intent],
    replace_unknown: bool,
) -> PgResult<Vec<IntentStatus>> {
    if intents.is_empty() {
        return Ok(Vec::new());
    }
    let sends: Vec<&str> = intents.iter().map(|i| i.send.as_str()).collect();
    let phones: Vec<&str> = intents.iter().map(|i| i.phone.as_str()).collect();
    if replace_unknown {
        // A Flow completion proves the earlier message arrived: that row stays.
        tx.execute(
            "DELETE FROM sends s USING unnest($1::text[], $2::text[]) AS u(send, phone)
             WHERE s.send = u.send AND s.phone = u.phone AND s.outcome = 'unknown'
               AND s.completed_at IS NULL",
            &[&sends, &phones],
        )
        .await?;
    }
    let tokens: Vec<&str> = intents.iter().map(|i| i.flow_token.as_str()).collect();
    let kinds: Vec<&str> = intents.iter().map(|i| i.kind.as_str()).collect();
    let templates: Vec<Option<&str>> = intents.iter().map(|i| i.template.as_deref()).collect();
    let ats: Vec<DateTime<Utc>> = intents.iter().map(|i| i.at).collect();
    let rows = tx
        .query(
            "INSERT INTO sends (send, phone, flow_token, kind, template, intent_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::timestamptz[])
             ON CONFLICT (send, phone) DO NOTHING
             RETURNING send, phone",
            &[&sends, &phones, &tokens, &kinds, &templates, &ats],
        )
        .await?;
    let mut written: HashSet<(String, String)> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(intents
        .iter()
        .map(|i| {
            // A pair twice in one batch: only its first item was written.
            if written.remove(&(i.send.clone(), i.phone.clone())) {
                IntentStatus::Recorded
            } else {
                IntentStatus::AlreadyRecorded
            }
        })
        .collect())
}

/// Records outcomes on existing rows (never creating one); returns how many
/// changed. Acks that reached a webhook before the outcome carrying their
/// message id are applied now, so that race loses nothing.
pub(crate) async fn update_outcomes(
    tx: &Transaction<'_>,
    outcomes: &[OutcomeRecord],
) -> PgResult<usize> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let mut c = OutcomeColumns::default();
    for o in outcomes {
        let (message_id, job_id, reason) = match &o.outcome {
            Outcome::Accepted { message_id, job_id } => {
                (message_id.as_deref(), job_id.as_deref(), None)
            }
            Outcome::Rejected { reason } | Outcome::Unknown { reason } => {
                (None, None, Some(reason.as_str()))
            }
        };
        c.send.push(&o.send);
        c.phone.push(&o.phone);
        c.outcome.push(o.outcome.as_str());
        c.message_id.push(message_id);
        c.job_id.push(job_id);
        c.reason.push(reason);
        c.at.push(o.at);
        c.kind.push(o.kind.map(SendKind::as_str));
        c.template.push(o.template.as_deref());
    }
    let rows = tx
        .query(
            "UPDATE sends s SET outcome = u.outcome, message_id = u.message_id,
                    job_id = u.job_id, reason = u.reason, outcome_at = u.at,
                    kind = coalesce(u.kind, s.kind),
                    template = coalesce(u.template, s.template)
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::timestamptz[], $8::text[], $9::text[])
                  AS u(send, phone, outcome, message_id, job_id, reason, at, kind, template)
             WHERE s.send = u.send AND s.phone = u.phone
             RETURNING s.message_id",
            &[
                &c.send,
                &c.phone,
                &c.outcome,
                &c.message_id,
                &c.job_id,
                &c.reason,
                &c.at,
                &c.kind,
                &c.template,
            ],
        )
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(0))
        .collect();
    if !ids.is_empty() {
        events::replay_acks(tx, &ids).await?;
    }
    Ok(rows.len())
}

/// Deletes intents whose request was certainly never made; rows with an
/// outcome are never touched.
pub(crate) async fn delete_intents(
    tx: &Transaction<'_>,
    send: &str,
    phones: &[String],
) -> PgResult<usize> {
    if phones.is_empty() {
        return Ok(0);
    }
    let n = tx
        .execute(
            "DELETE FROM sends WHERE send = $1 AND phone = ANY($2) AND outcome IS NULL",
            &[&send, &phones],
        )
        .await?;
    Ok(n as usize)
}

/// The outcome batch as columns, for one `unnest` update.
#[derive(Default)]
struct OutcomeColumns<'a> {
    send: Vec<&'a str>,
    phone: Vec<&'a str>,
    outcome: Vec<&'a str>,
    message_id: Vec<Option<&'a str>>,
    job_id: Vec<Option<&'a str>>,
    reason: Vec<Option<&'a str>>,
    at: Vec<DateTime<Utc>>,
    kind: Vec<Option<&'a str>>,
    template: Vec<Option<&'a str>>,
}
