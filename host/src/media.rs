//! Fetching inbound media through the host. The provider's media URL needs the account's Basic
//! auth and responds with a redirect to its CDN. The host adds the credentials, follows the
//! redirect without them, and enforces size and type limits, so no caller sees a secret.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::Uri;

use crate::app::App;
use crate::client;
use crate::service::ApiError;

/// Maximum size of a fetched media item, in bytes. Twilio accepts at most 5 MB per MMS.
pub const MAX_MEDIA_BYTES: usize = 5 * 1024 * 1024;
/// Redirects followed before the fetch fails.
const MAX_REDIRECTS: usize = 3;
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Media types passed on: the kinds a caller texts during a call.
const ALLOWED_TYPES: &[&str] = &["image/", "video/", "audio/", "application/pdf", "text/vcard", "text/x-vcard", "text/plain"];

/// `GET /messages/{message_sid}/media/{index}`
pub async fn fetch(State(app): State<Arc<App>>, Path((message_sid, index)): Path<(String, usize)>) -> Result<Response, ApiError> {
    let Some(message) = app.store.inbound(&message_sid)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("inbound message {message_sid} not found")));
    };
    let Some(url) = message.media.get(index).and_then(|item| item["url"].as_str()).map(str::to_string) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("message {message_sid} has no media item {index}")));
    };

    let (content_type, bytes) = fetch_media(&app, &message.to, &url).await.map_err(|error| {
        tracing::warn!(message_sid, index, error = %format!("{error:#}"), "media fetch failed");
        ApiError::new(StatusCode::BAD_GATEWAY, format!("fetching media failed: {error:#}"))
    })?;
    tracing::info!(message_sid, index, bytes = bytes.len(), content_type, "media fetched");
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Fetches one media item of a message to `recipient` with the credentials of the account that
/// owns that number, following redirects. Only that account's message media is fetched.
pub async fn fetch_media(app: &App, recipient: &str, url: &str) -> anyhow::Result<(String, Bytes)> {
    let mut uri: Uri = url.parse()?;
    let account = app
        .config
        .numbers
        .get(recipient)
        .and_then(|number| app.config.accounts.get(&number.account))
        .ok_or_else(|| anyhow::anyhow!("{recipient} is not a configured number, so no account's credentials apply"))?;
    let messages_prefix = format!("{}/2010-04-01/Accounts/{}/Messages/", account.api_base, account.account_sid);
    anyhow::ensure!(
        !account.api_base.is_empty() && url.starts_with(&messages_prefix) && !url.contains(".."),
        "{url} is not message media of account `{}`, so it is not fetched",
        account.name
    );
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", account.account_sid, account.auth_token.expose()));
    let origin = origin_of(&uri);

    for _ in 0..=MAX_REDIRECTS {
        let mut request = http::Request::get(uri.clone());
        // Credentials go only to the account's own API origin, never to the CDN.
        if origin_of(&uri) == origin {
            request = request.header(header::AUTHORIZATION, format!("Basic {credentials}"));
        }
        let response = client::send(request.body(Bytes::new())?, FETCH_TIMEOUT, MAX_MEDIA_BYTES).await?;

        if response.status.is_redirection() {
            let location = response.headers.get(header::LOCATION).and_then(|value| value.to_str().ok()).unwrap_or("");
            uri = resolve(&uri, location)?;
            continue;
        }
        anyhow::ensure!(response.status.is_success(), "the provider responded with {}", response.status);

        let content_type = response.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
        anyhow::ensure!(
            ALLOWED_TYPES.iter().any(|allowed| content_type.starts_with(allowed)),
            "media type `{content_type}` is not allowed"
        );
        return Ok((content_type, response.body));
    }
    anyhow::bail!("more than {MAX_REDIRECTS} redirects")
}

fn origin_of(uri: &Uri) -> String {
    format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.authority().map(|authority| authority.as_str()).unwrap_or(""))
}

/// Resolves a `Location` header against the URL that returned it. A redirect may go to the same
/// origin or to any https URL.
fn resolve(base: &Uri, location: &str) -> anyhow::Result<Uri> {
    if location.starts_with('/') {
        return Ok(format!("{}{location}", origin_of(base)).parse()?);
    }
    let target: Uri = location.parse()?;
    anyhow::ensure!(
        target.scheme_str() == Some("https") || origin_of(&target) == origin_of(base),
        "redirect to `{location}` is neither https nor the same origin"
    );
    Ok(target)
}
