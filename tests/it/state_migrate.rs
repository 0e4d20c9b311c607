//! `waform state migrate`: an existing SQLite ledger moved into PostgreSQL
//! (and back) through the binary, every row and column kept, verified by
//! counts, a non-empty target refused, the password never printed.

use chrono::{DateTime, Utc};
use serde_json::json;
use waform::state::{
    Delivery, EventKind, InboundEvent, Intent, Ledger, Outcome, OutcomeRecord, PgLocation,
    SendKind, SendLedger, StateLocation,
};

use crate::common::TestContext;
use crate::pg_cluster;

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
}

/// A ledger with every kind of row: intents with each outcome, acks,
/// a completion, windows, unmatched and unknown events.
fn seed(l: &Ledger, n: usize) {
    let intents: Vec<Intent> = (0..n)
        .map(|i| Intent {
            send: if i % 2 == 0 { "spring" } else { "autumn" }.into(),
            phone: format!("1555{i:07}"),
            flow_token: format!("tok-{i}"),
            kind: SendKind::Template,
            template: Some("course_signup_1a2b3c4d".into()),
            at: t(i as i64),
        })
        .collect();
    l.record_intents(&intents).expect("intents");
    let outcomes: Vec<OutcomeRecord> = intents
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 6)
        .map(|(i, it)| {
            let outcome = match i % 7 {
                5 => Outcome::Rejected {
                    reason: "131026".into(),
                },
                4 => Outcome::Unknown {
                    reason: "timeout".into(),
                },
                _ => Outcome::Accepted {
                    message_id: Some(format!("wamid.{i}")),
                    job_id: None,
                },
            };
            OutcomeRecord::new(&it.send, &it.phone, outcome, t(i as i64 + 1))
        })
        .collect();
    l.record_outcomes(&outcomes).expect("outcomes");
    let mut events = Vec::new();
    for i in (0..n).step_by(3) {
        events.push(InboundEvent {
            kind: EventKind::Ack {
                message_id: format!("wamid.{i}"),
                status: if i % 2 == 0 {
                    Delivery::Read
                } else {
                    Delivery::Failed
                },
                error: (i % 2 == 1).then(|| "failed".into()),
                phone: None,
                at: Some(t(100 + i as i64)),
            },
            raw: json!({"id": format!("wamid.{i}"), "n": i}),
        });
    }
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), json!("Ana"));
    events.push(InboundEvent {
        kind: EventKind::Completion {
            message_id: Some("in.c1".into()),
            phone: Some("15550000000".into()),
            flow_token: Some("tok-0".into()),
            fields,
            at: Some(t(500)),
        },
        raw: json!({"nfm": "tok-0"}),
    });
    events.push(InboundEvent {
        kind: EventKind::Unknown,
        raw: json!({"odd": true}),
    });
    l.store_events(&events).expect("events");
}

fn pg(url: &str) -> Box<dyn SendLedger> {
    waform::state::open(&StateLocation::Postgres(PgLocation {
        url: url.into(),
        schema: None,
    }))
    .expect("open pg")
}

fn same_rows(a: &dyn SendLedger, b: &dyn SendLedger, n: usize) {
    assert_eq!(a.counts(None).expect("a"), b.counts(None).expect("b"));
    for i in 0..n {
        let send = if i % 2 == 0 { "spring" } else { "autumn" };
        let phone = format!("1555{i:07}");
        assert_eq!(
            a.row(send, &phone).expect("a row"),
            b.row(send, &phone).expect("b row"),
            "row {send}/{phone}"
        );
    }
    assert_eq!(a.events(None).expect("a"), b.events(None).expect("b"));
    assert_eq!(
        a.responses("spring").expect("a"),
        b.responses("spring").expect("b")
    );
    assert_eq!(
        a.last_inbound("15550000000").expect("a"),
        b.last_inbound("15550000000").expect("b")
    );
}

