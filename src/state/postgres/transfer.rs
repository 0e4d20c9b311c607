//! The PostgreSQL side of `state migrate` (see [`crate::state::transfer`]):
//! rows streamed out with `query_raw`, written in batches over `unnest`ed
//! arrays, one transaction per batch.

use chrono::{DateTime, Utc};
use futures_util::{pin_mut, TryStreamExt};

use super::super::transfer::{Counts, EventRecord, SendRecord, Transfer, WindowRecord};
use super::super::StateError;
use super::conn::wait;
use super::{no_params, pg_err, PgLedger};

impl PgLedger {
    /// Streams the rows of `sql` (no parameters) to `each`, never holding
    /// more than the driver's buffer: a ledger of any size is exported
    /// in flat memory.
    fn stream_rows(
        &self,
        sql: &str,
        each: &mut dyn FnMut(&tokio_postgres::Row) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let s = self.session()?;
        wait(async {
            let rows = s.client.query_raw(sql, no_params()).await.map_err(pg_err)?;
            pin_mut!(rows);
            while let Some(r) = rows.try_next().await.map_err(pg_err)? {
                each(&r)?;
            }
            Ok(())
        })
    }
}

impl Transfer for PgLedger {
    fn table_counts(&self) -> Result<Counts, StateError> {
        let s = self.session()?;
        let r = wait(s.client.query_one(
            "SELECT (SELECT count(*) FROM sends), (SELECT count(*) FROM events),
                    (SELECT count(*) FROM windows)",
            &[],
        ))
        .map_err(pg_err)?;
        let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
        Ok(Counts {
            sends: n(0),
            events: n(1),
            windows: n(2),
        })
    }

