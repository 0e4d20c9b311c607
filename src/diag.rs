//! Diagnostics: collected, never fail-fast, each with severity, summary,
//! document path, file:line:column and a hint of what to do — rendered like
//! a compiler error with the offending source line.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::limits::MAX_DIAGNOSTICS;

/// How bad a diagnostic is: errors stop validate, plan and apply.
/// Serialised as `error` / `warning` (plan JSON `messages[].severity`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The config cannot be used as written (exit 1).
    Error,
    /// Usable, but probably not what was meant.
    Warning,
}

impl Severity {
    /// The word users see: `error` or `warning` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position in a config or recipients file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub(crate) file: Arc<str>,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Location {
    pub(crate) fn new(file: Arc<str>, line: usize, column: usize) -> Self {
        Location { file, line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One finding about the config: what, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub(crate) severity: Severity,
    pub(crate) summary: String,
    /// Path in the document, e.g. `templates.course_signup.languages.en_US.body`.
    pub(crate) path: Option<String>,
    pub(crate) location: Option<Location>,
    pub(crate) notes: Vec<String>,
    pub(crate) help: Option<String>,
    /// Text never shown in the source excerpt (a secret written in the config).
    pub(crate) mask: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(summary: impl Into<String>) -> Self {
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

    pub(crate) fn warning(summary: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary)
        }
    }

    pub(crate) fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub(crate) fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Masks `secret` wherever the excerpt would show it.
    pub(crate) fn mask(mut self, secret: impl Into<String>) -> Self {
        self.mask = Some(secret.into()).filter(|s: &String| !s.is_empty());
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// Diagnostics kept in full while checks run (filters such as
/// [`Diagnostics::retain`] see these); [`Diagnostics::sort`] cuts to the
/// [`MAX_DIAGNOSTICS`] shown.
const KEPT: usize = 50 * MAX_DIAGNOSTICS;

/// All problems found in one run.
///
/// Bounded whatever the input: every diagnostic is counted, but only the
/// first `MAX_DIAGNOSTICS` (errors before warnings, then by position) are
/// shown; the rest are reported as "and N more". Duplicates are dropped as
/// they arrive, so counting stays linear.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Hashes of every diagnostic seen, to drop repeats.
    seen: HashSet<u64>,
    errors: usize,
    warnings: usize,
}

impl Diagnostics {
    pub(crate) fn push(&mut self, diag: Diagnostic) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        diag.hash(&mut hasher);
        if !self.seen.insert(hasher.finish()) {
            return;
        }
        match diag.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        self.items.push(diag);
        if self.items.len() >= 2 * KEPT {
            self.keep_first(KEPT);
        }
    }

    pub(crate) fn extend(&mut self, other: Diagnostics) {
        // Counts of what `other` no longer holds in full carry over.
        let dropped_errors = other.errors
            - other
                .items
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
        let dropped_warnings = other.warnings
            - other
                .items
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count();
        self.errors += dropped_errors;
        self.warnings += dropped_warnings;
        for diag in other.items {
            self.push(diag);
        }
    }

    /// Whether any error was found (warnings alone do not count).
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// Whether nothing at all was found.
    pub fn is_empty(&self) -> bool {
        self.errors + self.warnings == 0
    }

    /// How many diagnostics of `severity` were found (shown or not).
    pub fn count(&self, severity: Severity) -> usize {
        match severity {
            Severity::Error => self.errors,
            Severity::Warning => self.warnings,
        }
    }

    /// The diagnostics kept in full.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Drops the diagnostics kept in full that `keep` refuses (those past
    /// the bound stay counted as they are).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Diagnostic) -> bool) {
        let (mut errors, mut warnings) = (0, 0);
        self.items.retain(|d| {
            let kept = keep(d);
            if !kept {
                match d.severity {
                    Severity::Error => errors += 1,
                    Severity::Warning => warnings += 1,
                }
            }
            kept
        });
        self.errors -= errors;
        self.warnings -= warnings;
    }

    /// How many were counted but not kept in full.
    pub(crate) fn not_shown(&self) -> usize {
        self.errors + self.warnings - self.items.len()
    }

    /// Keeps the `bound` that matter most: errors first, then the earliest
    /// in the files.
    fn keep_first(&mut self, bound: usize) {
        if self.items.len() > bound {
            self.items.sort_by(|a, b| {
                (a.severity, &a.location, &a.summary).cmp(&(b.severity, &b.location, &b.summary))
            });
            self.items.truncate(bound);
        }
    }

    /// Orders by file position so output is deterministic.
    pub(crate) fn sort(&mut self) {
        self.keep_first(MAX_DIAGNOSTICS);
        self.items.sort_by(|a, b| {
            (&a.location, a.severity, &a.summary).cmp(&(&b.location, b.severity, &b.summary))
        });
    }

