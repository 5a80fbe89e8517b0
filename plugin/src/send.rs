//! Sending one SMS or MMS: fill the template, check the recipient, limits, sender and opt-out,
//! then POST it to the provider's Messages API with bounded retries.

use std::time::{Duration, Instant};

use serde_json::json;
use smsnode_sms::retry::{Backoff, is_retryable_status};
use smsnode_sms::segments::{self, SegmentCount};
use smsnode_sms::twilio::{self, CreateMessage, ErrorBody, MessageResource};
use smsnode_sms::{e164, template};

use crate::bindings::smsnode::node::types::{CallInfo, NodeError, Outcome};
use crate::bindings::smsnode::node::{accounts, call, numbers};
use crate::bindings::wasi::random::random;
use crate::config::{Config, Input, MissingVariable, node_error};
use crate::failure::Failure;
use crate::http::{self, HttpError};
use crate::host;
use crate::sender::{self, ChosenSender};

/// Maximum body length of one message, in characters (Twilio's limit for `Body`).
pub const MAX_BODY_CHARS: usize = 1600;
/// Time after the first attempt within which a retry may start. It stays below the host's
/// default 30 s run limit, so a slow provider ends in `failed` rather than a stopped run.
const RETRY_WINDOW: Duration = Duration::from_secs(15);
/// Twilio's error code for a recipient who replied STOP to the sender.
const OPTED_OUT_ERROR_CODE: u32 = 21610;

/// A message the provider accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_sid: String,
    pub status: String,
    pub from: String,
    pub to: String,
    pub sender_kind: &'static str,
    pub count: SegmentCount,
    pub media_count: usize,
}

impl Sent {
    pub fn output(&self) -> serde_json::Value {
        json!({
            "message_sid": self.message_sid,
            "status": self.status,
            "from": self.from,
            "to": self.to,
            "sender": self.sender_kind,
            "encoding": self.count.encoding.as_str(),
            "segments": self.count.segments,
            "units": self.count.units,
            "media_count": self.media_count,
        })
    }
}

/// Runs the node in `send` mode.
pub fn run(config: &Config, input: &Input) -> Result<Outcome, NodeError> {
    Ok(match send(config, input)? {
        Ok(sent) => Outcome { transition: "sent".into(), output: sent.output().to_string() },
        Err(failure) => failure.into_outcome(),
    })
}

/// Sends the configured message and records the result in the call's conversation. The outer
/// error is a configuration problem, and the inner one is a reason to take `failed`.
pub fn send(config: &Config, input: &Input) -> Result<Result<Sent, Failure>, NodeError> {
    if config.body.is_none() && input.message.is_none() && config.media_urls.is_empty() {
        return Err(node_error(
            "body",
            "no message text. Set `body`, pass a `message` input or add media_urls".into(),
        ));
    }

    let call = call::context();
    let result = send_in_call(config, input, &call);
    match &result {
        Ok(sent) => {
            host::info(&format!(
                "sms sent: message_sid={} from={} to={} segments={}",
                sent.message_sid, sent.from, sent.to, sent.count.segments
            ));
        }
        Err(failure) => {
            host::info(&format!("sms failed: reason={} {}", failure.reason, failure.message));
            host::append_event("sms.failed", &failure.output());
        }
    }
    Ok(result)
}

fn send_in_call(config: &Config, input: &Input, call: &CallInfo) -> Result<Sent, Failure> {
    let body = message_body(config, input, call)?;
    let to = recipient(config, input, call)?;
    check_body(&body, config.media_urls.len())?;
    let count = segments::count(&body);

    let chosen = sender::choose(&config.sender, call, !config.media_urls.is_empty())?;
    if numbers::opted_out(&chosen.number, &to) {
        return Err(Failure::new(
            "opted_out",
            format!(
                "{to} opted out of messages from {} by replying STOP. They must text START before you can message them again",
                chosen.number
            ),
        )
        .with_code(OPTED_OUT_ERROR_CODE)
        .with("from", chosen.number.as_str())
        .with("to", to.as_str()));
    }

    let message = CreateMessage {
        to: to.clone(),
        from: chosen.number.clone(),
        body: body.clone(),
        media_urls: config.media_urls.clone(),
        status_callback: None,
    };
    let sent = post_message(message, &chosen, count, config.max_retries())?;
    host::append_event(
        "sms.sent",
        &json!({
            "message_sid": sent.message_sid,
            "status": sent.status,
            "from": sent.from,
            "to": sent.to,
            "body": body,
            "media_urls": config.media_urls,
            "encoding": count.encoding.as_str(),
            "segments": count.segments,
        }),
    );
    Ok(sent)
}

/// Returns the text to send: the tool call's message, or the configured template filled in.
fn message_body(config: &Config, input: &Input, call: &CallInfo) -> Result<String, Failure> {
    if let Some(message) = &input.message {
        return Ok(message.clone());
    }
    let template = config.body.as_deref().unwrap_or("");
    render(template, config.missing_variable, input, call)
}

/// Resolves and checks the recipient: the input's, the configured one (a number or a
/// template), or the caller.
fn recipient(config: &Config, input: &Input, call: &CallInfo) -> Result<String, Failure> {
    let configured = input.to.as_deref().or(config.to.as_deref());
    let to = match configured {
        Some(to) => render(to, MissingVariable::Fail, input, call)?.trim().to_string(),
        None => call.caller.clone(),
    };
    e164::validate(&to).map_err(|err| {
        Failure::new("invalid_recipient", err.to_string()).with("to", to.as_str())
    })?;
    Ok(to)
}

