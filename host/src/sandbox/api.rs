//! The sandbox's HTTP API: Twilio's Messages resource (create, fetch, list) and the media
//! of scripted inbound MMS, with Twilio's JSON shapes and error bodies.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::json;
use smsnode_sms::twilio::{self, CreateMessage, ErrorBody, MessageResource};
use smsnode_sms::{e164, segments};

use super::{RecordedRequest, Shared, webhooks};

/// Maximum body length Twilio accepts, in characters (error 21617 above it).
const MAX_BODY_CHARS: usize = 1600;
/// Maximum number of media items in one message (error 21623 above it).
const MAX_MEDIA: usize = 10;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{account_sid}/Messages.json", get(list_messages).post(create_message))
        .route("/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}", get(fetch_message))
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}",
            get(webhooks::media_redirect),
        )
        .route("/media/{media_sid}", get(webhooks::media_content))
        .fallback(not_found)
        .with_state(shared)
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
    let form = twilio::parse_form(&body);
    let authenticated = authenticate(&shared, &account_sid, &headers);
    let mut record = RecordedRequest {
        method: "POST".into(),
        path,
        form,
        authenticated,
        status: 0,
        message_sid: None,
        error_code: None,
    };

    let result = accept_message(&shared, &account_sid, authenticated, &body);
    let response = match result {
        Ok(message) => {
            record.status = 201;
            record.message_sid = Some(message.sid.clone());
            tracing::info!(message_sid = %message.sid, from = %message.from, to = %message.to, "sandbox accepted a message");
            (StatusCode::CREATED, axum::Json(message)).into_response()
        }
        Err(error) => {
            record.status = error.status;
            record.error_code = Some(error.code);
            tracing::info!(code = error.code, status = error.status, "sandbox rejected a message");
            error_response(error)
        }
    };
    Shared::lock(&shared.requests).push(record);
    response
}

/// Checks a create request as Twilio does and stores the message.
fn accept_message(shared: &Arc<Shared>, account_sid: &str, authenticated: bool, body: &[u8]) -> Result<MessageResource, ErrorBody> {
    if !Shared::lock(&shared.accounts).contains_key(account_sid) {
        return Err(ErrorBody::new(20404, format!("The requested resource /2010-04-01/Accounts/{account_sid}/Messages.json was not found"), 404));
    }
    if !authenticated {
        return Err(ErrorBody::new(20003, "Authenticate", 401));
    }
    if let Some(status) = Shared::lock(&shared.faults).pop_front() {
        return Err(fault(status));
    }

    let message = CreateMessage::from_form(body).map_err(|error| error.to_error_body())?;
    if e164::validate(&message.to).is_err() {
        return Err(ErrorBody::new(21211, format!("Invalid 'To' Phone Number: {}", message.to), 400));
    }
    if e164::validate(&message.from).is_err() {
        return Err(ErrorBody::new(21212, format!("Invalid From Number (caller ID): {}", message.from), 400));
    }
    if let Some(error) = twilio::test_number_error(&message.from, &message.to) {
        return Err(error);
    }
    if message.body.chars().count() > MAX_BODY_CHARS {
        return Err(ErrorBody::new(21617, "The concatenated message body exceeds the 1600 character limit", 400));
    }
    if message.media_urls.len() > MAX_MEDIA {
        return Err(ErrorBody::new(21623, "Number of media files exceeds allowed limit", 400));
    }
    if let Some(url) = message.media_urls.iter().find(|url| !(url.starts_with("https://") || url.starts_with("http://"))) {
        return Err(ErrorBody::new(21620, format!("Invalid media URL(s): {url}"), 400));
    }

    let resource = new_resource(account_sid, &message);
    Shared::lock(&shared.messages).push(resource.clone());
    webhooks::schedule_status_callbacks(shared.clone(), &resource, message.status_callback.clone());
    Ok(resource)
}

fn new_resource(account_sid: &str, message: &CreateMessage) -> MessageResource {
    let prefix = if message.media_urls.is_empty() { "SM" } else { "MM" };
    let sid = format!("{prefix}{}", random_hex());
    let now = rfc2822_now();
    MessageResource {
        sid: sid.clone(),
        account_sid: account_sid.to_string(),
        to: message.to.clone(),
        from: message.from.clone(),
        body: message.body.clone(),
        status: "queued".into(),
        num_segments: segments::count(&message.body).segments.max(1).to_string(),
        num_media: message.media_urls.len().to_string(),
        direction: "outbound-api".into(),
        date_created: now.clone(),
        date_updated: now,
        date_sent: None,
        price: None,
        error_code: None,
        error_message: None,
        uri: format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"),
        api_version: "2010-04-01".into(),
        messaging_service_sid: None,
        subresource_uris: json!({ "media": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json") }),
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`
async fn fetch_message(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, message_sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authenticate(&shared, &account_sid, &headers) {
        return error_response(ErrorBody::new(20003, "Authenticate", 401));
    }
    let sid = message_sid.trim_end_matches(".json");
    let found = Shared::lock(&shared.messages).iter().find(|message| message.sid == sid && message.account_sid == account_sid).cloned();
    match found {
        Some(message) => axum::Json(message).into_response(),
        None => error_response(ErrorBody::new(20404, format!("The requested resource /2010-04-01/Accounts/{account_sid}/Messages/{message_sid} was not found"), 404)),
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`: the account's messages, newest first.
async fn list_messages(State(shared): State<Arc<Shared>>, Path(account_sid): Path<String>, headers: HeaderMap) -> Response {
    if !authenticate(&shared, &account_sid, &headers) {
        return error_response(ErrorBody::new(20003, "Authenticate", 401));
    }
    let messages: Vec<MessageResource> =
        Shared::lock(&shared.messages).iter().rev().filter(|message| message.account_sid == account_sid).cloned().collect();
    axum::Json(json!({ "messages": messages, "page": 0, "page_size": messages.len() })).into_response()
}

async fn not_found() -> Response {
    error_response(ErrorBody::new(20404, "The requested resource was not found", 404))
}

/// Returns whether the request carries Basic auth of `account_sid` and its Auth Token.
pub(super) fn authenticate(shared: &Shared, account_sid: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    let accounts = Shared::lock(&shared.accounts);
    user == account_sid && accounts.get(account_sid).is_some_and(|token| token.expose() == password)
}

/// Builds the error body Twilio returns for an injected HTTP status.
fn fault(status: u16) -> ErrorBody {
    match status {
        429 => ErrorBody::new(20429, "Too Many Requests", 429),
        500..=599 => ErrorBody::new(20500, "Internal Server Error", status),
        _ => ErrorBody::new(20001, "Injected sandbox fault", status),
    }
}

pub(super) fn error_response(error: ErrorBody) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(error)).into_response()
}

pub(super) fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Returns the current time as Twilio writes dates: RFC 2822.
pub(super) fn rfc2822_now() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now()).replace(" GMT", " +0000")
}
