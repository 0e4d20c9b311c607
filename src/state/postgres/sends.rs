//! Apply's writes to `sends`, batched: one statement per kind of write over
//! `unnest`ed arrays, so a group commit costs the same few statements
//! whatever its size. [`commit_group`] sends them all, between `BEGIN` and
//! `COMMIT`, in one pipelined round trip of prepared statements
//! ([`Statements`]); the others run inside a caller's transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::future::{join, join5};
use tokio_postgres::{Client, GenericClient, Row, Statement};

use super::super::{Group, Intent, IntentStatus, Outcome, OutcomeRecord, SendKind};
use super::acks;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// A Flow completion proves the earlier message arrived: that row stays.
const DELETE_UNKNOWN: &str =
    "DELETE FROM sends s USING unnest($1::text[], $2::text[]) AS u(send, phone)
     WHERE s.send = u.send AND s.phone = u.phone AND s.outcome = 'unknown'
       AND s.completed_at IS NULL";

const INSERT_INTENTS: &str =
    "INSERT INTO sends (send, phone, flow_token, kind, template, intent_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::timestamptz[])
     ON CONFLICT (send, phone) DO NOTHING
     RETURNING send, phone";

const UPDATE_OUTCOMES: &str = "UPDATE sends s SET outcome = u.outcome, message_id = u.message_id,
            job_id = u.job_id, reason = u.reason, outcome_at = u.at,
            kind = coalesce(u.kind, s.kind),
            template = coalesce(u.template, s.template)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::timestamptz[], $8::text[], $9::text[])
          AS u(send, phone, outcome, message_id, job_id, reason, at, kind, template)
     WHERE s.send = u.send AND s.phone = u.phone";

const DELETE_INTENTS: &str =
    "DELETE FROM sends WHERE send = $1 AND phone = ANY($2) AND outcome IS NULL";

/// The group commit's statements, prepared once per session so a commit
/// needs no round trip to parse them.
pub(crate) struct Statements {
    delete_unknown: Statement,
    insert_intents: Statement,
    update_outcomes: Statement,
    replay_acks: Statement,
    delete_intents: Statement,
}

impl Statements {
    pub(crate) async fn prepare(client: &Client) -> PgResult<Statements> {
        let replay = acks::stored_acks_sql();
        let (a, b, c, d, e) = join5(
            client.prepare(DELETE_UNKNOWN),
            client.prepare(INSERT_INTENTS),
            client.prepare(UPDATE_OUTCOMES),
            client.prepare(&replay),
            client.prepare(DELETE_INTENTS),
        )
        .await;
        Ok(Statements {
            delete_unknown: a?,
            insert_intents: b?,
            update_outcomes: c?,
            replay_acks: d?,
            delete_intents: e?,
        })
    }
}

