//! [`AudienceScan`] on SQLite: TEMP tables on the ledger's own connection.
//! They live in SQLite's temporary file (not in memory: the bundled
//! SQLite's default `temp_store` is a file) and never touch the ledger
//! file, so a scan works on a read-only ledger and takes no write lock
//! another process could wait for.

use rusqlite::params;

use super::{recorded_from, Ledger};
use crate::state::audience::{answer, first_in_batch, table_names, AudienceScan, Seen};
use crate::state::StateError;

/// Page cache of the temporary tables: bounded, so the seen set of a
/// ten-million-recipient send stays on disk rather than in memory.
const TEMP_CACHE_KIB: i64 = 16 * 1024;

/// One scan's temporary tables, dropped with it.
pub(super) struct SqliteScan<'a> {
    ledger: &'a Ledger,
    send: String,
    seen: String,
    excluded: String,
    batch: String,
}

impl<'a> SqliteScan<'a> {
    pub(super) fn new(ledger: &'a Ledger, send: &str) -> Result<Self, StateError> {
        let (seen, excluded) = table_names();
        let batch = format!("{seen}_batch");
        ledger.conn().execute_batch(&format!(
            "PRAGMA temp.cache_size = -{TEMP_CACHE_KIB};
             CREATE TEMP TABLE {seen} (key INTEGER PRIMARY KEY);
             CREATE TEMP TABLE {excluded} (key INTEGER PRIMARY KEY);
             CREATE TEMP TABLE {batch} (pos INTEGER PRIMARY KEY, key INTEGER NOT NULL, phone TEXT NOT NULL);"
        ))?;
        Ok(SqliteScan {
            ledger,
            send: send.to_string(),
            seen,
            excluded,
            batch,
        })
    }
}

impl AudienceScan for SqliteScan<'_> {
    fn exclude(&mut self, phones: &[&str]) -> Result<(), StateError> {
        let mut conn = self.ledger.conn();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO temp.{} (key) VALUES (?1)",
                self.excluded
            ))?;
            for phone in phones {
                insert.execute(params![crate::state::audience::db_key(phone)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn classify(&mut self, phones: &[&str]) -> Result<Vec<Seen>, StateError> {
        let mut out = Vec::new();
        let firsts = first_in_batch(phones, &mut out);
        let mut conn = self.ledger.conn();
        // Deferred: it writes only the temporary tables, so the ledger file
        // is read (one snapshot of committed rows), never locked for writing.
        let tx = conn.transaction()?;
        {
            tx.execute(&format!("DELETE FROM temp.{}", self.batch), [])?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO temp.{} (pos, key, phone) VALUES (?1, ?2, ?3)",
                self.batch
            ))?;
            for (i, key) in &firsts {
                insert.execute(params![*i as i64, key, phones[*i]])?;
            }
            let mut select = tx.prepare_cached(&format!(
                "SELECT b.pos, s.key IS NOT NULL, e.key IS NOT NULL, l.phone IS NOT NULL, l.outcome
                 FROM temp.{batch} b
                 LEFT JOIN temp.{seen} s ON s.key = b.key
                 LEFT JOIN temp.{excluded} e ON e.key = b.key
                 LEFT JOIN main.sends l ON l.send = ?1 AND l.phone = b.phone",
                batch = self.batch,
                seen = self.seen,
                excluded = self.excluded,
            ))?;
            let mut rows = select.query(params![self.send])?;
            while let Some(row) = rows.next()? {
                let pos: i64 = row.get(0)?;
                let recorded = if row.get::<_, bool>(3)? {
                    Some(recorded_from(row.get::<_, Option<String>>(4)?.as_deref())?)
                } else {
                    None
                };
                if let Some(slot) = usize::try_from(pos).ok().and_then(|p| out.get_mut(p)) {
                    *slot = answer(row.get(1)?, row.get(2)?, recorded);
                }
            }
            drop(rows);
            drop(select);
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO temp.{} (key) SELECT key FROM temp.{}",
                    self.seen, self.batch
                ),
                [],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }
}

impl Drop for SqliteScan<'_> {
    fn drop(&mut self) {
        // Best effort: the tables vanish with the connection anyway.
        let _ = self.ledger.conn().execute_batch(&format!(
            "DROP TABLE IF EXISTS temp.{}; DROP TABLE IF EXISTS temp.{}; DROP TABLE IF EXISTS temp.{};",
            self.seen, self.excluded, self.batch
        ));
    }
}
