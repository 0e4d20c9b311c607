//! The config as the user writes it (docs/design.md §2): serde + schemars types that
//! mirror the YAML. The JSON Schema is generated from these; semantic rules
//! (`rules.rs`) and the lowering into the desired state read them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A waform config: WhatsApp templates with Flow buttons and the Flow sends
/// that should happen.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "waform config")]
pub struct RawConfig {
    /// Config format version; only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The API to talk to (1msg) and how fast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderConfig>,
    /// Where the send ledger lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
    /// Flows the templates and sends point at, by key.
    #[serde(default)]
    pub flows: BTreeMap<String, FlowRef>,
    /// Message templates by logical name.
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    /// Account templates to delete (account names). Nothing else is ever
    /// deleted except superseded versions of a managed template.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Flow sends by name.
    #[serde(default)]
    pub sends: BTreeMap<String, SendSpec>,
}

/// The account API. Values may use `${env.NAME}`; the token must.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default)]
    pub(crate) kind: ProviderKind,
    /// Default `https://api.1msg.io`; env `WAFORM_BASE_URL` overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
    /// Channel id; env `WAFORM_INSTANCE` if omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
    /// Must be `${env.NAME}`; env `WAFORM_TOKEN` if omitted. A literal token
    /// is an error: tokens do not belong in git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// Sends per second (default 20; 0 turns the limit off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate_limit: Option<f64>,
    /// Requests in flight (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub(crate) concurrency: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProviderKind {
    #[default]
    Onemsg,
}

/// The state (send ledger) settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite://PATH`, relative to the config's folder. Default
    /// `sqlite://.waform/state.db`; env `WAFORM_STATE` overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
}

/// A Flow: referenced on the account by `id` or `name` (exactly one), or
/// managed — declared here with its Flow JSON (`name`, `categories`,
/// `json`), created, validated and published by waform.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowRef {
    /// The Flow id on the account (referenced Flows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// The Flow name, unique per account; a managed Flow is keyed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Meta's Flow categories (managed Flows; at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) categories: Vec<FlowCategory>,
    /// The Flow JSON: a file path relative to the config's folder, or the
    /// Flow JSON written inline as a mapping. Makes the Flow managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) json: Option<FlowJson>,
    /// HTTPS endpoint for a Flow that exchanges data (`data_api_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint_uri: Option<String>,
    /// Publish the Flow after upload (default true); false keeps it DRAFT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) publish: Option<bool>,
    /// Never written by hand: set on the planner's copy of the config when
    /// the channel has no Flow API (plan/lower.rs) — the canonical compact
    /// Flow JSON that FLOW buttons carry inline as `flow_json`.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) inline: Option<String>,
}

impl FlowRef {
    /// A managed Flow is declared with its Flow JSON.
    pub(crate) fn is_managed(&self) -> bool {
        self.json.is_some()
    }
}

/// Where a managed Flow's JSON is.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum FlowJson {
    /// Path of a Flow JSON file, relative to the config's folder.
    File(String),
    /// The Flow JSON itself, mapping one-to-one onto JSON.
    Inline(serde_json::Map<String, serde_json::Value>),
}

/// Meta's Flow categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum FlowCategory {
    SignUp,
    SignIn,
    AppointmentBooking,
    LeadGeneration,
    ContactUs,
    CustomerSupport,
    Survey,
    Other,
}

/// A message template: one logical name, content per language.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// `versioned` (default): account name `<logical>_<8 hex>` from the
    /// content hash. `exact`: the logical name as-is (adopted templates).
    #[serde(default)]
    pub(crate) naming: Naming,
    pub(crate) category: Category,
    /// Content per language code (`en_US`, `pt_BR`, ...).
    pub(crate) languages: BTreeMap<String, TemplateLanguage>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Naming {
    #[default]
    Versioned,
    Exact,
}

/// Meta's template category: `MARKETING` (promotions, invitations),
/// `UTILITY` (updates about something the recipient started) or
/// `AUTHENTICATION` (one-time passcodes).
// Variants undocumented on purpose: a doc per variant turns the schema's
// plain `enum` into a `oneOf`, changing what validate reports.
#[allow(missing_docs)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Marketing,
    Utility,
    Authentication,
}

