//! The state ledger on real SQLite files: migrations, the exactly-once
//! bookkeeping apply relies on (intents, outcomes, dangling intents,
//! forget_unknown), the apply lock across handles and processes, and the
//! webhook side (acks, completions, windows) at the ledger level.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use serde_json::json;
use waform::state::migrations::LATEST;
use waform::state::url::StateLocation;
use waform::state::{
    Delivery, EventKind, InboundEvent, Intent, IntentStatus, Ledger, Outcome, OutcomeRecord,
    Recorded, StateError,
};

use crate::common::TestContext;
use crate::ledger_fixtures::{accepted, intent, t};

fn ack(id: &str, status: Delivery, at: i64) -> InboundEvent {
    InboundEvent {
        kind: EventKind::Ack {
            message_id: id.into(),
            status,
            error: (status == Delivery::Failed)
                .then(|| "User's number is part of an experiment".into()),
            phone: None,
            at: Some(t(at)),
        },
        raw: json!({"id": id, "status": status.as_str(), "time": at}),
    }
}

fn ledger(ctx: &TestContext) -> Ledger {
    Ledger::open(&ctx.path().join(".waform/state.db")).expect("open ledger")
}

#[test]
fn open_creates_folders_and_reopening_is_a_no_op() {
    let ctx = TestContext::new();
    let path = ctx.path().join("deep/er/state.db");
    {
        let l = Ledger::open(&path).expect("open");
        l.record_intents(&[intent("s", "1")]).expect("intent");
    }
    let version = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .expect("sqlite")
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version")
    };
    assert_eq!(version(&path), LATEST);
    let l = Ledger::open(&path).expect("reopen");
    assert_eq!(version(&path), LATEST);
    assert_eq!(l.counts(None).expect("counts")["s"].recipients, 1);
}

#[test]
fn a_database_from_a_newer_waform_is_refused() {
    let ctx = TestContext::new();
    let path = ctx.path().join("state.db");
    drop(Ledger::open(&path).expect("open"));
    rusqlite::Connection::open(&path)
        .expect("sqlite")
        .pragma_update(None, "user_version", LATEST + 1)
        .expect("bump");
    let err = Ledger::open(&path).expect_err("must refuse");
    assert!(
        matches!(err, StateError::FutureSchema { found, supported, .. } if found == LATEST + 1 && supported == LATEST),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn open_existing_creates_nothing() {
    let ctx = TestContext::new();
    let path = ctx.path().join("none/state.db");
    assert!(Ledger::open_existing(&path).expect("ok").is_none());
    assert!(!path.exists());
}

#[test]
fn an_intent_is_recorded_once_and_a_second_one_must_not_be_sent() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    let got = l
        .record_intents(&[intent("s", "1"), intent("s", "2"), intent("t", "1")])
        .expect("intents");
    assert_eq!(got, vec![IntentStatus::Recorded; 3]);
    let again = l
        .record_intents(&[intent("s", "2"), intent("s", "3")])
        .expect("intents");
    assert_eq!(
        again,
        vec![IntentStatus::AlreadyRecorded, IntentStatus::Recorded]
    );
    let rows = l.rows_for_send("s").expect("rows");
    assert_eq!(rows.len(), 3);
    assert!(rows.values().all(|r| *r == Recorded::IntentOnly));
}

#[test]
fn outcomes_are_recorded_and_dangling_intents_become_unknown() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    let phones = ["1", "2", "3", "4", "5"];
    let intents: Vec<Intent> = phones.iter().map(|p| intent("s", p)).collect();
    l.record_intents(&intents).expect("intents");
    let changed = l
        .record_outcomes(&[
            accepted("s", "1", "wamid.1"),
            OutcomeRecord::new(
                "s",
                "2",
                Outcome::Rejected {
                    reason: "131047 re-engagement".into(),
                },
                t(1),
            ),
            OutcomeRecord::new(
                "s",
                "3",
                Outcome::Unknown {
                    reason: "timeout".into(),
                },
                t(1),
            ),
            // No intent: ignored, visible in the return value.
            accepted("s", "99", "wamid.99"),
        ])
        .expect("outcomes");
    assert_eq!(changed, 3);

    let rows = l.rows_for_send("s").expect("rows");
    assert_eq!(rows["1"], Recorded::Accepted);
    assert_eq!(rows["2"], Recorded::Rejected);
    assert_eq!(rows["3"], Recorded::Unknown);
    assert_eq!(rows["4"], Recorded::IntentOnly);
    assert!(rows["4"].is_unknown());
    assert_eq!(
        l.lookup("s", &["1", "4", "404"]).expect("lookup"),
        vec![Some(Recorded::Accepted), Some(Recorded::IntentOnly), None]
    );

    // A new process finds the dangling intents of a killed one.
    drop(l);
    let l = ledger(&ctx);
    assert_eq!(l.mark_dangling_intents_unknown().expect("mark"), 2);
    let row = l.row("s", "4").expect("row").expect("exists");
    assert_eq!(row.recorded, Recorded::Unknown);
    assert!(row
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("started and was unanswered"));
    let row = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(row.message_id.as_deref(), Some("wamid.1"));
    assert_eq!(row.flow_token, "s-1");
    assert_eq!(row.template.as_deref(), Some("course_signup_1a2b3c4d"));

    let counts = l.counts(Some("s")).expect("counts")["s"];
    assert_eq!(
        (
            counts.recipients,
            counts.accepted,
            counts.rejected,
            counts.unknown
        ),
        (5, 1, 1, 3)
    );
}

