//! The dispatcher over an in-memory provider, in tokio's paused time: the
//! rate limit, `expires`, 429 backoff, stop and halt, outcomes recorded,
//! nobody sent twice. Virtual time runs only while every task waits, so
//! minutes of pacing take milliseconds and the timings are exact.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Dispatcher, SendJob, SendReport, Window, HALT_REASON};
use crate::apply::ratelimit::RateLimiter;
use crate::apply::sends::{Message, TemplateTarget};
use crate::apply::stop::Stop;
use crate::config::types::SendSpec;
use crate::provider::fake::{Answer, FakeProvider};
use crate::state::{Ledger, Recorded, SendLedger};

const SEND: &str = "welcome";
const TEMPLATE: &str = "welcome_v1";

/// A send of `n` inline recipients, its ledger in a temp dir and the fake
/// account.
struct Rig {
    dir: tempfile::TempDir,
    ledger: Arc<dyn SendLedger>,
    fake: Arc<FakeProvider>,
    send: SendSpec,
    stop: Arc<Stop>,
}

/// The i-th recipient, as the provider sees it.
fn phone(i: usize) -> String {
    format!("1555{i:07}")
}

impl Rig {
    fn new(n: usize, latency: Duration) -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(&dir.path().join("state.db")).expect("ledger");
        let recipients: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({ "phone": format!("+{}", phone(i)) }))
            .collect();
        let send: SendSpec = serde_json::from_value(serde_json::json!({
            "template": "welcome",
            "recipients": recipients,
        }))
        .expect("send spec");
        Rig {
            dir,
            ledger: Arc::new(ledger),
            fake: Arc::new(FakeProvider::new(latency)),
            send,
            stop: Arc::new(Stop::new()),
        }
    }

    fn dispatcher(&self, rate: f64, concurrency: usize) -> Dispatcher {
        Dispatcher {
            provider: self.fake.clone(),
            limiter: Arc::new(RateLimiter::new(rate)),
            concurrency,
            stop: self.stop.clone(),
        }
    }

    async fn run(&self, rate: f64, concurrency: usize, window: Window) -> SendReport {
        self.try_run(rate, concurrency, window)
            .await
            .expect("dispatcher run")
    }

    async fn try_run(
        &self,
        rate: f64,
        concurrency: usize,
        window: Window,
    ) -> anyhow::Result<SendReport> {
        let message = Message::Template(TemplateTarget::new(
            TEMPLATE.into(),
            "en_US".into(),
            None,
            None,
            &[],
            None,
        )?);
        let job = SendJob {
            name: SEND,
            send: &self.send,
            base_dir: self.dir.path(),
            message,
            cap: None,
            window,
            planned: None,
            resend_unknown: false,
        };
        self.dispatcher(rate, concurrency)
            .run(&self.ledger, job, |_| {})
            .await
    }

    fn recorded(&self, i: usize) -> Option<Recorded> {
        self.ledger
            .row(SEND, &phone(i))
            .expect("ledger row")
            .map(|r| r.recorded)
    }

    fn reason(&self, i: usize) -> Option<String> {
        self.ledger
            .row(SEND, &phone(i))
            .expect("ledger row")
            .and_then(|r| r.reason)
    }
}

/// A window on the virtual clock, starting now.
fn window(expires_in: Option<Duration>) -> Window {
    let now = Utc::now();
    Window {
        not_before: None,
        not_after: expires_in.map(|d| now + TimeDelta::from_std(d).expect("delta")),
        offset: TimeDelta::zero(),
        timer: Some((now, tokio::time::Instant::now())),
    }
}

