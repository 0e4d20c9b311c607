//! PgBouncer between waform and its PostgreSQL state (issue 11): in
//! `pool_mode = transaction` a session advisory lock does not stay with the
//! session waform talks to, so apply must refuse before sending anything;
//! in `pool_mode = session` the same apply works (the test's PgBouncer is
//! fine). Skips with one line when `pgbouncer` is not installed, also
//! under CI, where `.ci/run` installs it only if it can.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::apply::{people, sandbox, template_config, Sandbox};
use crate::common::TestContext;
use crate::pg_cluster;

/// `pgbouncer` on PATH, else the Debian package's `/usr/sbin/pgbouncer`
/// (not on a plain user's PATH).
fn find_pgbouncer() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v pgbouncer"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    let sbin = PathBuf::from("/usr/sbin/pgbouncer");
    sbin.exists().then_some(sbin)
}

/// The `postgres` user's uid and gid, to drop to when root: PgBouncer,
/// like the server, refuses to run as root.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id postgres");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

/// A running PgBouncer in its own temp dir; killed and reaped when
/// dropped, also when the test panics.
struct Bouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bouncer {
    fn start(bin: &Path, server_port: u16, pool_mode: &str) -> Bouncer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let d = dir.path().display();
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").expect("auth file");
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {d}/users.txt\n\
             pool_mode = {pool_mode}\n\
             default_pool_size = 20\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {d}/pgbouncer.log\n\
             pidfile = {d}/pgbouncer.pid\n"
        );
        let ini_path = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).expect("ini");
        let mut cmd = Command::new(bin);
        cmd.arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let (uid, gid) = postgres_ids();
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot chown {d} to postgres");
            // Set on the child itself (not via runuser, which forks), so
            // the handle kills PgBouncer and not a wrapper.
            cmd.gid(gid).uid(uid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let bouncer = Bouncer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen on {port}; its log: {}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// `url` (a database on the throwaway cluster) through this PgBouncer.
    fn url(&self, url: &str, server_port: u16) -> String {
        url.replace(
            &format!("127.0.0.1:{server_port}/"),
            &format!("127.0.0.1:{}/", self.port),
        )
    }
}

/// `waform apply` (which takes the state's apply lock) against `sb` with
/// the state at `url`.
fn apply(sb: &Sandbox, url: &str) -> std::process::Output {
    let ctx = TestContext::new();
    ctx.write("waform.yaml", &template_config("Hi {{1}}, sign up now."));
    ctx.write("people.csv", &people(2));
    sb.cmd(&ctx)
        .env("WAFORM_STATE", url)
        .args([
            "apply",
            "--auto-approve",
            "--approval-timeout",
            "20s",
            "--lock-timeout",
            "10s",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run waform")
}

/// The PgBouncer binary and the cluster, or `None` after one line when
/// either is missing.
fn prerequisites() -> Option<(PathBuf, &'static pg_cluster::Cluster)> {
    let Some(bin) = find_pgbouncer() else {
        eprintln!("skipping PgBouncer test: pgbouncer not found");
        return None;
    };
    Some((bin, pg_cluster::cluster()?))
}

#[test]
fn transaction_pooling_pgbouncer_is_refused_before_anything_is_sent() {
    let Some((bin, cluster)) = prerequisites() else {
        return;
    };
    let db = cluster.database();
    let bouncer = Bouncer::start(&bin, cluster.port, "transaction");
    let sb = sandbox(|_| {});
    let out = apply(&sb, &bouncer.url(&db, cluster.port));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {stderr}\npgbouncer log: {}",
        String::from_utf8_lossy(&out.stdout),
        bouncer.log()
    );
    assert!(
        stderr.contains("transaction-pooling proxy")
            && stderr.contains("session-mode pool")
            && stderr.contains("pool_mode=transaction"),
        "the message should name the pooling problem and the fix: {stderr}"
    );
    assert!(
        sb.handle.requests().is_empty(),
        "{:?}",
        sb.handle.requests()
    );
    assert!(sb.handle.sends().is_empty());
    assert!(sb.handle.templates().is_empty(), "no template was created");
}

#[test]
fn session_pooling_pgbouncer_works() {
    let Some((bin, cluster)) = prerequisites() else {
        return;
    };
    let db = cluster.database();
    let bouncer = Bouncer::start(&bin, cluster.port, "session");
    let sb = sandbox(|_| {});
    let out = apply(&sb, &bouncer.url(&db, cluster.port));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}\npgbouncer log: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        bouncer.log()
    );
    assert_eq!(sb.handle.sends().len(), 2, "both recipients were sent to");
}
