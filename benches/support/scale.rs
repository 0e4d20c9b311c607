//! The generated inputs the scale benches share: 1,000 templates × 3
//! languages with a FLOW button, one send of N recipients from a CSV.

#![allow(dead_code)] // each bench uses some of these

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use waform::provider::onemsg::OneMsgClient;
use waform::provider::{AccountFlow, FlowStatus, NewTemplate, Provider};
use waform::sandbox::{SandboxConfig, SandboxHandle};

pub const LANGUAGES: [&str; 3] = ["en_US", "es_MX", "pt_BR"];

/// `waform.yaml` with `templates` templates × 3 languages and a send `big`
/// of template `t0` to `people.csv`.
pub fn config(templates: usize) -> String {
    let mut yaml = String::from("version: 1\nflows:\n  f: { id: \"1\" }\ntemplates:\n");
    for t in 0..templates {
        let _ = writeln!(yaml, "  t{t}:\n    category: MARKETING\n    languages:");
        for lang in LANGUAGES {
            let _ = writeln!(
                yaml,
                "      {lang}:\n        body: \"Hello {{{{1}}}}, template {t} says hi.\"\n        body_examples: [\"Anna\"]\n        buttons:\n          - {{ type: flow, text: \"Open\", flow: f, screen: A }}"
            );
        }
    }
    yaml.push_str("sends:\n  big:\n    template: t0\n    language: en_US\n    body_params: [\"${recipient.fname}\"]\n    recipients:\n      - csv: people.csv\n");
    yaml
}

/// The E.164 phone of recipient `i` (as digits: drop the `+`).
pub fn phone(i: u64) -> String {
    format!("+1{}", 2_000_000_000u64 + i)
}

/// `people.csv` with `n` recipients.
pub fn people(n: u64) -> String {
    let mut csv = String::from("phone,fname\n");
    for i in 0..n {
        let _ = writeln!(csv, "{},Name{i}", phone(i));
    }
    csv
}

/// Writes `people.csv` with `n` recipients to `path`, streamed (ten million
/// rows are a quarter of a gigabyte).
pub fn write_people(path: &std::path::Path, n: u64) {
    use std::io::Write as _;
    let file = std::fs::File::create(path).expect("csv");
    let mut w = std::io::BufWriter::new(file);
    w.write_all(b"phone,fname\n").expect("csv");
    for i in 0..n {
        writeln!(w, "{},Name{i}", phone(i)).expect("csv");
    }
    w.flush().expect("csv");
}

/// A loopback sandbox whose account already holds every template of the
/// config at `config` (approved) and the published Flow `f` (id 1), so the
/// measured command goes straight to planning and sending.
pub fn sandbox_with_templates(rt: &tokio::runtime::Runtime, config: &Path) -> SandboxHandle {
    let sandbox = rt
        .block_on(waform::sandbox::start(
            SandboxConfig {
                approve_after: Duration::ZERO,
                flows: vec![AccountFlow {
                    id: "1".into(),
                    name: "f".into(),
                    status: FlowStatus::Published,
                }],
                ..SandboxConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("sandbox");
    let loaded = waform::config::load(config, waform::config::Depth::NoRecipients);
    let cfg = loaded.config.expect("config");
    let client = OneMsgClient::new(sandbox.client_config()).expect("client");
    rt.block_on(async {
        for d in waform::plan::desired::desired_templates(&cfg.raw) {
            let t = NewTemplate {
                name: d.name,
                category: d.category,
                language: d.language,
                components: d.components,
            };
            client.add_template(&t).await.expect("add");
        }
    });
    sandbox
}
