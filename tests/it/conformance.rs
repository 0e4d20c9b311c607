//! One conformance suite for every state backend: the same test functions
//! run against the embedded SQLite file and a real PostgreSQL database
//! (see `pg_cluster`), each through the backend-neutral [`SendLedger`]
//! API and several handles at once, as separate processes would use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use waform::state::{
    Delivery, EventKind, Group, InboundEvent, Intent, IntentStatus, PgLocation, ReasonCount,
    Recorded, Seen, SendLedger, StateError, StateLocation,
};

use crate::common::TestContext;
use crate::ledger_fixtures::{accepted, intent, rejected, t, unknown};
use crate::pg_cluster;

/// A state to open handles on.
pub trait Backend: Send + Sync {
    fn location(&self) -> StateLocation;
    /// Writes a schema version newer than this waform's.
    fn plant_future_schema(&self);
    fn open(&self) -> Box<dyn SendLedger> {
        waform::state::open(&self.location()).expect("open state")
    }
}

pub struct Sqlite {
    _ctx: TestContext,
    path: PathBuf,
}

impl Backend for Sqlite {
    fn location(&self) -> StateLocation {
        StateLocation::Sqlite(self.path.clone())
    }
    fn plant_future_schema(&self) {
        let conn = rusqlite::Connection::open(&self.path).expect("sqlite");
        conn.pragma_update(None, "user_version", 999)
            .expect("pragma");
    }
}

pub fn sqlite() -> Option<Sqlite> {
    let ctx = TestContext::new();
    let path = ctx.path().join(".waform/state.db");
    Some(Sqlite { _ctx: ctx, path })
}

pub struct Postgres {
    pub url: String,
}

impl Backend for Postgres {
    fn location(&self) -> StateLocation {
        StateLocation::Postgres(PgLocation {
            url: self.url.clone(),
            schema: None,
        })
    }
    fn plant_future_schema(&self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (c, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            let task = tokio::spawn(conn);
            c.batch_execute("INSERT INTO waform_migrations (version) VALUES (999)")
                .await
                .expect("plant");
            drop(c);
            let _ = task.await;
        });
    }
}

pub fn postgres() -> Option<Postgres> {
    pg_cluster::database().map(|url| Postgres { url })
}

fn ack(id: &str, status: Delivery, at: i64) -> InboundEvent {
    InboundEvent {
        kind: EventKind::Ack {
            message_id: id.into(),
            status,
            error: (status == Delivery::Failed).then(|| "failed upstream".into()),
            phone: None,
            at: Some(t(at)),
        },
        raw: json!({"id": id, "status": status.as_str(), "time": at}),
    }
}

fn inbound(id: &str, phone: &str, at: i64) -> InboundEvent {
    InboundEvent {
        kind: EventKind::Inbound {
            message_id: Some(id.into()),
            phone: Some(phone.into()),
            at: Some(t(at)),
        },
        raw: json!({"id": id, "from": phone, "body": "hi"}),
    }
}

fn completion(id: &str, phone: &str, token: &str, at: i64) -> InboundEvent {
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), json!("Ana"));
    fields.insert("flow_token".into(), json!(token));
    InboundEvent {
        kind: EventKind::Completion {
            message_id: Some(id.into()),
            phone: Some(phone.into()),
            flow_token: Some(token.into()),
            fields,
            at: Some(t(at)),
        },
        raw: json!({"id": id, "from": phone, "nfm": token}),
    }
}

/// Intents are visible to another handle (another session, as another
/// process would have) as soon as the call returns.
pub fn intents_are_durable_when_the_call_returns(b: &dyn Backend) {
    let writer = b.open();
    let intents: Vec<Intent> = (0..300).map(|i| intent("s", &format!("{i}"))).collect();
    let got = writer.record_intents(&intents).expect("intents");
    assert!(got.iter().all(|s| *s == IntentStatus::Recorded));
    let reader = b.open();
    let mut seen = 0;
    reader
        .visit_rows("s", &mut |_, r| {
            assert_eq!(r, Recorded::IntentOnly);
            seen += 1;
        })
        .expect("rows");
    assert_eq!(seen, 300);
    let row = reader.row("s", "7").expect("row").expect("exists");
    assert_eq!(row.flow_token, "s-7");
    assert_eq!(row.intent_at, t(0));
}

