//! Slow, idle and crowding callers against the real `waform webhook`
//! binary: none of them can hold the receiver or its shutdown. The timeouts
//! are shortened through the hidden flags so each test takes a few seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestContext;

const SECRET: &str = "slow-caller-webhook-secret";

struct Receiver {
    child: Child,
    addr: String,
    _ctx: TestContext,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Receiver {
    let ctx = TestContext::new();
    let db = ctx.path().join("state.db");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("waform"))
        .current_dir(ctx.path())
        .env_remove("WAFORM_STATE")
        .env("WAFORM_WEBHOOK_SECRET", SECRET)
        .args(["webhook", "--listen", "127.0.0.1:0", "--state"])
        .arg(format!("sqlite://{}", db.display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("line");
    let addr = line
        .trim()
        .strip_prefix("webhook listening on http://")
        .expect("announcement")
        .to_string();
    Receiver {
        child,
        addr,
        _ctx: ctx,
    }
}

/// One complete, authorized POST on a fresh connection; the status code.
fn post(addr: &str) -> u16 {
    let body = r#"{"messages":[]}"#;
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "POST /hooks/1msg?secret={SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Waits until the server closes `s` (EOF or reset); how long that took,
/// or `None` if it was still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // A 408 or error answer before the close is fine; keep reading.
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(start.elapsed()),
        }
        if start.elapsed() > limit {
            return None;
        }
    }
}

#[test]
fn idle_and_half_sent_callers_are_closed_while_real_posts_are_answered() {
    let rx = start(&["--header-timeout", "1s", "--body-timeout", "1s"]);
    let mut idle = TcpStream::connect(&rx.addr).expect("idle");
    let mut half_head = TcpStream::connect(&rx.addr).expect("half head");
    half_head
        .write_all(format!("POST /hooks/1msg?secret={SECRET} HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .expect("half head");
    let mut half_body = TcpStream::connect(&rx.addr).expect("half body");
    half_body
        .write_all(
            format!(
                "POST /hooks/1msg?secret={SECRET} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"mess"
            )
            .as_bytes(),
        )
        .expect("half body");
    // Real callers are served while the slow ones hang.
    assert_eq!(post(&rx.addr), 200);
    for (name, s) in [
        ("idle", &mut idle),
        ("half-sent head", &mut half_head),
        ("half-sent body", &mut half_body),
    ] {
        let took = closed_within(s, Duration::from_secs(8));
        assert!(
            took.is_some(),
            "the {name} connection was still open after 8 s with 1 s timeouts"
        );
    }
    assert_eq!(post(&rx.addr), 200);
}

#[test]
fn callers_past_the_connection_cap_are_served_once_slow_ones_time_out() {
    let rx = start(&["--header-timeout", "1s", "--max-connections", "4"]);
    // Twice the cap, all idle: the first four hold every slot.
    let hogs: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&rx.addr).expect("hog"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(post(&rx.addr), 200);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "a real post waited {:?} behind idle connections",
        start.elapsed()
    );
    drop(hogs);
}

#[test]
fn sigterm_with_a_caller_mid_request_exits_within_the_grace() {
    let mut rx = start(&[
        "--header-timeout",
        "60s",
        "--body-timeout",
        "60s",
        "--shutdown-grace",
        "1s",
    ]);
    let mut holder = TcpStream::connect(&rx.addr).expect("holder");
    holder
        .write_all(
            format!(
                "POST /hooks/1msg?secret={SECRET} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .expect("holder");
    let _idle = TcpStream::connect(&rx.addr).expect("idle");
    std::thread::sleep(Duration::from_millis(300));
    let pid = i32::try_from(rx.child.id()).expect("pid");
    // SAFETY: signalling our own child.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let start = Instant::now();
    loop {
        if let Some(status) = rx.child.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "still running 8 s after SIGTERM with a 1 s grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(closed_within(&mut holder, Duration::from_secs(2)).is_some());
}
