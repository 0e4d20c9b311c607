//! One integration-test binary: every test drives real things (the binary,
//! the sandbox over loopback, SQLite files in temp dirs).
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed test
#![allow(unsafe_code)] // tests signal and reap their own children (kill, wait4)

mod common;
mod pg_cluster;

mod apply;
mod audience;
mod audience_kills;
mod cli;
mod conformance;
mod diagnostics;
mod dry_run;
mod flow_account_errors;
mod flow_apply;
mod flow_clone;
mod flow_import;
mod flow_inline;
mod flows;
mod hostile;
mod json_output;
mod ledger_fixtures;
mod library;
mod lock;
mod pg_bouncer;
mod pg_e2e;
mod pg_tls;
mod plan;
mod provider;
mod reconcile;
mod report;
mod safety;
mod sandbox;
mod sandbox_flows;
mod schema;
mod state;
mod state_migrate;
mod targets;
mod validate;
mod watch;
mod webhook;
