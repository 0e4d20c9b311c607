//! Thin binary: parse, run, render the error, pick the exit code.
//!
//! The CLI (`cli`: clap definitions; `commands`: one file per subcommand)
//! lives here, not in the library: `waform` the library has no CLI types.

#![warn(unreachable_pub)]

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
    if let Err(err) = init_logging(cli.verbose) {
        waform::errln!("error: {err}");
        return waform::ExitStatus::Failure.into();
    }
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

/// Diagnostic logs (`tracing`) go to stderr, scrubbed of secrets, and never
/// carry user output. `-v`/`-vv` win over `WAFORM_LOG` (an env filter such
/// as `waform=debug`, or `trace` for dependencies too); without either
/// only waform's warnings show.
fn init_logging(verbose: u8) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match (verbose, std::env::var("WAFORM_LOG")) {
        (0, Ok(spec)) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).map_err(|e| {
            anyhow::anyhow!(
                "WAFORM_LOG={spec:?} is not a log filter ({e}); write e.g. WAFORM_LOG=waform=debug"
            )
        })?,
        // waform's own events only: dependencies (hyper, rustls) log at
        // their levels only when WAFORM_LOG asks for them.
        (0, _) => EnvFilter::new("waform=warn"),
        (1, _) => EnvFilter::new("waform=debug"),
        _ => EnvFilter::new("waform=trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(waform::secret::ScrubbedStderr::default)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging could not start: {e}"))
}