/// Fills `{{name}}` placeholders from the input, the call's variables, then the built-ins.
fn render(text: &str, missing: MissingVariable, input: &Input, call: &CallInfo) -> Result<String, Failure> {
    let lookup = |name: &str| {
        let value = input
            .variables
            .get(name)
            .cloned()
            .or_else(|| call.variables.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
            .or_else(|| builtin(name, call));
        match (value, missing) {
            (None, MissingVariable::Empty) => Some(String::new()),
            (value, _) => value,
        }
    };
    template::render(text, lookup).map_err(|err| {
        let failure = Failure::new("template_variable_missing", err.to_string());
        match err {
            template::TemplateError::UnknownVariable { name } => failure.with("variable", name),
            _ => failure,
        }
    })
}

fn builtin(name: &str, call: &CallInfo) -> Option<String> {
    match name {
        "caller" => Some(call.caller.clone()),
        "agent_number" => Some(call.agent_number.clone()),
        "call_id" => Some(call.call_id.clone()),
        "current_time" => Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
        _ => None,
    }
}

fn check_body(body: &str, media_count: usize) -> Result<(), Failure> {
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(Failure::new(
            "body_too_long",
            format!("the message has {chars} characters. Shorten it to at most {MAX_BODY_CHARS}"),
        )
        .with("characters", chars));
    }
    if body.trim().is_empty() && media_count == 0 {
        return Err(Failure::new(
            "empty_message",
            "the message text is empty after filling the template, and there is no media to send",
        ));
    }
    Ok(())
}

/// POSTs the message to the sender's account, retrying 429, 5xx and failed connections.
fn post_message(
    mut message: CreateMessage,
    chosen: &ChosenSender,
    count: SegmentCount,
    max_retries: u32,
) -> Result<Sent, Failure> {
    let Some(account) = accounts::get(&chosen.account) else {
        return Err(Failure::new(
            "account_unknown",
            format!(
                "the number {} names account `{}`, which is not configured on the host. Add it under [accounts]",
                chosen.number, chosen.account
            ),
        ));
    };
    message.status_callback = account.status_callback.clone();
    let path = twilio::messages_path(&account.account_id);
    let form = message.to_form();

    let backoff = Backoff { max_retries, ..Backoff::default() };
    let started = Instant::now();
    let mut retry = 0;
    let response = loop {
        let result = http::post_form(&account.api_base, &path, form.as_bytes());
        let retryable = match &result {
            Ok(response) => is_retryable_status(response.status),
            Err(HttpError::NotConnected(_)) => true,
            Err(_) => false,
        };
        let delay = backoff.delay_ms(retry, jitter());
        let out_of_time = started.elapsed() + Duration::from_millis(delay) > RETRY_WINDOW;
        if !retryable || retry >= backoff.max_retries || out_of_time {
            break result;
        }

        let cause = match &result {
            Ok(response) => format!("status {}", response.status),
            Err(err) => err.describe(),
        };
        host::warn(&format!("sms send retry {} of {} in {delay} ms after {cause}", retry + 1, backoff.max_retries));
        std::thread::sleep(Duration::from_millis(delay));
        retry += 1;
    };

    let response = response.map_err(|err| {
        let reason = if matches!(err, HttpError::Denied) { "request_denied" } else { "provider_unreachable" };
        let message = format!("{} ({}{path}, after {retry} retries)", err.describe(), account.api_base);
        Failure::new(reason, message).with("retries", retry)
    })?;
    interpret_response(response, &message, chosen, count)
}

fn interpret_response(
    response: http::Response,
    message: &CreateMessage,
    chosen: &ChosenSender,
    count: SegmentCount,
) -> Result<Sent, Failure> {
    if (200..300).contains(&response.status) {
        let resource: MessageResource = serde_json::from_slice(&response.body).map_err(|err| {
            Failure::new(
                "provider_error",
                format!("the provider accepted the message but its response is not a message resource: {err}"),
            )
        })?;
        return Ok(Sent {
            message_sid: resource.sid,
            status: resource.status,
            from: message.from.clone(),
            to: message.to.clone(),
            sender_kind: chosen.kind,
            count,
            media_count: message.media_urls.len(),
        });
    }

    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(error) => Err(Failure::new("provider_error", error.message.clone())
            .with_code(error.code)
            .with("status", error.status)
            .with("more_info", error.more_info.as_str())
            .with("from", message.from.as_str())
            .with("to", message.to.as_str())),
        Err(_) => Err(Failure::new(
            "provider_error",
            format!(
                "the provider responded with HTTP {} and no Twilio error body{}",
                response.status,
                body_excerpt(&response.body)
            ),
        )
        .with("status", response.status)),
    }
}

/// Returns the start of a response body for an error message, or nothing for an empty body.
fn body_excerpt(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    if text.trim().is_empty() { String::new() } else { format!(": {text}") }
}

/// Returns a uniform random number in [0, 1) for backoff jitter.
fn jitter() -> f64 {
    (random::get_random_u64() >> 11) as f64 / (1u64 << 53) as f64
}
