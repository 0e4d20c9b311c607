//! [`AudienceScan`] on PostgreSQL: temporary tables on the ledger's data
//! session, a batch sent as two arrays (`unnest`), classified and added to
//! the seen set by one statement.

use super::{pg_err, recorded_from, wait, PgLedger};
use crate::state::audience::{answer, db_key, first_in_batch, table_names, AudienceScan, Seen};
use crate::state::StateError;

/// One scan's temporary tables, dropped with it.
pub(super) struct PgScan<'a> {
    ledger: &'a PgLedger,
    send: String,
    /// The session the tables were made on: a reconnected session has none.
    generation: u64,
    seen: String,
    excluded: String,
}

impl<'a> PgScan<'a> {
    pub(super) fn new(ledger: &'a PgLedger, send: &str) -> Result<Self, StateError> {
        let (seen, excluded) = table_names();
        let s = ledger.session()?;
        wait(s.client.batch_execute(&format!(
            "CREATE TEMP TABLE {seen} (key int8 PRIMARY KEY);
             CREATE TEMP TABLE {excluded} (key int8 PRIMARY KEY);"
        )))
        .map_err(pg_err)?;
        Ok(PgScan {
            ledger,
            send: send.to_string(),
            generation: s.generation,
            seen,
            excluded,
        })
    }

    fn session(&self) -> Result<std::sync::MutexGuard<'a, super::Session>, StateError> {
        let s = self.ledger.session()?;
        if s.generation != self.generation {
            return Err(StateError::Open {
                location: self.ledger.location.clone(),
                source: "the database session was lost while reading the recipients; run the command again".into(),
            });
        }
        Ok(s)
    }
}

impl AudienceScan for PgScan<'_> {
    fn exclude(&mut self, phones: &[&str]) -> Result<(), StateError> {
        let keys: Vec<i64> = phones.iter().map(|p| db_key(p)).collect();
        let s = self.session()?;
        let sql = format!(
            "INSERT INTO pg_temp.{} SELECT unnest($1::int8[]) ON CONFLICT DO NOTHING",
            self.excluded
        );
        wait(s.client.execute(sql.as_str(), &[&keys])).map_err(pg_err)?;
        Ok(())
    }

    fn classify(&mut self, phones: &[&str]) -> Result<Vec<Seen>, StateError> {
        let mut out = Vec::new();
        let firsts = first_in_batch(phones, &mut out);
        let keys: Vec<i64> = firsts.iter().map(|(_, k)| *k).collect();
        let texts: Vec<&str> = firsts.iter().map(|(i, _)| phones[*i]).collect();
        // The keys of a batch are distinct, so a key is new to the scan
        // exactly when this statement's INSERT returns it.
        let sql = format!(
            "WITH b AS (SELECT * FROM unnest($2::int8[], $3::text[]) WITH ORDINALITY AS b(key, phone, pos)),
                  ins AS (INSERT INTO pg_temp.{seen} SELECT key FROM b ON CONFLICT DO NOTHING RETURNING key)
             SELECT b.pos, ins.key IS NULL, e.key IS NOT NULL, l.phone IS NOT NULL, l.outcome
             FROM b
             LEFT JOIN ins ON ins.key = b.key
             LEFT JOIN pg_temp.{excluded} e ON e.key = b.key
             LEFT JOIN sends l ON l.send = $1 AND l.phone = b.phone",
            seen = self.seen,
            excluded = self.excluded,
        );
        let s = self.session()?;
        let rows =
            wait(s.client.query(sql.as_str(), &[&self.send, &keys, &texts])).map_err(pg_err)?;
        for row in rows {
            // Ordinality counts from 1.
            let pos: i64 = row.get(0);
            let recorded = row
                .get::<_, bool>(3)
                .then(|| recorded_from(row.get::<_, Option<&str>>(4)));
            let at = usize::try_from(pos - 1).ok().and_then(|p| firsts.get(p));
            if let Some(slot) = at.and_then(|(i, _)| out.get_mut(*i)) {
                *slot = answer(row.get(1), row.get(2), recorded);
            }
        }
        Ok(out)
    }
}

impl Drop for PgScan<'_> {
    fn drop(&mut self) {
        // Best effort: temporary tables vanish with the session anyway.
        if let Ok(s) = self.session() {
            let _ = wait(s.client.batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.{}; DROP TABLE IF EXISTS pg_temp.{};",
                self.seen, self.excluded
            )));
        }
    }
}