    fn export_sends(
        &self,
        f: &mut dyn FnMut(SendRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.stream_rows(
            "SELECT send, phone, flow_token, kind, template, intent_at, outcome,
                            message_id, job_id, reason, outcome_at, delivery, delivery_rank,
                            delivery_error, sent_at, delivered_at, read_at, failed_at,
                            completed_at, response_json
                     FROM sends ORDER BY send, phone",
            &mut |r| {
                f(SendRecord {
                    send: r.get(0),
                    phone: r.get(1),
                    flow_token: r.get(2),
                    kind: r.get(3),
                    template: r.get(4),
                    intent_at: r.get(5),
                    outcome: r.get(6),
                    message_id: r.get(7),
                    job_id: r.get(8),
                    reason: r.get(9),
                    outcome_at: r.get(10),
                    delivery: r.get(11),
                    delivery_rank: i64::from(r.get::<_, i16>(12)),
                    delivery_error: r.get(13),
                    sent_at: r.get(14),
                    delivered_at: r.get(15),
                    read_at: r.get(16),
                    failed_at: r.get(17),
                    completed_at: r.get(18),
                    response_json: r.get(19),
                })
            },
        )
    }

    fn export_events(
        &self,
        f: &mut dyn FnMut(EventRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.stream_rows(
            "SELECT id, received_at, kind, dedupe_key, message_id, status, error, phone,
                            flow_token, event_at, raw FROM events ORDER BY id",
            &mut |r| {
                f(EventRecord {
                    id: r.get(0),
                    received_at: r.get(1),
                    kind: r.get(2),
                    dedupe_key: r.get(3),
                    message_id: r.get(4),
                    status: r.get(5),
                    error: r.get(6),
                    phone: r.get(7),
                    flow_token: r.get(8),
                    event_at: r.get(9),
                    raw: r.get(10),
                })
            },
        )
    }

    fn export_windows(
        &self,
        f: &mut dyn FnMut(WindowRecord) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.stream_rows(
            "SELECT phone, last_inbound_at FROM windows ORDER BY phone",
            &mut |r| {
                f(WindowRecord {
                    phone: r.get(0),
                    last_inbound_at: r.get(1),
                })
            },
        )
    }

    fn import_sends(&self, rows: &[SendRecord]) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let text = |f: fn(&SendRecord) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
        let opt = |f: fn(&SendRecord) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        let time = |f: fn(&SendRecord) -> Option<DateTime<Utc>>| {
            rows.iter().map(f).collect::<Vec<Option<DateTime<Utc>>>>()
        };
        let intent_at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.intent_at).collect();
        let rank: Vec<i16> = rows
            .iter()
            .map(|r| i16::try_from(r.delivery_rank).unwrap_or(0))
            .collect();
        let s = self.session()?;
        wait(s.client.execute(
            "INSERT INTO sends (send, phone, flow_token, kind, template, intent_at, outcome,
                 message_id, job_id, reason, outcome_at, delivery, delivery_rank, delivery_error,
                 sent_at, delivered_at, read_at, failed_at, completed_at, response_json)
             SELECT a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::timestamptz[], $12::text[], $13::smallint[], $14::text[],
                         $15::timestamptz[], $16::timestamptz[], $17::timestamptz[],
                         $18::timestamptz[], $19::timestamptz[], $20::text[])
                  AS u(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t)",
            &[
                &text(|r| &r.send),
                &text(|r| &r.phone),
                &text(|r| &r.flow_token),
                &text(|r| &r.kind),
                &opt(|r| r.template.as_deref()),
                &intent_at,
                &opt(|r| r.outcome.as_deref()),
                &opt(|r| r.message_id.as_deref()),
                &opt(|r| r.job_id.as_deref()),
                &opt(|r| r.reason.as_deref()),
                &time(|r| r.outcome_at),
                &opt(|r| r.delivery.as_deref()),
                &rank,
                &opt(|r| r.delivery_error.as_deref()),
                &time(|r| r.sent_at),
                &time(|r| r.delivered_at),
                &time(|r| r.read_at),
                &time(|r| r.failed_at),
                &time(|r| r.completed_at),
                &opt(|r| r.response_json.as_deref()),
            ],
        ))
        .map_err(pg_err)?;
        Ok(())
    }

    fn import_events(&self, rows: &[EventRecord]) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let opt = |f: fn(&EventRecord) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let received: Vec<DateTime<Utc>> = rows.iter().map(|r| r.received_at).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        let keys: Vec<&str> = rows.iter().map(|r| r.dedupe_key.as_str()).collect();
        let event_at: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.event_at).collect();
        let raw: Vec<&str> = rows.iter().map(|r| r.raw.as_str()).collect();
        let s = self.session()?;
        wait(s.client.execute(
            "INSERT INTO events (id, received_at, kind, dedupe_key, message_id, status, error,
                                 phone, flow_token, event_at, raw)
             OVERRIDING SYSTEM VALUE
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                                  $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                                  $10::timestamptz[], $11::text[])",
            &[
                &ids,
                &received,
                &kinds,
                &keys,
                &opt(|r| r.message_id.as_deref()),
                &opt(|r| r.status.as_deref()),
                &opt(|r| r.error.as_deref()),
                &opt(|r| r.phone.as_deref()),
                &opt(|r| r.flow_token.as_deref()),
                &event_at,
                &raw,
            ],
        ))
        .map_err(pg_err)?;
        Ok(())
    }

    fn import_windows(&self, rows: &[WindowRecord]) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let phones: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
        let ats: Vec<DateTime<Utc>> = rows.iter().map(|r| r.last_inbound_at).collect();
        let s = self.session()?;
        wait(s.client.execute(
            "INSERT INTO windows (phone, last_inbound_at)
             SELECT * FROM unnest($1::text[], $2::timestamptz[])",
            &[&phones, &ats],
        ))
        .map_err(pg_err)?;
        Ok(())
    }

    fn finish(&self) -> Result<(), StateError> {
        let s = self.session()?;
        wait(s.client.batch_execute(
            "SELECT setval(pg_get_serial_sequence('events', 'id'),
                           greatest((SELECT max(id) FROM events), 1))",
        ))
        .map_err(pg_err)?;
        Ok(())
    }
}
