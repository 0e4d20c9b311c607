//! Where `apply --sandbox` keeps its account between runs: a JSON file
//! beside the sandbox ledger (`.waform/state.sandbox.db` →
//! `.waform/state.sandbox-account.json`), written atomically so a run killed
//! mid-write leaves the previous account, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::AccountSnapshot;

/// The account file that belongs to the sandbox ledger at `ledger`.
pub(crate) fn account_path(ledger: &Path) -> PathBuf {
    let stem = ledger
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("state.sandbox");
    ledger.with_file_name(format!("{stem}-account.json"))
}

/// The saved account, or `None` when no run has saved one yet.
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<AccountSnapshot>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).with_context(|| {
        format!(
            "{} is not a sandbox account this waform can read; delete it together with the \
             sandbox ledger beside it to start the dry run afresh",
            path.display()
        )
    })
}

/// Writes `snapshot` to `path` through a temporary file and a rename.
pub(crate) fn save(path: &Path, snapshot: &AccountSnapshot) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile_in(&dir, path)?;
    let json = serde_json::to_vec(snapshot).context("cannot encode the sandbox account")?;
    let write = |f: &mut std::fs::File| -> std::io::Result<()> {
        f.write_all(&json)?;
        f.sync_all()
    };
    if let Err(e) = write(&mut tmp.1) {
        let _ = std::fs::remove_file(&tmp.0);
        return Err(e).with_context(|| format!("cannot write {}", tmp.0.display()));
    }
    std::fs::rename(&tmp.0, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp.0);
        format!("cannot replace {}", path.display())
    })
}

/// A new file in `dir` named after `target` and this process, so two runs
/// never write the same temporary file.
fn tempfile_in(dir: &Path, target: &Path) -> anyhow::Result<(PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("sandbox-account.json");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok((tmp, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_file_sits_beside_the_sandbox_ledger() {
        assert_eq!(
            account_path(Path::new("/x/.waform/state.sandbox.db")),
            Path::new("/x/.waform/state.sandbox-account.json")
        );
    }
}
