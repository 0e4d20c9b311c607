//! Counting duplicate phones in a send's recipient list without holding the
//! list: the phones go, a batch at a time, through the same database
//! deduplication plan and apply use (a private scratch SQLite file,
//! `crate::state::audience`), so validating ten million recipients takes
//! the memory of one batch.

use std::collections::HashSet;

use crate::diag::Location;
use crate::state::audience::{phone_key, BATCH};
use crate::state::{AudienceScan, Ledger, Seen, SendLedger};

/// Duplicates found so far in one send's recipient list, and where the
/// first one is.
pub(super) struct Duplicates<'a> {
    scan: Option<Box<dyn AudienceScan + 'a>>,
    pending: Vec<(String, Location)>,
    /// Used when no scratch file can be made (no writable temp dir), or
    /// from the point one fails (a duplicate of a phone before that point
    /// is then missed: this only words a warning).
    fallback: HashSet<u64>,
    pub(super) count: usize,
    pub(super) first: Option<Location>,
}

impl<'a> Duplicates<'a> {
    /// `scratch`: [`Ledger::scratch`], if one could be made.
    pub(super) fn new(scratch: Option<&'a Ledger>) -> Self {
        Duplicates {
            scan: scratch.and_then(|l| l.audience("").ok()),
            pending: Vec::new(),
            fallback: HashSet::new(),
            count: 0,
            first: None,
        }
    }

    /// The next row of the list.
    pub(super) fn push(&mut self, phone: String, at: &Location) {
        if self.scan.is_none() {
            if !self.fallback.insert(phone_key(&phone)) {
                self.found(at.clone());
            }
            return;
        }
        self.pending.push((phone, at.clone()));
        if self.pending.len() == BATCH {
            self.flush();
        }
    }

    /// Classifies what is pending; call once more after the last row.
    pub(super) fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let Some(scan) = self.scan.as_mut() else {
            return;
        };
        let phones: Vec<&str> = pending.iter().map(|(p, _)| p.as_str()).collect();
        match scan.classify(&phones) {
            Ok(seen) => {
                for ((_, at), seen) in pending.iter().zip(seen) {
                    if seen == Seen::Duplicate {
                        self.found(at.clone());
                    }
                }
            }
            Err(_) => {
                self.scan = None;
                for (phone, at) in pending {
                    if !self.fallback.insert(phone_key(&phone)) {
                        self.found(at);
                    }
                }
            }
        }
    }

    fn found(&mut self, at: Location) {
        self.count += 1;
        self.first.get_or_insert(at);
    }
}
