//! What the user typed: clap types only, no logic (docs/design.md §3).

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "waform", version, about = "WhatsApp Flows as code", long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Diagnostic logs on stderr: -v debug, -vv trace. WAFORM_LOG takes a
    /// filter instead (e.g. `WAFORM_LOG=waform=debug`); this flag wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the config (schema + WhatsApp rules) without touching the network.
    Validate(ValidateArgs),
    /// Show what apply would do.
    Plan(PlanArgs),
    /// Create templates, wait for approval and send the due Flows.
    Apply(ApplyArgs),
    /// Write YAML for the templates already on the account.
    Import(ImportArgs),
    /// Per-send funnel from the state ledger.
    Status(StatusArgs),
    /// Export submitted Flow forms.
    Responses(ResponsesArgs),
    /// Receive 1msg callbacks into the state ledger.
    Webhook(WebhookArgs),
    /// Resolve `unknown` send outcomes from the account's message history.
    Reconcile(ReconcileArgs),
    /// Clear an apply lock whose holder is gone (refused while it lives).
    Unlock(UnlockArgs),
    /// Manage the state itself (`state migrate`).
    State(StateArgs),
    /// Run the local 1msg emulator.
    Sandbox(SandboxArgs),
    /// Print the JSON Schema of the config (or of Flow JSON files).
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Print the schema of Flow JSON files instead of the config's.
    #[arg(long)]
    pub flow_json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Config file or folder of *.yaml files, or one Flow JSON file (*.json).
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    /// No ANSI colors in diagnostics (also when NO_COLOR is set or stderr is not a terminal).
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    /// Terraform-style text for a terminal.
    Text,
    /// One JSON document for scripts.
    Json,
    /// A pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Config file or folder of *.yaml files.
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    /// Write a plan file that `apply FILE` executes exactly.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 0 with no changes, 1 on error, 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// No ANSI colors (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Pin the clock (RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub now: Option<DateTime<FixedOffset>>,
    /// Plan to send again to SEND's recipients whose outcome is unknown (the explicit decision; the plan counts them as resend).
    #[arg(long, value_name = "SEND")]
    pub resend_unknown: Vec<String>,
    /// Plan against an in-process sandbox instead of the account.
    #[arg(long)]
    pub sandbox: bool,
    /// Plan to deprecate the Flows listed under `removed:` (irreversible).
    #[arg(long)]
    pub allow_deprecate: bool,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// Config file, folder, or a plan file written by `plan --out`.
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    /// Skip the confirmation prompt (required when there is no terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// How long to wait for Meta to approve new templates.
    #[arg(long, default_value = "30m", value_parser = parse_duration, value_name = "DURATION")]
    pub approval_timeout: Duration,
    /// Submit templates and exit; a later apply sends once they are approved.
    #[arg(long)]
    pub no_wait: bool,
    /// Keep running: send each send when it comes due.
    #[arg(long)]
    pub watch: bool,
    /// Pin the clock (RFC 3339); only with --sandbox.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub now: Option<DateTime<FixedOffset>>,
    /// Run the whole job against an in-process sandbox.
    #[arg(long)]
    pub sandbox: bool,
    /// Deprecate the Flows listed under `removed:` (irreversible).
    #[arg(long)]
    pub allow_deprecate: bool,
    /// Send again to recipients whose earlier outcome is unknown (explicit decision).
    #[arg(long, value_name = "SEND")]
    pub resend_unknown: Vec<String>,
    /// How long to wait for another apply holding the state lock.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
    /// No ANSI colors (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
}

