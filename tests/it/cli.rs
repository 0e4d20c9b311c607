//! The command-line shape: every subcommand documents every argument, and
//! the reading commands (status, responses) take the config PATH first
//! like validate/plan/apply (docs/design.md §3).

use clap::CommandFactory;
use serde_json::Value;

use crate::common::{copy_example, TestContext};

// The CLI lives in the binary, not the library; its clap tree is compiled
// here from the same source so every argument's help line can be checked.
#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod binary_cli;

/// Every subcommand path, e.g. `["state", "migrate"]`, walked from clap's
/// tree so subcommands added later are covered too.
fn subcommand_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        out.push(path.clone());
        subcommand_paths(sub, &path, out);
    }
}

#[test]
fn every_subcommand_documents_every_argument() {
    let mut root = binary_cli::Cli::command();
    root.build();
    let mut paths = Vec::new();
    subcommand_paths(&root, &[], &mut paths);
    assert!(paths.len() >= 9, "{paths:?}");
    let ctx = TestContext::new();
    for path in paths {
        let mut cmd = &root;
        for name in &path {
            cmd = cmd.find_subcommand(name).expect("subcommand");
        }
        assert!(
            cmd.get_about().is_some(),
            "`waform {}` has no about line",
            path.join(" ")
        );
        let out = ctx.cmd().args(&path).arg("--help").output().expect("runs");
        assert!(
            out.status.success(),
            "waform {} --help failed",
            path.join(" ")
        );
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            let shown = match arg.get_long() {
                Some(long) => format!("--{long}"),
                None => arg
                    .get_value_names()
                    .and_then(|v| v.first().map(|n| n.to_string()))
                    .unwrap_or_else(|| id.to_uppercase()),
            };
            assert!(
                arg.get_help()
                    .is_some_and(|h| !h.to_string().trim().is_empty()),
                "`waform {}`: {shown} has no help line",
                path.join(" ")
            );
            assert!(
                help.contains(&shown),
                "`waform {} --help` does not show {shown}:\n{help}",
                path.join(" ")
            );
        }
    }
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn status_after_a_sandbox_apply_reads_the_sandbox_ledger() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let apply = ctx
        .cmd()
        .args(["apply", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("apply");
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );

    let status = json(
        &ctx.cmd()
            .args(["status", "--sandbox", "--format", "json"])
            .arg(&dir)
            .output()
            .expect("status"),
    );
    assert_eq!(
        status["sends"]["spring_campaign"]["accepted"], 8,
        "{status}"
    );

    // The real ledger is empty; status says where the records are.
    let real = ctx
        .cmd()
        .args(["status", "--format", "json"])
        .arg(&dir)
        .output()
        .expect("status");
    let v = json(&real);
    assert_eq!(v["sends"]["spring_campaign"]["accepted"], 0, "{v}");
    assert!(
        String::from_utf8_lossy(&real.stderr).contains("add --sandbox"),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );

    let one = json(
        &ctx.cmd()
            .args([
                "status",
                "--sandbox",
                "--send",
                "spring_campaign",
                "--format",
                "json",
            ])
            .arg(&dir)
            .output()
            .expect("status"),
    );
    assert_eq!(one["sends"].as_object().map(|m| m.len()), Some(1), "{one}");

    // The report says why the later stages are empty after a dry run.
    let md = ctx
        .cmd()
        .args(["status", "--sandbox", "--format", "markdown"])
        .arg(&dir)
        .output()
        .expect("status");
    let md = String::from_utf8_lossy(&md.stdout).to_string();
    assert!(md.contains("| accepted | 8 | 100.0% |"), "{md}");
    assert!(md.contains("they arrive through `waform webhook`"), "{md}");
    assert!(!md.contains("``"), "{md}");

    let responses = ctx
        .cmd()
        .args(["responses", "--sandbox", "--send", "spring_campaign"])
        .arg(&dir)
        .output()
        .expect("responses");
    assert!(responses.status.success());
    assert!(String::from_utf8_lossy(&responses.stdout).starts_with("phone,flow_token,submitted_at"));
}

#[test]
fn a_missing_config_or_an_unknown_send_is_an_error() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["status", "spring_campaign"], "--send spring_campaign"),
        (vec!["status", "nowhere/waform.yaml"], "no such config"),
        (vec!["status"], "no waform.yaml"),
        (vec!["responses", "--send", "x"], "no waform.yaml"),
        (vec!["import", "nowhere.yaml"], "no such config"),
    ];
    for (args, expected) in cases {
        let out = ctx.cmd().args(&args).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for cmd in ["status", "responses"] {
        let out = ctx
            .cmd()
            .args([cmd, "--send", "spring_campaing"])
            .arg(&dir)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown send \"spring_campaing\""), "{err}");
        assert!(err.contains("did you mean \"spring_campaign\""), "{err}");
    }
    // The old spelling still works, with a warning.
    let out = ctx
        .cmd()
        .args(["status", "--format", "json", "--config"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert!(json(&out)["sends"].get("spring_campaign").is_some());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deprecated"));
}

#[test]
fn import_refuses_to_overwrite_and_reports_all_missing_settings() {
    let ctx = TestContext::new();
    let out = ctx.cmd().arg("import").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WAFORM_INSTANCE") && err.contains("WAFORM_TOKEN"),
        "{err}"
    );

    ctx.write("kept.yaml", "version: 1\n");
    let out = ctx
        .cmd()
        .args(["import", "--out", "kept.yaml"])
        .env("WAFORM_INSTANCE", "x")
        .env("WAFORM_TOKEN", "y")
        .env("WAFORM_BASE_URL", "http://127.0.0.1:9")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("kept.yaml")).expect("kept"),
        "version: 1\n"
    );
}