/// A second intent for a (send, phone) is refused, within a batch, across
/// handles, and when two handles race for the same phones.
pub fn a_second_intent_for_the_same_send_and_phone_is_refused(b: &dyn Backend) {
    let a = b.open();
    let got = a
        .record_intents(&[intent("s", "1"), intent("s", "2"), intent("t", "1")])
        .expect("intents");
    assert_eq!(got, vec![IntentStatus::Recorded; 3]);
    let other = b.open();
    let again = other
        .record_intents(&[intent("s", "2"), intent("s", "3"), intent("s", "3")])
        .expect("intents");
    assert_eq!(
        again,
        vec![
            IntentStatus::AlreadyRecorded,
            IntentStatus::Recorded,
            IntentStatus::AlreadyRecorded
        ]
    );
    // Two writers racing over the same 400 phones: each recorded once.
    let handles: Vec<Arc<dyn SendLedger>> = (0..2).map(|_| Arc::from(b.open())).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|h| {
            std::thread::spawn(move || {
                let mut recorded = 0;
                for chunk in (0..400).collect::<Vec<_>>().chunks(50) {
                    let batch: Vec<Intent> = chunk
                        .iter()
                        .map(|i| intent("race", &format!("{i}")))
                        .collect();
                    let got = h.record_intents(&batch).expect("intents");
                    recorded += got.iter().filter(|s| **s == IntentStatus::Recorded).count();
                }
                recorded
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(total, 400);
}

/// Outcomes update existing rows only; withdraw deletes only rows without
/// an outcome; dangling intents become unknown; forget_unknown frees
/// exactly the unknown ones.
pub fn outcomes_withdrawal_and_unknown_rows(b: &dyn Backend) {
    let l = b.open();
    let intents: Vec<Intent> = ["1", "2", "3", "4", "5"]
        .iter()
        .map(|p| intent("s", p))
        .collect();
    l.record_intents(&intents).expect("intents");
    let changed = l
        .record_outcomes(&[
            accepted("s", "1", "wamid.1"),
            rejected("s", "2", "no"),
            unknown("s", "3", "timeout"),
            accepted("s", "99", "wamid.99"),
        ])
        .expect("outcomes");
    assert_eq!(changed, 3, "an outcome without an intent creates nothing");
    assert!(l.row("s", "99").expect("row").is_none());
    let all: Vec<String> = ["1", "2", "3", "4"].iter().map(|s| s.to_string()).collect();
    assert_eq!(l.withdraw_intents("s", &all).expect("withdraw"), 1);
    assert_eq!(
        l.lookup("s", &["1", "2", "3", "4", "5"]).expect("lookup"),
        vec![
            Some(Recorded::Accepted),
            Some(Recorded::Rejected),
            Some(Recorded::Unknown),
            None,
            Some(Recorded::IntentOnly)
        ]
    );
    assert_eq!(l.mark_dangling_intents_unknown().expect("mark"), 1);
    let unknown: Vec<String> = l
        .unknown_rows()
        .expect("unknown rows")
        .into_iter()
        .map(|r| r.phone)
        .collect();
    assert_eq!(unknown.len(), 2);
    assert!(unknown.contains(&"3".to_string()) && unknown.contains(&"5".to_string()));
    let row = l.row("s", "5").expect("row").expect("exists");
    assert_eq!(row.recorded, Recorded::Unknown);
    let c = l.counts(Some("s")).expect("counts")["s"];
    assert_eq!(
        (c.recipients, c.accepted, c.rejected, c.unknown),
        (4, 1, 1, 2)
    );
    assert_eq!(l.forget_unknown("s").expect("forget"), 2);
    assert_eq!(
        l.record_intents(&[intent("s", "3"), intent("s", "1")])
            .expect("intents"),
        vec![IntentStatus::Recorded, IntentStatus::AlreadyRecorded]
    );
}

/// The not-accepted rows of a send come back grouped by (state, stored
/// reason), as stored: accepted rows and other sends are left out, a blank
/// reason stays blank, an intent without an answer has no reason.
pub fn reasons_are_counted_by_the_database(b: &dyn Backend) {
    let l = b.open();
    let phones = ["1", "2", "3", "4", "5", "6", "7", "8"];
    let mut intents: Vec<Intent> = phones.iter().map(|p| intent("s", p)).collect();
    intents.push(intent("other", "2"));
    l.record_intents(&intents).expect("intents");
    let other = rejected("other", "2", "number blocked");
    l.record_outcomes(&[
        accepted("s", "1", "wamid.1"),
        accepted("s", "2", "wamid.2"),
        rejected("s", "3", "number blocked"),
        rejected("s", "4", "number blocked"),
        rejected("s", "5", "template paused"),
        rejected("s", "6", "  "),
        unknown("s", "7", "timeout"),
        other,
    ])
    .expect("outcomes");
    let mut got = l.reason_counts("s").expect("reason counts");
    got.sort_by(|a, b| {
        (format!("{:?}", a.recorded), &a.reason).cmp(&(format!("{:?}", b.recorded), &b.reason))
    });
    let group = |recorded, reason: Option<&str>, count| ReasonCount {
        recorded,
        reason: reason.map(str::to_string),
        count,
    };
    assert_eq!(
        got,
        vec![
            group(Recorded::IntentOnly, None, 1),
            group(Recorded::Rejected, Some("  "), 1),
            group(Recorded::Rejected, Some("number blocked"), 2),
            group(Recorded::Rejected, Some("template paused"), 1),
            group(Recorded::Unknown, Some("timeout"), 1),
        ]
    );
    assert!(l.reason_counts("nothing").expect("empty").is_empty());
}

/// One group commit: outcomes, withdrawals and the next intents in one
/// transaction; `replace_unknown` replaces only unknown rows without a
/// completion.
pub fn a_group_commit_writes_outcomes_withdrawals_and_intents(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[intent("s", "1"), intent("s", "2"), intent("s", "3")])
        .expect("intents");
    let outcomes = [accepted("s", "1", "m1"), unknown("s", "3", "cut")];
    let withdrawn = ["2".to_string()];
    let intents = [intent("s", "4"), intent("s", "1")];
    let got = l
        .commit_group(&Group {
            send: "s",
            outcomes: &outcomes,
            withdrawn: &withdrawn,
            intents: &intents,
            replace_unknown: false,
        })
        .expect("group");
    assert_eq!(
        got,
        vec![IntentStatus::Recorded, IntentStatus::AlreadyRecorded]
    );
    assert_eq!(
        l.lookup("s", &["1", "2", "3", "4"]).expect("lookup"),
        vec![
            Some(Recorded::Accepted),
            None,
            Some(Recorded::Unknown),
            Some(Recorded::IntentOnly)
        ]
    );
    let again = [intent("s", "3"), intent("s", "1")];
    let got = l
        .commit_group(&Group {
            send: "s",
            outcomes: &[],
            withdrawn: &[],
            intents: &again,
            replace_unknown: true,
        })
        .expect("group");
    assert_eq!(
        got,
        vec![IntentStatus::Recorded, IntentStatus::AlreadyRecorded]
    );
    assert_eq!(
        l.row("s", "3").expect("row").expect("exists").recorded,
        Recorded::IntentOnly
    );
}

/// Acks move a row forward only, late or early (before the outcome).
pub fn acks_never_move_a_row_backwards(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[intent("s", "1"), intent("s", "2")])
        .expect("intents");
    l.record_outcomes(&[accepted("s", "1", "m1")])
        .expect("outcome");
    l.store_events(&[ack("m1", Delivery::Read, 30)])
        .expect("read");
    l.store_events(&[ack("m1", Delivery::Delivered, 20)])
        .expect("delivered");
    l.store_events(&[ack("m1", Delivery::Sent, 10)])
        .expect("sent");
    l.store_events(&[ack("m1", Delivery::Failed, 40)])
        .expect("failed");
    let row = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(row.delivery, Some(Delivery::Read));
    assert_eq!(row.delivered_at, Some(t(20)));
    assert_eq!(row.read_at, Some(t(30)));
    assert_eq!(row.delivery_error, None);
    // An ack that arrives before apply records the outcome is kept and
    // applied when the outcome carrying its id is recorded.
    let early = l
        .store_events(&[ack("m2", Delivery::Delivered, 50)])
        .expect("early");
    assert_eq!((early.stored, early.unmatched), (1, 1));
    l.record_outcomes(&[accepted("s", "2", "m2")])
        .expect("outcome");
    let row = l.row("s", "2").expect("row").expect("exists");
    assert_eq!(row.delivery, Some(Delivery::Delivered));
    let c = l.counts(None).expect("counts")["s"];
    assert_eq!((c.delivered, c.read), (2, 1));
}

/// Acks stored before apply recorded the outcome carrying their message id
/// are applied by the group commit that records it, in the order they were
/// stored: a failure's error is kept only if no later stage came first.
pub fn early_acks_are_applied_in_order_by_the_group_commit(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[intent("s", "1"), intent("s", "2")])
        .expect("intents");
    for event in [
        ack("m1", Delivery::Failed, 10),
        ack("m1", Delivery::Delivered, 20),
        ack("m2", Delivery::Delivered, 30),
        ack("m2", Delivery::Failed, 40),
        ack("m2", Delivery::Sent, 25),
    ] {
        let r = l.store_events(&[event]).expect("early ack");
        assert_eq!((r.stored, r.unmatched), (1, 1));
    }
    l.commit_group(&Group {
        send: "s",
        outcomes: &[accepted("s", "1", "m1"), accepted("s", "2", "m2")],
        withdrawn: &[],
        intents: &[],
        replace_unknown: false,
    })
    .expect("group");
    let one = l.row("s", "1").expect("row").expect("exists");
    assert_eq!(one.delivery, Some(Delivery::Delivered));
    assert_eq!(one.delivery_error.as_deref(), Some("failed upstream"));
    assert_eq!(one.delivered_at, Some(t(20)));
    let two = l.row("s", "2").expect("row").expect("exists");
    assert_eq!(two.delivery, Some(Delivery::Delivered));
    assert_eq!(two.delivery_error, None);
    assert_eq!(two.delivered_at, Some(t(30)));
    assert_eq!(two.read_at, None);
}

