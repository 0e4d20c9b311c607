//! SIGKILLs while apply crosses a classification batch
//! (`waform::state::audience::BATCH`): the ledger already holds most of the
//! first batch, so every kill lands near the boundary, with duplicates of
//! first-batch phones and exclusions in the second batch, under 429,
//! 500-after-accept and dropped-connection faults. Nobody is messaged
//! twice, nobody recorded or excluded is messaged, rows in doubt stay
//! within what was in flight, and a clean run sends the rest.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use waform::state::{
    Intent, Outcome, OutcomeRecord, PgLocation, Recorded, SendKind, SendLedger, StateLocation,
};

use crate::apply::ledger;
use crate::common::TestContext;
use crate::safety::{config, phone, rows, sandbox};

/// Phones recorded accepted before the first apply.
const SEEDED: usize = 9_700;
/// Unique phones in the recipient file.
const UNIQUE: usize = 10_600;
const CONCURRENCY: u32 = 16;

fn excluded() -> HashSet<usize> {
    (10_200..10_300).chain([9_900, 9_950]).collect()
}

fn people() -> String {
    let mut csv = String::from("phone,fname\n");
    // Second-batch repeats of first-batch phones (seeded and due), and one
    // repeat inside the second batch; spelt differently each time.
    for i in (0..UNIQUE).chain(9_690..9_760).chain([10_400]) {
        let p = phone(i);
        let spelt = if i % 2 == 0 {
            format!("+{p}")
        } else {
            format!("+{} ({}) {}-{}", &p[..1], &p[1..4], &p[4..7], &p[7..])
        };
        let _ = writeln!(csv, "\"{spelt}\",Name{i}");
    }
    csv
}

fn opted_out() -> String {
    let mut csv = String::from("phone\n");
    for i in excluded() {
        let _ = writeln!(csv, "+{}", phone(i));
    }
    csv
}

fn seed(l: &dyn SendLedger) {
    seed_range(l, 0..SEEDED);
}

#[test]
fn kills_across_a_classification_batch_send_nobody_twice() {
    kills_across_a_batch(None);
}

/// The same on PostgreSQL state (temp tables on the ledger's session, the
/// commit lanes of their own), when a test cluster is available.
#[test]
fn kills_across_a_classification_batch_on_postgres_send_nobody_twice() {
    let Some(url) = crate::pg_cluster::database() else {
        return;
    };
    kills_across_a_batch(Some(&url));
}

fn kills_across_a_batch(pg: Option<&str>) {
    let sb = sandbox(|c| {
        c.fault_429 = 0.03;
        c.fault_500 = 0.02;
        c.fault_drop = 0.02;
        c.latency = Duration::from_millis(10);
        c.seed = fastrand::u64(..);
    });
    let ctx = TestContext::new();
    ctx.write(
        "waform.yaml",
        &config(0, CONCURRENCY, "    exclude:\n      - csv: opted_out.csv\n"),
    );
    ctx.write("people.csv", &people());
    ctx.write("opted_out.csv", &opted_out());
    let open = || -> Box<dyn SendLedger> {
        match pg {
            Some(url) => waform::state::open(&StateLocation::Postgres(PgLocation {
                url: url.to_string(),
                schema: None,
            }))
            .expect("open"),
            None => Box::new(ledger(&ctx)),
        }
    };
    let rows = || -> HashMap<String, Recorded> {
        let mut rows = HashMap::new();
        open()
            .visit_rows("spring", &mut |phone, r| {
                rows.insert(phone.to_string(), r);
            })
            .expect("rows");
        rows
    };
    seed(open().as_ref());
    let excluded = excluded();
    let due = UNIQUE - SEEDED - excluded.len();
    let mut args = vec!["--auto-approve", "--lock-timeout", "10s"];
    if let Some(url) = pg {
        args.extend(["--state", url]);
    }
    let mut in_doubt_unseen: HashSet<String> = HashSet::new();
    let mut kills = 0;
    for _ in 0..30 {
        if rows().len() >= SEEDED + due || kills >= 8 {
            break;
        }
        let mut child = sb.spawn(&ctx, &args);
        std::thread::sleep(Duration::from_millis(300 + fastrand::u64(0..900)));
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        let mut after = rows();
        if pg.is_some() {
            // The server finishes a COMMIT the killed client had already
            // sent (later under load): read the rows once they settle.
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(300));
                let again = rows();
                if again == after {
                    break;
                }
                after = again;
            }
        }
        let dangling: Vec<&String> = after
            .iter()
            .filter(|(_, r)| **r == Recorded::IntentOnly)
            .map(|(p, _)| p)
            .collect();
        let seen: HashSet<String> = sb
            .handle
            .requests()
            .iter()
            .filter_map(|r| r.phone.clone())
            .collect();
        let unseen: Vec<String> = dangling
            .iter()
            .filter(|p| !seen.contains(p.as_str()))
            .map(|p| p.to_string())
            .collect();
        assert!(
            unseen.len() <= CONCURRENCY as usize,
            "kill {kills}: {} rows in doubt never reached the API",
            unseen.len()
        );
        eprintln!(
            "kill {kills}: {} rows, {} in doubt",
            after.len(),
            dangling.len()
        );
        in_doubt_unseen.extend(unseen);
    }
    let (code, out) = sb.run(&ctx, &args);
    assert_eq!(code, Some(0), "{out}");

    let sent = sb.sent_per_phone();
    assert!(sent.values().all(|c| *c == 1), "someone was messaged twice");
    for i in (0..SEEDED).chain(excluded.iter().copied()) {
        assert!(!sent.contains_key(&phone(i)), "{} was messaged", phone(i));
    }
    let seen: HashSet<String> = sb
        .handle
        .requests()
        .iter()
        .filter_map(|r| r.phone.clone())
        .collect();
    let final_rows = rows();
    assert_eq!(final_rows.len(), SEEDED + due, "everybody due has a row");
    for i in SEEDED..UNIQUE {
        let p = phone(i);
        match final_rows.get(&p) {
            None => assert!(excluded.contains(&i), "{p} due but has no row"),
            Some(_) if excluded.contains(&i) => panic!("{p} excluded but has a row"),
            Some(Recorded::Accepted) => assert!(sent.contains_key(&p), "{p} accepted, not sent"),
            Some(Recorded::Unknown) => assert!(
                seen.contains(&p) || in_doubt_unseen.contains(&p),
                "{p} unknown though never requested"
            ),
            Some(r) => panic!("{p} left {r:?} after a clean run"),
        }
    }
}

