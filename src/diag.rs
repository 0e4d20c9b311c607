//! Diagnostics: collected, never fail-fast, each with severity, summary,
//! document path, file:line:column and a hint of what to do — rendered like
//! a compiler error with the offending source line.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a config or recipients file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: Arc<str>, line: usize, column: usize) -> Self {
        Location { file, line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    /// Path in the document, e.g. `templates.course_signup.languages.en_US.body`.
    pub path: Option<String>,
    pub location: Option<Location>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// Text never shown in the source excerpt (a secret written in the config).
    pub mask: Option<String>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            path: None,
            location: None,
            notes: Vec::new(),
            help: None,
            mask: None,
        }
    }

    pub fn warning(summary: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary)
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Masks `secret` wherever the excerpt would show it.
    pub fn mask(mut self, secret: impl Into<String>) -> Self {
        self.mask = Some(secret.into()).filter(|s: &String| !s.is_empty());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// All problems found in one run.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diag: Diagnostic) {
        self.items.push(diag);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Orders by file position so output is deterministic.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (&a.location, a.severity, &a.summary).cmp(&(&b.location, b.severity, &b.summary))
        });
        self.items.dedup();
    }

    /// Renders every diagnostic, with source lines taken from `sources`
    /// (file → text), followed by a one-line tally.
    pub fn render(&self, sources: &HashMap<Arc<str>, String>, color: bool) -> String {
        let mut out = String::new();
        for diag in &self.items {
            render_one(&mut out, diag, sources, color);
        }
        let errors = self.count(Severity::Error);
        let warnings = self.count(Severity::Warning);
        if errors + warnings > 0 {
            let _ = writeln!(
                out,
                "{} error{}, {} warning{}",
                errors,
                if errors == 1 { "" } else { "s" },
                warnings,
                if warnings == 1 { "" } else { "s" }
            );
        }
        out
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn render_one(
    out: &mut String,
    diag: &Diagnostic,
    sources: &HashMap<Arc<str>, String>,
    color: bool,
) {
    let (label, code) = match diag.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let _ = writeln!(out, "{}: {}", paint(color, code, label), diag.summary);
    if let Some(loc) = &diag.location {
        let line_text = sources
            .get(&loc.file)
            .and_then(|src| src.lines().nth(loc.line.saturating_sub(1)));
        let gutter = " ".repeat(loc.line.to_string().len());
        let _ = writeln!(out, "{gutter}--> {loc}");
        if let Some(text) = line_text {
            let caret_pad: String = text
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{gutter} |");
            let shown = match &diag.mask {
                Some(secret) => text.replace(secret.as_str(), "***"),
                None => text.to_string(),
            };
            let _ = writeln!(out, "{} | {}", loc.line, shown);
            let _ = writeln!(out, "{gutter} | {caret_pad}{}", paint(color, code, "^"));
        }
    }
    if let Some(path) = &diag.path {
        let _ = writeln!(out, "  = at: {path}");
    }
    for note in &diag.notes {
        let _ = writeln!(out, "  = note: {note}");
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out.push('\n');
}