/// One group commit of several requests, where some events repeat (in an
/// earlier group, or earlier in this one) and the rest are new: every
/// request is answered, each event is stored once, acks of new events are
/// applied, and each request's counts say what happened to its events.
pub fn a_group_with_duplicates_stores_each_event_once(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[intent("s", "15550001"), intent("s", "15550002")])
        .expect("intents");
    l.record_outcomes(&[
        accepted("s", "15550001", "m1"),
        accepted("s", "15550002", "m2"),
    ])
    .expect("outcomes");
    let old = l
        .store_events(&[ack("m1", Delivery::Sent, 1)])
        .expect("earlier group");
    assert_eq!((old.stored, old.acks_applied), (1, 1));
    let first = [
        ack("m1", Delivery::Sent, 1),
        ack("m1", Delivery::Delivered, 2),
    ];
    let second = [
        ack("m1", Delivery::Delivered, 2),
        ack("m2", Delivery::Read, 3),
        ack("m9", Delivery::Read, 3),
    ];
    let third = [inbound("in1", "15550002", 4), ack("m2", Delivery::Read, 3)];
    let reports: Vec<_> = l
        .store_event_groups(&[&first, &second, &third])
        .expect("group commit")
        .into_iter()
        .map(|r| r.expect("request stored"))
        .collect();
    let counts: Vec<_> = reports
        .iter()
        .map(|r| (r.stored, r.duplicates, r.acks_applied, r.unmatched))
        .collect();
    assert_eq!(counts, vec![(1, 1, 1, 0), (2, 1, 1, 1), (1, 1, 0, 0)]);
    assert_eq!(l.event_count().expect("count"), 5);
    let one = l.row("s", "15550001").expect("row").expect("exists");
    assert_eq!(one.delivery, Some(Delivery::Delivered));
    assert_eq!(one.delivered_at, Some(t(2)));
    let two = l.row("s", "15550002").expect("row").expect("exists");
    assert_eq!(two.delivery, Some(Delivery::Read));
    assert_eq!(two.read_at, Some(t(3)));
    assert_eq!(l.last_inbound("15550002").expect("window"), Some(t(4)));
    let again = l
        .store_event_groups(&[&third, &first])
        .expect("redelivered group");
    for r in again {
        let r = r.expect("request");
        assert_eq!((r.stored, r.duplicates), (0, 2));
    }
    assert_eq!(l.event_count().expect("count"), 5);
}

