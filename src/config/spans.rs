//! Where each node of the merged config came from.

use std::collections::HashMap;

use crate::diag::Location;

/// Document path (`templates.x.languages.en_US.body`, `sends.s.recipients[0]`)
/// → location of the node in its file.
#[derive(Debug, Default, Clone)]
pub struct SpanMap {
    spans: HashMap<String, Location>,
}

impl SpanMap {
    pub(crate) fn get(&self, path: &str) -> Option<&Location> {
        self.spans.get(path)
    }

    pub(crate) fn insert(&mut self, path: String, location: Location) {
        self.spans.insert(path, location);
    }

    /// The location of `path`, or of its nearest ancestor that has one (a
    /// missing field is reported at the mapping that lacks it).
    pub(crate) fn locate(&self, path: &str) -> Option<Location> {
        let mut current = path;
        loop {
            if let Some(loc) = self.spans.get(current) {
                return Some(loc.clone());
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }

    /// Takes every span of `other`.
    pub(crate) fn absorb_all(&mut self, other: HashMap<String, Location>) {
        if self.spans.is_empty() {
            self.spans = other;
        } else {
            self.spans.extend(other);
        }
    }

    /// Copies from `other` the spans of every path in `prefixes` and of
    /// everything below them. One pass over `other` (a pass per prefix made
    /// a file of many top-level keys quadratic).
    pub(crate) fn absorb(&mut self, other: HashMap<String, Location>, prefixes: &[String]) {
        let wanted: std::collections::HashSet<&str> = prefixes.iter().map(String::as_str).collect();
        let longest = prefixes.iter().map(String::len).max().unwrap_or(0);
        for (path, loc) in other {
            let below = path
                .char_indices()
                .filter(|&(i, c)| i <= longest && (c == '.' || c == '['))
                .map(|(i, _)| &path[..i])
                .chain(std::iter::once(path.as_str()))
                .any(|prefix| wanted.contains(prefix));
            if below {
                self.spans.insert(path, loc);
            }
        }
    }
}
