//! Hostile input: `waform validate` on an alias bomb (9 levels of 9, the
//! "billion laughs" file), 100,000 levels of nesting (block and flow
//! style), a 300,000-key file and a CSV with a 200 MB line. Each must exit 1
//! in well under 2 s and 100 MB; prints wall time and the child's peak RSS.
//!
//! `cargo bench --bench hostile_input`
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed bench

#[path = "support/measure.rs"]
mod measure;

use std::process::Command;
use std::time::Instant;

fn alias_bomb() -> String {
    let mut text = String::from("version: 1\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let uses = vec![format!("*{}", pair[0]); 9].join(",");
        text.push_str(&format!("{}: &{} [{uses}]\n", pair[1], pair[1]));
    }
    text
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys: String = std::iter::once("version: 1\n".to_string())
        .chain((0..300_000).map(|i| format!("key{i}: {i}\n")))
        .collect();
    let csv_config = "version: 1\nflows:\n  f: { id: \"1\" }\ntemplates:\n  t:\n    category: MARKETING\n    languages:\n      en_US:\n        body: \"Hi\"\n        buttons:\n          - { type: flow, text: \"Go\", flow: f, action: navigate, screen: A }\nsends:\n  s:\n    template: t\n    language: en_US\n    recipients:\n      - csv: long.csv\n";
    let mut long = String::from("phone,name\n+15551230001,");
    long.push_str(&"x".repeat(200 << 20));
    long.push('\n');
    std::fs::write(dir.path().join("long.csv"), long).expect("write");
    let cases = [
        ("alias bomb (9 levels x 9)", alias_bomb()),
        (
            "100,000 levels, block style",
            format!("version: 1\nx:\n  {}1\n", "- ".repeat(100_000)),
        ),
        (
            "100,000 levels, flow style",
            format!(
                "version: 1\nx: {}{}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        ),
        ("300,000 keys", keys),
        ("CSV with a 200 MB line", csv_config.to_string()),
    ];
    for (i, (name, text)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&file, text).expect("write");
        let start = Instant::now();
        // Through /usr/bin/time: a child forked from this process inherits
        // its peak RSS (the generated inputs) in wait4's ru_maxrss.
        let rss_file = dir.path().join("rss.txt");
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%M", "-o"])
            .arg(&rss_file)
            .arg(env!("CARGO_BIN_EXE_waform"))
            .arg("validate")
            .arg(&file)
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::null());
        let _ = measure::run_child(&mut cmd);
        let elapsed = start.elapsed();
        let rss = std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<f64>().ok()))
            .map_or(0.0, |kb| kb / 1024.0);
        let code = Command::new(env!("CARGO_BIN_EXE_waform"))
            .arg("validate")
            .arg(&file)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("runs")
            .code();
        assert_eq!(code, Some(1), "{name} must exit 1");
        println!(
            "{name}: {} bytes of input, exit after {:.3} s, child peak RSS {:.1} MB",
            text.len(),
            elapsed.as_secs_f64(),
            rss
        );
    }
}
