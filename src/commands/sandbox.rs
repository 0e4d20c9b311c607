//! `waform sandbox`: the 1msg emulator as a standalone server, for local dry
//! runs and for clients waform did not write (the official Python SDK check).

use anyhow::{bail, Context};

use crate::cli::SandboxArgs;
use waform::provider::{AccountFlow, FlowStatus};
use waform::sandbox::{self, SandboxConfig};
use waform::secret::Secret;

/// Serves until SIGINT or SIGTERM.
pub(crate) fn run(args: SandboxArgs) -> anyhow::Result<waform::ExitStatus> {
    let listen = args.listen;
    let config = config_from_args(args)?;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let instance = config.instance.clone();
        let handle = sandbox::start(config, listen)
            .await
            .with_context(|| format!("could not listen on {listen}"))?;
        let signals = Signals::install()?;
        waform::outln!(
            "sandbox listening on {} (instance {instance})",
            handle.base_url()
        );
        signals.wait().await?;
        handle.shutdown().await;
        Ok(waform::ExitStatus::Success)
    })
}

/// Lowers the flags into a [`SandboxConfig`].
pub(crate) fn config_from_args(args: SandboxArgs) -> anyhow::Result<SandboxConfig> {
    let rate = |flag: &str, value: f64| -> anyhow::Result<f64> {
        if !(0.0..=1.0).contains(&value) {
            bail!("--{flag} {value} is not a probability between 0 and 1");
        }
        Ok(value)
    };
    if args.instance.is_empty() || args.instance.contains('/') {
        bail!("--instance {:?} is not a valid channel id", args.instance);
    }
    let flows = args
        .flows
        .iter()
        .map(|f| parse_flow(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(url) = &args.webhook {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--webhook {url:?} must be an http:// or https:// URL");
        }
    }
    Ok(SandboxConfig {
        instance: args.instance,
        token: Secret::new(args.token),
        approve_after: args.approve_after,
        reject_containing: args.reject_containing.filter(|w| !w.is_empty()),
        flows,
        webhook: args.webhook,
        fault_429: rate("fault-429", args.fault_429)?,
        fault_500: rate("fault-500", args.fault_500)?,
        fault_drop: rate("fault-drop", args.fault_drop)?,
        latency: args.latency,
        seed: args.seed,
        history_disabled: args.history_disabled,
        flows_unavailable: args.flows_api.is_some(),
        ..SandboxConfig::default()
    })
}

/// `ID=NAME[:STATUS]`, status PUBLISHED by default.
fn parse_flow(spec: &str) -> anyhow::Result<AccountFlow> {
    let Some((id, rest)) = spec.split_once('=') else {
        bail!("--flow {spec:?}: expected ID=NAME[:STATUS]");
    };
    let (name, status) = match rest.rsplit_once(':') {
        Some((name, status)) => (name, FlowStatus::parse(status)),
        None => (rest, FlowStatus::Published),
    };
    if id.trim().is_empty() || name.trim().is_empty() {
        bail!("--flow {spec:?}: expected ID=NAME[:STATUS]");
    }
    if let FlowStatus::Other(s) = &status {
        bail!("--flow {spec:?}: unknown status {s:?} (DRAFT, PUBLISHED, DEPRECATED, BLOCKED, THROTTLED)");
    }
    Ok(AccountFlow {
        id: id.trim().to_string(),
        name: name.trim().to_string(),
        status,
    })
}

/// SIGINT / SIGTERM, registered before the sandbox announces itself: a
/// supervisor that signals right after reading the line must not hit the
/// default handler (which would kill the process uncleanly).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                int: signal(SignalKind::interrupt()).context("could not watch SIGINT")?,
                term: signal(SignalKind::terminate()).context("could not watch SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn wait(mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("could not watch Ctrl-C")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_specs() {
        let f = parse_flow("123=signup").expect("plain");
        assert_eq!(
            (f.id.as_str(), f.name.as_str(), &f.status),
            ("123", "signup", &FlowStatus::Published)
        );
        let f = parse_flow("9=Course sign-up:draft").expect("status");
        assert_eq!(
            (f.name.as_str(), &f.status),
            ("Course sign-up", &FlowStatus::Draft)
        );
        assert!(parse_flow("nope").is_err());
        assert!(parse_flow("1=x:WEIRD").is_err());
        assert!(parse_flow("=x").is_err());
    }
}