#[test]
fn forget_unknown_lets_exactly_the_unknown_rows_be_attempted_again() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    l.record_intents(&[
        intent("s", "1"),
        intent("s", "2"),
        intent("s", "3"),
        intent("other", "3"),
    ])
    .expect("intents");
    l.record_outcomes(&[
        accepted("s", "1", "wamid.1"),
        OutcomeRecord::new(
            "s",
            "2",
            Outcome::Unknown {
                reason: "500".into(),
            },
            t(1),
        ),
    ])
    .expect("outcomes");
    // "s"/"3" is a dangling intent: also unknown.
    assert_eq!(l.forget_unknown("s").expect("forget"), 2);
    let again = l
        .record_intents(&[intent("s", "1"), intent("s", "2"), intent("s", "3")])
        .expect("intents");
    assert_eq!(
        again,
        vec![
            IntentStatus::AlreadyRecorded,
            IntentStatus::Recorded,
            IntentStatus::Recorded
        ]
    );
    assert_eq!(
        l.rows_for_send("other").expect("rows")["3"],
        Recorded::IntentOnly
    );
}

#[test]
fn a_second_handle_waits_for_the_lock_then_names_the_holder() {
    let ctx = TestContext::new();
    let a = ledger(&ctx);
    let b = ledger(&ctx);
    let guard = a.acquire_lock(Duration::from_secs(1)).expect("first lock");
    let holder = a.lock_holder().expect("holder").expect("held");
    assert_eq!(holder.pid, std::process::id());

    let started = Instant::now();
    let err = b
        .acquire_lock(Duration::from_millis(300))
        .expect_err("must wait and fail");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let msg = err.to_string();
    assert!(msg.contains(&holder.host), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains("since"), "{msg}");

    drop(guard);
    assert!(a.lock_holder().expect("holder").is_none());
    let guard = b.acquire_lock(Duration::from_secs(1)).expect("free now");
    assert!(!guard.is_lost());
}

#[test]
fn a_waiter_gets_the_lock_as_soon_as_it_is_released() {
    let ctx = TestContext::new();
    let a = ledger(&ctx);
    let path = a.path().to_path_buf();
    let guard = a.acquire_lock(Duration::from_secs(1)).expect("lock");
    let waiter = std::thread::spawn(move || {
        let b = Ledger::open(&path).expect("open");
        b.acquire_lock(Duration::from_secs(10)).map(|g| g.release())
    });
    std::thread::sleep(Duration::from_millis(300));
    guard.release().expect("release");
    waiter
        .join()
        .expect("thread")
        .expect("acquired after release")
        .expect("released");
}

