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
