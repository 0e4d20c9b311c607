//! `plan`: the diff of Desired against Observed and Recorded, the Plan type,
//! its renderers and plan files.

pub(crate) mod build;
pub mod desired;
pub(crate) mod diff;
pub mod file;
pub(crate) mod fingerprint;
pub(crate) mod flows;
pub(crate) mod lower;
pub(crate) mod model;
pub mod planned;
pub mod render;
pub(crate) mod tally;
pub mod target;

pub use build::{build, BuildError, PlanInputs};
pub use diff::{diff, Observed, Tally};
pub use model::*;
