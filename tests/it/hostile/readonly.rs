//! `status` reads a ledger on a read-only mount (a CI artifact, a backup).

use waform::state::{Intent, Ledger, SendKind};

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

#[test]
fn responses_reads_a_ledger_on_a_read_only_mount() {
    let ctx = TestContext::new();
    let dir = ctx.path().join("ro");
    std::fs::create_dir_all(&dir).expect("dir");
    let ledger = Ledger::open(&dir.join("state.db")).expect("ledger");
    ledger
        .record_intents(&[Intent {
            send: "welcome".into(),
            phone: "+15550001".into(),
            flow_token: "welcome-1".into(),
            kind: SendKind::Template,
            template: Some("welcome_1a2b3c4d".into()),
            at: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time"),
        }])
        .expect("intent");
    drop(ledger);
    let bin = assert_cmd::cargo::cargo_bin("waform");
    let d = dir.display();
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && ! touch {d}/probe 2>/dev/null && \
         exec {} responses --send welcome --format jsonl --state sqlite://{d}/state.db",
        bin.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .current_dir(ctx.path())
        .env("NO_COLOR", "1")
        .env_remove("WAFORM_STATE")
        .output()
        .expect("unshare runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("read-only") && !stderr.contains("could not open"),
        "{stderr}"
    );
    // The mount stayed untouched: no -wal/-shm next to the ledger.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, vec!["state.db".to_string()], "{names:?}");
}
