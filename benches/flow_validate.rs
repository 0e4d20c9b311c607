//! Flow validation at scale: a config with 200 managed Flows, each 10 screens
//! of 20 components (inputs, options, navigate payloads, bindings), checked
//! by `waform validate` in a child process. Prints wall time and the child's
//! peak RSS; the target is ≤ 0.5 s and ≤ 100 MB.
//!
//! `cargo bench --bench flow_validate` (FLOWS, SCREENS override the sizes)
#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed bench

#[path = "support/measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

/// One Flow: `screens` screens of 20 components; each screen passes its
/// inputs to the next, the last one completes.
fn flow(screens: usize) -> String {
    let mut out = String::from("{\n  \"version\": \"7.3\",\n  \"screens\": [\n");
    for s in 0..screens {
        let id = screen_id(s);
        let last = s + 1 == screens;
        let _ = write!(out, "    {{\n      \"id\": \"{id}\",\n");
        if last {
            out.push_str("      \"terminal\": true,\n      \"success\": true,\n");
        }
        out.push_str("      \"data\": {\n");
        let data: Vec<String> = if s == 0 {
            vec!["\"name\": {\"type\": \"string\", \"__example__\": \"Anna\"}".into()]
        } else {
            (0..6)
                .map(|i| format!("\"f{i}\": {{\"type\": \"string\", \"__example__\": \"x\"}}"))
                .collect()
        };
        let _ = write!(out, "        {}\n      }},\n", data.join(",\n        "));
        out.push_str("      \"layout\": {\n        \"type\": \"SingleColumnLayout\",\n        \"children\": [\n");
        let mut children: Vec<String> = Vec::new();
        children.push(format!(
            "{{\"type\": \"TextHeading\", \"text\": \"Step {s}\"}}"
        ));
        let shown = if s == 0 { "${data.name}" } else { "${data.f0}" };
        children.push(format!("{{\"type\": \"TextBody\", \"text\": \"{shown}\"}}"));
        for i in 0..4 {
            children.push(format!(
                "{{\"type\": \"TextInput\", \"name\": \"f{i}\", \"label\": \"Field {i}\", \"required\": true, \"helper-text\": \"Type a value\"}}"
            ));
        }
        for i in 4..6 {
            let options: Vec<String> = (0..10)
                .map(|o| format!("{{\"id\": \"o{o}\", \"title\": \"Option {o}\"}}"))
                .collect();
            children.push(format!(
                "{{\"type\": \"Dropdown\", \"name\": \"f{i}\", \"label\": \"Pick {i}\", \"data-source\": [{}]}}",
                options.join(", ")
            ));
        }
        for i in 0..11 {
            children.push(format!(
                "{{\"type\": \"TextCaption\", \"text\": \"Note {i} on screen {s}\"}}"
            ));
        }
        let payload: Vec<String> = (0..6)
            .map(|i| format!("\"f{i}\": \"${{form.f{i}}}\""))
            .collect();
        let action = if last {
            format!(
                "{{\"name\": \"complete\", \"payload\": {{{}}}}}",
                payload.join(", ")
            )
        } else {
            format!(
                "{{\"name\": \"navigate\", \"next\": {{\"type\": \"screen\", \"name\": \"{}\"}}, \"payload\": {{{}}}}}",
                screen_id(s + 1),
                payload.join(", ")
            )
        };
        children.push(format!(
            "{{\"type\": \"Footer\", \"label\": \"Continue\", \"on-click-action\": {action}}}"
        ));
        assert_eq!(children.len(), 20);
        let _ = write!(
            out,
            "          {}\n        ]\n      }}\n    }}{}\n",
            children.join(",\n          "),
            if last { "" } else { "," }
        );
    }
    out.push_str("  ]\n}\n");
    out
}

fn screen_id(i: usize) -> String {
    // Letters only: screen ids may not hold digits' neighbours like `-`.
    format!("STEP_{}", (b'A' + (i % 26) as u8) as char) + &"_X".repeat(i / 26)
}

fn main() {
    let flows = measure::env_or("FLOWS", 200) as usize;
    let screens = measure::env_or("SCREENS", 10) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("flows")).expect("mkdir");
    let body = flow(screens);
    let mut config = String::from("version: 1\nflows:\n");
    for i in 0..flows {
        std::fs::write(dir.path().join(format!("flows/f{i}.json")), &body).expect("write");
        let _ = writeln!(
            config,
            "  f{i}:\n    name: \"Flow {i}\"\n    categories: [SIGN_UP]\n    json: flows/f{i}.json"
        );
    }
    std::fs::write(dir.path().join("waform.yaml"), config).expect("write");
    let start = Instant::now();
    let (out, rss) = measure::run_child(
        Command::new(env!("CARGO_BIN_EXE_waform"))
            .arg("validate")
            .arg(dir.path().join("waform.yaml")),
    );
    let elapsed = start.elapsed();
    assert!(out.contains("is valid"), "validate failed: {out}");
    println!(
        "validate {flows} managed Flows x {screens} screens x 20 components: {:.3} s wall, child peak RSS {:.1} MB (target <= 0.5 s, <= 100 MB)",
        elapsed.as_secs_f64(),
        rss
    );
}