/// A recipient file damaged during the send (here a bad row appended,
/// read only with the second batch) stops the send with its error, but
/// only after the requests in flight are answered and recorded: nobody is
/// left in doubt for a request that was answered, nobody is sent twice,
/// and a clean rerun after the fix sends the rest.
#[test]
fn a_bad_row_in_a_later_batch_stops_after_the_requests_in_flight() {
    let sb = sandbox(|c| {
        c.latency = Duration::from_millis(300);
    });
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(5, 4, ""));
    let mut csv = String::from("phone,fname\n");
    for i in 0..10_030 {
        let _ = writeln!(csv, "+{},Name{i}", phone(i));
    }
    ctx.write("people.csv", &csv);
    seed_range(&ledger(&ctx), 0..9_990);
    let child = sb.spawn(&ctx, &["--auto-approve"]);
    let started = std::time::Instant::now();
    while sb.handle.requests().iter().all(|r| r.phone.is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no send started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(ctx.path().join("people.csv"))
        .expect("open");
    std::io::Write::write_all(&mut file, b"not-a-phone,Broken\n").expect("append");
    drop(file);
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("people.csv"), "{text}");
    let after = rows(&ctx);
    let in_doubt: Vec<_> = after
        .iter()
        .filter(|(_, r)| !matches!(r, Recorded::Accepted))
        .collect();
    assert!(
        in_doubt.is_empty(),
        "answered requests left without their outcome: {in_doubt:?}\n{text}"
    );
    let sent = sb.sent_per_phone();
    assert!(sent.values().all(|c| *c == 1), "someone was messaged twice");
    for p in sent.keys() {
        assert_eq!(after.get(p), Some(&Recorded::Accepted), "{p}\n{text}");
    }
}

/// A recipient file rewritten in place during the send (same phones,
/// other names) is noticed before the next batch is read: the send stops
/// with the file named, after the requests in flight are recorded, and no
/// message carries the rewritten names nobody reviewed.
#[test]
fn a_file_rewritten_during_the_send_stops_it_before_the_next_batch() {
    let sb = sandbox(|c| {
        c.latency = Duration::from_millis(300);
    });
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &config(5, 4, ""));
    let csv = |name: &str| {
        let mut csv = String::from("phone,fname\n");
        for i in 0..10_030 {
            let _ = writeln!(csv, "+{},{name}{i}", phone(i));
        }
        csv
    };
    ctx.write("people.csv", &csv("Name"));
    seed_range(&ledger(&ctx), 0..9_990);
    let child = sb.spawn(&ctx, &["--auto-approve"]);
    let started = std::time::Instant::now();
    while sb.handle.requests().iter().all(|r| r.phone.is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no send started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // In place (same file, truncated and written), as an editor may save.
    std::fs::write(ctx.path().join("people.csv"), csv("Rewritten")).expect("rewrite");
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("people.csv changed during the send"),
        "{text}"
    );
    let sends = sb.handle.sends();
    assert!(!sends.is_empty() && sends.len() <= 40, "{text}");
    for s in &sends {
        assert!(
            s.params.iter().all(|p| !p.contains("Rewritten")),
            "{} got {:?}",
            s.phone,
            s.params
        );
    }
    let after = rows(&ctx);
    assert!(
        after.values().all(|r| *r == Recorded::Accepted),
        "answered requests left without their outcome\n{text}"
    );
}

fn seed_range(l: &dyn SendLedger, range: std::ops::Range<usize>) {
    let at = chrono::Utc::now();
    let intents: Vec<Intent> = range
        .clone()
        .map(|i| Intent {
            send: "spring".into(),
            phone: phone(i),
            flow_token: format!("seed-{i}"),
            kind: SendKind::Template,
            template: None,
            at,
        })
        .collect();
    l.record_intents(&intents).expect("intents");
    let outcomes: Vec<OutcomeRecord> = range
        .map(|i| {
            OutcomeRecord::new(
                "spring",
                &phone(i),
                Outcome::Accepted {
                    message_id: Some(format!("wamid.seed{i}")),
                    job_id: None,
                },
                at,
            )
        })
        .collect();
    l.record_outcomes(&outcomes).expect("outcomes");
}