/// Re-delivered events are stored once, also when several receivers get
/// them at the same time; completions and windows are applied once.
pub fn redelivered_events_are_stored_once(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[intent("s", "15550001")])
        .expect("intents");
    l.record_outcomes(&[accepted("s", "15550001", "m1")])
        .expect("outcome");
    let batch = vec![
        ack("m1", Delivery::Delivered, 5),
        inbound("in1", "15550001", 6),
        completion("c1", "15550001", "s-15550001", 7),
    ];
    let first = l.store_events(&batch).expect("store");
    assert_eq!(first.stored, 3);
    assert_eq!(first.completions_matched, 1);
    let again = l.store_events(&batch).expect("again");
    assert_eq!((again.stored, again.duplicates), (0, 3));
    // Three receivers racing over the same 300 events.
    let events: Arc<Vec<InboundEvent>> = Arc::new(
        (0..300)
            .map(|i| inbound(&format!("race{i}"), &format!("1666{i:04}"), i))
            .collect(),
    );
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let h: Arc<dyn SendLedger> = Arc::from(b.open());
            let events = events.clone();
            std::thread::spawn(move || {
                let mut stored = 0;
                for chunk in events.chunks(20) {
                    let groups: Vec<&[InboundEvent]> = chunk.chunks(5).collect();
                    for r in h.store_event_groups(&groups).expect("group commit") {
                        stored += r.expect("request").stored;
                    }
                }
                stored
            })
        })
        .collect();
    let stored: u64 = receivers
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .sum();
    assert_eq!(stored, 300);
    assert_eq!(l.event_count().expect("count"), 303);
    assert_eq!(l.events(Some("completion")).expect("events").len(), 1);
    let responses = l.responses("s").expect("responses");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].fields.get("name"), Some(&json!("Ana")));
    assert!(!responses[0].fields.contains_key("flow_token"));
    assert_eq!(responses[0].submitted_at, t(7));
    assert_eq!(l.last_inbound("15550001").expect("window"), Some(t(7)));
    assert!(l
        .window_open_since("15550001", t(100))
        .expect("open")
        .is_some());
    assert_eq!(l.counts(None).expect("counts")["s"].completed, 1);
}

