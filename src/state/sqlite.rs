//! The embedded SQLite ledger.
//!
//! One file beside the config, in WAL mode with `synchronous=FULL`: a
//! committed write survives SIGKILL and power loss, and readers (`status`)
//! never block the writer. Writes come in batches (one transaction per batch
//! of intents, outcomes, or webhook requests) because a transaction, not a
//! row, is what costs an fsync: that keeps a million-recipient apply linear
//! and fast.
//!
//! Several processes may open the same file at once (apply, webhook, status);
//! SQLite serializes their transactions and `busy_timeout` makes a writer
//! wait for another instead of failing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

mod audience;

use super::audience::AudienceScan;
use super::event_row::dedupe_key;
use super::lock;
use super::migrations;
use super::store::Group;
use super::{
    fmt_time, parse_time, Delivery, EventKind, InboundEvent, Intent, IntentStatus, LedgerCounts,
    LockGuard, LockHolder, Outcome, OutcomeRecord, ReasonCount, Recorded, Response, SendKind,
    SendLedger, SendRow, StateError, StoreReport, StoredEvent, WINDOW,
};

/// Query errors keep the driver's error as their source; its type stays here.
impl From<rusqlite::Error> for StateError {
    fn from(source: rusqlite::Error) -> Self {
        StateError::Backend {
            backend: "SQLite",
            source: Box::new(source),
        }
    }
}

/// How long a writer waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An intent is written only just before its request starts
/// (docs/exactly-once.md), so a row without outcome is a request that had
/// started and was unanswered (or its answer not yet recorded).
const DANGLING_REASON: &str =
    "the request had started and was unanswered when the process stopped (killed or crashed)";