impl Category {
    /// The name Meta's API uses (`MARKETING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "MARKETING",
            Category::Utility => "UTILITY",
            Category::Authentication => "AUTHENTICATION",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateLanguage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) header: Option<Header>,
    /// Body text, ≤ 1024 characters; variables `{{1}}`..`{{n}}`.
    pub(crate) body: String,
    /// One sample value per body variable (Meta requires them for review).
    #[serde(default)]
    pub(crate) body_examples: Vec<String>,
    /// ≤ 60 characters, no variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) footer: Option<String>,
    #[serde(default)]
    pub(crate) buttons: Vec<Button>,
}

/// A TEXT header (≤ 60 characters, at most one variable `{{1}}`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    pub(crate) text: String,
    /// Sample value for `{{1}}` when the header has a variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) example: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Button {
    /// Opens a WhatsApp Flow.
    Flow {
        text: String,
        /// Key in `flows:`.
        flow: String,
        #[serde(default)]
        action: FlowAction,
        /// First screen (required for `navigate`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screen: Option<String>,
    },
    QuickReply {
        text: String,
    },
    Url {
        text: String,
        url: String,
    },
    PhoneNumber {
        text: String,
        phone_number: String,
    },
}

impl Button {
    pub(crate) fn text(&self) -> &str {
        match self {
            Button::Flow { text, .. }
            | Button::QuickReply { text }
            | Button::Url { text, .. }
            | Button::PhoneNumber { text, .. } => text,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FlowAction {
    #[default]
    Navigate,
    DataExchange,
}

impl FlowAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FlowAction::Navigate => "navigate",
            FlowAction::DataExchange => "data_exchange",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FlowMode {
    #[default]
    Published,
    Draft,
}

impl FlowMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FlowMode::Published => "published",
            FlowMode::Draft => "draft",
        }
    }
}

// Named apart from std's `Send` trait, which the modules that spawn tasks
// also use; the schema keeps the name `Send`.
/// One send: a template message (`template`) or an interactive Flow message
/// (`flow_message`), to a list of recipients.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Send")]
pub struct SendSpec {
    /// Template logical name (template sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) language: Option<String>,
    /// RFC 3339 with offset; absent = as soon as apply runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at: Option<String>,
    /// RFC 3339 with offset; never sent after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<String>,
    /// One value per body variable; may use `${recipient.COLUMN}`.
    #[serde(default)]
    pub(crate) body_params: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flow_button: Option<FlowButton>,
    /// An interactive Flow message (24-hour window only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flow_message: Option<FlowMessageSpec>,
    /// Template sent instead when the 24-hour window is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fallback: Option<Fallback>,
    #[serde(default)]
    pub(crate) recipients: Vec<RecipientSource>,
    /// Phones never sent to.
    #[serde(default)]
    pub(crate) exclude: Vec<RecipientSource>,
}

/// The Flow button of a template send: its token and initial data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowButton {
    /// Default: deterministic per (send, recipient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) action_data: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlowMessageSpec {
    /// Key in `flows:`.
    pub(crate) flow: String,
    /// ≤ 1024 characters.
    pub(crate) body: String,
    /// Button text, ≤ 20 characters.
    pub(crate) cta: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) footer: Option<String>,
    #[serde(default)]
    pub(crate) action: FlowAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) screen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<BTreeMap<String, serde_json::Value>>,
    /// Explicit token; default deterministic per (send, recipient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    #[serde(default)]
    pub(crate) mode: FlowMode,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fallback {
    pub(crate) template: String,
    pub(crate) language: String,
    #[serde(default)]
    pub(crate) body_params: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flow_button: Option<FlowButton>,
}

/// Recipients: a CSV file (header row, `phone` column required) or one
/// inline row (`phone` plus any columns).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RecipientSource {
    /// `{ csv: people.csv }`: one recipient per row.
    Csv(CsvSource),
    /// One recipient written inline: `phone` plus any columns.
    Row(BTreeMap<String, Scalar>),
}

/// A recipients CSV file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSource {
    /// Path relative to the config file's folder.
    pub csv: String,
}

/// A cell of an inline recipient row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// Text.
    String(String),
    /// A whole number (a phone written unquoted lands here).
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::String(s) => f.write_str(s),
            Scalar::Integer(n) => write!(f, "{n}"),
            Scalar::Float(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}
