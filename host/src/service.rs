//! The HTTP service of `smsnode serve`: the calls API for the voice platform (start, end, run
//! a node, list and stream a call's events) and Twilio's webhooks.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::net::TcpListener;

use crate::app::App;
use crate::runtime::RunError;
use crate::store::{CallRecord, Direction, now};
use crate::{media, webhooks};

/// Maximum request body the service reads, in bytes. Twilio's webhooks are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the service's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/describe", get(describe))
        .route("/calls", post(start_call))
        .route("/calls/{call_id}", get(get_call))
        .route("/calls/{call_id}/end", post(end_call))
        .route("/calls/{call_id}/events", get(list_events))
        .route("/calls/{call_id}/events/stream", get(stream_events))
        .route("/calls/{call_id}/nodes/run", post(run_node))
        .route("/runs/{run_id}", get(get_run))
        .route("/messages/unrouted", get(unrouted_messages))
        .route("/messages/{message_sid}/media/{index}", get(media::fetch))
        .route("/webhooks/twilio/sms", post(webhooks::inbound_sms))
        .route("/webhooks/twilio/status", post(webhooks::status_callback))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(app.clone(), require_api_token))
        .with_state(app)
}

/// Requires `Authorization: Bearer <service.api_token>` on every route but `/healthz` and the
/// webhooks (which Twilio signs), when the configuration sets a token.
async fn require_api_token(State(app): State<Arc<App>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let Some(token) = &app.config.service.api_token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/healthz" || path.starts_with("/webhooks/") {
        return next.run(request).await;
    }

    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    // Comparing digests keeps the comparison's timing independent of the token's characters.
    let digest = |text: &str| sha2::Sha256::digest(text.as_bytes());
    if presented.is_some_and(|presented| digest(presented) == digest(token.expose())) {
        return next.run(request).await;
    }
    tracing::warn!(path, "calls API request without a valid Bearer token");
    ApiError::new(StatusCode::UNAUTHORIZED, "missing or invalid Bearer token. Send Authorization: Bearer <the configured API token>").into_response()
}

/// Serves the routes on `listener` until the process stops.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router(app)).await?;
    Ok(())
}

/// An API error: an HTTP status and a message that names the field and the fix.
pub struct ApiError {
    status: StatusCode,
    field: Option<String>,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, field: None, message: message.into() }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, field: Some(field.into()), message: message.into() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(formatter, "{field}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message, "field": self.field }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{error:#}"), "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))
    }
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn describe(State(app): State<Arc<App>>) -> impl IntoResponse {
    axum::Json(crate::describe::descriptor_json(&app.descriptor))
}

/// The body of `POST /calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCall {
    pub call_id: Option<String>,
    pub caller: String,
    pub agent_number: String,
    #[serde(default = "inbound")]
    pub direction: Direction,
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

fn inbound() -> Direction {
    Direction::Inbound
}

async fn start_call(State(app): State<Arc<App>>, body: Result<axum::Json<StartCall>, axum::extract::rejection::JsonRejection>) -> Result<Response, ApiError> {
    let axum::Json(request) = body.map_err(|rejection| ApiError::invalid("body", format!("{rejection}. See the calls API in the README")))?;
    let call = call_record(&app, request)?;
    if app.store.call(&call.call_id)?.is_some_and(|existing| existing.active) {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("call {} is already active. End it first or use a new call id", call.call_id)));
    }
    app.start_call(&call)?;
    Ok((StatusCode::CREATED, axum::Json(call)).into_response())
}

