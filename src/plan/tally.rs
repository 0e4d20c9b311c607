//! The audience of a send: its recipients streamed once from the files and
//! classified in batches by the state database ([`crate::state::audience`]):
//! duplicates, excluded phones and what the ledger recorded. Nothing here
//! grows with the audience, so a ten-million-recipient send is counted in
//! the memory of one batch.

use std::collections::VecDeque;
use std::path::Path;

use super::diff::Tally;
use super::planned::PlannedSet;
use crate::config::recipients::{self, Row};
use crate::config::types::{RecipientSource, SendSpec};
use crate::diag::Diagnostic;
use crate::state::audience::BATCH;
use crate::state::{AudienceScan, Recorded, Seen, SendLedger, StateError};

/// Why a send's audience could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AudienceError {
    /// A recipient or exclude file is unreadable or has a bad row (shown
    /// at its file, line and column, with what to do).
    #[error("{}", recipients_message(.0))]
    Recipients(Box<Diagnostic>),
    /// The state database failed.
    #[error(transparent)]
    State(#[from] StateError),
}

fn recipients_message(d: &Diagnostic) -> String {
    let mut text = match &d.location {
        Some(at) => format!("{at}: {}", d.summary),
        None => d.summary.clone(),
    };
    if let Some(help) = &d.help {
        text.push_str(&format!(" ({help})"));
    }
    text
}

/// The rows of a send's recipient files, in file order, each with what the
/// database says about it (duplicates and excluded phones included, so
/// callers can count them). Ends after the first bad row.
pub(crate) struct Audience<'a> {
    rows: Box<dyn Iterator<Item = Result<Row, Diagnostic>> + Send + 'a>,
    scan: Box<dyn AudienceScan + 'a>,
    ready: VecDeque<Result<(Row, Seen), AudienceError>>,
    done: bool,
    /// The recipient files as they were when the scan started: a later
    /// batch is read long after the first (hours, rate-limited), and a
    /// file edited meanwhile is not the one reviewed.
    files: Vec<Watched>,
}

/// A recipient file's size and modification time.
struct Watched {
    shown: String,
    path: std::path::PathBuf,
    stamp: Option<(u64, Option<std::time::SystemTime>)>,
}

fn stamp(path: &Path) -> Option<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

impl<'a> Audience<'a> {
    /// Starts a scan of `send` (named `name` in the ledger) and loads its
    /// exclude files into it.
    ///
    /// # Errors
    /// An exclude file has a bad row, or the database fails.
    pub(crate) fn open(
        ledger: &'a dyn SendLedger,
        name: &str,
        send: &'a SendSpec,
        base_dir: &'a Path,
    ) -> Result<Self, AudienceError> {
        let mut scan = ledger.audience(name)?;
        let mut batch: Vec<String> = Vec::with_capacity(BATCH);
        let excluded = send
            .exclude
            .iter()
            .flat_map(|source| recipients::stream(source, base_dir, None));
        for row in excluded {
            batch.push(
                row.map_err(|d| AudienceError::Recipients(Box::new(d)))?
                    .phone,
            );
            if batch.len() == BATCH {
                scan.exclude(&batch.iter().map(String::as_str).collect::<Vec<_>>())?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            scan.exclude(&batch.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        let rows = send
            .recipients
            .iter()
            .flat_map(move |source| recipients::stream(source, base_dir, None));
        let files = send
            .recipients
            .iter()
            .filter_map(|source| match source {
                RecipientSource::Csv(csv) => {
                    let path = base_dir.join(&csv.csv);
                    Some(Watched {
                        shown: csv.csv.clone(),
                        stamp: stamp(&path),
                        path,
                    })
                }
                _ => None,
            })
            .collect();
        Ok(Audience {
            rows: Box::new(rows),
            scan,
            ready: VecDeque::new(),
            done: false,
            files,
        })
    }

    /// Reads and classifies the next batch (up to the first bad row).
    fn refill(&mut self) {
        if let Some(changed) = self.files.iter().find(|f| stamp(&f.path) != f.stamp) {
            self.ready.push_back(Err(AudienceError::Recipients(Box::new(
                Diagnostic::error(format!(
                    "{} changed during the send (its rows are read batch by batch)",
                    changed.shown
                ))
                .help("the rows already read were handled; leave the file alone while apply runs, then run `waform plan` and apply again for the rest"),
            ))));
            self.done = true;
            return;
        }
        let mut rows = Vec::with_capacity(BATCH);
        let mut bad = None;
        for row in self.rows.by_ref() {
            match row {
                Ok(row) => rows.push(row),
                Err(d) => {
                    bad = Some(AudienceError::Recipients(Box::new(d)));
                    break;
                }
            }
            if rows.len() == BATCH {
                break;
            }
        }
        if rows.len() < BATCH {
            self.done = true;
        }
        if !rows.is_empty() {
            let phones: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
            match self.scan.classify(&phones) {
                Ok(seen) => self.ready.extend(rows.into_iter().zip(seen).map(Ok)),
                Err(e) => {
                    self.ready.push_back(Err(e.into()));
                    self.done = true;
                    return;
                }
            }
        }
        if let Some(bad) = bad {
            self.ready.push_back(Err(bad));
            self.done = true;
        }
    }
}

impl Iterator for Audience<'_> {
    type Item = Result<(Row, Seen), AudienceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.done {
            self.refill();
        }
        self.ready.pop_front()
    }
}

/// Counts a send's audience against the ledger, and collects into
/// `planned` every recipient it counts as remaining. With `resend`
/// (`--resend-unknown`) an unknown outcome counts as remaining too.
///
/// # Errors
/// A recipient file has a bad row, or the database fails.
pub(crate) fn tally(
    ledger: &dyn SendLedger,
    name: &str,
    send: &SendSpec,
    base_dir: &Path,
    resend: bool,
    planned: &mut PlannedSet,
) -> Result<Tally, AudienceError> {
    let mut t = Tally::default();
    for item in Audience::open(ledger, name, send, base_dir)? {
        let (row, seen) = item?;
        let recorded = match seen {
            Seen::Duplicate => {
                t.duplicates += 1;
                continue;
            }
            Seen::Excluded => {
                t.excluded += 1;
                t.recipients += 1;
                continue;
            }
            Seen::New(recorded) => recorded,
        };
        t.recipients += 1;
        match recorded {
            Some(Recorded::Accepted) => t.accepted += 1,
            Some(Recorded::Rejected) => t.rejected += 1,
            // An intent without outcome: the request may have been made.
            Some(Recorded::Unknown | Recorded::IntentOnly) if resend => {
                t.resend += 1;
                t.remaining += 1;
                planned.insert(&row.phone);
            }
            Some(Recorded::Unknown | Recorded::IntentOnly) => t.unknown += 1,
            None => {
                t.remaining += 1;
                planned.insert(&row.phone);
            }
        }
    }
    Ok(t)
}
