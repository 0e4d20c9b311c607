//! Semantic rules: what the schema cannot say — Meta's template rules,
//! references between sections, interpolation, phones and schedules. Every
//! problem is collected; none stops the others from being found.

mod duplicates;
mod provider;
mod sends;
mod templates;

use std::path::Path;

use super::spans::SpanMap;
use super::types::RawConfig;
use crate::diag::{Diagnostic, Diagnostics};

/// Collects diagnostics with locations looked up by document path.
pub(crate) struct Ctx<'a> {
    pub(crate) spans: &'a SpanMap,
    pub(crate) diags: Diagnostics,
}

impl Ctx<'_> {
    pub(crate) fn error(
        &mut self,
        path: &str,
        summary: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary), path, help.into());
    }

    pub(crate) fn warning(
        &mut self,
        path: &str,
        summary: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::warning(summary), path, help.into());
    }

    fn push(&mut self, mut diag: Diagnostic, path: &str, help: String) {
        diag = diag.path(path);
        if let Some(loc) = self.spans.locate(path) {
            diag = diag.at(loc);
        }
        if !help.is_empty() {
            diag = diag.help(help);
        }
        self.diags.push(diag);
    }
}

/// Runs every rule. `read_recipients` streams every recipient file (phones,
/// duplicates, columns); it is off when only the structure matters.
pub(crate) fn check(
    config: &RawConfig,
    spans: &SpanMap,
    base_dir: &Path,
    read_recipients: bool,
) -> Diagnostics {
    let mut ctx = Ctx {
        spans,
        diags: Diagnostics::default(),
    };
    provider::check(&mut ctx, config);
    templates::check(&mut ctx, config);
    sends::check(&mut ctx, config, base_dir, read_recipients);
    ctx.diags
}