#[test]
fn acks_move_forward_only_and_redeliveries_count_once() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    l.record_intents(&[intent("s", "1"), intent("s", "2")])
        .expect("intents");
    l.record_outcomes(&[accepted("s", "1", "m1"), accepted("s", "2", "m2")])
        .expect("outcomes");

    // read arrives before delivered; then sent; then a redelivery of read.
    let r = l
        .store_events(&[
            ack("m1", Delivery::Read, 30),
            ack("m1", Delivery::Delivered, 20),
            ack("m1", Delivery::Sent, 10),
        ])
        .expect("store");
    assert_eq!((r.stored, r.duplicates, r.acks_applied), (3, 0, 3));
    let r = l
        .store_events(&[ack("m1", Delivery::Read, 30)])
        .expect("store");
    assert_eq!((r.stored, r.duplicates), (0, 1));
    let row = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(row.delivery, Some(Delivery::Read));
    assert_eq!(row.read_at, Some(t(30)));
    assert_eq!(row.delivered_at, Some(t(20)));

    // failed after delivered is kept in events but does not regress the row;
    // on a row only sent, it is recorded with its error.
    l.store_events(&[
        ack("m2", Delivery::Sent, 10),
        ack("m2", Delivery::Failed, 11),
        ack("m1", Delivery::Failed, 40),
    ])
    .expect("store");
    let m1 = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(m1.delivery, Some(Delivery::Read));
    assert_eq!(m1.delivery_error, None);
    let m2 = l.row("s", "2").expect("row").expect("exists");
    assert_eq!(m2.delivery, Some(Delivery::Failed));
    assert_eq!(
        m2.delivery_error.as_deref(),
        Some("User's number is part of an experiment")
    );
    let c = l.counts(Some("s")).expect("counts")["s"];
    assert_eq!((c.delivered, c.read), (1, 1));
    assert_eq!(l.events(Some("ack")).expect("events").len(), 6);
}

#[test]
fn an_ack_stored_before_the_outcome_is_applied_when_the_outcome_arrives() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    l.record_intents(&[intent("s", "1")]).expect("intents");
    // The sandbox (or 1msg) can post the ack before apply commits the outcome.
    let r = l
        .store_events(&[ack("m1", Delivery::Delivered, 5)])
        .expect("store");
    assert_eq!(r.unmatched, 1);
    l.record_outcomes(&[accepted("s", "1", "m1")])
        .expect("outcomes");
    let row = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(row.delivery, Some(Delivery::Delivered));
    assert_eq!(row.delivered_at, Some(t(5)));
}

#[test]
fn completions_correlate_by_flow_token_and_inbound_messages_open_the_window() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    l.record_intents(&[intent("s", "15551230001")])
        .expect("intents");
    l.record_outcomes(&[accepted("s", "15551230001", "m1")])
        .expect("outcomes");
    let fields = json!({"name": "Ana", "address": {"city": "Lima"}, "topics": ["a", "b"]});
    let completion = InboundEvent {
        kind: EventKind::Completion {
            message_id: Some("c1".into()),
            phone: Some("15551230001".into()),
            flow_token: Some("s-15551230001".into()),
            fields: fields.as_object().cloned().unwrap_or_default(),
            at: Some(t(100)),
        },
        raw: json!({"id": "c1"}),
    };
    let stray = InboundEvent {
        kind: EventKind::Completion {
            message_id: Some("c2".into()),
            phone: Some("15550000000".into()),
            flow_token: Some("not-ours".into()),
            fields: Default::default(),
            at: Some(t(101)),
        },
        raw: json!({"id": "c2"}),
    };
    let hello = InboundEvent {
        kind: EventKind::Inbound {
            message_id: Some("in1".into()),
            phone: Some("15559990000".into()),
            at: Some(t(50)),
        },
        raw: json!({"id": "in1"}),
    };
    let garbage = InboundEvent {
        kind: EventKind::Unknown,
        raw: json!({"weird": true}),
    };
    let r = l
        .store_events(&[completion.clone(), stray, hello, garbage.clone()])
        .expect("store");
    assert_eq!((r.stored, r.completions_matched, r.unmatched), (4, 1, 1));
    let r = l.store_events(&[completion, garbage]).expect("store");
    assert_eq!((r.stored, r.duplicates), (0, 2));

    let responses = l.responses("s").expect("responses");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].phone, "15551230001");
    assert_eq!(responses[0].flow_token, "s-15551230001");
    assert_eq!(responses[0].submitted_at, t(100));
    assert_eq!(
        serde_json::Value::Object(responses[0].fields.clone()),
        fields
    );
    let c = l.counts(Some("s")).expect("counts")["s"];
    assert_eq!((c.delivered, c.read, c.completed), (1, 1, 1));

    assert_eq!(
        l.window_open_since("15559990000", t(50) + TimeDelta::hours(23))
            .expect("window"),
        Some(t(50))
    );
    assert_eq!(
        l.window_open_since("15559990000", t(50) + TimeDelta::hours(25))
            .expect("window"),
        None
    );
    // The completion itself is a customer message.
    assert_eq!(l.last_inbound("15551230001").expect("window"), Some(t(100)));
    assert_eq!(l.last_inbound("15550001111").expect("window"), None);
    assert_eq!(l.events(Some("unknown")).expect("events").len(), 1);
    assert_eq!(l.event_count().expect("count"), 4);
}

