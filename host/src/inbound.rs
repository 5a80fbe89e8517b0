//! Processing of accepted webhooks after they were stored and acknowledged. Inbound messages
//! join the active call they belong to or are kept as unrouted, and opt-out keywords are applied.
//! Delivery status callbacks update messages and resume the nodes waiting on them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use smsnode_sms::optout::{self, Keyword};
use smsnode_sms::twilio::status;

use crate::app::{App, matches_filter};
use crate::webhooks::param;
use crate::bindings::types::{InboundMessage, MediaItem, ResumeEvent, StatusUpdate};
use crate::config::Telephony;
use crate::store::{InboundRecord, QueuedWebhook, StatusCallback, StatusChange, now};

/// Webhooks processed per pass of the queue.
const BATCH: usize = 64;
/// Maximum sleep of the processor between two polls of the queue.
const IDLE: Duration = Duration::from_secs(5);

/// Destination of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// It joined this call.
    Call(String),
    /// No active call between these numbers.
    NoActiveCall,
    /// The recipient number is not configured on this host.
    UnknownNumber,
    /// The recipient is a custom-telephony number whose A2P registration has not passed.
    NotRegistered,
}

impl Routing {
    fn as_str(&self) -> &'static str {
        match self {
            Routing::Call(_) => "call",
            Routing::NoActiveCall => "no_active_call",
            Routing::UnknownNumber => "unknown_number",
            Routing::NotRegistered => "a2p_not_registered",
        }
    }
}

/// Processes the webhook queue at start-up, including what a stopped host left, and then
/// whenever woken.
pub async fn processor_task(app: Weak<App>) {
    loop {
        let Some(strong) = app.upgrade() else {
            return;
        };
        let processed = match process_pending(&strong).await {
            Ok(count) => count,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "processing accepted webhooks failed");
                0
            }
        };
        if processed < BATCH {
            let woken = strong.queue_wake.notified();
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = woken => {}
            }
        }
    }
}

/// Processes up to one batch of accepted webhooks and returns how many.
pub async fn process_pending(app: &Arc<App>) -> Result<usize> {
    let pending = app.store.pending_webhooks(BATCH)?;
    for webhook in &pending {
        // Each kind marks its webhook processed in the same transaction as its effects.
        let result = match webhook.kind.as_str() {
            "sms" => process_inbound(app, webhook).await,
            "status" => process_status(app, webhook).await,
            other => app.store.finish_webhook(webhook.id, &format!("unknown webhook kind {other}")),
        };
        if let Err(error) = result {
            // The webhook stays queued and is tried again on the next pass. The ones after it
            // go on meanwhile.
            tracing::error!(id = webhook.id, kind = %webhook.kind, error = %format!("{error:#}"), "processing a webhook failed");
        }
    }
    Ok(pending.len())
}

/// Routes one inbound SMS or MMS.
async fn process_inbound(app: &Arc<App>, webhook: &QueuedWebhook) -> Result<()> {
    let params = &webhook.params;
    let message = InboundMessage {
        message_sid: param(params, "MessageSid").to_string(),
        sender: param(params, "From").to_string(),
        recipient: param(params, "To").to_string(),
        body: param(params, "Body").to_string(),
        media: media_items(params),
    };

    let keyword = optout::classify(&message.body);
    match keyword {
        Some(Keyword::OptOut) => {
            app.store.set_opt_out(&message.recipient, &message.sender, true)?;
            tracing::info!(message_sid = %message.message_sid, sender = %message.recipient, recipient = %message.sender, "recipient opted out");
        }
        Some(Keyword::OptIn) => {
            app.store.set_opt_out(&message.recipient, &message.sender, false)?;
            tracing::info!(message_sid = %message.message_sid, sender = %message.recipient, recipient = %message.sender, "recipient opted back in");
        }
        Some(Keyword::Help) | None => {}
    }

    let routing = route(app, &message)?;
    let record = InboundRecord {
        message_sid: message.message_sid.clone(),
        call_id: match &routing {
            Routing::Call(call_id) => Some(call_id.clone()),
            _ => None,
        },
        from: message.sender.clone(),
        to: message.recipient.clone(),
        body: message.body.clone(),
        media: media_json(&message.media),
        routing: routing.as_str().to_string(),
        received_at: now(),
    };

    let Routing::Call(call_id) = routing else {
        app.store.finish_inbound(webhook.id, &record, None)?;
        tracing::warn!(
            message_sid = %message.message_sid, from = %message.sender, to = %message.recipient, routing = routing.as_str(),
            "inbound message matched no call, so it was kept as unrouted"
        );
        return Ok(());
    };

    let mut data = event_data(&message);
    if let Some(keyword) = keyword {
        data["keyword"] = json!(keyword);
    }
    app.store.finish_inbound(webhook.id, &record, Some(&data))?;
    tracing::info!(message_sid = %message.message_sid, call_id, num_media = message.media.len(), "inbound message joined the call");

    for wait in app.store.waits_of_call(&call_id)? {
        if matches_filter(&wait.message_filters, &message.sender, &message.recipient) {
            app.resume(&wait.run_id, ResumeEvent::Message(message.clone())).await;
        }
    }
    Ok(())
}

