//! `waform import [--out FILE]`: writes YAML for the templates already on
//! the account (`naming: exact`), so an existing account can be adopted;
//! `plan` right after shows no template changes.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _};

use super::context;
use crate::cli::ImportArgs;
use waform::config::types::RawConfig;
use waform::provider::AccountTemplate;

pub(crate) fn run(args: ImportArgs) -> anyhow::Result<waform::ExitStatus> {
    let (path, typed) = super::ledger_source::config_path(&args.config);
    let cfg = if path.exists() {
        context::load_config(&path, false)?
    } else if args.sandbox {
        bail!(
            "{}: no such config file or folder; --sandbox imports the account that \
             `waform apply --sandbox PATH` saved for that config",
            path.display()
        );
    } else if typed {
        bail!(
            "{}: no such config file or folder (leave PATH out to use only \
             WAFORM_INSTANCE and WAFORM_TOKEN)",
            path.display()
        );
    } else {
        empty_config()
    };
    if let Some(out) = &args.out {
        if out.exists() && !args.force {
            bail!(
                "{} already exists; pass --force to overwrite it, or choose another --out",
                out.display()
            );
        }
    }
    let rt = super::runtime()?;
    let export = rt.block_on(async {
        let account = if args.sandbox {
            let ledger = context::state_path(&cfg, None, &path, true)?;
            let saved = context::sandbox_account_file(&ledger);
            if !saved.exists() {
                bail!(
                    "no sandbox account saved at {}; run `waform apply --sandbox {}` first",
                    saved.display(),
                    path.display()
                );
            }
            context::sandbox_account(&cfg, std::time::Duration::from_secs(1), &ledger).await?
        } else {
            context::real_account(&cfg)?
        };
        waform::import::read_account(account.provider.as_ref(), args.out.is_some())
            .await
            .map_err(|e| anyhow!("cannot list the account's templates: {e}"))
    })?;
    for note in &export.notes {
        waform::errln!("{note}");
    }
    let (yaml, skipped, files) =
        waform::import::render(&export.templates, &export.flows, &export.flow_jsons);
    for s in &skipped {
        waform::errln!("warning: {s}");
    }
    match &args.out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            for (file, _) in &files {
                let target = dir.join(file);
                if target.exists() && !args.force {
                    bail!(
                        "{} already exists; pass --force to overwrite it, or choose another --out",
                        target.display()
                    );
                }
            }
            for (file, json) in &files {
                let target = dir.join(file);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let text = serde_json::to_string_pretty(json)? + "\n";
                std::fs::write(&target, text)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            }
            std::fs::write(path, &yaml)
                .with_context(|| format!("cannot write {}", path.display()))?;
            waform::errln!(
                "wrote {} template(s) to {}; run `waform plan {}` to check it shows no template changes",
                count_templates(&export.templates, &skipped),
                path.display(),
                path.display()
            );
        }
        None => waform::out!("{yaml}"),
    }
    Ok(waform::ExitStatus::Success)
}

fn empty_config() -> waform::config::Config {
    waform::config::Config {
        raw: RawConfig {
            version: 1,
            provider: None,
            state: None,
            flows: BTreeMap::new(),
            templates: BTreeMap::new(),
            removed: Vec::new(),
            sends: BTreeMap::new(),
        },
        base_dir: std::path::PathBuf::from("."),
        spans: Default::default(),
        flows: BTreeMap::new(),
    }
}

fn count_templates(all: &[AccountTemplate], skipped: &[String]) -> usize {
    all.len().saturating_sub(skipped.len())
}
