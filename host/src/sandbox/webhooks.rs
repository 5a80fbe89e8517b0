//! The sandbox's side of Twilio webhooks: delivery status callbacks for accepted messages,
//! scripted inbound SMS and MMS (the caller texting back), signed with `X-Twilio-Signature`
//! as Twilio signs them, and the inbound media behind Basic auth and a redirect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use smsnode_sms::twilio::{ErrorBody, MessageResource, signature};

use super::api::{authenticate, error_response, random_hex};
use super::Shared;
use crate::client;

/// Pause between one status of a sent message and the next.
const STATUS_STEP: Duration = Duration::from_millis(100);
/// Time that Twilio waits for a webhook response before it counts the attempt as failed.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts at delivering one webhook before the sandbox gives up.
const WEBHOOK_ATTEMPTS: u32 = 4;

/// Recipients the sandbox reports as undelivered, with the error code of each. They stand in
/// for handsets that cannot be reached, which Twilio's own test numbers do not cover.
const UNDELIVERABLE: &[(&str, u32)] = &[
    ("+15005550011", 30003),
    ("+15005550012", 30005),
    ("+15005550013", 30006),
];

/// Final delivery result of a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Undelivered(u32),
}

/// Returns the final delivery result of a message to `to`.
pub fn delivery_outcome(to: &str) -> DeliveryOutcome {
    UNDELIVERABLE
        .iter()
        .find(|(number, _)| *number == to)
        .map_or(DeliveryOutcome::Delivered, |(_, code)| DeliveryOutcome::Undelivered(*code))
}

/// One media item of a scripted inbound MMS.
#[derive(Debug, Clone)]
pub struct ScriptedMedia {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A message the sandbox sends to the host as if a phone had texted it.
#[derive(Debug, Clone)]
pub struct InboundScript {
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<ScriptedMedia>,
    pub delay: Duration,
}

/// Webhook destination and the media of scripted inbound messages.
#[derive(Default)]
pub(crate) struct Webhooks {
    /// The host service's public URL, without a trailing slash.
    public_url: Mutex<Option<String>>,
    media: Mutex<HashMap<String, ScriptedMedia>>,
}

impl Webhooks {
    pub(crate) fn configure(&self, public_url: &str) {
        *Shared::lock(&self.public_url) = Some(public_url.trim_end_matches('/').to_string());
    }

