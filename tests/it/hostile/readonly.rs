//! `status` reads a ledger on a read-only mount (a CI artifact, a backup).

use waform::state::{Intent, Ledger, SendKind};

use crate::common::TestContext;

/// `waform ARGS --state sqlite://DIR/state.db` with DIR bind-mounted
/// read-only in a private mount namespace (gone when the shell ends); the
/// shell first checks the mount really refuses writes.
fn on_read_only_mount(
    ctx: &TestContext,
    dir: &std::path::Path,
    args: &str,
) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("waform");
    let d = dir.display();
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && ! touch {d}/probe 2>/dev/null && \
         exec {} {args} --state sqlite://{d}/state.db",
        bin.display()
    );
    std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .current_dir(ctx.path())
        .env("NO_COLOR", "1")
        .env_remove("WAFORM_STATE")
        .output()
        .expect("unshare runs")
}

#[test]
fn status_reads_a_ledger_on_a_read_only_mount() {
    let ctx = TestContext::new();
    let dir = ctx.path().join("ro");
    std::fs::create_dir_all(&dir).expect("dir");
    drop(Ledger::open(&dir.join("state.db")).expect("ledger"));
    let out = on_read_only_mount(&ctx, &dir, "status --format json");
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
    let out = on_read_only_mount(&ctx, &dir, "responses --send welcome --format jsonl");
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

/// A ledger copied while a writer had it open keeps its latest commits in
/// `state.db-wal`; a read-only open must see them, not silently drop them.
fn status_sees_commits_in_the_wal(copied: &[&str]) {
    let ctx = TestContext::new();
    let live = ctx.path().join("live");
    let dir = ctx.path().join("ro");
    std::fs::create_dir_all(&live).expect("dir");
    std::fs::create_dir_all(&dir).expect("dir");
    let ledger = Ledger::open(&live.join("state.db")).expect("ledger");
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
    // Copied while the writer is open: the intent is only in the -wal.
    for &name in copied {
        if live.join(name).exists() {
            std::fs::copy(live.join(name), dir.join(name)).expect("copy");
        }
    }
    assert!(dir.join("state.db-wal").exists(), "the copy holds a -wal");
    drop(ledger);
    let out = on_read_only_mount(&ctx, &dir, "status --format json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("welcome")
            || (!out.status.success() && stderr.contains("-wal") && stderr.contains("-shm")),
        "the commit in the -wal was silently missed:\nstdout: {stdout}\nstderr: {stderr}"
    );
}

#[test]
fn status_on_a_read_only_mount_sees_commits_still_in_the_wal() {
    status_sees_commits_in_the_wal(&["state.db", "state.db-wal", "state.db-shm"]);
}

/// Without the `-shm` SQLite cannot read the WAL on a read-only file
/// system; the read must then fail naming the -wal, not show stale data.
#[test]
fn a_wal_without_its_shm_on_a_read_only_mount_is_an_error_not_stale_data() {
    status_sees_commits_in_the_wal(&["state.db", "state.db-wal"]);
}