/// The SQLite state ledger. See the module docs.
///
/// `Send + Sync`: the connection sits behind a mutex, so apply can share one
/// handle between its tasks; each call holds it for one transaction.
#[derive(Debug)]
pub struct Ledger {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating it and its folder if needed) and migrates the ledger.
    ///
    /// # Errors
    /// The folder or file cannot be created or opened; the file is not a
    /// SQLite database; [`StateError::FutureSchema`] when a newer waform
    /// wrote it.
    pub fn open(path: &Path) -> Result<Ledger, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut conn = connect(path, true)?;
        migrations::migrate(&mut conn, path)?;
        Ok(Ledger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing ledger; `None` when there is no file (nothing was
    /// ever recorded), so read-only commands create nothing.
    pub fn open_existing(path: &Path) -> Result<Option<Ledger>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        let mut conn = match connect(path, false) {
            Ok(conn) => conn,
            // A ledger on a read-only mount (a CI artifact, a backup) can
            // still be read: immutable, so SQLite writes no lock or -shm file.
            Err(err) => {
                unreadable_wal(path)?;
                connect_read_only(path).map_err(|_| err)?
            }
        };
        if !conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            migrations::migrate(&mut conn, path)?;
        }
        Ok(Some(Ledger {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        }))
    }

    /// A private ledger in a temporary file, deleted when it is dropped:
    /// what plan classifies an audience with when no state exists yet.
    ///
    /// # Errors
    /// No temporary file can be created.
    pub fn scratch() -> Result<Ledger, StateError> {
        let mut conn = Connection::open("")?;
        migrations::migrate(&mut conn, Path::new("(scratch)"))?;
        Ok(Ledger {
            conn: Mutex::new(conn),
            path: PathBuf::new(),
        })
    }

    /// The database file (empty for a scratch ledger).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A panic while holding the mutex leaves no half-done transaction
    /// (rusqlite rolls back on drop), so a poisoned lock is safe to reuse.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the one-apply-per-state lock, polling up to `timeout`: an OS
    /// file lock on `STATE.lock` beside the database (see `lock`).
    ///
    /// # Guarantees
    /// While the guard lives and is not lost, no other `acquire_lock` on this
    /// state succeeds, in this process or another, in any pid namespace. The
    /// lock ends with the process, however it ends.
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder (host, pid, since, command),
    /// the state and how to clear it.
    pub fn acquire_lock(&self, timeout: Duration) -> Result<LockGuard, StateError> {
        lock::acquire(&self.path, timeout)
    }

    /// The current lock holder, if a live process holds the lock.
    pub fn lock_holder(&self) -> Result<Option<LockHolder>, StateError> {
        lock::holder(&self.path)
    }

    /// Records intents durably, in one transaction.
    ///
    /// # Guarantees
    /// When this returns, every intent marked [`IntentStatus::Recorded`] is
    /// on disk. An intent for a (send, phone) that already has a row (any
    /// outcome, or none) is not written and is marked
    /// [`IntentStatus::AlreadyRecorded`]: the caller must send only the
    /// `Recorded` ones, so a bug upstream cannot turn into a double send.
    ///
    /// # Errors
    /// On a database error nothing of the batch is recorded, and nothing may
    /// be sent.
    pub fn record_intents(&self, intents: &[Intent]) -> Result<Vec<IntentStatus>, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let out = insert_intents(&tx, intents, false)?;
        tx.commit()?;
        Ok(out)
    }

    /// See [`SendLedger::commit_group`]: one transaction, one fsync.
    pub(crate) fn commit_group(&self, group: &Group<'_>) -> Result<Vec<IntentStatus>, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        update_outcomes(&tx, group.outcomes)?;
        delete_intents(&tx, group.send, group.withdrawn)?;
        let out = insert_intents(&tx, group.intents, group.replace_unknown)?;
        tx.commit()?;
        Ok(out)
    }

    /// Records outcomes in one transaction; returns how many rows changed.
    ///
    /// An outcome for a (send, phone) without an intent changes nothing (the
    /// return value is then lower than `outcomes.len()`).
    ///
    /// Acks can reach the webhook before apply records the accepted outcome
    /// that carries the message id; those acks were kept in `events` and are
    /// applied here, so the race loses nothing.
    pub fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Result<usize, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = update_outcomes(&tx, outcomes)?;
        tx.commit()?;
        Ok(changed)
    }

    /// What the ledger holds for each phone of `send`.
    ///
    /// Materializes the whole send; for a million recipients prefer
    /// [`Ledger::lookup`] on batches of the recipient stream, or
    /// [`Ledger::for_each_row`].
    pub fn rows_for_send(&self, send: &str) -> Result<HashMap<String, Recorded>, StateError> {
        let mut map = HashMap::new();
        self.for_each_row(send, |phone, rec| {
            map.insert(phone.to_string(), rec);
        })?;
        Ok(map)
    }

    /// Streams (phone, recorded) for every row of `send`, without building a map.
    pub fn for_each_row(
        &self,
        send: &str,
        mut f: impl FnMut(&str, Recorded),
    ) -> Result<(), StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT phone, outcome FROM sends WHERE send = ?1")?;
        let mut rows = stmt.query(params![send])?;
        while let Some(row) = rows.next()? {
            let phone: String = row.get(0)?;
            let outcome: Option<String> = row.get(1)?;
            f(&phone, recorded_from(outcome.as_deref())?);
        }
        Ok(())
    }

    /// What the ledger holds for each of `phones` in `send` (`None`: never
    /// attempted), in input order. One indexed lookup per phone.
    pub fn lookup(&self, send: &str, phones: &[&str]) -> Result<Vec<Option<Recorded>>, StateError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT outcome FROM sends WHERE send = ?1 AND phone = ?2")?;
        let mut out = Vec::with_capacity(phones.len());
        for phone in phones {
            let outcome: Option<Option<String>> = stmt
                .query_row(params![send, phone], |r| r.get(0))
                .optional()?;
            out.push(match outcome {
                None => None,
                Some(o) => Some(recorded_from(o.as_deref())?),
            });
        }
        Ok(out)
    }

    /// The full row for (send, phone), if any.
    pub fn row(&self, send: &str, phone: &str) -> Result<Option<SendRow>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM sends WHERE send = ?1 AND phone = ?2"
        ))?;
        let raw = stmt.query_row(params![send, phone], raw_row).optional()?;
        raw.map(RawRow::into_row).transpose()
    }

    /// Every row whose outcome is `unknown`, oldest intent first: what
    /// `reconcile` looks up in the account's history. Dangling intents are
    /// not included (turn them into `unknown` first, under the lock).
    pub(crate) fn unknown_rows(&self) -> Result<Vec<SendRow>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM sends WHERE outcome = 'unknown' ORDER BY intent_at, send, phone"
        ))?;
        let raws = stmt
            .query_map([], raw_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawRow::into_row).collect()
    }

    /// Turns intents without an outcome into `unknown`; returns how many.
    ///
    /// Such a row means a process died between writing the intent and the
    /// outcome: the message may have gone out. Call it only while holding
    /// the apply lock (an apply in flight has dangling intents legitimately).
    pub fn mark_dangling_intents_unknown(&self) -> Result<usize, StateError> {
        let n = self.conn().execute(
            "UPDATE sends SET outcome = 'unknown', reason = ?1, outcome_at = ?2
             WHERE outcome IS NULL",
            params![DANGLING_REASON, fmt_time(Utc::now())],
        )?;
        Ok(n)
    }

    /// Deletes the unknown rows of `send` (and dangling intents), so the next
    /// apply attempts them again: `apply --resend-unknown SEND`, the explicit
    /// decision docs/design.md §5 asks for. Returns how many.
    ///
    /// Rows with a recorded Flow completion are kept: the message evidently
    /// arrived, whatever the send request's answer was.
    pub fn forget_unknown(&self, send: &str) -> Result<usize, StateError> {
        let n = self.conn().execute(
            "DELETE FROM sends
             WHERE send = ?1 AND (outcome IS NULL OR outcome = 'unknown') AND completed_at IS NULL",
            params![send],
        )?;
        Ok(n)
    }

    /// Withdraws intents whose request was certainly never made (apply was
    /// stopped before it, or the API refused to take it), so the recipients
    /// stay due. Rows that have an outcome are never touched.
    pub(crate) fn withdraw_intents(
        &self,
        send: &str,
        phones: &[String],
    ) -> Result<usize, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = delete_intents(&tx, send, phones)?;
        tx.commit()?;
        Ok(n)
    }

    /// Per-send funnel counts, for one send or all, sorted by name.
    pub fn counts(&self, send: Option<&str>) -> Result<BTreeMap<String, LedgerCounts>, StateError> {
        let sql = "SELECT send, COUNT(*),
                    SUM(outcome = 'accepted'),
                    SUM(outcome = 'rejected'),
                    SUM(outcome IS NULL OR outcome = 'unknown'),
                    SUM(delivery_rank >= 3 OR completed_at IS NOT NULL),
                    SUM(delivery_rank >= 4 OR completed_at IS NOT NULL),
                    SUM(completed_at IS NOT NULL)
             FROM sends WHERE ?1 IS NULL OR send = ?1 GROUP BY send";
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![send])?;
        let mut out = BTreeMap::new();
        let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
        while let Some(r) = rows.next()? {
            out.insert(
                r.get::<_, String>(0)?,
                LedgerCounts {
                    recipients: n(r.get(1)?),
                    accepted: n(r.get(2)?),
                    rejected: n(r.get(3)?),
                    unknown: n(r.get(4)?),
                    delivered: n(r.get(5)?),
                    read: n(r.get(6)?),
                    completed: n(r.get(7)?),
                },
            );
        }
        Ok(out)
    }

    /// The not-accepted rows of `send` grouped by (outcome, reason), one
    /// `GROUP BY` over the send's rows.
    pub(crate) fn reason_counts(&self, send: &str) -> Result<Vec<ReasonCount>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT outcome, reason, COUNT(*) FROM sends
             WHERE send = ?1 AND outcome IS NOT 'accepted' GROUP BY outcome, reason",
        )?;
        let mut rows = stmt.query(params![send])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let outcome: Option<String> = r.get(0)?;
            out.push(ReasonCount {
                recorded: recorded_from(outcome.as_deref())?,
                reason: r.get(1)?,
                count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Stores the events of one webhook request in one transaction.
    ///
    /// # Guarantees
    /// When this returns `Ok`, every event is durably in `events` (or was
    /// already: redeliveries are recognized by their dedupe key and applied
    /// once), and acks, completions and windows are applied to the ledger.
    ///
    /// # Errors
    /// On error nothing of the request is stored; answer 5xx so 1msg retries.
    pub fn store_events(&self, events: &[InboundEvent]) -> Result<StoreReport, StateError> {
        let mut results = self.store_event_groups(&[events])?;
        results.pop().unwrap_or(Ok(StoreReport::default()))
    }

    /// Group commit: stores several requests' events in one transaction,
    /// each request in its own savepoint so one failing request cannot take
    /// the others down. The returned results are in input order; all the
    /// `Ok` ones are durable when this returns `Ok`.
    pub fn store_event_groups(
        &self,
        groups: &[&[InboundEvent]],
    ) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
        let received_at = Utc::now();
        let mut conn = self.conn();
        let mut tx = conn.transaction()?;
        let mut results = Vec::with_capacity(groups.len());
        for events in groups {
            let sp = tx.savepoint()?;
            match store_group(&sp, events, received_at) {
                Ok(report) => {
                    sp.commit()?;
                    results.push(Ok(report));
                }
                Err(e) => {
                    // Dropping the savepoint rolls it back.
                    drop(sp);
                    results.push(Err(e));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }

    /// Submitted forms of `send`, oldest first.
    pub fn responses(&self, send: &str) -> Result<Vec<Response>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT phone, flow_token, completed_at, response_json FROM sends
             WHERE send = ?1 AND completed_at IS NOT NULL ORDER BY completed_at, phone",
        )?;
        let mut rows = stmt.query(params![send])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let at: String = r.get(2)?;
            let json: Option<String> = r.get(3)?;
            let fields = match json.as_deref() {
                None => serde_json::Map::new(),
                Some(s) => serde_json::from_str(s).map_err(|_| StateError::Corrupt {
                    column: "sends.response_json",
                    value: s.chars().take(80).collect(),
                })?,
            };
            out.push(Response {
                phone: r.get(0)?,
                flow_token: r.get(1)?,
                submitted_at: parse_time("sends.completed_at", &at)?,
                fields,
            });
        }
        Ok(out)
    }

    /// The time of the customer's last inbound message, if any.
    pub fn last_inbound(&self, phone: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        let at: Option<String> = self
            .conn()
            .query_row(
                "SELECT last_inbound_at FROM windows WHERE phone = ?1",
                params![phone],
                |r| r.get(0),
            )
            .optional()?;
        at.map(|s| parse_time("windows.last_inbound_at", &s))
            .transpose()
    }

    /// When the 24-hour window for `phone` opened, if it is open at `now`.
    ///
    /// apply uses it to pick `sendFlow` or the fallback template without a
    /// failed call. The ledger only knows the messages the webhook saw, so
    /// `None` means "not known to be open", not "closed".
    pub fn window_open_since(
        &self,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(self
            .last_inbound(phone)?
            .filter(|at| *at <= now && now - *at < WINDOW))
    }

    /// Number of stored webhook events.
    pub fn event_count(&self) -> Result<u64, StateError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stored webhook events, oldest first, optionally of one kind.
    pub fn events(&self, kind: Option<&str>) -> Result<Vec<StoredEvent>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, received_at, kind, dedupe_key, message_id, status, phone, flow_token, raw
             FROM events WHERE ?1 IS NULL OR kind = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![kind])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let at: String = r.get(1)?;
            out.push(StoredEvent {
                id: r.get(0)?,
                received_at: parse_time("events.received_at", &at)?,
                kind: r.get(2)?,
                dedupe_key: r.get(3)?,
                message_id: r.get(4)?,
                status: r.get(5)?,
                phone: r.get(6)?,
                flow_token: r.get(7)?,
                raw: r.get(8)?,
            });
        }
        Ok(out)
    }
}

