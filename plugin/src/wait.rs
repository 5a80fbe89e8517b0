//! Awaiting a reply: the node requests that the host resume it on the recipient's next message,
//! on a delivery failure of the sent message, on the timeout or when the call ends. The host
//! stores the wait, so no instance lives meanwhile.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bindings::smsnode::node::call;
use crate::bindings::smsnode::node::state::{self, Scope};
use crate::bindings::smsnode::node::types::{
    InboundMessage, MessageFilter, NodeError, Outcome, ResumeEvent, RunResult, StatusUpdate,
    WaitEvent, WaitRequest,
};
use crate::config::{Config, Input, node_error};
use crate::send;

/// Delivery statuses after which no reply can be expected (Twilio's final failure statuses).
const FAILED_STATUSES: &[&str] = &["undelivered", "failed"];

/// State the node keeps while it waits.
#[derive(Debug, Serialize, Deserialize)]
struct WaitState {
    /// The number a reply comes from.
    sender: String,
    /// The numbers a reply may go to.
    recipients: Vec<String>,
    /// The sent message, in `send_and_wait` mode.
    sent_sid: Option<String>,
    /// The `sent` output, kept for the final transition's output.
    sent: Option<serde_json::Value>,
    /// Deadline of the wait, in milliseconds since the Unix epoch.
    deadline_ms: u64,
}

/// Sends the message, then waits for the reply.
pub fn send_and_wait(config: &Config, input: &Input) -> Result<RunResult, NodeError> {
    let sent = match send::send(config, input)? {
        Ok(sent) => sent,
        Err(failure) => return Ok(RunResult::Done(failure.into_outcome())),
    };
    let state = WaitState {
        sender: sent.to.clone(),
        recipients: vec![sent.from.clone()],
        sent_sid: Some(sent.message_sid.clone()),
        sent: Some(sent.output()),
        deadline_ms: now_ms() + config.timeout_ms(),
    };
    Ok(wait_for(state))
}

/// Waits for the caller's next message in this call, without sending.
pub fn wait_only(config: &Config, input: &Input) -> Result<RunResult, NodeError> {
    let call = call::context();
    let sender = match input.to.as_deref().or(config.to.as_deref()) {
        Some(number) if !number.contains("{{") => number.to_string(),
        Some(_) => {
            return Err(node_error(
                "to",
                "in `wait` mode `to` names the number a reply comes from and must be a literal E.164 number".into(),
            ));
        }
        None => call.caller.clone(),
    };

    let mut recipients = vec![call.agent_number.clone()];
    if let Some(pool_sender) = state::get(Scope::Call, "pool.sender")
        && !recipients.contains(&pool_sender)
    {
        recipients.push(pool_sender);
    }

    let state = WaitState { sender, recipients, sent_sid: None, sent: None, deadline_ms: now_ms() + config.timeout_ms() };
    Ok(wait_for(state))
}

/// Resumes the node with the event that ended or interrupted its wait.
pub fn resume(_config: &Config, state: &str, event: ResumeEvent) -> Result<RunResult, NodeError> {
    let state: WaitState = serde_json::from_str(state)
        .map_err(|err| node_error("state", format!("the stored wait state is not valid: {err}")))?;

    let outcome = match event {
        ResumeEvent::Message(message) => reply(&state, message),
        ResumeEvent::MessageStatus(update) => {
            if !FAILED_STATUSES.contains(&update.status.as_str()) {
                // Not a failure status, so only a reply, the timeout or the end of the call can
                // end the wait now.
                let mut state = state;
                state.sent_sid = None;
                return Ok(wait_for(state));
            }
            delivery_failed(&state, update)
        }
        ResumeEvent::Timeout => done("timeout", with_sent(&state, json!({ "waited_for": state.sender }))),
        ResumeEvent::CallEnded => done("call_ended", with_sent(&state, json!({}))),
    };
    Ok(RunResult::Done(outcome))
}

fn wait_for(state: WaitState) -> RunResult {
    let mut events = vec![WaitEvent::Message(MessageFilter {
        sender: state.sender.clone(),
        recipients: state.recipients.clone(),
    })];
    if let Some(sid) = &state.sent_sid {
        events.push(WaitEvent::MessageStatus(sid.clone()));
    }
    let timeout_ms = state.deadline_ms.saturating_sub(now_ms());
    RunResult::Wait(WaitRequest {
        events,
        timeout_ms,
        state: serde_json::to_string(&state).unwrap_or_default(),
    })
}

fn reply(state: &WaitState, message: InboundMessage) -> Outcome {
    let media: Vec<_> = message
        .media
        .iter()
        .map(|item| json!({ "url": item.url, "content_type": item.content_type, "fetch_path": item.fetch_path }))
        .collect();
    done(
        "reply",
        with_sent(
            state,
            json!({
                "body": message.body,
                "from": message.sender,
                "to": message.recipient,
                "message_sid": message.message_sid,
                "media": media,
                "num_media": message.media.len(),
                "keyword": smsnode_sms::optout::classify(&message.body),
            }),
        ),
    )
}

fn delivery_failed(state: &WaitState, update: StatusUpdate) -> Outcome {
    done(
        "delivery_failed",
        with_sent(
            state,
            json!({
                "message_sid": update.message_sid,
                "status": update.status,
                "error_code": update.error_code,
            }),
        ),
    )
}

/// Adds the sent message's output under `sent`, when the node sent one.
fn with_sent(state: &WaitState, mut output: serde_json::Value) -> serde_json::Value {
    if let (Some(sent), Some(object)) = (&state.sent, output.as_object_mut()) {
        object.insert("sent".into(), sent.clone());
    }
    output
}

fn done(transition: &str, output: serde_json::Value) -> Outcome {
    Outcome { transition: transition.into(), output: output.to_string() }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as u64).unwrap_or(0)
}
