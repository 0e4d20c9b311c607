//! The recipients a plan counted as to-be-sent, per send, as salted hashes:
//! what lets apply message only people the reviewed plan showed
//! (docs/exactly-once.md, "The reviewed plan"), without writing phone
//! numbers into plan files.
//!
//! # Caveats
//! A salted hash keeps phones out of the file's text, not out of reach of a
//! determined reader: phone numbers are few enough to enumerate. Treat plan
//! files as internal documents all the same.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::types::{RecipientSource, SendSpec};

/// What a reviewed plan promised, per send with anyone to send now or after
/// approval. Carried by plan files; apply checks against it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub(crate) sends: BTreeMap<String, SendReview>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SendReview {
    /// The recipients the plan counted as to-be-sent.
    pub(crate) recipients: PlannedSet,
    /// SHA-256 of each recipient and exclude file, as read for the plan.
    pub(crate) inputs: Vec<InputFile>,
    /// `--resend-unknown` was part of the plan: unknown rows are resent.
    #[serde(default)]
    pub(crate) resend_unknown: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputFile {
    /// As written in the config (relative to it).
    pub(crate) path: String,
    pub(crate) sha256: String,
}

/// Hashes a send's recipient and exclude files.
///
/// # Errors
/// A file cannot be read.
pub(crate) fn inputs(send: &SendSpec, base_dir: &Path) -> std::io::Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for source in send.recipients.iter().chain(&send.exclude) {
        if let RecipientSource::Csv(csv) = source {
            let mut h = Sha256::new();
            let mut f = std::fs::File::open(base_dir.join(&csv.csv))?;
            std::io::copy(&mut f, &mut h)?;
            out.push(InputFile {
                path: csv.csv.clone(),
                sha256: hex::encode(h.finalize()),
            });
        }
    }
    Ok(out)
}

impl SendReview {
    /// The first input file that differs from what the plan read (or can no
    /// longer be read), by its config path.
    pub(crate) fn changed_input(&self, send: &SendSpec, base_dir: &Path) -> Option<String> {
        let Ok(now) = inputs(send, base_dir) else {
            return Some(
                self.inputs
                    .first()
                    .map_or_else(|| "a recipient file".to_string(), |f| f.path.clone()),
            );
        };
        if now.len() != self.inputs.len() {
            return Some("the list of recipient files".to_string());
        }
        now.iter()
            .zip(&self.inputs)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a.path.clone())
    }
}

/// A set of phones (E.164 digits) as 64-bit salted hashes, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedSet {
    /// Hex, random per plan.
    pub(crate) salt: String,
    /// The sorted hashes as one hex string, 16 characters each (compact
    /// for a million recipients, unlike a JSON array).
    #[serde(with = "packed")]
    pub(crate) hashes: Vec<u64>,
}

impl PlannedSet {
    /// An empty set with a fresh random salt.
    pub fn new() -> Self {
        let salt: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
        PlannedSet {
            salt: hex::encode(salt),
            hashes: Vec::new(),
        }
    }

    pub(crate) fn hash(&self, phone: &str) -> u64 {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update(b":");
        h.update(phone.as_bytes());
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_be_bytes(first)
    }

    /// Adds a phone; call [`PlannedSet::seal`] before `PlannedSet::contains`.
    pub fn insert(&mut self, phone: &str) {
        let h = self.hash(phone);
        self.hashes.push(h);
    }

    /// Sorts and dedupes after the last insert; lookups need it sealed.
    pub fn seal(&mut self) {
        self.hashes.sort_unstable();
        self.hashes.dedup();
    }

    pub(crate) fn contains(&self, phone: &str) -> bool {
        self.hashes.binary_search(&self.hash(phone)).is_ok()
    }

    /// Distinct recipients in the set.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether it holds nobody.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

mod packed {
    use std::fmt;

    use serde::{de, Deserializer, Serializer};

    /// The hashes as hex, written straight into the serializer's output
    /// (`collect_str`): no string of the whole set is ever built.
    struct Hex<'a>(&'a [u64]);

    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for h in self.0 {
                write!(f, "{h:016x}")?;
            }
            Ok(())
        }
    }

    pub(super) fn serialize<S: Serializer>(hashes: &[u64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Hex(hashes))
    }

    /// Parses from the borrowed text when the reader can lend it (plan
    /// files are read whole), so the hex is not copied first.
    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Vec<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("recipient hashes as one hex string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u64>, E> {
            if !text.len().is_multiple_of(16) || !text.is_ascii() {
                return Err(E::custom("recipient hashes must be 16 hex characters each"));
            }
            (0..text.len() / 16)
                .map(|i| {
                    u64::from_str_radix(&text[i * 16..i * 16 + 16], 16)
                        .map_err(|_| E::custom("recipient hashes must be hex"))
                })
                .collect()
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_survives_a_round_trip_and_never_shows_phones() {
        let mut set = PlannedSet::new();
        set.insert("15550000001");
        set.insert("15550000002");
        set.seal();
        let json = serde_json::to_string(&set).expect("json");
        assert!(!json.contains("1555"), "{json}");
        let back: PlannedSet = serde_json::from_str(&json).expect("parse");
        assert!(back.contains("15550000001"));
        assert!(back.contains("15550000002"));
        assert!(!back.contains("15550000003"));
    }
}
