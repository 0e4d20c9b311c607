//! What the user typed: clap types only, no logic (docs/design.md §3).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "waform", version, about = "WhatsApp Flows as code", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Run the local 1msg emulator.
    Sandbox(SandboxArgs),
    /// Print the JSON Schema of the config.
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config file or folder of *.yaml files.
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    /// Write a plan file that `apply FILE` executes exactly.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 0 with no changes, 1 on error, 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[arg(long)]
    pub no_color: bool,
    /// Pin the clock (RFC 3339).
    #[arg(long)]
    pub now: Option<String>,
    /// Plan against an in-process sandbox instead of the account.
    #[arg(long)]
    pub sandbox: bool,
    /// State URL (`sqlite://PATH`); env WAFORM_STATE.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Config file, folder, or a plan file written by `plan --out`.
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, default_value = "30m")]
    pub approval_timeout: String,
    /// Submit templates and exit; a later apply sends once they are approved.
    #[arg(long)]
    pub no_wait: bool,
    /// Keep running: send each send when it comes due.
    #[arg(long)]
    pub watch: bool,
    #[arg(long)]
    pub now: Option<String>,
    /// Run the whole job against an in-process sandbox.
    #[arg(long)]
    pub sandbox: bool,
    /// Send again to recipients whose earlier outcome is unknown (explicit decision).
    #[arg(long, value_name = "SEND")]
    pub resend_unknown: Vec<String>,
    #[arg(long, default_value = "30s")]
    pub lock_timeout: String,
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Config with the provider section (optional; env is enough).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub send: Option<String>,
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,
    /// Config whose state section names the ledger.
    #[arg(long, default_value = "waform.yaml")]
    pub config: PathBuf,
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponsesFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ResponsesArgs {
    pub send: String,
    #[arg(long, value_enum, default_value_t = ResponsesFormat::Csv)]
    pub format: ResponsesFormat,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "waform.yaml")]
    pub config: PathBuf,
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[arg(default_value = "waform.yaml")]
    pub path: PathBuf,
    #[arg(long)]
    pub listen: SocketAddr,
    /// Environment variable holding the shared secret expected as `?secret=`.
    #[arg(long, default_value = "WAFORM_WEBHOOK_SECRET")]
    pub secret_env: String,
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long)]
    pub listen: SocketAddr,
    #[arg(long, default_value = "sandbox")]
    pub instance: String,
    #[arg(long, default_value = "sandbox-token")]
    pub token: String,
    #[arg(long, default_value = "2s")]
    pub approve_after: String,
    #[arg(long)]
    pub reject_containing: Option<String>,
    /// A Flow on the account: `ID=NAME[:STATUS]` (status defaults to PUBLISHED).
    #[arg(long = "flow")]
    pub flows: Vec<String>,
    #[arg(long)]
    pub webhook: Option<String>,
    #[arg(long, default_value_t = 0.0)]
    pub fault_429: f64,
    #[arg(long, default_value_t = 0.0)]
    pub fault_500: f64,
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop: f64,
    #[arg(long, default_value = "0ms")]
    pub latency: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