/// The contract; each method is the inherent one of the same name.
impl SendLedger for Ledger {
    fn location(&self) -> String {
        self.path.display().to_string()
    }
    fn commit_group(&self, group: &Group<'_>) -> Result<Vec<IntentStatus>, StateError> {
        Ledger::commit_group(self, group)
    }
    fn acquire_lock(&self, timeout: Duration) -> Result<LockGuard, StateError> {
        Ledger::acquire_lock(self, timeout)
    }
    fn lock_holder(&self) -> Result<Option<LockHolder>, StateError> {
        Ledger::lock_holder(self)
    }
    fn record_intents(&self, intents: &[Intent]) -> Result<Vec<IntentStatus>, StateError> {
        Ledger::record_intents(self, intents)
    }
    fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Result<usize, StateError> {
        Ledger::record_outcomes(self, outcomes)
    }
    fn withdraw_intents(&self, send: &str, phones: &[String]) -> Result<usize, StateError> {
        Ledger::withdraw_intents(self, send, phones)
    }
    fn visit_rows(&self, send: &str, f: &mut dyn FnMut(&str, Recorded)) -> Result<(), StateError> {
        Ledger::for_each_row(self, send, f)
    }
    fn lookup(&self, send: &str, phones: &[&str]) -> Result<Vec<Option<Recorded>>, StateError> {
        Ledger::lookup(self, send, phones)
    }
    fn row(&self, send: &str, phone: &str) -> Result<Option<SendRow>, StateError> {
        Ledger::row(self, send, phone)
    }
    fn mark_dangling_intents_unknown(&self) -> Result<usize, StateError> {
        Ledger::mark_dangling_intents_unknown(self)
    }
    fn unknown_rows(&self) -> Result<Vec<SendRow>, StateError> {
        Ledger::unknown_rows(self)
    }
    fn forget_unknown(&self, send: &str) -> Result<usize, StateError> {
        Ledger::forget_unknown(self, send)
    }
    fn counts(&self, send: Option<&str>) -> Result<BTreeMap<String, LedgerCounts>, StateError> {
        Ledger::counts(self, send)
    }
    fn reason_counts(&self, send: &str) -> Result<Vec<ReasonCount>, StateError> {
        Ledger::reason_counts(self, send)
    }
    fn responses(&self, send: &str) -> Result<Vec<Response>, StateError> {
        Ledger::responses(self, send)
    }
    fn store_event_groups(
        &self,
        groups: &[&[InboundEvent]],
    ) -> Result<Vec<Result<StoreReport, StateError>>, StateError> {
        Ledger::store_event_groups(self, groups)
    }
    fn event_count(&self) -> Result<u64, StateError> {
        Ledger::event_count(self)
    }
    fn events(&self, kind: Option<&str>) -> Result<Vec<StoredEvent>, StateError> {
        Ledger::events(self, kind)
    }
    fn audience(&self, send: &str) -> Result<Box<dyn AudienceScan + '_>, StateError> {
        Ok(Box::new(audience::SqliteScan::new(self, send)?))
    }
    fn last_inbound(&self, phone: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        Ledger::last_inbound(self, phone)
    }
}