/// Where a reading command finds its config: the positional PATH, or the
/// deprecated `--config` flag kept so existing scripts keep working.
#[derive(Debug, Args)]
pub(crate) struct ConfigPath {
    /// Config file or folder of *.yaml files [default: waform.yaml].
    pub path: Option<PathBuf>,
    /// Deprecated spelling of PATH.
    #[arg(long = "config", value_name = "PATH", hide = true)]
    pub config_flag: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Write the YAML to this file instead of stdout (refuses to overwrite without --force).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite an existing --out file.
    #[arg(long)]
    pub force: bool,
    /// Import from the sandbox account that `apply --sandbox PATH` saved beside its ledger.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusFormat {
    /// An aligned table for a terminal.
    Text,
    /// One JSON document for scripts.
    Json,
    /// A table plus a bar per stage, for a pull request or chat.
    Markdown,
    /// One self-contained HTML page: a funnel chart per send, completions over time, reasons.
    Html,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Only this send (a key under `sends:`).
    #[arg(long)]
    pub send: Option<String>,
    /// Read the ledger of `apply --sandbox` runs instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
    /// Write the report to this file instead of stdout (e.g. `--format html --out status.html`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// Config file or folder of *.yaml files.
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    /// Use the in-process sandbox and the ledger of `apply --sandbox` runs.
    #[arg(long)]
    pub sandbox: bool,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
    /// How long to wait for an apply holding the state lock.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// No ANSI colors in config diagnostics.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Copy every row of a state into a new, empty one (e.g. SQLite to PostgreSQL), verified by counts.
    Migrate(StateMigrateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StateMigrateArgs {
    /// The state to copy: sqlite://PATH or postgres://USER@HOST:PORT/DB (relative paths from the current folder).
    #[arg(long)]
    pub from: String,
    /// The new state; refused unless empty: sqlite://PATH or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Args)]
pub(crate) struct UnlockArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Required: clear the lock (refused anyway while its holder runs).
    #[arg(long)]
    pub force: bool,
    /// The ledger of `apply --sandbox` runs instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResponsesFormat {
    /// One row per submitted form, one column per form field.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct ResponsesArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// The send whose submitted forms to export (a key under `sends:`).
    #[arg(long)]
    pub send: String,
    /// Read the ledger of `apply --sandbox` runs instead of the real one.
    #[arg(long)]
    pub sandbox: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ResponsesFormat::Csv)]
    pub format: ResponsesFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct WebhookArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Address to listen on, e.g. 127.0.0.1:8081 (port 0 picks a free one).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Environment variable holding the shared secret expected as `?secret=`.
    #[arg(long, default_value = "WAFORM_WEBHOOK_SECRET")]
    pub secret_env: String,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
    /// Time a caller has to send a request's head, also the idle keep-alive timeout (e.g. 10s).
    #[arg(long, hide = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a caller has to send a request's body once its head arrived.
    #[arg(long, hide = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_timeout: std::time::Duration,
    /// Connections served at once (lowered to fit the open-file limit); others wait.
    #[arg(long, hide = true, default_value_t = 512)]
    pub max_connections: usize,
    /// After SIGTERM/SIGINT, how long requests in flight may finish before connections are closed.
    #[arg(long, hide = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Channel id clients must use in the URL path.
    #[arg(long, default_value = "sandbox")]
    pub instance: String,
    /// Token clients must send (a test value, not a secret).
    #[arg(long, default_value = "sandbox-token")]
    pub token: String,
    /// Delay before a submitted template is approved.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub approve_after: Duration,
    /// Reject templates whose text contains this word (to rehearse rejections).
    #[arg(long)]
    pub reject_containing: Option<String>,
    /// A Flow on the account: `ID=NAME[:STATUS]` (status defaults to PUBLISHED).
    #[arg(long = "flow")]
    pub flows: Vec<String>,
    /// URL to POST acks and Flow completions to, in 1msg's format.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Share of requests answered 429 with Retry-After (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_429: f64,
    /// Share of sends that are accepted yet answered 500 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_500: f64,
    /// Share of sends whose connection is dropped after the message is accepted (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop: f64,
    /// Delay added to every response.
    #[arg(long, default_value = "0ms", value_parser = parse_duration, value_name = "DURATION")]
    pub latency: Duration,
    /// Answer every Flow endpoint (`/flows…`) with this HTTP status; only 501
    /// (no Flow API on the channel, as 1msg's newer contract says) is emulated.
    #[arg(long, value_parser = ["501"])]
    pub flows_api: Option<String>,
    /// Seed for the fault injection, so a run can be repeated.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep no message history: GET /messages answers a notice, as a channel without history storage.
    #[arg(long)]
    pub history_disabled: bool,
}

/// A duration as people write it (`30s`, `5m`, `1h 30m`): a bad value is a
/// usage error, reported by clap before anything runs.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 30s, 5m or 1h)"))
}

/// An RFC 3339 time with its offset, e.g. `2026-12-01T09:00:00+03:00`.
fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|_| "not an RFC 3339 time (write e.g. 2026-12-01T09:00:00+03:00)".to_string())
}
