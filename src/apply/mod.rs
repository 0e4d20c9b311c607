//! Executing a plan: templates created, approval awaited, superseded and
//! removed templates deleted, due sends sent exactly once.

pub(crate) mod applier;
pub mod dispatch;
pub(crate) mod flows;
pub(crate) mod group_commit;
pub(crate) mod held_lock;
pub(crate) mod message;
pub mod ratelimit;
pub mod reconcile;
pub(crate) mod reporter;
pub mod sends;
pub mod stop;
pub(crate) mod templates;

pub use applier::{Applier, ApplyInputs, ApplySettings, PassOutcome};
pub use reporter::{Event, FlowStep, Reporter, Silent, Stage, TemplateStep};