#[test]
fn a_completed_unknown_row_is_not_forgotten() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    l.record_intents(&[intent("s", "1"), intent("s", "2")])
        .expect("intents");
    l.mark_dangling_intents_unknown().expect("mark");
    l.store_events(&[InboundEvent {
        kind: EventKind::Completion {
            message_id: Some("c1".into()),
            phone: Some("1".into()),
            flow_token: Some("s-1".into()),
            fields: Default::default(),
            at: Some(t(9)),
        },
        raw: json!({"id": "c1"}),
    }])
    .expect("store");
    // "1" evidently received the message: only "2" is attempted again.
    assert_eq!(l.forget_unknown("s").expect("forget"), 1);
    assert!(l.row("s", "1").expect("row").is_some());
}

#[test]
fn group_commit_answers_each_request_in_order() {
    let ctx = TestContext::new();
    let l = ledger(&ctx);
    let a = [ack("m1", Delivery::Sent, 1)];
    let b = [ack("m2", Delivery::Sent, 1), ack("m2", Delivery::Read, 2)];
    let results = l.store_event_groups(&[&a, &b, &a]).expect("group");
    assert_eq!(results.len(), 3);
    let stored: Vec<u64> = results
        .iter()
        .map(|r| r.as_ref().expect("ok").stored)
        .collect();
    assert_eq!(stored, vec![1, 2, 0]);
}

#[test]
fn the_state_url_resolves_relative_to_the_config_folder() {
    let ctx = TestContext::new();
    let dir = ctx.path().join("conf");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = waform::state::url::resolve_with_env(None, None, &dir, None).expect("resolve");
    assert_eq!(p, StateLocation::Sqlite(dir.join(".waform/state.db")));
    let p = waform::state::url::resolve_with_env(None, None, &dir.join("waform.yaml"), None)
        .expect("resolve");
    assert_eq!(p, StateLocation::Sqlite(dir.join(".waform/state.db")));
    let p = waform::state::url::resolve_with_env(None, None, &dir, Some("sqlite://state/x.db"))
        .expect("resolve");
    assert_eq!(p, StateLocation::Sqlite(dir.join("state/x.db")));
}

/// Env var that turns [`child_records_intents_until_killed`] into the
/// writer half of [`intents_announced_before_sigkill_survive`].
const CHILD_ENV: &str = "WAFORM_TEST_LEDGER_CHILD";

/// The child process of [`intents_announced_before_sigkill_survive`]:
/// records intents in batches of 100 and prints how many are recorded after
/// each commit, until it is killed.
#[test]
#[ignore = "the writer half of intents_announced_before_sigkill_survive, which runs it"]
fn child_records_intents_until_killed() {
    let path = std::env::var(CHILD_ENV).expect("run by intents_announced_before_sigkill_survive");
    use std::io::Write;
    let l = Ledger::open(std::path::Path::new(&path)).expect("open");
    let mut out = std::io::stdout().lock();
    for b in 0..10_000 {
        let intents: Vec<Intent> = (0..100)
            .map(|i| intent("crash", &format!("{}", b * 100 + i)))
            .collect();
        l.record_intents(&intents).expect("intents");
        writeln!(out, "recorded {}", (b + 1) * 100).expect("stdout");
        out.flush().expect("flush");
    }
}

#[test]
fn intents_announced_before_sigkill_survive() {
    use std::io::{BufRead, BufReader};
    let ctx = TestContext::new();
    let path = ctx.path().join("crash/state.db");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "state::child_records_intents_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut announced = 0u64;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("recorded ") {
            announced = n.trim().parse().expect("number");
            if announced >= 3_000 {
                break;
            }
        }
    }
    // SIGKILL: no destructors, no clean close of the database.
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert!(announced >= 3_000);
    let l = Ledger::open(&path).expect("reopen after kill");
    let recorded = l.counts(Some("crash")).expect("counts")["crash"].recipients;
    assert!(
        recorded >= announced,
        "announced {announced} intents, found {recorded}"
    );
    assert_eq!(recorded % 100, 0, "a batch is all or nothing");
}

/// Two applies starting at once on a fresh state both open (and switch to
/// WAL) the same new file; neither may fail with "database is locked".
#[test]
fn many_openers_of_a_fresh_ledger_all_succeed() {
    for round in 0..20 {
        let ctx = TestContext::new();
        let path = ctx.path().join(format!("fresh{round}/state.db"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Ledger::open(&path).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for opener in openers {
            let opened = opener.join().expect("thread");
            assert!(opened.is_ok(), "round {round}: {opened:?}");
        }
    }
}