/// Finds the active call an inbound message belongs to: its sender is the call's caller, and
/// its recipient is the call's agent number or a number the call's messages went out from.
fn route(app: &App, message: &InboundMessage) -> Result<Routing> {
    let Some(number) = app.config.numbers.get(&message.recipient) else {
        return Ok(Routing::UnknownNumber);
    };
    if number.telephony == Telephony::Custom && !number.a2p.approved() {
        return Ok(Routing::NotRegistered);
    }

    for call in app.store.active_calls_with(&message.sender)? {
        if call.agent_number == message.recipient || app.store.call_senders(&call.call_id)?.contains(&message.recipient) {
            return Ok(Routing::Call(call.call_id));
        }
    }

    // A reply from someone other than the caller, to a number an active call texted them from.
    if let Some(call_id) = app.store.active_call_that_texted(&message.recipient, &message.sender)? {
        return Ok(Routing::Call(call_id));
    }
    Ok(Routing::NoActiveCall)
}

/// Applies one delivery status callback. A stale callback changes nothing.
async fn process_status(app: &Arc<App>, webhook: &QueuedWebhook) -> Result<()> {
    let params = &webhook.params;
    let update = StatusCallback {
        message_sid: param(params, "MessageSid"),
        sender: param(params, "From"),
        recipient: param(params, "To"),
        status: param(params, "MessageStatus"),
        error_code: param(params, "ErrorCode").parse::<u32>().ok(),
    };
    let (sid, next, error_code) = (update.message_sid, update.status, update.error_code);

    let (change, _event) = app.store.finish_status(webhook.id, &update)?;
    let call_id = match change {
        StatusChange::Stale { current } => {
            tracing::info!(message_sid = sid, status = next, current = %current, "stale status callback ignored");
            return Ok(());
        }
        StatusChange::Changed { call_id } => call_id,
    };
    tracing::info!(message_sid = sid, status = next, error_code, "message status changed");

    let Some(call_id) = call_id else {
        return Ok(());
    };
    if status::is_final(next) {
        for wait in app.store.waits_of_call(&call_id)? {
            let watches = wait.status_sids.as_array().into_iter().flatten().any(|watched| watched.as_str() == Some(sid));
            if watches {
                let update = StatusUpdate { message_sid: sid.into(), status: next.into(), error_code };
                app.resume(&wait.run_id, ResumeEvent::MessageStatus(update)).await;
            }
        }
    }
    Ok(())
}

fn media_items(params: &[(String, String)]) -> Vec<MediaItem> {
    let message_sid = param(params, "MessageSid");
    let count: usize = param(params, "NumMedia").parse().unwrap_or(0);
    (0..count.min(10))
        .map(|index| MediaItem {
            url: param(params, &format!("MediaUrl{index}")).to_string(),
            content_type: param(params, &format!("MediaContentType{index}")).to_string(),
            fetch_path: media_fetch_path(message_sid, index),
        })
        .filter(|item| !item.url.is_empty())
        .collect()
}

fn media_json(media: &[MediaItem]) -> Value {
    Value::Array(media.iter().map(|item| json!({ "url": item.url, "content_type": item.content_type })).collect())
}

/// Builds the `sms.received` event data: the message, with each media item's host path for
/// fetching it.
fn event_data(message: &InboundMessage) -> Value {
    let media: Vec<Value> = message
        .media
        .iter()
        .map(|item| {
            json!({
                "url": item.url,
                "content_type": item.content_type,
                "fetch_path": item.fetch_path,
            })
        })
        .collect();
    json!({
        "message_sid": message.message_sid,
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "num_media": message.media.len(),
        "media": media,
    })
}

/// Returns the service path that serves one inbound media item (see `media::fetch`).
fn media_fetch_path(message_sid: &str, index: usize) -> String {
    format!("/messages/{message_sid}/media/{index}")
}

/// Reads an inbound message back from its `sms.received` event data.
pub fn message_from_event(data: &Value) -> Option<InboundMessage> {
    let text = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_string);
    let media = data
        .get("media")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| MediaItem {
                    url: item["url"].as_str().unwrap_or("").to_string(),
                    content_type: item["content_type"].as_str().unwrap_or("").to_string(),
                    fetch_path: item["fetch_path"].as_str().unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(InboundMessage {
        message_sid: text("message_sid")?,
        sender: text("from")?,
        recipient: text("to")?,
        body: text("body").unwrap_or_default(),
        media,
    })
}