#[test]
fn a_sqlite_ledger_moves_to_postgres_and_back_row_for_row() {
    let Some(cluster) = pg_cluster::cluster() else {
        return;
    };
    let url = cluster.database();
    // A password in the URL (trust auth ignores it) must never be printed.
    let with_password = url.replace("postgres@", "postgres:hunter2secret@");
    let ctx = TestContext::new();
    let n = 3_000;
    let sqlite = Ledger::open(&ctx.path().join("old.db")).expect("sqlite");
    seed(&sqlite, n);

    let out = ctx
        .cmd()
        .args(["state", "migrate", "--from", "sqlite://old.db", "--to"])
        .arg(&with_password)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Migrated 3000 send row(s)"), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
    let target = pg(&url);
    same_rows(&sqlite, target.as_ref(), n);
    // The webhook keeps deduplicating against migrated events.
    let again = target
        .store_events(&[InboundEvent {
            kind: EventKind::Unknown,
            raw: json!({"odd": true}),
        }])
        .expect("store");
    assert_eq!(again.duplicates, 1);

    // A non-empty target is refused, and nothing changes.
    let out = ctx
        .cmd()
        .args(["state", "migrate", "--from", "sqlite://old.db", "--to"])
        .arg(&with_password)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");

    // And back into a new SQLite file.
    let out = ctx
        .cmd()
        .args(["state", "migrate", "--from"])
        .arg(&url)
        .args(["--to", "sqlite://back.db"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = Ledger::open(&ctx.path().join("back.db")).expect("back");
    same_rows(target.as_ref(), &back, n);
}

#[test]
fn migrating_from_nothing_is_an_error() {
    let ctx = TestContext::new();
    let out = ctx
        .cmd()
        .args([
            "state",
            "migrate",
            "--from",
            "sqlite://none.db",
            "--to",
            "sqlite://new.db",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing to migrate"), "{stderr}");
    assert!(!ctx.path().join("new.db").exists());
}

/// A PostgreSQL connection written other than as a `postgres://` URL (a
/// libpq `key=value` string, a `postgres:` missing its `//`) is refused,
/// not made a SQLite file named after it; and a password typed without
/// percent-encoding (`/`, `?`, `&` in it) is never printed, whole or in
/// part, by any command that shows the state's location.
#[test]
fn connection_strings_are_refused_and_unencoded_passwords_never_shown() {
    let ctx = TestContext::new();
    seed(
        &Ledger::open(&ctx.path().join(".waform/state.db")).expect("ledger"),
        3,
    );
    let before: Vec<_> = std::fs::read_dir(ctx.path()).expect("dir").collect();
    for to in [
        "host=127.0.0.1 port=1 user=bob password=Zq9ss dbname=w",
        "postgres:bob:Zq9ss@127.0.0.1:1/w",
    ] {
        let out = ctx
            .cmd()
            .args([
                "-vv",
                "state",
                "migrate",
                "--from",
                ".waform/state.db",
                "--to",
                to,
            ])
            .output()
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{to}: {all}");
        assert!(all.contains("unsupported state URL"), "{to}: {all}");
        assert!(!all.contains("Zq9ss"), "{to}: {all}");
    }
    let after: Vec<_> = std::fs::read_dir(ctx.path()).expect("dir").collect();
    assert_eq!(before.len(), after.len(), "a file was created");

    for url in [
        "postgres://bob:Pa/Zq9ss@127.0.0.1:1/w",
        "postgres://bob:Pa?Zq9ss@127.0.0.1:1/w",
        "postgres://127.0.0.1:1/w?sslmode=disable&password=Pa&Zq9ss",
        "mysql://bob:Zq9ss@127.0.0.1:1/w",
    ] {
        for args in [
            vec!["-vv", "status"],
            vec![
                "-vv",
                "state",
                "migrate",
                "--from",
                ".waform/state.db",
                "--to",
                url,
            ],
        ] {
            let out = ctx
                .cmd()
                .env("WAFORM_STATE", url)
                .args(&args)
                .output()
                .expect("runs");
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{url} {args:?}: {all}");
            assert!(!all.contains("Zq9ss"), "{url} {args:?}: {all}");
        }
    }
}
