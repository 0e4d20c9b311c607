//! Thin binary: parse, run, render the error, pick the exit code.
//!
//! The CLI (`cli`: clap definitions; `commands`: one file per subcommand)
//! lives here, not in the library: `waform` the library has no CLI types.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): hyper writes to sockets with
    // `writev`, so a server closing its end would otherwise kill an apply
    // silently mid-send. A stdout reader that goes away (`waform plan |
    // head`) is handled where output is written (`secret::emit`).
    // Usage errors exit 1, not clap's 2: under `plan --detailed-exitcode`,
    // 2 means "changes", and a typo must not look like one.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(1),
            };
        }
    };
    match commands::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            waform::errln!("error: {err}");
            for cause in err.chain().skip(1) {
                waform::errln!("  Caused by: {cause}");
            }
            waform::ExitStatus::Failure.into()
        }
    }
}