fn gaps(calls: &[crate::provider::fake::Call]) -> Vec<Duration> {
    calls
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_paces_every_request_in_virtual_time() {
    let rig = Rig::new(30, Duration::from_millis(250));
    let started = tokio::time::Instant::now();
    let report = rig.run(10.0, 8, window(None)).await;
    assert_eq!(report.accepted, 30, "{report:?}");
    let calls = rig.fake.calls();
    assert_eq!(calls.len(), 30);
    // One slot every 100 ms, handed out in order, never two at once even
    // with eight requests in flight.
    for gap in gaps(&calls) {
        assert!(gap >= Duration::from_millis(99), "{gap:?}");
    }
    let span = calls[29].at.duration_since(started);
    assert!(
        span >= Duration::from_millis(2900) && span < Duration::from_millis(3500),
        "{span:?}"
    );
    for i in 0..30 {
        assert_eq!(rig.recorded(i), Some(Recorded::Accepted), "{i}");
    }
}

#[tokio::test(start_paused = true)]
async fn expires_cuts_the_send_off_and_records_nobody_after_it() {
    let rig = Rig::new(10, Duration::from_millis(20));
    let started = tokio::time::Instant::now();
    // One per second: slots at 0, 1, 2 and 3 s fall before 3.5 s.
    let report = rig
        .run(1.0, 4, window(Some(Duration::from_millis(3500))))
        .await;
    let calls = rig.fake.calls();
    assert_eq!(calls.len(), 4, "{report:?}");
    assert!(calls
        .iter()
        .all(|c| c.at.duration_since(started) < Duration::from_millis(3500)));
    assert_eq!(report.accepted, 4, "{report:?}");
    assert_eq!(report.expired, 6, "{report:?}");
    let recorded = (0..10).filter(|i| rig.recorded(*i).is_some()).count();
    assert_eq!(recorded, 4, "the expired ones are recorded nowhere");
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_its_wait_and_sent_once() {
    let rig = Rig::new(3, Duration::from_millis(10));
    let retry = Some(Duration::from_secs(2));
    rig.fake.script(
        &phone(1),
        [
            Answer::TooMany(retry),
            Answer::TooMany(retry),
            Answer::Accept,
        ],
    );
    let report = rig.run(0.0, 2, window(None)).await;
    assert_eq!((report.accepted, report.unknown), (3, 0), "{report:?}");
    let calls = rig.fake.calls_to(&phone(1));
    assert_eq!(calls.len(), 3);
    // Retry-After wins over the exponential part (plus a little jitter).
    for gap in gaps(&calls) {
        assert!(
            gap >= Duration::from_secs(2) && gap < Duration::from_secs(3),
            "{gap:?}"
        );
    }
    assert_eq!(rig.recorded(1), Some(Recorded::Accepted));
    assert_eq!(rig.fake.calls().len(), 5, "the others once each");
}

#[tokio::test(start_paused = true)]
async fn a_500_is_unknown_and_no_later_run_sends_anyone_twice() {
    let rig = Rig::new(6, Duration::from_millis(10));
    rig.fake.script(&phone(2), [Answer::ServerError]);
    rig.fake.script(
        &phone(4),
        [Answer::Reject("(#132001) template does not exist")],
    );
    let report = rig.run(0.0, 3, window(None)).await;
    assert_eq!(
        (report.accepted, report.rejected, report.unknown),
        (4, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        report.first_rejection.as_deref(),
        Some("(#132001) template does not exist")
    );
    assert_eq!(rig.recorded(2), Some(Recorded::Unknown));
    assert_eq!(rig.reason(2).as_deref(), Some("HTTP 500"));
    assert_eq!(rig.recorded(4), Some(Recorded::Rejected));
    assert_eq!(rig.fake.calls_to(&phone(2)).len(), 1, "never retried");

    // Every row blocks a later send: a second run makes no request.
    let again = rig.run(0.0, 3, window(None)).await;
    assert_eq!(again.attempted(), 0, "{again:?}");
    assert_eq!(again.skipped_recorded, 6, "{again:?}");
    assert_eq!(rig.fake.calls().len(), 6);
    assert!(rig
        .fake
        .calls()
        .iter()
        .all(|c| c.template.as_deref() == Some(TEMPLATE)));
}

#[tokio::test(start_paused = true)]
async fn a_stop_mid_send_leaves_the_rest_due_for_the_next_run() {
    let rig = Rig::new(20, Duration::from_millis(50));
    let stop = rig.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        stop.request(libc_sigint());
    });
    // Five per second: slots at 0, 0.2, …, 1.0 s come before the stop.
    let report = rig.run(5.0, 4, window(None)).await;
    let first = rig.fake.calls().len();
    assert_eq!(first, 6, "{report:?}");
    assert_eq!(report.accepted, 6, "{report:?}");
    assert!(report.not_sent > 0, "{report:?}");
    assert_eq!((0..20).filter(|i| rig.recorded(*i).is_some()).count(), 6);

    let rig2 = Rig {
        stop: Arc::new(Stop::new()),
        ..rig
    };
    let rest = rig2.run(0.0, 4, window(None)).await;
    assert_eq!(rest.accepted, 14, "{rest:?}");
    assert_eq!(rest.skipped_recorded, 6, "{rest:?}");
    for i in 0..20 {
        assert_eq!(rig2.fake.calls_to(&phone(i)).len(), 1, "phone {i}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_halt_records_requests_in_flight_unknown() {
    let rig = Rig::new(6, Duration::from_millis(10));
    for i in 0..3 {
        rig.fake.script(&phone(i), [Answer::Hang]);
    }
    let stop = rig.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        stop.request(libc_sigint());
        stop.halt();
    });
    // Three slots, all taken by requests that never answer.
    let report = rig.run(0.0, 3, window(None)).await;
    assert!(report.halted, "{report:?}");
    assert_eq!(report.unknown, 3, "{report:?}");
    assert_eq!(rig.fake.calls().len(), 3);
    for i in 0..3 {
        assert_eq!(rig.recorded(i), Some(Recorded::Unknown), "{i}");
        assert_eq!(rig.reason(i).as_deref(), Some(HALT_REASON));
    }
    for i in 3..6 {
        assert_eq!(rig.recorded(i), None, "never requested: still due");
    }
}

#[tokio::test(start_paused = true)]
async fn a_closed_window_sends_the_fallback_template_once() {
    let rig = Rig::new(2, Duration::from_millis(10));
    rig.fake.script(&phone(0), [Answer::WindowClosed]);
    let spec: crate::config::types::FlowMessageSpec = serde_json::from_value(serde_json::json!({
        "flow": "signup",
        "body": "Hi",
        "cta": "Open",
    }))
    .expect("flow message");
    let message = Message::Flow {
        flow: Box::new(super::super::sends::FlowTarget::new("1234".into(), &spec).expect("flow")),
        fallback: Some(
            TemplateTarget::new(
                "reminder_v1".into(),
                "en_US".into(),
                None,
                Some(0),
                &[],
                None,
            )
            .expect("fallback"),
        ),
    };
    let job = SendJob {
        name: SEND,
        send: &rig.send,
        base_dir: rig.dir.path(),
        message,
        cap: None,
        window: window(None),
        planned: None,
        resend_unknown: false,
    };
    let report = rig
        .dispatcher(0.0, 2)
        .run(&rig.ledger, job, |_| {})
        .await
        .expect("run");
    assert_eq!((report.accepted, report.fallback), (2, 1), "{report:?}");
    let calls = rig.fake.calls_to(&phone(0));
    assert_eq!(
        calls.iter().map(|c| c.kind).collect::<Vec<_>>(),
        ["flow", "template"]
    );
    assert_eq!(calls[1].template.as_deref(), Some("reminder_v1"));
    assert_eq!(rig.fake.calls_to(&phone(1)).len(), 1);
}

fn libc_sigint() -> i32 {
    2
}

// The paired clock moves with tokio's: a window judged on it expires in
// virtual time.
#[tokio::test(start_paused = true)]
async fn the_test_window_follows_virtual_time() {
    let w = window(Some(Duration::from_secs(10)));
    let start: DateTime<Utc> = w.now();
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(w.now() - start >= TimeDelta::seconds(11));
    assert!(w.gate_expired());
}
