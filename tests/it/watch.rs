//! `apply --watch` wakes for pending reviews, not only for `at`: a
//! template submitted with `--no-wait` is rechecked after a short, growing
//! interval, so the watch sends soon after the approval instead of at the
//! next one-minute check.

use std::time::{Duration, Instant};

use crate::apply::{people, sandbox, template_config};
use crate::common::TestContext;

#[test]
fn watch_rechecks_a_pending_template_and_sends_once_approved() {
    // Approved four seconds after it is submitted; nothing is scheduled, so
    // without the review recheck the watch would sleep a full minute.
    let sb = sandbox(|c| c.approve_after = Duration::from_secs(4));
    let ctx = TestContext::new();
    ctx.write("people.csv", &people(5));
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    let log = ctx.path().join("watch.log");
    let started = Instant::now();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("waform"))
        .current_dir(ctx.path())
        .env("WAFORM_BASE_URL", sb.handle.base_url())
        .env("WAFORM_INSTANCE", sb.handle.instance())
        .env("WAFORM_TOKEN", sb.handle.token().expose())
        .env("NO_COLOR", "1")
        .args(["apply", "--auto-approve", "--watch", "--no-wait"])
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    crate::apply::wait_for_sends(&sb, 5);
    let took = started.elapsed();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let out = std::fs::read_to_string(&log).expect("log");
    assert_eq!(sb.phones_sent().len(), 5, "{out}");
    assert!(status.success(), "{status:?}\n{out}");
    assert!(took < Duration::from_secs(30), "{took:?}\n{out}");
    // The first recheck comes within seconds, and the intervals grow.
    let waits: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Watching: next check in "))
        .filter_map(|l| l.split('s').next()?.parse().ok())
        .collect();
    assert!(waits.len() >= 2, "{out}");
    assert!(waits[0] <= 2, "{waits:?}\n{out}");
    assert!(out.contains("not waiting (--no-wait)"), "{out}");
}
