//! The SMS node's configuration and run input, parsed and checked with errors that name the
//! field, the value and the fix.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use smsnode_sms::{e164, template};

use crate::bindings::smsnode::node::types::NodeError;

/// Maximum number of media items one MMS may carry (Twilio's limit for `MediaUrl`).
pub const MAX_MEDIA_URLS: usize = 10;
/// Seconds a reply is awaited when the configuration sets no timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 300;
/// Maximum reply wait a configuration may request, in seconds: one day.
pub const MAX_TIMEOUT_SECONDS: u64 = 86_400;
/// Retries of a transient send failure when the configuration sets none.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Maximum retries a configuration may request.
pub const MAX_RETRIES: u32 = 5;

/// The SMS node's configuration, as a flow builder writes it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "SMS node configuration")]
pub struct Config {
    /// Message text. `{{name}}` placeholders are filled from the run input, then the call's
    /// dynamic variables, then the built-ins `caller`, `agent_number`, `call_id` and
    /// `current_time` (UTC, RFC 3339). A tool call's `message` argument replaces it.
    #[serde(default)]
    pub body: Option<String>,

    /// https URLs of media to attach, at most 10. Any media makes the message an MMS.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub media_urls: Vec<String>,

    /// The recipient: an E.164 number or a `{{variable}}` that contains one. Defaults to the
    /// caller.
    #[serde(default)]
    pub to: Option<String>,

    /// Number the message is sent from.
    #[serde(default)]
    pub sender: Sender,

    /// Handling of a placeholder with no value.
    #[serde(default)]
    pub missing_variable: MissingVariable,

    /// Node behaviour: send, send and then await a reply, or only await a message.
    #[serde(default)]
    pub mode: Mode,

    /// Seconds to await a reply in `send_and_wait` and `wait` modes: 300 when unset, at most
    /// 86400.
    #[serde(default)]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: Option<u64>,

    /// Retries of a send that failed with a 429 or 5xx response from the provider, or that
    /// could not connect: 3 when unset, at most 5.
    #[serde(default)]
    #[schemars(range(max = 5))]
    pub max_retries: Option<u32>,
}

/// Number a message is sent from.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sender {
    /// The agent's own platform number. Allowed once its US A2P 10DLC registration (business
    /// profile, brand, campaign) is approved.
    #[default]
    PlatformNumber,
    /// A number of the customer's own Twilio account. The host stores the account's Account SID
    /// and Auth Token under the account name.
    TwilioNumber {
        /// The host's name for the provider account.
        account: String,
        /// The sending number, in E.164.
        number: String,
    },
    /// A number of the host's SMS-approved pool, picked once per call, so every message of the
    /// call goes out from it. Allowed only while the call is active.
    Pool,
}

/// Handling of a template placeholder with no value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingVariable {
    /// Send nothing and take `failed` with reason `template_variable_missing`.
    #[default]
    Fail,
    /// Replace the placeholder with empty text.
    Empty,
}

/// Node behaviour and the transitions each mode can take.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Send the message and take `sent` or `failed`.
    #[default]
    Send,
    /// Send the message, then await the recipient's reply: `reply`, `timeout`,
    /// `delivery_failed`, `call_ended` or `failed`.
    SendAndWait,
    /// Send nothing and await the caller's next message in this call: `reply`, `timeout` or
    /// `call_ended`.
    Wait,
}

impl Config {
    /// Returns the reply timeout in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS) * 1000
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES)
    }
}

/// The run input: an LLM's tool arguments or the flow's variables for this node.
#[derive(Debug, Default)]
pub struct Input {
    /// Text that replaces the configured body.
    pub message: Option<String>,
    /// A recipient that replaces the configured one.
    pub to: Option<String>,
    /// Every other member, as template variables.
    pub variables: BTreeMap<String, String>,
}

/// Parses and checks a configuration object.
pub fn parse(json: &str) -> Result<Config, NodeError> {
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        node_error(
            if path == "." { "config" } else { &path },
            format!("{}. See the configuration schema from `describe`", err.inner()),
        )
    })?;
    check(&config)?;
    Ok(config)
}

fn check(config: &Config) -> Result<(), NodeError> {
    if let Some(body) = &config.body {
        template::variables(body).map_err(|err| node_error("body", err.to_string()))?;
    }
    if let Some(to) = &config.to {
        check_recipient(to, "to")?;
    }

    if config.media_urls.len() > MAX_MEDIA_URLS {
        return Err(node_error(
            "media_urls",
            format!(
                "{} media URLs given, but one MMS carries at most {MAX_MEDIA_URLS}. Remove some",
                config.media_urls.len()
            ),
        ));
    }
    for (index, url) in config.media_urls.iter().enumerate() {
        check_media_url(url).map_err(|message| node_error(&format!("media_urls[{index}]"), message))?;
    }

    if let Sender::TwilioNumber { account, number } = &config.sender {
        if account.trim().is_empty() {
            return Err(node_error(
                "sender.account",
                "the account name is empty. Name an account from the host configuration".into(),
            ));
        }
        e164::validate(number).map_err(|err| node_error("sender.number", err.to_string()))?;
    }

    if let Some(seconds) = config.timeout_seconds
        && !(1..=MAX_TIMEOUT_SECONDS).contains(&seconds)
    {
        return Err(node_error(
            "timeout_seconds",
            format!("{seconds} is out of range. Use 1 to {MAX_TIMEOUT_SECONDS} seconds"),
        ));
    }
    if let Some(retries) = config.max_retries
        && retries > MAX_RETRIES
    {
        return Err(node_error(
            "max_retries",
            format!("{retries} is too many. Use 0 to {MAX_RETRIES}"),
        ));
    }
    Ok(())
}

/// Checks a recipient that is either a literal number or a template.
fn check_recipient(to: &str, field: &str) -> Result<(), NodeError> {
    if to.contains("{{") {
        template::variables(to).map_err(|err| node_error(field, err.to_string()))?;
        return Ok(());
    }
    e164::validate(to).map_err(|err| node_error(field, err.to_string()))
}

/// Checks one media URL: https, with a host.
pub fn check_media_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(format!("`{url}` is not an https URL. Media must be served over https"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("`{url}` is not a valid URL. Write it as https://host/path"));
    }
    Ok(())
}

/// Parses the run input: a JSON object, or empty text for none.
pub fn parse_input(json: &str) -> Result<Input, NodeError> {
    if json.trim().is_empty() {
        return Ok(Input::default());
    }
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|err| node_error("input", format!("input is not valid JSON: {err}")))?;
    let serde_json::Value::Object(members) = value else {
        return Err(node_error(
            "input",
            format!("input must be a JSON object of variables, not `{value}`"),
        ));
    };

    let mut input = Input::default();
    for (name, value) in members {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        match name.as_str() {
            "message" => input.message = Some(text),
            "to" => {
                check_recipient(&text, "input.to")?;
                input.to = Some(text);
            }
            _ => {
                input.variables.insert(name, text);
            }
        }
    }
    Ok(input)
}

pub fn node_error(field: &str, message: String) -> NodeError {
    NodeError { field: field.to_string(), message }
}
