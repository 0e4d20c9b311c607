//! Plan files (`plan --out FILE`, `apply FILE`): the plan plus fingerprints
//! of the config and of the account it was computed from, so apply refuses
//! a stale plan. No token or secret is ever written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::Plan;

/// The `kind` every plan file carries, so apply refuses other JSON.
pub const KIND: &str = "waform-plan";

/// A saved plan: what `plan --out` writes and `apply FILE` executes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// Always [`KIND`].
    pub kind: String,
    /// The file format's version; apply refuses versions it does not read.
    pub format_version: String,
    /// The config path the plan was made from (as given).
    pub config: PathBuf,
    /// `--now` when given, so apply evaluates schedules the same way.
    pub now: Option<String>,
    /// The reviewed plan: all apply executes.
    pub plan: Plan,
    /// Per send, the recipients the plan counted (salted hashes) and the
    /// hashes of its recipient files; absent in files of older waforms.
    #[serde(default)]
    pub review: Option<super::planned::Review>,
}

impl PlanFile {
    /// Writes the plan file as JSON, scrubbed of secrets.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        // A plan file is text leaving the process: scrubbed like any output.
        let text = crate::secret::scrub(&text);
        // Written as is: appending the newline to a borrowed text would
        // copy a plan that holds a hash per recipient.
        std::fs::File::create(path)
            .and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(text.as_bytes())?;
                f.write_all(b"\n")
            })
            .map_err(|e| anyhow::anyhow!("cannot write plan file {}: {e}", path.display()))
    }

    /// Reads `path` if it is a plan file; `Ok(None)` when it is something else.
    pub fn read(path: &Path) -> anyhow::Result<Option<PlanFile>> {
        if path.is_dir() {
            return Ok(None);
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(None);
        };
        if !text.trim_start().starts_with('{') || !text.contains(KIND) {
            return Ok(None);
        }
        let file: PlanFile = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} looks like a plan file but cannot be read: {e}",
                path.display()
            )
        })?;
        if file.kind != KIND || file.format_version != "1" {
            anyhow::bail!("{} is not a waform plan file of format 1", path.display());
        }
        Ok(Some(file))
    }
}