fn insert_intents(
    tx: &Connection,
    intents: &[Intent],
    replace_unknown: bool,
) -> Result<Vec<IntentStatus>, StateError> {
    let mut out = Vec::with_capacity(intents.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO sends (send, phone, flow_token, kind, template, intent_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (send, phone) DO NOTHING",
    )?;
    // A Flow completion proves the earlier message arrived: that row stays.
    let mut forget = tx.prepare_cached(
        "DELETE FROM sends WHERE send = ?1 AND phone = ?2 AND outcome = 'unknown'
         AND completed_at IS NULL",
    )?;
    for i in intents {
        if replace_unknown {
            forget.execute(params![i.send, i.phone])?;
        }
        let n = insert.execute(params![
            i.send,
            i.phone,
            i.flow_token,
            i.kind.as_str(),
            i.template,
            fmt_time(i.at)
        ])?;
        out.push(if n == 1 {
            IntentStatus::Recorded
        } else {
            IntentStatus::AlreadyRecorded
        });
    }
    Ok(out)
}

/// Acks can reach the webhook before apply records the accepted outcome
/// that carries the message id; those acks were kept in `events` and are
/// applied here, so the race loses nothing.
fn update_outcomes(tx: &Connection, outcomes: &[OutcomeRecord]) -> Result<usize, StateError> {
    let mut changed = 0;
    let mut stmt = tx.prepare_cached(
        "UPDATE sends SET outcome = ?3, message_id = ?4, job_id = ?5, reason = ?6,
                outcome_at = ?7, kind = coalesce(?8, kind), template = coalesce(?9, template)
         WHERE send = ?1 AND phone = ?2",
    )?;
    for o in outcomes {
        let (message_id, job_id, reason) = match &o.outcome {
            Outcome::Accepted { message_id, job_id } => {
                (message_id.as_deref(), job_id.as_deref(), None)
            }
            Outcome::Rejected { reason } | Outcome::Unknown { reason } => {
                (None, None, Some(reason.as_str()))
            }
        };
        let n = stmt.execute(params![
            o.send,
            o.phone,
            o.outcome.as_str(),
            message_id,
            job_id,
            reason,
            fmt_time(o.at),
            o.kind.map(SendKind::as_str),
            o.template,
        ])?;
        changed += n;
        if let (1, Some(id)) = (n, message_id) {
            replay_acks(tx, id)?;
        }
    }
    Ok(changed)
}

fn delete_intents(tx: &Connection, send: &str, phones: &[String]) -> Result<usize, StateError> {
    let mut n = 0;
    let mut stmt =
        tx.prepare_cached("DELETE FROM sends WHERE send = ?1 AND phone = ?2 AND outcome IS NULL")?;
    for phone in phones {
        n += stmt.execute(params![send, phone])?;
    }
    Ok(n)
}

fn connect(path: &Path, create: bool) -> Result<Connection, StateError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let open_err = |source: rusqlite::Error| StateError::Open {
        location: path.display().to_string(),
        source: Box::new(source),
    };
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    // WAL: readers do not block the writer; FULL: each commit is fsynced, so
    // a recorded intent survives a crash of the process or the machine.
    set_wal(&conn).map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    Ok(conn)
}

