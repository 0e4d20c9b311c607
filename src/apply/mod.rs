//! Executing a plan: templates created, approval awaited, superseded and
//! removed templates deleted, due sends sent exactly once.

pub mod applier;
pub mod dispatch;
pub mod flows;
pub mod group_commit;
pub mod held_lock;
pub mod message;
pub mod ratelimit;
pub mod reconcile;
pub mod reporter;
pub mod sends;
pub mod stop;
pub mod templates;

pub use applier::{Applier, ApplyInputs, ApplySettings, PassOutcome};
pub use reporter::{Event, Reporter, Silent, Stage};

use std::collections::HashMap;

use crate::plan::tally;
use crate::state::{Recorded, SendLedger};

/// What the ledger recorded for one send, keyed by phone number.
pub fn recorded_map(ledger: &dyn SendLedger, send: &str) -> anyhow::Result<HashMap<u64, Recorded>> {
    Ok(tally::recorded(ledger, send)?)
}
