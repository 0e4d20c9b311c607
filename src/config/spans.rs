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
    pub fn get(&self, path: &str) -> Option<&Location> {
        self.spans.get(path)
    }

    pub fn insert(&mut self, path: String, location: Location) {
        self.spans.insert(path, location);
    }

    /// The location of `path`, or of its nearest ancestor that has one (a
    /// missing field is reported at the mapping that lacks it).
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut current = path;
        loop {
            if let Some(loc) = self.spans.get(current) {
                return Some(loc.clone());
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }

    /// Copies the spans of `prefix` and everything below it from `other`.
    pub fn absorb(&mut self, other: &HashMap<String, Location>, prefix: &str) {
        for (path, loc) in other {
            let below = path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['));
            if below {
                self.spans.insert(path.clone(), loc.clone());
            }
        }
    }
}
