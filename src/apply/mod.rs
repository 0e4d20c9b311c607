//! Executing a plan: templates created, approval awaited, superseded and
//! removed templates deleted, due sends sent exactly once.

pub mod ratelimit;
pub mod sends;
pub mod templates;

use std::collections::HashMap;

use crate::plan::tally::{self, Recorded};
use crate::state::Ledger;

/// What the ledger recorded for one send, keyed by phone number.
pub fn recorded_map(ledger: &Ledger, send: &str) -> anyhow::Result<HashMap<u64, Recorded>> {
    let rows = ledger.rows_for_send(send)?;
    Ok(rows
        .into_iter()
        .map(|(phone, r)| {
            let r = match r {
                crate::state::Recorded::Accepted => Recorded::Accepted,
                crate::state::Recorded::Rejected => Recorded::Rejected,
                crate::state::Recorded::Unknown | crate::state::Recorded::IntentOnly => {
                    Recorded::Unknown
                }
            };
            (tally::phone_key(&phone), r)
        })
        .collect())
}
