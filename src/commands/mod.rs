//! One file per subcommand. Each returns its [`waform::ExitStatus`]; errors that
//! reach `main` are rendered as `error:` / `Caused by:` and exit 1.

pub(crate) mod apply;
pub(crate) mod apply_view;
pub(crate) mod context;
pub(crate) mod import;
pub(crate) mod ledger_source;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub(crate) mod responses;
pub(crate) mod sandbox;
pub(crate) mod schema;
pub(crate) mod signals;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod unlock;
pub(crate) mod validate;
pub(crate) mod webhook;

use crate::cli::{Cli, Command};

/// Runs the parsed command line and returns how it ended.
pub(crate) fn run(cli: Cli) -> anyhow::Result<waform::ExitStatus> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Import(args) => import::run(args),
        Command::Status(args) => status::run(args),
        Command::Responses(args) => responses::run(args),
        Command::Webhook(args) => webhook::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Unlock(args) => unlock::run(args),
        Command::State(args) => state::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Schema(args) => schema::run(args),
    }
}

/// A multi-threaded tokio runtime for the commands that do IO.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
