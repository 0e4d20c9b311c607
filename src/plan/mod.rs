//! `plan`: the diff of Desired against Observed and Recorded, the Plan type,
//! its renderers and plan files.

pub mod build;
pub mod desired;
pub mod diff;
pub mod file;
pub mod fingerprint;
pub mod flows;
pub mod model;
pub mod planned;
pub mod render;
pub mod tally;

pub use build::{build, PlanInputs};
pub use diff::{diff, Observed, Tally};
pub use model::*;
