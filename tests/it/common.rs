//! Shared test fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temp dir plus the waform binary, removed when dropped.
pub struct TestContext {
    pub dir: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> Self {
        TestContext {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` inside the temp dir and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// The waform binary, run in the temp dir with a clean waform environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("waform").expect("binary");
        cmd.current_dir(self.dir.path());
        for var in [
            "WAFORM_TOKEN",
            "WAFORM_INSTANCE",
            "WAFORM_BASE_URL",
            "WAFORM_STATE",
            "WAFORM_SANDBOX_FLOWS_API",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1");
        cmd
    }
}

/// The repository root (for examples/ and schemas/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `examples/NAME` into the temp dir (so runs there leave the repo
/// untouched) and returns the copy's path.
pub fn copy_example(ctx: &TestContext, name: &str) -> PathBuf {
    let from = repo_root().join("examples").join(name);
    let to = ctx.path().join(name);
    copy_tree(&from, &to);
    to
}

/// Copies files and sub-folders (a managed Flow's `flows/`), leaving out
/// hidden ones such as a local `.waform` state folder.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("example folder") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("type");
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    }
}
