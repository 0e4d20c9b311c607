//! `waform validate [PATH]`: schema + semantic checks, no network.

use std::io::IsTerminal;

use crate::cli::ValidateArgs;
use crate::config::{self, Depth};
use crate::diag::Severity;

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let result = config::load(&args.path, Depth::Full);
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    eprint!("{}", result.render(color));
    if result.diagnostics.has_errors() || result.config.is_none() {
        return Ok(1);
    }
    let warnings = result.diagnostics.count(Severity::Warning);
    if let Some(cfg) = &result.config {
        println!(
            "{} is valid: {} template(s), {} send(s), {} flow(s){}",
            args.path.display(),
            cfg.raw.templates.len(),
            cfg.raw.sends.len(),
            cfg.raw.flows.len(),
            if warnings > 0 {
                format!(", {warnings} warning(s)")
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}
