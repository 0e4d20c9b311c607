//! The Applier over an in-memory provider in tokio's paused time: a pass
//! waits for Meta's review in virtual time and sends with the namespace
//! its own review read; a `--no-wait` pass leaves the review pending and
//! asks to be requeued soon, then less soon, then sends once approved.

use std::sync::Arc;
use std::time::Duration;

use super::{Applier, ApplyInputs, ApplySettings, MAX_REQUEUE};
use crate::account::Account;
use crate::apply::reporter::{Event, Reporter, TemplateStep};
use crate::apply::stop::Stop;
use crate::config::{Config, Depth};
use crate::exit::ExitStatus;
use crate::provider::fake::FakeProvider;
use crate::provider::FlowStatus;
use crate::state::StateLocation;

/// Records the template steps, worded by the test.
#[derive(Default)]
struct Steps(Vec<String>);

impl Reporter for Steps {
    fn event(&mut self, event: Event<'_>) {
        if let Event::Template(step) = event {
            self.0.push(match step {
                TemplateStep::Submitted { name, .. } => format!("submitted {name}"),
                TemplateStep::Approved { name, after, .. } => {
                    format!("approved {name} after {}s", after.as_secs())
                }
                other => format!("{other:?}"),
            });
        }
    }
}

/// A template send of three inline recipients, in a temp dir.
fn config(dir: &tempfile::TempDir) -> Config {
    config_with(dir, "")
}

/// [`config`] with `buttons` under the template's language.
fn config_with(dir: &tempfile::TempDir, buttons: &str) -> Config {
    let path = dir.path().join("waform.yaml");
    std::fs::write(
        &path,
        r#"version: 1
provider: { rate_limit: 0 }
flows:
  signup: { id: "1234567890123456" }
templates:
  welcome:
    category: UTILITY
    languages:
      en_US:
        body: "Hi {{1}}, welcome."
        body_examples: ["Ann"]
"#
        .to_string()
            + buttons
            + r#"
sends:
  hello:
    template: welcome
    body_params: ["${recipient.fname}"]
    recipients:
      - { phone: "+15550000001", fname: Ann }
      - { phone: "+15550000002", fname: Ben }
      - { phone: "+15550000003", fname: Cy }
"#,
    )
    .expect("write config");
    let loaded = crate::config::load(&path, Depth::Full);
    assert!(!loaded.diagnostics.has_errors(), "{}", loaded.render(false));
    loaded.config.expect("config")
}

fn account(fake: &Arc<FakeProvider>) -> Account {
    Account {
        provider: fake.clone(),
        identity: "fake".into(),
        sandbox: None,
    }
}

