//! waform: WhatsApp Flows as code.
//!
//! Data flows one way (see `docs/ARCHITECTURE.md`):
//! config (YAML) → Desired; provider → Observed; Desired + Observed + Recorded
//! (ledger) → Plan → apply → provider writes + ledger records ← webhook events.

#![warn(unreachable_pub)]

pub mod account;
pub mod apply;
pub(crate) mod backoff;
pub mod config;
pub mod diag;
pub mod exit;
pub mod flow;
pub mod import;
pub(crate) mod lenient;
pub(crate) mod limits;
pub mod plan;
pub mod provider;
pub mod report;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod settings;
pub mod state;
pub mod webhook;

pub use exit::ExitStatus;