    /// Renders every diagnostic kept, with source lines taken from
    /// `sources` (file → text), followed by a one-line tally.
    pub(crate) fn render(&self, sources: &HashMap<Arc<str>, String>, color: bool) -> String {
        let mut out = String::new();
        let mut lines = SourceLines::new(sources);
        for diag in &self.items {
            render_one(&mut out, diag, &mut lines, color);
        }
        let errors = self.errors;
        let warnings = self.warnings;
        let hidden = self.not_shown();
        if hidden > 0 {
            let _ = writeln!(
                out,
                "... and {hidden} more (only the first {MAX_DIAGNOSTICS} are shown; fix these and run again)\n"
            );
        }
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
        crate::secret::scrub(&out).into_owned()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Line lookup in the config sources, indexed once per file: finding a
/// line by scanning from the top made rendering quadratic.
struct SourceLines<'a> {
    sources: &'a HashMap<Arc<str>, String>,
    /// File → byte offset where each line starts.
    starts: HashMap<Arc<str>, Vec<usize>>,
    /// File → lines that may hold a secret.
    sensitive: HashMap<Arc<str>, HashSet<usize>>,
}

impl<'a> SourceLines<'a> {
    fn new(sources: &'a HashMap<Arc<str>, String>) -> Self {
        SourceLines {
            sources,
            starts: HashMap::new(),
            sensitive: HashMap::new(),
        }
    }

    fn is_sensitive(&mut self, file: &Arc<str>, line: usize) -> bool {
        let Some(text) = self.sources.get(file) else {
            return false;
        };
        self.sensitive
            .entry(file.clone())
            .or_insert_with(|| crate::config::secret_lines::sensitive_lines(text))
            .contains(&line)
    }

    /// Line `line` (1-based) of `file`, without its line break.
    fn line(&mut self, file: &Arc<str>, line: usize) -> Option<&'a str> {
        let text = self.sources.get(file)?;
        let starts = self.starts.entry(file.clone()).or_insert_with(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let start = *starts.get(line.checked_sub(1)?)?;
        let end = starts.get(line).map_or(text.len(), |&next| next);
        if start >= text.len() {
            return None;
        }
        let raw = &text[start..end];
        Some(raw.trim_end_matches('\n').trim_end_matches('\r'))
    }
}

/// Notes shown per diagnostic.
const MAX_NOTES: usize = 20;

/// Longest text shown for one part of a diagnostic.
const MAX_TEXT_CHARS: usize = 2_000;

/// `text`, cut to [`MAX_TEXT_CHARS`]: one diagnostic about 300,000 keys
/// must not print all of them.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} more characters)",
            &text[..cut],
            text.len() - cut
        )),
    }
}

/// Characters of a source line shown around the column.
const EXCERPT_CHARS: usize = 160;

/// The part of `text` around `column` (1-based) and the padding that puts
/// a caret under it; a one-line file of megabytes shows only that part.
fn excerpt(text: &str, column: usize) -> (String, String) {
    let chars: Vec<char> = text.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let (from, to) = if chars.len() <= EXCERPT_CHARS {
        (0, chars.len())
    } else {
        let from = at.saturating_sub(EXCERPT_CHARS / 2);
        (from, (from + EXCERPT_CHARS).min(chars.len()))
    };
    let mut shown: String = chars[from..to].iter().collect();
    let mut pad: String = chars[from..at]
        .iter()
        .map(|&c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    if from > 0 {
        shown.insert(0, '…');
        pad.insert(0, ' ');
    }
    if to < chars.len() {
        shown.push('…');
    }
    (shown, pad)
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn render_one(out: &mut String, diag: &Diagnostic, lines: &mut SourceLines<'_>, color: bool) {
    let (label, code) = match diag.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let _ = writeln!(
        out,
        "{}: {}",
        paint(color, code, label),
        bounded(&diag.summary)
    );
    if let Some(loc) = &diag.location {
        let line_text = lines.line(&loc.file, loc.line);
        let gutter = " ".repeat(loc.line.to_string().len());
        let _ = writeln!(out, "{gutter}--> {loc}");
        if let Some(text) = line_text {
            let _ = writeln!(out, "{gutter} |");
            let secret = lines.is_sensitive(&loc.file, loc.line)
                || diag
                    .mask
                    .as_ref()
                    .is_some_and(|m| text.contains(m.as_str()))
                || crate::secret::holds_secret(text);
            if secret {
                // Neither masked nor cut: any echo of such a line is a leak.
                let _ = writeln!(out, "{} | (line not shown: it may hold a secret)", loc.line);
            } else {
                let (shown, caret_pad) = excerpt(text, loc.column);
                let _ = writeln!(out, "{} | {}", loc.line, shown);
                let _ = writeln!(out, "{gutter} | {caret_pad}{}", paint(color, code, "^"));
            }
        }
    }
    if let Some(path) = &diag.path {
        let _ = writeln!(out, "  = at: {}", bounded(path));
    }
    for note in diag.notes.iter().take(MAX_NOTES) {
        let _ = writeln!(out, "  = note: {}", bounded(note));
    }
    if diag.notes.len() > MAX_NOTES {
        let _ = writeln!(out, "  = note: and {} more", diag.notes.len() - MAX_NOTES);
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "  = help: {}", bounded(help));
    }
    out.push('\n');
}