/// Switches the file to WAL, retrying while another process holds it: the
/// switch needs an exclusive lock, and SQLite answers `SQLITE_BUSY` at once
/// there instead of waiting through `busy_timeout` (two applies starting on
/// a fresh state met exactly that).
fn set_wal(conn: &Connection) -> Result<(), rusqlite::Error> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let mode: Result<String, _> =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match mode {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Refuses a ledger whose latest commits sit in a `-wal` that SQLite
/// cannot read: on a read-only file system the WAL is read only through an
/// existing `-shm`, and an immutable open would ignore the WAL, showing
/// stale counts as if they were current.
fn unreadable_wal(path: &Path) -> Result<(), StateError> {
    let side = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    let (wal, shm) = (side("-wal"), side("-shm"));
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if wal_len > 0 && !shm.exists() {
        return Err(StateError::Open {
            location: path.display().to_string(),
            source: format!(
                "its latest commits are in {} and, on a read-only file system, SQLite reads \
                 them only through {} (missing); copy the ledger with both files, or to a \
                 writable place",
                wal.display(),
                shm.display()
            )
            .into(),
        });
    }
    Ok(())
}

/// Opens `path` read-only and immutable (for a read-only file system).
fn connect_read_only(path: &Path) -> Result<Connection, StateError> {
    let open_err = |source: rusqlite::Error| StateError::Open {
        location: path.display().to_string(),
        source: Box::new(source),
    };
    let mut uri = String::from("file:");
    for c in path.display().to_string().chars() {
        match c {
            '?' | '#' | '%' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags).map_err(open_err)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    if version != migrations::LATEST {
        return Err(StateError::Open {
            location: path.display().to_string(),
            source: Box::new(rusqlite::Error::InvalidQuery),
        });
    }
    Ok(conn)
}

fn recorded_from(outcome: Option<&str>) -> Result<Recorded, StateError> {
    match outcome {
        None => Ok(Recorded::IntentOnly),
        Some("accepted") => Ok(Recorded::Accepted),
        Some("rejected") => Ok(Recorded::Rejected),
        Some("unknown") => Ok(Recorded::Unknown),
        Some(other) => Err(StateError::Corrupt {
            column: "sends.outcome",
            value: other.to_string(),
        }),
    }
}

/// The columns [`raw_row`] reads, in its order.
const ROW_COLUMNS: &str = "send, phone, flow_token, kind, template, intent_at, outcome, message_id,
     job_id, reason, outcome_at, delivery, delivery_error, delivered_at, read_at,
     completed_at, response_json";

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        send: r.get(0)?,
        phone: r.get(1)?,
        flow_token: r.get(2)?,
        kind: r.get(3)?,
        template: r.get(4)?,
        intent_at: r.get(5)?,
        outcome: r.get(6)?,
        message_id: r.get(7)?,
        job_id: r.get(8)?,
        reason: r.get(9)?,
        outcome_at: r.get(10)?,
        delivery: r.get(11)?,
        delivery_error: r.get(12)?,
        delivered_at: r.get(13)?,
        read_at: r.get(14)?,
        completed_at: r.get(15)?,
        response_json: r.get(16)?,
    })
}