/// One holder at a time; a waiter is told who holds it, and gets it as
/// soon as it is released.
pub fn the_lock_admits_one_holder(b: &dyn Backend) {
    let a = b.open();
    let other = b.open();
    let guard = a.acquire_lock(Duration::from_secs(2)).expect("first");
    assert!(!guard.is_lost());
    let holder = a.lock_holder().expect("holder").expect("held");
    assert_eq!(holder.pid, std::process::id());
    let started = Instant::now();
    let err = other
        .acquire_lock(Duration::from_millis(400))
        .expect_err("held elsewhere");
    assert!(started.elapsed() >= Duration::from_millis(400));
    match &err {
        StateError::Locked { holder, .. } => assert_eq!(holder.pid, std::process::id()),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("locked by another apply"), "{err}");
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let g = other
            .acquire_lock(Duration::from_secs(20))
            .expect("after release");
        (started.elapsed(), g.release())
    });
    std::thread::sleep(Duration::from_millis(300));
    guard.release().expect("release");
    let (waited, released) = waiter.join().expect("thread");
    released.expect("release");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(a.lock_holder().expect("holder").is_none());
}

/// A state written by a newer waform is refused, naming both versions.
pub fn a_newer_schema_is_refused(b: &dyn Backend) {
    drop(b.open());
    b.plant_future_schema();
    let err = waform::state::open(&b.location())
        .err()
        .expect("must refuse");
    assert!(
        matches!(err, StateError::FutureSchema { found: 999, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade waform"), "{err}");
}

/// Read-only commands create nothing where nothing was recorded.
pub fn open_existing_finds_nothing_before_the_first_write(b: &dyn Backend) {
    assert!(waform::state::open_existing(&b.location())
        .expect("ok")
        .is_none());
    drop(b.open());
    assert!(waform::state::open_existing(&b.location())
        .expect("ok")
        .is_some());
}

/// The audience scan: first occurrences (across batches and within one)
/// get what the ledger holds for this send only, later ones are
/// duplicates, excluded phones are excluded once and duplicates after.
pub fn the_audience_is_classified_by_the_database(b: &dyn Backend) {
    let l = b.open();
    l.record_intents(&[
        intent("s", "1"),
        intent("s", "2"),
        intent("s", "3"),
        intent("s", "5"),
        intent("other", "6"),
    ])
    .expect("intents");
    l.record_outcomes(&[
        accepted("s", "1", "wamid.1"),
        rejected("s", "2", "no"),
        unknown("s", "3", "timeout"),
    ])
    .expect("outcomes");
    let mut scan = l.audience("s").expect("scan");
    scan.exclude(&["7", "8", "7"]).expect("exclude");
    assert_eq!(
        scan.classify(&["1", "2", "3", "4", "5", "6", "7", "4"])
            .expect("classify"),
        vec![
            Seen::New(Some(Recorded::Accepted)),
            Seen::New(Some(Recorded::Rejected)),
            Seen::New(Some(Recorded::Unknown)),
            Seen::New(None),
            Seen::New(Some(Recorded::IntentOnly)),
            Seen::New(None),
            Seen::Excluded,
            Seen::Duplicate,
        ]
    );
    assert_eq!(
        scan.classify(&["7", "1", "9", "8", "9"]).expect("classify"),
        vec![
            Seen::Duplicate,
            Seen::Duplicate,
            Seen::New(None),
            Seen::Excluded,
            Seen::Duplicate,
        ]
    );
    assert_eq!(scan.classify(&[]).expect("empty batch"), vec![]);
}

/// Each batch sees the rows committed before it (the dispatcher writes
/// intents between batches); two scans are independent; a new scan starts
/// with nobody seen.
pub fn each_batch_sees_the_rows_committed_before_it(b: &dyn Backend) {
    let l = b.open();
    let mut first = l.audience("s").expect("scan");
    assert_eq!(first.classify(&["10"]).expect("a"), vec![Seen::New(None)]);
    l.record_intents(&[intent("s", "11")]).expect("intent");
    {
        let mut second = l.audience("s").expect("second scan");
        assert_eq!(
            second.classify(&["10", "11"]).expect("b"),
            vec![Seen::New(None), Seen::New(Some(Recorded::IntentOnly))]
        );
    }
    assert_eq!(
        first.classify(&["10", "11"]).expect("c"),
        vec![Seen::Duplicate, Seen::New(Some(Recorded::IntentOnly))]
    );
    drop(first);
    let mut third = l.audience("s").expect("third scan");
    assert_eq!(third.classify(&["10"]).expect("d"), vec![Seen::New(None)]);
}

/// Batches of the size plan and apply use, overlapping: every phone is new
/// exactly once, and half of them are found in the ledger.
pub fn a_large_audience_is_deduplicated_across_batches(b: &dyn Backend) {
    let l = b.open();
    let phones: Vec<String> = (0..30_000u64)
        .map(|i| (15_550_000_000 + i).to_string())
        .collect();
    let intents: Vec<Intent> = phones.iter().step_by(2).map(|p| intent("s", p)).collect();
    l.record_intents(&intents).expect("intents");
    let mut scan = l.audience("s").expect("scan");
    let (mut new, mut recorded, mut dups) = (0, 0, 0);
    // 0..12k, 8k..20k, 16k..28k, 24k..30k: 4k overlap each time.
    let mut start = 0;
    while start < phones.len() {
        let end = (start + waform::state::audience::BATCH + 2_000).min(phones.len());
        let batch: Vec<&str> = phones[start..end].iter().map(String::as_str).collect();
        for seen in scan.classify(&batch).expect("classify") {
            match seen {
                Seen::New(None) => new += 1,
                Seen::New(Some(_)) => recorded += 1,
                Seen::Duplicate => dups += 1,
                Seen::Excluded => panic!("nobody is excluded"),
            }
        }
        if end == phones.len() {
            break;
        }
        start = end - 4_000;
    }
    assert_eq!((new, recorded, dups), (15_000, 15_000, 12_000));
}

/// PostgreSQL text cannot hold a NUL character, so a request with one
/// fails the batched insert of its group commit: the group is then stored
/// request by request, and only that request fails (its sender gets 503
/// and retries); the others are stored once and answered.
#[test]
fn postgres_a_request_the_database_refuses_fails_alone() {
    let Some(b) = postgres() else {
        return;
    };
    let l = b.open();
    let good = [ack("m1", Delivery::Sent, 1), inbound("in1", "15550003", 2)];
    let bad = [ack("m\u{0}2", Delivery::Sent, 1)];
    let also_good = [ack("m3", Delivery::Read, 3)];
    let results = l
        .store_event_groups(&[&good, &bad, &also_good])
        .expect("group commit");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().expect("first stored").stored, 2);
    assert!(results[1].is_err(), "a NUL in a message id is refused");
    assert_eq!(results[2].as_ref().expect("third stored").stored, 1);
    assert_eq!(l.event_count().expect("count"), 3);
    // The session is usable afterwards, and the batched path again.
    let next = l
        .store_event_groups(&[&also_good, &[ack("m4", Delivery::Sent, 4)]])
        .expect("next group");
    let counts: Vec<_> = next
        .into_iter()
        .map(|r| {
            let r = r.expect("stored");
            (r.stored, r.duplicates)
        })
        .collect();
    assert_eq!(counts, vec![(0, 1), (1, 0)]);
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    if let Some(b) = super::$backend() {
                        super::$case(&b);
                    }
                }
            )*
        }
    };
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        conformance!(sqlite: $($case),*);
        conformance!(postgres: $($case),*);
    };
}

both!(
    intents_are_durable_when_the_call_returns,
    a_second_intent_for_the_same_send_and_phone_is_refused,
    outcomes_withdrawal_and_unknown_rows,
    reasons_are_counted_by_the_database,
    a_group_commit_writes_outcomes_withdrawals_and_intents,
    acks_never_move_a_row_backwards,
    redelivered_events_are_stored_once,
    early_acks_are_applied_in_order_by_the_group_commit,
    a_group_with_duplicates_stores_each_event_once,
    the_lock_admits_one_holder,
    a_newer_schema_is_refused,
    open_existing_finds_nothing_before_the_first_write,
    the_audience_is_classified_by_the_database,
    each_batch_sees_the_rows_committed_before_it,
    a_large_audience_is_deduplicated_across_batches,
);
