//! Rules for `provider`, `state`, `flows` and `removed`.

use super::Ctx;
use crate::config::interp::{Interp, Var};
use crate::config::types::RawConfig;

pub(super) fn check(ctx: &mut Ctx<'_>, config: &RawConfig) {
    if let Some(p) = &config.provider {
        if let Some(token) = &p.token {
            let env_only = Interp::parse(token).ok().is_some_and(|t| {
                let vars: Vec<&Var> = t.vars().collect();
                vars.len() == 1
                    && matches!(vars[0], Var::Env(_))
                    && token.trim().starts_with("${")
                    && token.trim().ends_with('}')
            });
            if !env_only {
                // From here on every output masks it, in any spelling.
                crate::secret::register_text(token);
                let mut d = crate::diag::Diagnostic::error("provider.token holds a literal token")
                    .path("provider.token")
                    .mask(token.clone())
                    .help("tokens come from the environment: write `token: ${env.WAFORM_TOKEN}` (or omit it) and revoke this token if it was committed");
                if let Some(loc) = ctx.spans.locate("provider.token") {
                    d = d.at(loc);
                }
                ctx.diags.push(d);
            }
        }
        for (field, value) in [
            ("base_url", p.base_url.as_deref()),
            ("instance", p.instance.as_deref()),
            ("token", p.token.as_deref()),
        ] {
            match value {
                // What is wrong with a token is said without quoting it.
                Some(value) if field == "token" && Interp::parse(value).is_err() => ctx.error(
                    "provider.token",
                    "provider.token is not a `${env.NAME}` reference",
                    "write `token: ${env.WAFORM_TOKEN}` (or omit it)",
                ),
                Some(value) => {
                    check_env_vars(ctx, &format!("provider.{field}"), value, Unset::Warn)
                }
                None => {}
            }
        }
        if let Some(url) = &p.base_url {
            if !(url.contains("${") || url.starts_with("https://") || url.starts_with("http://")) {
                ctx.error(
                    "provider.base_url",
                    format!("base_url \"{url}\" is not an http(s) URL"),
                    "write it like `https://api.1msg.io`",
                );
            }
        }
        if let Some(rate) = p.rate_limit {
            if !(rate.is_finite() && rate >= 0.0) {
                ctx.error(
                    "provider.rate_limit",
                    "rate_limit must be zero (no limit) or a positive number of sends per second",
                    "",
                );
            }
        }
    }
    if let Some(url) = config.state.as_ref().and_then(|s| s.url.as_deref()) {
        check_env_vars(ctx, "state.url", url, Unset::Error);
        if !url.starts_with("sqlite://") {
            ctx.error(
                "state.url",
                format!("unsupported state url \"{url}\""),
                "use `sqlite://PATH` (relative to the config's folder)",
            );
        }
    }
    for (key, flow) in &config.flows {
        let path = format!("flows.{key}");
        if flow.is_managed() {
            // Managed Flows have their own rules (src/flow/managed.rs).
            continue;
        }
        match (&flow.id, &flow.name) {
            (Some(_), Some(_)) => ctx.error(
                &path,
                format!("flow `{key}` has both `id` and `name`"),
                "keep one: the Flow id is exact, the name is looked up on the account",
            ),
            (None, None) => ctx.error(
                &path,
                format!("flow `{key}` has neither `id` nor `name`"),
                "add `id: \"<flow id>\"` or `name: \"<flow name>\"`",
            ),
            (Some(id), None) if id.trim().is_empty() => {
                ctx.error(&format!("{path}.id"), "empty Flow id", "")
            }
            _ => {}
        }
    }
    for (i, name) in config.removed.iter().enumerate() {
        // A name that is not a template name can still be a Flow's (Flow
        // names are free text), so only an empty one is refused.
        if name.trim().is_empty() {
            ctx.error(
                &format!("removed[{i}]"),
                "empty name under removed:",
                "list template names (lowercase letters, digits and `_`) or Flow names",
            );
        }
    }
}

/// How an unset `${env.NAME}` counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unset {
    /// Provider settings: only plan and apply talk to the account (and say
    /// so when the variable is missing then); validate works offline, e.g.
    /// in a CI step without secrets.
    Warn,
    Error,
}

/// `${env.NAME}` must name a set variable; recipient/send variables have no
/// meaning outside sends.
fn check_env_vars(ctx: &mut Ctx<'_>, path: &str, value: &str, unset: Unset) {
    match Interp::parse(value) {
        Err(msg) => ctx.error(path, msg, ""),
        Ok(t) => {
            for var in t.vars() {
                match var {
                    Var::Env(name) if std::env::var_os(name).is_none() => match unset {
                        Unset::Warn => ctx.warning(
                            path,
                            format!("environment variable {name} is not set"),
                            format!(
                                "validate works offline and only warns; plan and apply stop without it: \
                                 export {name} (in CI, from a secret)"
                            ),
                        ),
                        Unset::Error => ctx.error(
                            path,
                            format!("environment variable {name} is not set"),
                            format!("export {name} before running waform, or remove the reference"),
                        ),
                    },
                    Var::Env(_) => {}
                    other => ctx.error(
                        path,
                        format!("{other} cannot be used here"),
                        "only `${env.NAME}` is allowed in provider and state",
                    ),
                }
            }
        }
    }
}