struct RawRow {
    send: String,
    phone: String,
    flow_token: String,
    kind: String,
    template: Option<String>,
    intent_at: String,
    outcome: Option<String>,
    message_id: Option<String>,
    job_id: Option<String>,
    reason: Option<String>,
    outcome_at: Option<String>,
    delivery: Option<String>,
    delivery_error: Option<String>,
    delivered_at: Option<String>,
    read_at: Option<String>,
    completed_at: Option<String>,
    response_json: Option<String>,
}

impl RawRow {
    fn into_row(self) -> Result<SendRow, StateError> {
        let time = |col, v: Option<String>| v.map(|s| parse_time(col, &s)).transpose();
        Ok(SendRow {
            kind: SendKind::parse(&self.kind).ok_or_else(|| StateError::Corrupt {
                column: "sends.kind",
                value: self.kind.clone(),
            })?,
            recorded: recorded_from(self.outcome.as_deref())?,
            intent_at: parse_time("sends.intent_at", &self.intent_at)?,
            outcome_at: time("sends.outcome_at", self.outcome_at)?,
            delivery: match self.delivery {
                None => None,
                Some(d) => Some(Delivery::parse(&d).ok_or(StateError::Corrupt {
                    column: "sends.delivery",
                    value: d,
                })?),
            },
            delivered_at: time("sends.delivered_at", self.delivered_at)?,
            read_at: time("sends.read_at", self.read_at)?,
            completed_at: time("sends.completed_at", self.completed_at)?,
            send: self.send,
            phone: self.phone,
            flow_token: self.flow_token,
            template: self.template,
            message_id: self.message_id,
            job_id: self.job_id,
            reason: self.reason,
            delivery_error: self.delivery_error,
            response_json: self.response_json,
        })
    }
}