/// Checks a start request and builds the call. The agent number must be configured.
pub fn call_record(app: &App, request: StartCall) -> Result<CallRecord, ApiError> {
    for (field, number) in [("caller", &request.caller), ("agent_number", &request.agent_number)] {
        smsnode_sms::e164::validate(number).map_err(|error| ApiError::invalid(field, error.to_string()))?;
    }
    let Some(agent) = app.config.numbers.get(&request.agent_number) else {
        return Err(ApiError::invalid(
            "agent_number",
            format!("{} is not in the host's [[numbers]]. Add it to the configuration", request.agent_number),
        ));
    };
    let call_id = request.call_id.unwrap_or_else(|| format!("CA{}", hex::encode(rand::random::<[u8; 16]>())));
    if call_id.is_empty() || call_id.len() > 128 {
        return Err(ApiError::invalid("call_id", "a call id has 1 to 128 characters"));
    }
    Ok(CallRecord {
        call_id,
        direction: request.direction,
        caller: request.caller,
        agent_number: request.agent_number,
        telephony: agent.telephony,
        active: true,
        variables: request.variables,
        started_at: now(),
        ended_at: None,
    })
}

async fn get_call(State(app): State<Arc<App>>, Path(call_id): Path<String>) -> Result<Response, ApiError> {
    match app.store.call(&call_id)? {
        Some(call) => Ok(axum::Json(call).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("call {call_id} not found"))),
    }
}

async fn end_call(State(app): State<Arc<App>>, Path(call_id): Path<String>) -> Result<Response, ApiError> {
    if app.store.call(&call_id)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("call {call_id} not found")));
    }
    let ended = app.end_call(&call_id).await?;
    Ok(axum::Json(json!({ "call_id": call_id, "ended": ended })).into_response())
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: i64,
}

async fn list_events(State(app): State<Arc<App>>, Path(call_id): Path<String>, Query(query): Query<EventsQuery>) -> Result<Response, ApiError> {
    if app.store.call(&call_id)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("call {call_id} not found")));
    }
    Ok(axum::Json(json!({ "events": app.store.events(&call_id, query.after)? })).into_response())
}

/// Streams a call's events as server-sent events: the stored ones after `after`, then new ones
/// as they are appended.
async fn stream_events(
    State(app): State<Arc<App>>,
    Path(call_id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if app.store.call(&call_id)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("call {call_id} not found")));
    }
    let mut receiver = app.store.subscribe();
    let backlog = app.store.events(&call_id, query.after)?;
    let stream = async_stream::stream! {
        let mut last = query.after;
        for event in backlog {
            last = event.id;
            yield Ok(sse_event(&event));
        }
        loop {
            match receiver.recv().await {
                Ok(event) if event.call_id == call_id && event.id > last => {
                    last = event.id;
                    yield Ok(sse_event(&event));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Catch up from the store, which has every event.
                    for event in app.store.events(&call_id, last).unwrap_or_default() {
                        last = event.id;
                        yield Ok(sse_event(&event));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(event: &crate::store::CallEvent) -> Event {
    Event::default().id(event.id.to_string()).event(event.kind.clone()).data(serde_json::to_string(event).unwrap_or_default())
}

/// The body of `POST /calls/{call_id}/nodes/run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNode {
    config: Value,
    #[serde(default)]
    input: Value,
}

async fn run_node(
    State(app): State<Arc<App>>,
    Path(call_id): Path<String>,
    body: Result<axum::Json<RunNode>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let axum::Json(request) = body.map_err(|rejection| ApiError::invalid("body", format!("{rejection}. Send {{\"config\": {{...}}, \"input\": {{...}}}}")))?;
    if app.store.call(&call_id)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("call {call_id} not found. Start it with POST /calls")));
    }
    let input = if request.input.is_null() { json!({}) } else { request.input };
    match app.run_node(&call_id, &request.config, &input).await {
        Ok(run) => Ok(axum::Json(run).into_response()),
        Err(RunError::Config(error)) => Err(ApiError::invalid(&format!("config.{}", error.field), error.message)),
        Err(RunError::Host(error)) => Err(error.into()),
        Err(error) => Err(ApiError::new(StatusCode::BAD_GATEWAY, error.to_string())),
    }
}

async fn get_run(State(app): State<Arc<App>>, Path(run_id): Path<String>) -> Result<Response, ApiError> {
    match app.store.run(&run_id)? {
        Some(run) => Ok(axum::Json(run).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("run {run_id} not found"))),
    }
}

async fn unrouted_messages(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    Ok(axum::Json(json!({ "messages": app.store.unrouted_inbound(200)? })).into_response())
}
