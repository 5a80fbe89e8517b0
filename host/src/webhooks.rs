//! Twilio's webhooks: inbound messages and delivery status callbacks. Each request is checked
//! (size, shape, `X-Twilio-Signature` against the configured public URL), stored, and
//! acknowledged at once. Processing happens later, from the store, so an accepted message
//! survives a stop.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use smsnode_sms::optout::{self, Keyword};
use smsnode_sms::twilio::{self, signature};

use crate::app::App;

/// Empty TwiML response: the webhook was accepted and there is nothing to send back.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// `POST /webhooks/twilio/sms`: an inbound SMS or MMS.
pub async fn inbound_sms(State(app): State<Arc<App>>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params = match verified_params(&app, &uri, &headers, &body, &["MessageSid", "From", "To"], "To") {
        Ok(params) => params,
        Err(rejection) => return rejection,
    };
    let sid = param(&params, "MessageSid");
    let keyword = optout::classify(param(&params, "Body"));

    if let Err(response) = accept(&app, "sms", sid, &params) {
        return response;
    }
    let reply = match keyword {
        Some(Keyword::Help) => message_twiml(&app.config.messaging.help_reply),
        _ => EMPTY_TWIML.to_string(),
    };
    ([(header::CONTENT_TYPE, "text/xml")], reply).into_response()
}

/// `POST /webhooks/twilio/status`: a delivery status change of an outbound message.
pub async fn status_callback(State(app): State<Arc<App>>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params = match verified_params(&app, &uri, &headers, &body, &["MessageSid", "MessageStatus"], "From") {
        Ok(params) => params,
        Err(rejection) => return rejection,
    };
    let key = format!("{}:{}", param(&params, "MessageSid"), param(&params, "MessageStatus"));
    if let Err(response) = accept(&app, "status", &key, &params) {
        return response;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Stores the webhook (once per key) and wakes the processor.
fn accept(app: &App, kind: &str, key: &str, params: &[(String, String)]) -> Result<(), Response> {
    match app.store.enqueue_webhook(kind, key, params) {
        Ok(true) => {
            tracing::info!(kind, key, "webhook accepted");
            app.queue_wake.notify_one();
            Ok(())
        }
        Ok(false) => {
            tracing::info!(kind, key, "duplicate webhook ignored");
            Ok(())
        }
        Err(error) => {
            // Not stored, so respond with 500 to make Twilio retry it.
            tracing::error!(kind, key, error = %format!("{error:#}"), "storing a webhook failed");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "could not store the webhook. Retry later").into_response())
        }
    }
}

/// Parses the request and checks its signature. Errors are complete responses: 400 for a
/// malformed request, 403 for a missing or bad signature, 503 without a public URL.
fn verified_params(
    app: &App,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    required: &[&str],
    owned_number: &str,
) -> Result<Vec<(String, String)>, Response> {
    let Some(public_url) = app.config.service.public_url.as_deref() else {
        tracing::error!("webhook received, but service.public_url is not set");
        return Err((StatusCode::SERVICE_UNAVAILABLE, "service.public_url is not set, so webhooks cannot be verified").into_response());
    };
    let path_and_query = uri.path_and_query().map(|value| value.as_str()).unwrap_or(uri.path());
    let url = format!("{public_url}{path_and_query}");

    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let is_json = content_type.starts_with("application/json");
    let params = if is_json {
        json_params(body).map_err(|message| reject(StatusCode::BAD_REQUEST, &message))?
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        twilio::parse_form(body)
    } else {
        return Err(reject(StatusCode::BAD_REQUEST, &format!("unsupported Content-Type `{content_type}`. Twilio posts application/x-www-form-urlencoded")));
    };

    let Some(signature_header) = headers.get("x-twilio-signature").and_then(|value| value.to_str().ok()) else {
        return Err(reject(StatusCode::FORBIDDEN, "missing X-Twilio-Signature"));
    };
    // The request names its account, and its signature must come from that account's token.
    // A request that names none (some JSON webhooks) may be signed by any configured account.
    let account_sid = param(&params, "AccountSid");
    let candidates: Vec<_> = app
        .config
        .accounts
        .values()
        .filter(|account| (account_sid.is_empty() && is_json) || account.account_sid == account_sid)
        .collect();
    if candidates.is_empty() {
        return Err(reject(StatusCode::FORBIDDEN, "AccountSid matches no configured account"));
    }
    let signer = candidates.into_iter().find(|account| {
        let token = account.auth_token.expose();
        if is_json {
            signature::validate_json(token, &url, body, signature_header)
        } else {
            signature::validate(token, &url, &params, signature_header)
        }
    });
    let Some(signer) = signer else {
        return Err(reject(StatusCode::FORBIDDEN, "invalid X-Twilio-Signature"));
    };

    // An account may only sign for its own numbers, so a customer holding their own Auth Token
    // cannot forge texts to, or statuses of, another account's number.
    let number = param(&params, owned_number);
    if let Some(entry) = app.config.numbers.get(number)
        && entry.account != signer.name
    {
        return Err(reject(StatusCode::FORBIDDEN, "the signing account does not own the number"));
    }

    if let Some(missing) = required.iter().find(|name| param(&params, name).is_empty()) {
        return Err(reject(StatusCode::BAD_REQUEST, &format!("missing parameter {missing}")));
    }
    Ok(params)
}

fn reject(status: StatusCode, reason: &str) -> Response {
    tracing::warn!(status = status.as_u16(), reason, "webhook rejected");
    (status, reason.to_string()).into_response()
}

fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|error| format!("invalid JSON body: {error}"))?;
    let object = value.as_object().ok_or("the JSON body must be an object")?;
    Ok(object
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())))
        .collect())
}

/// Returns the value of the form parameter `name`, or empty text when it is missing.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or("")
}

/// Builds TwiML that replies with one message.
fn message_twiml(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{escaped}</Message></Response>")
}
