//! The audience of a send: its recipients streamed once, duplicates and
//! excluded phones dropped, counted against what the ledger recorded.
//! Phones are kept as `u64` (≤ 15 digits) so a million-recipient send fits
//! in a few tens of megabytes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::diff::Tally;
use super::planned::PlannedSet;
use crate::config::recipients::{self, Row};
use crate::config::types::SendSpec;
use crate::diag::Diagnostic;
use crate::state::Recorded;

/// E.164 digits as a number (E.164 has at most 15 digits).
pub(crate) fn phone_key(digits: &str) -> u64 {
    digits.parse().unwrap_or(u64::MAX)
}

/// Phones listed under `exclude:`.
pub(crate) fn excluded(send: &SendSpec, base_dir: &Path) -> Result<HashSet<u64>, Box<Diagnostic>> {
    let mut set = HashSet::new();
    for source in &send.exclude {
        for row in recipients::stream(source, base_dir, None) {
            set.insert(phone_key(&row.map_err(Box::new)?.phone));
        }
    }
    Ok(set)
}

/// Streams the unique, not-excluded recipients of a send, in file order.
/// `on_skip` hears about each duplicate (`true`) or excluded (`false`) row.
pub(crate) fn audience<'a>(
    send: &'a SendSpec,
    base_dir: &'a Path,
    excluded: &'a HashSet<u64>,
    mut on_skip: impl FnMut(bool) + 'a,
) -> impl Iterator<Item = Result<Row, Diagnostic>> + 'a {
    let mut seen: HashSet<u64> = HashSet::new();
    send.recipients
        .iter()
        .flat_map(move |source| recipients::stream(source, base_dir, None))
        .filter(move |row| match row {
            Err(_) => true,
            Ok(row) => {
                let key = phone_key(&row.phone);
                if !seen.insert(key) {
                    on_skip(true);
                    false
                } else if excluded.contains(&key) {
                    on_skip(false);
                    false
                } else {
                    true
                }
            }
        })
}

/// Counts a send's audience against the ledger, and collects into
/// `planned` every recipient it counts as remaining. With `resend`
/// (`--resend-unknown`) an unknown outcome counts as remaining too.
pub(crate) fn tally(
    send: &SendSpec,
    base_dir: &Path,
    recorded: &HashMap<u64, Recorded>,
    resend: bool,
    planned: &mut PlannedSet,
) -> Result<Tally, Box<Diagnostic>> {
    let excluded = excluded(send, base_dir)?;
    let mut t = Tally::default();
    let (mut dups, mut excl) = (0u64, 0u64);
    {
        let counter = |dup: bool| if dup { dups += 1 } else { excl += 1 };
        for row in audience(send, base_dir, &excluded, counter) {
            let row = row.map_err(Box::new)?;
            t.recipients += 1;
            match recorded.get(&phone_key(&row.phone)) {
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
    }
    t.duplicates = dups;
    t.excluded = excl;
    t.recipients += excl;
    Ok(t)
}

/// What the ledger recorded for one send, keyed by [`phone_key`].
///
/// # Errors
/// The ledger cannot be read.
pub(crate) fn recorded(
    ledger: &dyn crate::state::SendLedger,
    send: &str,
) -> Result<std::collections::HashMap<u64, crate::state::Recorded>, crate::state::StateError> {
    // Straight into u64 keys: a String-keyed map of a million rows would
    // double the peak memory.
    let mut out = std::collections::HashMap::new();
    ledger.visit_rows(send, &mut |phone, r| {
        out.insert(phone_key(phone), r);
    })?;
    Ok(out)
}
