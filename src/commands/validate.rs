//! `waform validate [PATH]`: schema + semantic checks, no network.

use std::io::IsTerminal;

use crate::cli::ValidateArgs;
use waform::config::{self, Depth};
use waform::diag::Severity;

pub(crate) fn run(args: ValidateArgs) -> anyhow::Result<waform::ExitStatus> {
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    if args.path.extension().is_some_and(|e| e == "json") {
        return Ok(flow_file(&args, color));
    }
    let result = config::load(&args.path, Depth::Full);
    waform::err!("{}", result.render(color));
    if result.diagnostics.has_errors() || result.config.is_none() {
        return Ok(waform::ExitStatus::Failure);
    }
    let warnings = result.diagnostics.count(Severity::Warning);
    if let Some(cfg) = &result.config {
        waform::outln!(
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
    Ok(waform::ExitStatus::Success)
}

/// A Flow JSON file checked on its own (no config, so no cross-checks).
fn flow_file(args: &ValidateArgs, color: bool) -> waform::ExitStatus {
    let result = waform::flow::validate_file(&args.path);
    waform::err!("{}", result.render(color));
    if result.diagnostics.has_errors() {
        return waform::ExitStatus::Failure;
    }
    let warnings = result.diagnostics.count(Severity::Warning);
    waform::outln!(
        "{} is a valid Flow JSON{}",
        args.path.display(),
        if warnings > 0 {
            format!(", {warnings} warning(s)")
        } else {
            String::new()
        }
    );
    waform::ExitStatus::Success
}