    fn public_url(&self) -> Option<String> {
        Shared::lock(&self.public_url).clone()
    }
}

/// Moves an accepted message through `sent` to its final status, posting a status callback
/// for each when the message named a callback URL. No callback is sent for `queued`.
pub(crate) fn schedule_status_callbacks(shared: Arc<Shared>, message: &MessageResource, callback: Option<String>) {
    let message = message.clone();
    tokio::spawn(async move {
        let outcome = delivery_outcome(&message.to);
        let final_step = match outcome {
            DeliveryOutcome::Delivered => ("delivered", None),
            DeliveryOutcome::Undelivered(code) => ("undelivered", Some(code)),
        };
        for (status, error_code) in [("sent", None), final_step] {
            tokio::time::sleep(STATUS_STEP).await;
            set_status(&shared, &message.sid, status, error_code);
            if let Some(url) = &callback {
                let params = status_params(&message, status, error_code);
                post_signed(&shared, &message.account_sid, url, params).await;
            }
        }
    });
}

fn set_status(shared: &Shared, sid: &str, status: &str, error_code: Option<u32>) {
    let mut messages = Shared::lock(&shared.messages);
    if let Some(message) = messages.iter_mut().find(|message| message.sid == sid) {
        message.status = status.to_string();
        message.error_code = error_code.map(i64::from);
        message.date_updated = super::api::rfc2822_now();
    }
}

fn status_params(message: &MessageResource, status: &str, error_code: Option<u32>) -> Vec<(String, String)> {
    let mut params = vec![
        ("MessageSid".to_string(), message.sid.clone()),
        ("SmsSid".to_string(), message.sid.clone()),
        ("AccountSid".to_string(), message.account_sid.clone()),
        ("From".to_string(), message.from.clone()),
        ("To".to_string(), message.to.clone()),
        ("MessageStatus".to_string(), status.to_string()),
        ("SmsStatus".to_string(), status.to_string()),
        ("ApiVersion".to_string(), "2010-04-01".to_string()),
    ];
    if let Some(code) = error_code {
        params.push(("ErrorCode".to_string(), code.to_string()));
    }
    params
}

/// Posts a scripted inbound message to the host after its delay.
pub(crate) fn schedule_inbound(shared: Arc<Shared>, script: InboundScript) {
    tokio::spawn(async move {
        tokio::time::sleep(script.delay).await;
        let Some(public_url) = shared.webhooks.public_url() else {
            tracing::warn!("sandbox has no webhook URL, so the scripted inbound message was dropped");
            return;
        };
        let params = inbound_params(&shared, &script);
        post_signed(&shared, &script.account_sid, &format!("{public_url}/webhooks/twilio/sms"), params).await;
    });
}

fn inbound_params(shared: &Shared, script: &InboundScript) -> Vec<(String, String)> {
    let prefix = if script.media.is_empty() { "SM" } else { "MM" };
    let sid = format!("{prefix}{}", random_hex());
    let mut params = vec![
        ("MessageSid".to_string(), sid.clone()),
        ("SmsMessageSid".to_string(), sid.clone()),
        ("SmsSid".to_string(), sid.clone()),
        ("AccountSid".to_string(), script.account_sid.clone()),
        ("From".to_string(), script.from.clone()),
        ("To".to_string(), script.to.clone()),
        ("Body".to_string(), script.body.clone()),
        ("NumMedia".to_string(), script.media.len().to_string()),
        ("NumSegments".to_string(), smsnode_sms::segments::count(&script.body).segments.max(1).to_string()),
        ("SmsStatus".to_string(), "received".to_string()),
        ("ApiVersion".to_string(), "2010-04-01".to_string()),
    ];

    let api_base = shared.api_base();
    for (index, item) in script.media.iter().enumerate() {
        let media_sid = format!("ME{}", random_hex());
        let url = format!("{api_base}/2010-04-01/Accounts/{}/Messages/{sid}/Media/{media_sid}", script.account_sid);
        Shared::lock(&shared.webhooks.media).insert(media_sid, item.clone());
        params.push((format!("MediaUrl{index}"), url));
        params.push((format!("MediaContentType{index}"), item.content_type.clone()));
    }
    params
}

/// Posts form `params` to `url`, signed with the account's Auth Token, retrying as Twilio does
/// when the response is missing or not a 2xx.
async fn post_signed(shared: &Shared, account_sid: &str, url: &str, params: Vec<(String, String)>) {
    let Some(token) = Shared::lock(&shared.accounts).get(account_sid).cloned() else {
        tracing::warn!(account_sid, "webhook not sent because the sandbox has no such account");
        return;
    };
    let signature = signature::compute(token.expose(), url, &params);
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();

    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let request = http::Request::post(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signature)
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .body(Bytes::from(body.clone()));
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(url, %error, "webhook not sent because its URL is invalid");
                return;
            }
        };
        match client::send(request, WEBHOOK_TIMEOUT, 64 * 1024).await {
            // TODO: record a TwiML <Message> in the response (the HELP reply) as an outbound message.
            Ok(response) if response.status.is_success() => return,
            Ok(response) => tracing::warn!(url, attempt, status = %response.status, "webhook responded with an error status"),
            Err(error) => tracing::warn!(url, attempt, error = %format!("{error:#}"), "webhook failed"),
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    tracing::warn!(url, attempts = WEBHOOK_ATTEMPTS, "webhook delivery failed after the last attempt");
}

/// `GET .../Messages/{MessageSid}/Media/{MediaSid}`: with the account's Basic auth, redirects to
/// the media's content, as Twilio redirects to its CDN.
pub(super) async fn media_redirect(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, _message_sid, media_sid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authenticate(&shared, &account_sid, &headers) {
        return error_response(ErrorBody::new(20003, "Authenticate", 401));
    }
    if !Shared::lock(&shared.webhooks.media).contains_key(&media_sid) {
        return error_response(ErrorBody::new(20404, "The requested media was not found", 404));
    }
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, format!("/media/{media_sid}"))]).into_response()
}

/// `GET /media/{MediaSid}`: the media content, without auth, like a CDN link.
pub(super) async fn media_content(State(shared): State<Arc<Shared>>, Path(media_sid): Path<String>) -> Response {
    match Shared::lock(&shared.webhooks.media).get(&media_sid) {
        Some(item) => ([(header::CONTENT_TYPE, item.content_type.clone())], Bytes::from(item.bytes.clone())).into_response(),
        None => (StatusCode::NOT_FOUND, "media not found").into_response(),
    }
}
