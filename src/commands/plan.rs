//! `waform plan`: reads the account (GET only), the config and the ledger,
//! and shows exactly what apply would do. Never writes to the account.

use std::time::Duration;

use anyhow::Context as _;

use super::context::{self, Account};
use crate::cli::{PlanArgs, PlanFormat};
use waform::config::Config;
use waform::plan::file::{PlanFile, KIND};
use waform::plan::render;
use waform::plan::{Observed, Plan, PlanInputs};
use waform::state::StateLocation;

pub(crate) fn run(args: PlanArgs) -> anyhow::Result<waform::ExitStatus> {
    if args.sandbox && args.out.is_some() {
        anyhow::bail!("a plan file is made for a real account; --sandbox plans cannot be saved with --out (use `apply --sandbox` for a dry run)");
    }
    let color = context::color_enabled(args.no_color) && args.format == PlanFormat::Text;
    let cfg = context::load_config(&args.path, color)?;
    check_resend_names(&cfg, &args.resend_unknown)?;
    let now = args
        .now
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
    let rt = super::runtime()?;
    let plan = rt.block_on(async {
        let ledger_path =
            context::state_path(&cfg, args.state.as_deref(), &args.path, args.sandbox)?;
        let account = if args.sandbox {
            context::sandbox_account(&cfg, Duration::from_secs(1), &ledger_path).await?
        } else {
            context::real_account(&cfg)?
        };
        compute(
            &cfg,
            &account,
            &ledger_path,
            now,
            &args.resend_unknown,
            args.allow_deprecate,
        )
        .await
        .map(|(plan, _)| plan)
    })?;
    let out = match args.format {
        PlanFormat::Text => render::text::render(&plan, color),
        PlanFormat::Json => render::json::render(&plan),
        PlanFormat::Markdown => render::markdown::render(&plan),
    };
    waform::out!("{out}");
    if let Some(path) = &args.out {
        PlanFile {
            kind: KIND.to_string(),
            format_version: "1".to_string(),
            config: args.path.clone(),
            now: args.now.map(|t| t.to_rfc3339()),
            plan: plan.clone(),
            review: Some(plan.review.clone()),
        }
        .write(path)?;
        waform::errln!(
            "Plan written to {}; run `waform apply {}` to execute exactly this plan.",
            path.display(),
            path.display()
        );
    }
    if plan.has_errors() {
        return Ok(waform::ExitStatus::Failure);
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        waform::ExitStatus::Changes
    } else {
        waform::ExitStatus::Success
    })
}

/// `--resend-unknown SEND` must name a send of the config.
pub(crate) fn check_resend_names(cfg: &Config, names: &[String]) -> anyhow::Result<()> {
    for send in names {
        if !cfg.raw.sends.contains_key(send) {
            let known: Vec<&str> = cfg.raw.sends.keys().map(String::as_str).collect();
            anyhow::bail!(
                "--resend-unknown {send}: no such send in the config (sends: {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// Plans against `account` with the ledger at `ledger_path` (read only; a
/// missing ledger means nothing was sent yet).
pub(crate) async fn compute(
    cfg: &Config,
    account: &Account,
    ledger_path: &StateLocation,
    now: chrono::DateTime<chrono::Utc>,
    resend_unknown: &[String],
    allow_deprecate: bool,
) -> anyhow::Result<(Plan, Observed)> {
    // Plan only reads: a missing ledger means nothing was sent yet, and is
    // not created here.
    let ledger = waform::state::open_existing(ledger_path)
        .with_context(|| format!("cannot open the state ledger {ledger_path}"))?;
    let (plan, observed) = waform::plan::build(PlanInputs {
        config: cfg,
        provider: account.provider.as_ref(),
        account_identity: &account.identity,
        ledger: ledger.as_deref(),
        now,
        resend_unknown,
        allow_deprecate,
    })
    .await?;
    Ok((plan, observed))
}
