//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a
//! temp folder, started on a free loopback port with its unix socket in
//! that folder and trust auth, one per test run (process), a database per
//! test; stopped and removed when the process exits, also after a failed
//! test. As root (CI), the server runs as the `postgres` user via
//! `runuser`, since `initdb` and `postgres` refuse root.
//!
//! Without the server binaries the tests skip with one line, except under
//! `CI=true`, where missing binaries are a failure (`.ci/run` installs them).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
/// What `atexit` stops and removes.
static STARTED: Mutex<Option<(PathBuf, PathBuf, bool)>> = Mutex::new(None);
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The server binaries' folder: `initdb` on PATH, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bin() -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !p.is_empty() {
            return Path::new(&p).parent().map(Path::to_path_buf);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The run's cluster, started on first use; `None` (after one line on
/// stderr) when the binaries are missing outside CI.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| {
            let Some(bin) = find_bin() else {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL server binaries (initdb) not found under CI=true; .ci/run installs them with apt-get install -y postgresql");
                }
                eprintln!("skipping PostgreSQL tests: initdb not found (install the postgresql package to run them)");
                return None;
            };
            Some(start(bin))
        })
        .as_ref()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(bin: &Path, as_postgres: bool, tool: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(tool);
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

extern "C" fn stop_at_exit() {
    let started = STARTED.lock().ok().and_then(|mut s| s.take());
    if let Some((dir, bin, as_postgres)) = started {
        let data = dir.join("data");
        let _ = run(
            &bin,
            as_postgres,
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn start(bin: PathBuf) -> Cluster {
    let as_postgres = is_root();
    let dir = std::env::temp_dir().join(format!(
        "waform-pg-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("cluster dir");
    if as_postgres {
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot chown {} to postgres", dir.display());
    }
    let fail = |what: &str, out: std::process::Output| -> ! {
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let data = dir.join("data");
    let data_s = data.to_string_lossy().to_string();
    let out = run(
        &bin,
        as_postgres,
        "initdb",
        &[
            "-D",
            &data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    if !out.status.success() {
        fail("initdb", out);
    }
    let port = free_port();
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c max_connections=300 -c shared_buffers=64MB",
        dir.display()
    );
    let log = dir.join("log").to_string_lossy().to_string();
    // Registered before the start so a half-started server is stopped too.
    *STARTED.lock().expect("started") = Some((dir.clone(), bin.clone(), as_postgres));
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    let out = run(
        &bin,
        as_postgres,
        "pg_ctl",
        &[
            "-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
        ],
    );
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        stop_at_exit();
        panic!(
            "pg_ctl start failed: {}{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Cluster {
        dir,
        bin,
        port,
        as_postgres,
    }
}

impl Cluster {
    /// The admin URL (the `postgres` database).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL on the `postgres` database.
    pub fn admin(&self, sql: &str) {
        self.sql("postgres", sql);
    }

    /// Runs SQL on database `db`.
    pub fn sql(&self, db: &str, sql: &str) {
        let url = self.url(db);
        let sql = sql.to_string();
        // On its own thread: callers may be inside a tokio runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("admin connection");
                let task = tokio::spawn(conn);
                client.batch_execute(&sql).await.expect(&sql);
                drop(client);
                let _ = task.await;
            });
        })
        .join()
        .expect("admin SQL");
    }

    /// Serves TLS with this certificate and key from now on (a reload, no
    /// restart), and makes database `db` accept TLS connections only; the
    /// other databases keep accepting plain ones.
    pub fn require_tls_for(&self, db: &str, cert: &Path, key: &Path) {
        let data = self.dir.join("data");
        for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
            std::fs::copy(from, data.join(to)).expect("copy certificate");
            if self.as_postgres {
                let ok = Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(data.join(to))
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "cannot chown {to}");
            }
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("key mode");
        }
        let hba = data.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        // The first matching line wins: these go before the trust lines.
        let lines = format!(
            "hostssl {db} all 127.0.0.1/32 trust\nhostnossl {db} all 127.0.0.1/32 reject\n"
        );
        std::fs::write(&hba, format!("{lines}{old}")).expect("pg_hba.conf");
        self.admin("ALTER SYSTEM SET ssl = on");
        self.admin("SELECT pg_reload_conf()");
        // The postmaster rereads its files asynchronously; new sessions
        // see the result.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.query_one("SHOW ssl") != "on" {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not turn TLS on; its log: {}",
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The first column of the first row of `sql` on the `postgres`
    /// database, as text.
    pub fn query_one(&self, sql: &str) -> String {
        let url = self.url("postgres");
        let sql = sql.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("admin connection");
                let task = tokio::spawn(conn);
                let rows = client.simple_query(&sql).await.expect(&sql);
                let value = rows
                    .iter()
                    .find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                        _ => None,
                    })
                    .unwrap_or_default();
                drop(client);
                let _ = task.await;
                value
            })
        })
        .join()
        .expect("admin query")
    }

    /// A fresh, empty database; returns its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            NEXT_DB.fetch_add(1, Ordering::SeqCst),
            fastrand::u32(..)
        );
        self.admin(&format!("CREATE DATABASE {name}"));
        self.url(&name)
    }
}

/// A fresh database URL, or `None` when PostgreSQL tests are skipped.
pub fn database() -> Option<String> {
    cluster().map(Cluster::database)
}
