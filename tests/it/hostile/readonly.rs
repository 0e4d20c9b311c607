//! `status` reads a ledger on a read-only mount (a CI artifact, a backup).

use waform::state::Ledger;

use crate::common::TestContext;

#[test]
fn status_reads_a_ledger_on_a_read_only_mount() {
    let ctx = TestContext::new();
    let dir = ctx.path().join("ro");
    std::fs::create_dir_all(&dir).expect("dir");
    drop(Ledger::open(&dir.join("state.db")).expect("ledger"));
    let bin = assert_cmd::cargo::cargo_bin("waform");
    let d = dir.display();
    // A private mount namespace: the bind mount is gone when the shell ends.
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && ! touch {d}/probe 2>/dev/null && \
         exec {} status --format json --state sqlite://{d}/state.db",
        bin.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .current_dir(ctx.path())
        .env("NO_COLOR", "1")
        .env_remove("WAFORM_STATE")
        .output()
        .expect("unshare runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert!(json.is_object(), "{json}");
}