fn store_group(
    tx: &Connection,
    events: &[InboundEvent],
    received_at: DateTime<Utc>,
) -> Result<StoreReport, StateError> {
    let mut report = StoreReport::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (received_at, kind, dedupe_key, message_id, status, error, phone,
                             flow_token, event_at, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )?;
    for event in events {
        let raw = event.raw.to_string();
        let key = dedupe_key(&event.kind, &raw);
        let (message_id, status, error, phone, flow_token, at) = match &event.kind {
            EventKind::Ack {
                message_id,
                status,
                error,
                phone,
                at,
            } => (
                Some(message_id.as_str()),
                Some(status.as_str()),
                error.as_deref(),
                phone.as_deref(),
                None,
                *at,
            ),
            EventKind::Completion {
                message_id,
                phone,
                flow_token,
                at,
                ..
            } => (
                message_id.as_deref(),
                None,
                None,
                phone.as_deref(),
                flow_token.as_deref(),
                *at,
            ),
            EventKind::Inbound {
                message_id,
                phone,
                at,
            } => (
                message_id.as_deref(),
                None,
                None,
                phone.as_deref(),
                None,
                *at,
            ),
            EventKind::Echo { message_id } => (message_id.as_deref(), None, None, None, None, None),
            EventKind::Unknown => (None, None, None, None, None, None),
        };
        let n = insert.execute(params![
            fmt_time(received_at),
            event.kind.name(),
            key,
            message_id,
            status,
            error,
            phone,
            flow_token,
            at.map(fmt_time),
            raw
        ])?;
        if n == 0 {
            report.duplicates += 1;
            continue;
        }
        report.stored += 1;
        let at = at.unwrap_or(received_at);
        match &event.kind {
            EventKind::Ack {
                message_id,
                status,
                error,
                ..
            } => {
                if apply_ack(tx, message_id, *status, error.as_deref(), at)? {
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
                    open_window(tx, phone, at)?;
                }
                let matched = match flow_token {
                    Some(token) => apply_completion(tx, token, phone.as_deref(), fields, at)?,
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
            } => open_window(tx, phone, at)?,
            EventKind::Inbound { phone: None, .. }
            | EventKind::Echo { .. }
            | EventKind::Unknown => {}
        }
    }
    Ok(report)
}

/// Moves the row forward only (see [`Delivery`] for the order); timestamps
/// of each stage are kept from the first ack of that stage.
fn apply_ack(
    tx: &Connection,
    message_id: &str,
    status: Delivery,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StateError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE sends SET
            delivery = CASE WHEN delivery_rank < ?2 THEN ?1 ELSE delivery END,
            delivery_error = CASE WHEN ?1 = 'failed' AND delivery_rank < ?2 THEN ?3
                                  ELSE delivery_error END,
            sent_at = CASE WHEN ?1 = 'sent' THEN coalesce(sent_at, ?4) ELSE sent_at END,
            delivered_at = CASE WHEN ?1 = 'delivered' THEN coalesce(delivered_at, ?4)
                                ELSE delivered_at END,
            read_at = CASE WHEN ?1 = 'read' THEN coalesce(read_at, ?4) ELSE read_at END,
            failed_at = CASE WHEN ?1 = 'failed' THEN coalesce(failed_at, ?4) ELSE failed_at END,
            delivery_rank = max(delivery_rank, ?2)
         WHERE message_id = ?5",
    )?;
    let n = stmt.execute(params![
        status.as_str(),
        status.rank(),
        error,
        fmt_time(at),
        message_id
    ])?;
    Ok(n > 0)
}