#[test]
fn an_unreachable_api_names_the_url_and_what_to_check() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = ctx
        .cmd()
        .arg("plan")
        .arg(&dir)
        .env("WAFORM_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("WAFORM_INSTANCE", "inst42")
        .env("WAFORM_TOKEN", "tok-unreachable-7")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/inst42/templates")),
        "{err}"
    );
    assert!(err.contains("check WAFORM_BASE_URL"), "{err}");
    assert!(!err.contains("tok-unreachable-7"), "{err}");
}

#[test]
fn the_ci_example_installs_this_repository_at_this_version() {
    let root = crate::common::repo_root();
    let yml = std::fs::read_to_string(root.join("examples/ci/waform.yml")).expect("ci example");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let repository = cargo
        .lines()
        .find_map(|l| l.strip_prefix("repository = "))
        .map(|v| v.trim_matches('"'))
        .expect("Cargo.toml names its repository");
    assert!(
        yml.contains(&format!("WAFORM_REPO: {repository}\n")),
        "{yml}"
    );
    assert!(
        yml.contains(&format!(
            "WAFORM_VERSION: \"{}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "the CI example pins the current version"
    );
    // One URL everywhere: no other install source.
    assert_eq!(yml.matches("cargo install").count(), 2, "{yml}");
    assert_eq!(yml.matches("--git \"$WAFORM_REPO\"").count(), 2, "{yml}");
    // The built binary is cached by version; plans have their own group.
    assert!(yml.contains("key: waform-bin-${{ runner.os }}-${{ env.WAFORM_VERSION }}"));
    assert!(yml.contains("group: waform-plan-"));
    assert!(yml.contains("group: waform-apply"));
    // The state is the shared PostgreSQL from a secret, not a cached file.
    assert_eq!(
        yml.matches("WAFORM_STATE: ${{ secrets.WAFORM_STATE }}")
            .count(),
        2,
        "{yml}"
    );
    assert!(!yml.contains("path: campaigns/.waform"), "{yml}");
}

#[test]
fn webhook_refuses_a_config_path_that_does_not_exist() {
    let ctx = TestContext::new();
    let out = ctx
        .cmd()
        .args(["webhook", "nowhere", "--listen", "127.0.0.1:0"])
        .env("WAFORM_WEBHOOK_SECRET", "s")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere: no such config"), "{err}");
    // WAFORM_STATE names the ledger: no config needed.
    let out = ctx
        .cmd()
        .args(["status", "--format", "json"])
        .env("WAFORM_STATE", ctx.path().join("s.db"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_durations_and_times_are_usage_errors_before_anything_runs() {
    let ctx = TestContext::new();
    let cases: [&[&str]; 4] = [
        &["apply", "--sandbox", "--approval-timeout", "soon"],
        &["apply", "--sandbox", "--lock-timeout", "10 parsecs"],
        &["plan", "--sandbox", "--now", "2026-12-01T09:00:00"],
        &["reconcile", "--lock-timeout", "forever"],
    ];
    for args in cases {
        let out = ctx.cmd().args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let flag = args[args.len() - 2];
        assert!(
            stderr.contains("invalid value") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `-v` turns on waform's debug logs on stderr (never stdout, which stays
/// the plan); a bad `WAFORM_LOG` is a usage error before anything runs.
#[test]
fn verbose_logs_go_to_stderr_and_a_bad_log_filter_is_refused() {
    let ctx = TestContext::new();
    let dir = copy_example(&ctx, "course-signup");
    let quiet = ctx
        .cmd()
        .args(["plan", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("plan");
    let verbose = ctx
        .cmd()
        .args(["-v", "plan", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("plan -v");
    assert!(verbose.status.success(), "{verbose:?}");
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        stderr.contains("DEBUG")
            && stderr.contains("GET http://127.0.0.1:")
            && stderr.contains("/templates status=200"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("DEBUG"));
    assert_eq!(quiet.stdout, verbose.stdout, "logs leaked into the plan");

    let bad = ctx
        .cmd()
        .env("WAFORM_LOG", "waform=[")
        .args(["plan", "--sandbox"])
        .arg(&dir)
        .output()
        .expect("plan");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("is not a log filter"), "{stderr}");
    assert!(bad.stdout.is_empty());
}
