//! `waform state migrate --from URL --to URL`: grows a team from the
//! embedded SQLite ledger to a shared PostgreSQL one (or back), every row,
//! verified by counts; see [`waform::state::transfer`].

use std::path::Path;

use crate::cli::{StateArgs, StateCommand};
use waform::state::url::resolve_with_env;

pub(crate) fn run(args: StateArgs) -> anyhow::Result<waform::ExitStatus> {
    match args.command {
        StateCommand::Migrate(m) => {
            // URLs typed on the command line are relative to the current folder.
            let from = resolve_with_env(Some(&m.from), None, Path::new("."), None)?;
            let to = resolve_with_env(Some(&m.to), None, Path::new("."), None)?;
            let counts = waform::state::transfer::migrate(&from, &to)?;
            waform::outln!(
                "Migrated {} send row(s), {} event(s) and {} window(s) from {from} to {to}; counts verified.",
                counts.sends, counts.events, counts.windows
            );
            waform::outln!("Point waform at the new state (state.url, WAFORM_STATE or --state) before the next apply.");
            Ok(waform::ExitStatus::Success)
        }
    }
}
