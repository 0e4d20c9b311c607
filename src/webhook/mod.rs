//! The webhook receiver that closes the loop: 1msg posts delivery acks,
//! customer messages and submitted Flow forms here, and they land in the
//! state ledger, correlated to the send rows apply wrote.
//!
//! `parse` turns a body into events without IO; `server` is the axum
//! receiver (`waform webhook`) that stores them before answering.

pub(crate) mod parse;
pub(crate) mod server;

pub use parse::{parse_body, parse_value, MalformedBody};
pub use server::{router, serve, serve_with, Limits, BODY_LIMIT};