/// One group commit (see [`super::super::SendLedger::commit_group`]):
/// outcomes (and the acks that arrived before them), withdrawals, then
/// intents, in one transaction. Every statement, `BEGIN` and `COMMIT` are
/// sent at once and answered in order, so the commit costs one round trip
/// plus the server's flush. A failed statement makes the server turn the
/// `COMMIT` into a rollback; its error is returned and nothing is recorded.
pub(crate) async fn commit_group(
    client: &Client,
    st: &Statements,
    group: &Group<'_>,
) -> PgResult<Vec<IntentStatus>> {
    let outcomes = OutcomeColumns::of(group.outcomes);
    let accepted_ids: Vec<&str> = group
        .outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Accepted { message_id, .. } => message_id.as_deref(),
            _ => None,
        })
        .collect();
    let intents = IntentColumns::of(group.intents);
    // Futures of one client are sent in the order they are first polled,
    // which is the order `join` polls them in.
    let ((begin, updated, replayed, withdrawn, replaced), (inserted, commit)) = join(
        join5(
            client.batch_execute("BEGIN"),
            async {
                if outcomes.send.is_empty() {
                    return Ok(0);
                }
                client
                    .execute(&st.update_outcomes, &outcomes.params())
                    .await
            },
            async {
                if accepted_ids.is_empty() {
                    return Ok(0);
                }
                client.execute(&st.replay_acks, &[&accepted_ids]).await
            },
            async {
                if group.withdrawn.is_empty() {
                    return Ok(0);
                }
                client
                    .execute(&st.delete_intents, &[&group.send, &group.withdrawn])
                    .await
            },
            async {
                if !group.replace_unknown || intents.send.is_empty() {
                    return Ok(0);
                }
                client
                    .execute(&st.delete_unknown, &[&intents.send, &intents.phone])
                    .await
            },
        ),
        join(
            async {
                if intents.send.is_empty() {
                    return Ok(Vec::new());
                }
                client.query(&st.insert_intents, &intents.params()).await
            },
            client.batch_execute("COMMIT"),
        ),
    )
    .await;
    let outcome = (|| {
        begin?;
        updated?;
        replayed?;
        withdrawn?;
        replaced?;
        let rows = inserted?;
        commit?;
        Ok(rows)
    })();
    match outcome {
        Ok(rows) => Ok(statuses(group.intents, &rows)),
        Err(e) => {
            // The server rolled back already; this only makes sure no
            // transaction stays open on the session whatever failed.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Inserts intents; a (send, phone) that already has a row is refused
/// (`AlreadyRecorded`), also a pair repeated within the batch. With
/// `replace_unknown` an `unknown` row without a completion is replaced.
pub(crate) async fn insert_intents(
    tx: &impl GenericClient,
    intents: &[Intent],
    replace_unknown: bool,
) -> PgResult<Vec<IntentStatus>> {
    if intents.is_empty() {
        return Ok(Vec::new());
    }
    let c = IntentColumns::of(intents);
    if replace_unknown {
        tx.execute(DELETE_UNKNOWN, &[&c.send, &c.phone]).await?;
    }
    let rows = tx.query(INSERT_INTENTS, &c.params()).await?;
    Ok(statuses(intents, &rows))
}

/// Each intent's status, from the `(send, phone)` rows the insert returned.
fn statuses(intents: &[Intent], rows: &[Row]) -> Vec<IntentStatus> {
    let mut written: HashSet<(&str, &str)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    intents
        .iter()
        .map(|i| {
            // A pair twice in one batch: only its first item was written.
            if written.remove(&(i.send.as_str(), i.phone.as_str())) {
                IntentStatus::Recorded
            } else {
                IntentStatus::AlreadyRecorded
            }
        })
        .collect()
}

/// Records outcomes on existing rows (never creating one); returns how many
/// changed. Acks that reached a webhook before the outcome carrying their
/// message id are applied now, so that race loses nothing.
pub(crate) async fn update_outcomes(
    tx: &impl GenericClient,
    outcomes: &[OutcomeRecord],
) -> PgResult<usize> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let c = OutcomeColumns::of(outcomes);
    let n = tx.execute(UPDATE_OUTCOMES, &c.params()).await?;
    let ids: Vec<&str> = c.message_id.iter().flatten().copied().collect();
    if !ids.is_empty() {
        tx.execute(acks::stored_acks_sql().as_str(), &[&ids])
            .await?;
    }
    Ok(n as usize)
}

/// Deletes intents whose request was certainly never made; rows with an
/// outcome are never touched.
pub(crate) async fn delete_intents(
    tx: &impl GenericClient,
    send: &str,
    phones: &[String],
) -> PgResult<usize> {
    if phones.is_empty() {
        return Ok(0);
    }
    let n = tx.execute(DELETE_INTENTS, &[&send, &phones]).await?;
    Ok(n as usize)
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// The intent batch as columns, for one `unnest` insert.
struct IntentColumns<'a> {
    send: Vec<&'a str>,
    phone: Vec<&'a str>,
    token: Vec<&'a str>,
    kind: Vec<&'a str>,
    template: Vec<Option<&'a str>>,
    at: Vec<DateTime<Utc>>,
}

impl<'a> IntentColumns<'a> {
    fn of(intents: &'a [Intent]) -> Self {
        IntentColumns {
            send: intents.iter().map(|i| i.send.as_str()).collect(),
            phone: intents.iter().map(|i| i.phone.as_str()).collect(),
            token: intents.iter().map(|i| i.flow_token.as_str()).collect(),
            kind: intents.iter().map(|i| i.kind.as_str()).collect(),
            template: intents.iter().map(|i| i.template.as_deref()).collect(),
            at: intents.iter().map(|i| i.at).collect(),
        }
    }

    fn params(&self) -> [Param<'_>; 6] {
        [
            &self.send,
            &self.phone,
            &self.token,
            &self.kind,
            &self.template,
            &self.at,
        ]
    }
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

impl<'a> OutcomeColumns<'a> {
    fn of(outcomes: &'a [OutcomeRecord]) -> Self {
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
        c
    }

    fn params(&self) -> [Param<'_>; 9] {
        [
            &self.send,
            &self.phone,
            &self.outcome,
            &self.message_id,
            &self.job_id,
            &self.reason,
            &self.at,
            &self.kind,
            &self.template,
        ]
    }
}
