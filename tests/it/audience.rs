//! A send's audience larger than one classification batch
//! (`waform::state::audience::BATCH`), through the real binary: duplicates
//! across and within batches, more exclusions than fit a batch boundary,
//! rows already in the ledger in the second batch. Plan counts them, apply
//! sends everyone due exactly once and nobody else.

use std::fmt::Write as _;

use waform::state::{Intent, Outcome, OutcomeRecord, SendKind, SendLedger};

use crate::apply::{ledger, sandbox, template_config};
use crate::common::TestContext;

fn phone(i: usize) -> String {
    format!("1555{i:07}")
}

/// 11,000 unique phones, then 1,500 of them again (in the second batch) and
/// one repeated inside the second batch.
fn people() -> String {
    let mut csv = String::from("phone,fname\n");
    for i in (0..11_000).chain(0..1_500).chain([10_999]) {
        let _ = writeln!(csv, "+{},Name{i}", phone(i));
    }
    csv
}

/// Phones 10,000..10,500 and 3.
fn opted_out() -> String {
    let mut csv = String::from("phone\n");
    for i in (10_000..10_500).chain([3]) {
        let _ = writeln!(csv, "+{}", phone(i));
    }
    csv
}

fn seed(l: &dyn SendLedger, at: chrono::DateTime<chrono::Utc>) {
    let intent = |i: usize| Intent {
        send: "spring".into(),
        phone: phone(i),
        flow_token: format!("seed-{i}"),
        kind: SendKind::Template,
        template: None,
        at,
    };
    // Accepted: 10,500..10,600; unknown: 7.
    let intents: Vec<Intent> = (10_500..10_600).chain([7]).map(intent).collect();
    l.record_intents(&intents).expect("intents");
    let mut outcomes: Vec<OutcomeRecord> = (10_500..10_600)
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
    outcomes.push(OutcomeRecord::new(
        "spring",
        &phone(7),
        Outcome::Unknown {
            reason: "timeout".into(),
        },
        at,
    ));
    l.record_outcomes(&outcomes).expect("outcomes");
}

#[test]
fn an_audience_larger_than_a_batch_is_counted_and_sent_once_each() {
    let sb = sandbox(|_| {});
    let ctx = TestContext::new();
    let config = template_config("Hi {{1}}, sign up now.").replace(
        "      - csv: people.csv\n",
        "      - csv: people.csv\n    exclude:\n      - csv: opted_out.csv\n",
    );
    ctx.write("waform.yaml", &config);
    ctx.write("people.csv", &people());
    ctx.write("opted_out.csv", &opted_out());
    seed(&ledger(&ctx), chrono::Utc::now());

    let out = sb
        .cmd(&ctx)
        .args(["plan", "--format", "json"])
        .output()
        .expect("plan");
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let c = &plan["sends"][0]["counts"];
    assert_eq!(c["recipients"], 11_000, "{c}");
    assert_eq!(c["duplicates"], 1_501, "{c}");
    assert_eq!(c["excluded"], 501, "{c}");
    assert_eq!(c["already_sent"], 100, "{c}");
    assert_eq!(c["unknown"], 1, "{c}");
    // Not approved yet: due once the template is.
    assert_eq!(c["waiting"], 11_000 - 501 - 100 - 1, "{c}");

    let out = sb.apply(&ctx, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = sb.phones_sent();
    assert_eq!(sent.len(), 10_398, "{stdout}");
    assert!(
        sent.values().all(|n| *n == 1),
        "somebody was messaged twice"
    );
    assert!(sent.contains_key(&phone(0)) && sent.contains_key(&phone(10_999)));
    for i in (10_000..10_600).chain([3, 7]) {
        assert!(!sent.contains_key(&phone(i)), "{} was messaged", phone(i));
    }
    let c = ledger(&ctx).counts(Some("spring")).expect("counts")["spring"];
    assert_eq!((c.recipients, c.accepted, c.unknown), (10_499, 10_498, 1));
}
