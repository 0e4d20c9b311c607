//! Flow JSON versions: which may be published, which are frozen, which are
//! newer than waform knows (docs/flow-json-rules.md "Versions").

use std::fmt;

/// A Flow JSON version such as 7.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Version {
    pub(crate) major: u8,
    pub(crate) minor: u8,
}

impl Version {
    pub(crate) const fn new(major: u8, minor: u8) -> Self {
        Version { major, minor }
    }

    /// Parses `"7.3"`; anything else is `None`.
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return None;
        }
        Some(Version::new(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Versions Meta accepts for publishing a Flow.
pub(crate) const PUBLISHABLE: [Version; 9] = [
    Version::new(5, 1),
    Version::new(6, 0),
    Version::new(6, 1),
    Version::new(6, 2),
    Version::new(6, 3),
    Version::new(7, 0),
    Version::new(7, 1),
    Version::new(7, 2),
    Version::new(7, 3),
];

/// Versions that can still be sent but no longer published (frozen in 2025).
pub(crate) const FROZEN: [Version; 5] = [
    Version::new(2, 1),
    Version::new(3, 0),
    Version::new(3, 1),
    Version::new(4, 0),
    Version::new(5, 0),
];

/// The version Meta recommends, and the rules an unknown newer version is
/// checked with.
pub(crate) const LATEST: Version = Version::new(7, 3);

/// What waform makes of a declared version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    Publishable,
    Frozen,
    /// Newer than [`LATEST`]: possibly an early-release version; checked with
    /// the latest rules and warned about.
    Newer,
    Unknown,
}

pub(crate) fn standing(v: Version) -> Standing {
    if PUBLISHABLE.contains(&v) {
        Standing::Publishable
    } else if FROZEN.contains(&v) {
        Standing::Frozen
    } else if v > LATEST {
        Standing::Newer
    } else {
        Standing::Unknown
    }
}

/// The versions a reader may pick from, for help texts.
pub(crate) fn publishable_list() -> String {
    PUBLISHABLE
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_classify() {
        assert_eq!(Version::parse("7.3"), Some(Version::new(7, 3)));
        assert_eq!(Version::parse("7"), None);
        assert_eq!(Version::parse("7.x"), None);
        assert_eq!(standing(Version::new(7, 3)), Standing::Publishable);
        assert_eq!(standing(Version::new(4, 0)), Standing::Frozen);
        assert_eq!(standing(Version::new(8, 0)), Standing::Newer);
        assert_eq!(standing(Version::new(6, 4)), Standing::Unknown);
        assert!(Version::new(6, 10) > Version::new(6, 3));
    }
}