fn inputs<'a>(
    account: &'a Account,
    state: &'a StateLocation,
    wait_for_review: bool,
) -> ApplyInputs<'a> {
    ApplyInputs {
        account,
        state,
        plan_file: None,
        now: None,
        resend_unknown: Vec::new(),
        settings: ApplySettings {
            wait_for_review,
            approval_timeout: Duration::from_secs(3600),
            ..ApplySettings::default()
        },
        stop: Arc::new(Stop::new()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_pass_waits_for_review_in_virtual_time_and_sends_with_what_it_learnt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(&dir);
    let fake = Arc::new(
        FakeProvider::new(Duration::from_millis(10)).approving_after(Duration::from_secs(90)),
    );
    let account = account(&fake);
    let state = StateLocation::Sqlite(dir.path().join("state.db"));
    let applier = Applier::new(inputs(&account, &state, true));
    let started = tokio::time::Instant::now();
    let mut steps = Steps::default();
    let outcome = applier.pass(&cfg, true, &mut steps).await.expect("pass");
    assert_eq!(outcome.status, ExitStatus::Success, "{:?}", steps.0);
    assert!(started.elapsed() >= Duration::from_secs(90));
    // Submitted, polled with a growing backoff, approved.
    let (first, last) = (&steps.0[0], &steps.0[steps.0.len() - 1]);
    assert!(first.starts_with("submitted welcome_"), "{:?}", steps.0);
    assert!(last.starts_with("approved welcome_"), "{:?}", steps.0);
    // Seen at the first poll after 90 s; polls are at most 30 s apart.
    let secs: u64 = last
        .rsplit(' ')
        .next()
        .and_then(|s| s.strip_suffix('s')?.parse().ok())
        .expect("seconds");
    assert!((90..=120).contains(&secs), "{:?}", steps.0);
    assert!(
        steps.0[1..steps.0.len() - 1]
            .iter()
            .all(|s| s.starts_with("StillInReview")),
        "{:?}",
        steps.0
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    let name = calls[0].template.clone().expect("template");
    // The namespace is the one the review read: nothing resolved it again.
    assert!(calls
        .iter()
        .all(|c| c.template.as_deref() == Some(name.as_str())
            && c.namespace.as_deref() == Some(format!("ns-{name}").as_str())));
    assert!(calls
        .iter()
        .all(|c| c.at.duration_since(started) >= Duration::from_secs(90)));
    // Nothing pending, nothing scheduled: the watch sleeps its longest.
    assert_eq!(outcome.requeue_after, MAX_REQUEUE);
}

#[tokio::test(start_paused = true)]
async fn a_no_wait_pass_requeues_soon_while_the_review_is_pending() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(&dir);
    let fake = Arc::new(
        FakeProvider::new(Duration::from_millis(10)).approving_after(Duration::from_secs(20)),
    );
    let account = account(&fake);
    let state = StateLocation::Sqlite(dir.path().join("state.db"));
    let applier = Applier::new(inputs(&account, &state, false));
    let mut steps = Steps::default();
    let mut waits = Vec::new();
    for first in [true, false, false, false] {
        let outcome = applier.pass(&cfg, first, &mut steps).await.expect("pass");
        assert_eq!(outcome.status, ExitStatus::Success);
        assert!(fake.calls().is_empty(), "nothing before the approval");
        waits.push(outcome.requeue_after);
        tokio::time::sleep(outcome.requeue_after).await;
    }
    // Equal-jitter backoff from 2 s, doubling: 1–2 s, 2–4 s, 4–8 s, 8–16 s.
    for (i, wait) in waits.iter().enumerate() {
        let exp = Duration::from_secs(2 << i);
        assert!(*wait >= exp / 2 && *wait <= exp, "{i}: {waits:?}");
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    let outcome = applier.pass(&cfg, false, &mut steps).await.expect("pass");
    assert_eq!(fake.calls().len(), 3, "{:?}", steps.0);
    // Approved by now and read as such: the backoff is over.
    assert_eq!(outcome.requeue_after, MAX_REQUEUE);
    assert_eq!(
        steps
            .0
            .iter()
            .filter(|s| s.starts_with("submitted"))
            .count(),
        1,
        "submitted once: {:?}",
        steps.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_draft_flow_is_rechecked_soon_and_the_send_goes_once_it_is_published() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config_with(
        &dir,
        "        buttons:\n          - { type: flow, text: Start, flow: signup, screen: WELCOME }\n",
    );
    let fake = Arc::new(FakeProvider::new(Duration::from_millis(10)));
    fake.set_flow("1234567890123456", "Sign-up", FlowStatus::Draft);
    let account = account(&fake);
    let state = StateLocation::Sqlite(dir.path().join("state.db"));
    let applier = Applier::new(inputs(&account, &state, true));
    let mut steps = Steps::default();
    // A DRAFT Flow blocks the send (a plan error): nothing is sent, and
    // the watch looks again within seconds rather than in a minute.
    let outcome = applier.pass(&cfg, true, &mut steps).await.expect("pass");
    assert_eq!(outcome.status, ExitStatus::Failure);
    assert!(
        outcome.requeue_after <= Duration::from_secs(2),
        "{outcome:?}"
    );
    assert!(
        fake.calls().is_empty() && steps.0.is_empty(),
        "{:?}",
        steps.0
    );
    // Someone publishes it in Meta's Flow builder.
    fake.set_flow("1234567890123456", "Sign-up", FlowStatus::Published);
    tokio::time::sleep(outcome.requeue_after).await;
    let outcome = applier.pass(&cfg, false, &mut steps).await.expect("pass");
    assert_eq!(outcome.status, ExitStatus::Success, "{:?}", steps.0);
    assert_eq!(fake.calls().len(), 3);
    assert_eq!(outcome.requeue_after, MAX_REQUEUE);
}
