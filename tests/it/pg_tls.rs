//! `sslmode=require` against a real server speaking TLS: the shared test
//! cluster serves a certificate signed by a throwaway CA (made with the
//! `openssl` CLI), and one database accepts TLS connections only. waform
//! connects when `PGSSLROOTCERT` names that CA, refuses the server when it
//! does not (the certificate is verified, not just encrypted to), and a
//! plain connection to that database is refused by the server (so the
//! successful runs did use TLS).

use std::path::{Path, PathBuf};
use std::process::Command;

use waform::state::{Intent, Ledger, SendKind};

use crate::common::TestContext;
use crate::pg_cluster;

/// The CA certificate and the server's certificate and key.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A CA and a server certificate for 127.0.0.1 signed by it; `None` when
/// the `openssl` CLI is missing.
fn make_certs(dir: &Path) -> Option<Certs> {
    if !openssl(dir, &["version"]) {
        return None;
    }
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\n[dn]\n\
         [v3_ca]\nbasicConstraints = critical, CA:TRUE\n\
         keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n",
    )
    .expect("ca.cnf");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .expect("server.ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &[
                "req", "-x509", "-config", "ca.cnf", "-keyout", "ca.key", "-out", "ca.pem",
            ][..],
            &ec[..],
            &["-days", "2", "-subj", "/CN=waform test CA"][..],
        ]
        .concat(),
        [
            &["req", "-keyout", "server.key", "-out", "server.csr"][..],
            &ec[..],
            &["-subj", "/CN=127.0.0.1"][..],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for step in steps {
        assert!(openssl(dir, &step), "openssl {} failed", step.join(" "));
    }
    Some(Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    })
}

#[test]
fn sslmode_require_connects_over_tls_verified_against_pgsslrootcert() {
    let Some(cluster) = pg_cluster::cluster() else {
        return;
    };
    let ctx = TestContext::new();
    let Some(certs) = make_certs(ctx.path()) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the openssl CLI is needed under CI"
        );
        eprintln!("skipping the PostgreSQL TLS test: the openssl CLI was not found");
        return;
    };
    let plain_url = cluster.database();
    let db = plain_url
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name")
        .to_string();
    cluster.require_tls_for(&db, &certs.cert, &certs.key);
    let tls_url = plain_url.replace("sslmode=disable", "sslmode=require");
    let old = Ledger::open(&ctx.path().join("old.db")).expect("sqlite");
    let intents: Vec<Intent> = (0..3)
        .map(|i| Intent {
            send: "spring".into(),
            phone: format!("1555000000{i}"),
            flow_token: format!("tok-{i}"),
            kind: SendKind::Template,
            template: None,
            at: chrono::Utc::now(),
        })
        .collect();
    old.record_intents(&intents).expect("intents");

    let migrate = |to: &str, root: Option<&Path>| {
        let mut cmd = ctx.cmd();
        cmd.env_remove("PGSSLROOTCERT");
        if let Some(root) = root {
            cmd.env("PGSSLROOTCERT", root);
        }
        let out = cmd
            .args(["state", "migrate", "--from", "sqlite://old.db", "--to", to])
            .output()
            .expect("runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };

    // Without the CA the server's certificate is not trusted: refused
    // before anything is written.
    let (code, text) = migrate(&tls_url, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    // A plain connection is refused by this database.
    let (code, text) = migrate(&plain_url, Some(&certs.ca));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("pg_hba.conf"), "{text}");
    // With the CA: connected over TLS, every row moved.
    let (code, text) = migrate(&tls_url, Some(&certs.ca));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Migrated 3 send row(s)"), "{text}");
}