/// Applies acks stored before the outcome carrying their message id was.
fn replay_acks(tx: &Connection, message_id: &str) -> Result<(), StateError> {
    let mut stmt = tx.prepare_cached(
        "SELECT status, error, coalesce(event_at, received_at) FROM events
         WHERE message_id = ?1 AND kind = 'ack' ORDER BY id",
    )?;
    let acks: Vec<(String, Option<String>, String)> = stmt
        .query_map(params![message_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    for (status, error, at) in acks {
        if let Some(status) = Delivery::parse(&status) {
            let at = parse_time("events.event_at", &at)?;
            apply_ack(tx, message_id, status, error.as_deref(), at)?;
        }
    }
    Ok(())
}

/// Stores the form on the row this submission belongs to: the row with
/// this token and the submitter's phone, or else the only row with this
/// token. A token shared by several rows with no phone to tell them apart
/// is left unmatched (the event stays in `events`) rather than written to
/// people who submitted nothing. A later submission replaces an earlier one.
fn apply_completion(
    tx: &Connection,
    flow_token: &str,
    phone: Option<&str>,
    fields: &serde_json::Map<String, serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<bool, StateError> {
    let mut fields = fields.clone();
    // The token has its own column; the form is the rest.
    fields.remove("flow_token");
    let json = serde_json::Value::Object(fields).to_string();
    let rows: Vec<String> = tx
        .prepare_cached("SELECT phone FROM sends WHERE flow_token = ?1 LIMIT 2")?
        .query_map(params![flow_token], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let target = match (phone, rows.as_slice()) {
        (_, []) => return Ok(false),
        (Some(p), _) if rows.iter().any(|r| r == p) => p.to_string(),
        (_, [only]) => only.clone(),
        _ => {
            // Several rows share the token: only the phone can decide.
            let by_phone: Option<String> = match phone {
                Some(p) => tx
                    .prepare_cached("SELECT phone FROM sends WHERE flow_token = ?1 AND phone = ?2")?
                    .query_row(params![flow_token, p], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            match by_phone {
                Some(p) => p,
                None => return Ok(false),
            }
        }
    };
    tx.prepare_cached(
        "UPDATE sends SET completed_at = ?3, response_json = ?4
         WHERE flow_token = ?1 AND phone = ?2 AND (completed_at IS NULL OR completed_at <= ?3)",
    )?
    .execute(params![flow_token, target, fmt_time(at), json])?;
    Ok(true)
}

fn open_window(tx: &Connection, phone: &str, at: DateTime<Utc>) -> Result<(), StateError> {
    tx.prepare_cached(
        "INSERT INTO windows (phone, last_inbound_at) VALUES (?1, ?2)
         ON CONFLICT (phone) DO UPDATE SET
            last_inbound_at = max(last_inbound_at, excluded.last_inbound_at)",
    )?
    .execute(params![phone, fmt_time(at)])?;
    Ok(())
}
