//! One integration-test binary: every test drives real things (the binary,
//! the sandbox over loopback, SQLite files in temp dirs).

mod common;

mod apply;
mod cli;
mod plan;
mod provider;
mod sandbox;
mod schema;
mod state;
mod validate;
mod webhook;
