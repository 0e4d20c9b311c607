//! Classifying a send's audience through the database (docs/exactly-once.md,
//! "How the due set is computed"): plan and apply stream the recipient
//! files in batches, and the database, not a map in the client, remembers
//! which phones came before, which are excluded and what the ledger holds.
//! Memory stays O(batch) however large the audience.
//!
//! Each backend keeps two temporary tables per scan on its own session
//! (`seen` and `excluded` phones, as 64-bit keys) and answers a batch with
//! one LEFT JOIN against `sends`. Temporary tables are private to the
//! session and vanish with it, so a killed process leaves nothing behind.

use std::collections::HashSet;

use super::{Recorded, StateError};

/// Recipients classified per database round trip by plan and apply: large
/// enough that the round trip is amortized, small enough that the rows
/// held in memory do not matter.
pub const BATCH: usize = 10_000;

/// What the database says about one row of a send's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The phone came earlier in the audience (this scan).
    Duplicate,
    /// First time in the audience, but listed under `exclude:`.
    Excluded,
    /// First time in the audience: what the ledger holds for it (`None`:
    /// never attempted).
    New(Option<Recorded>),
}

/// One pass over a send's audience, classified by the database.
///
/// # Guarantees an implementation must give
/// - A phone is [`Seen::New`] or [`Seen::Excluded`] at its first
///   occurrence in the scan (across all batches) and [`Seen::Duplicate`]
///   at every later one, within a batch as across batches.
/// - The ledger part of [`Seen::New`] reflects the rows committed when the
///   batch is classified (intents written for earlier batches included).
/// - Memory held by the client is O(batch), not O(audience).
pub trait AudienceScan: Send {
    /// Adds phones to the excluded set; call before [`AudienceScan::classify`].
    fn exclude(&mut self, phones: &[&str]) -> Result<(), StateError>;
    /// Classifies the next rows of the audience, in order; one answer per
    /// phone.
    fn classify(&mut self, phones: &[&str]) -> Result<Vec<Seen>, StateError>;
}

/// The number a phone is deduplicated by: its E.164 digits (at most 15, so
/// they fit) as an integer; anything else collapses to one key, as plan and
/// apply always treated it.
pub(crate) fn phone_key(digits: &str) -> u64 {
    digits.parse().unwrap_or(u64::MAX)
}

/// The key as the databases store it (a signed 64-bit integer; the bits
/// are kept as they are).
pub(crate) fn db_key(digits: &str) -> i64 {
    phone_key(digits) as i64
}

/// The first occurrences within one batch: (index in the batch, key).
/// Later occurrences are answered [`Seen::Duplicate`] without asking the
/// database; `out` is filled with that and a placeholder elsewhere.
pub(crate) fn first_in_batch(phones: &[&str], out: &mut Vec<Seen>) -> Vec<(usize, i64)> {
    let mut keys = HashSet::with_capacity(phones.len());
    let mut firsts = Vec::with_capacity(phones.len());
    out.clear();
    for (i, phone) in phones.iter().enumerate() {
        let key = db_key(phone);
        if keys.insert(key) {
            firsts.push((i, key));
            out.push(Seen::New(None));
        } else {
            out.push(Seen::Duplicate);
        }
    }
    firsts
}

/// Names of one scan's temporary tables: unique per process, so two scans
/// on one session never share a table.
pub(crate) fn table_names() -> (String, String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (format!("waform_seen_{n}"), format!("waform_excluded_{n}"))
}

/// The answer for a first occurrence, from the join's columns.
pub(crate) fn answer(already_seen: bool, excluded: bool, recorded: Option<Recorded>) -> Seen {
    if already_seen {
        Seen::Duplicate
    } else if excluded {
        Seen::Excluded
    } else {
        Seen::New(recorded)
    }
}
