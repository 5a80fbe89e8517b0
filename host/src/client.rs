//! The host's own outgoing HTTP (webhooks from the sandbox, media fetches), over the same
//! hyper and rustls stack that serves plugins' `wasi:http` requests.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

/// A response read in full.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request` and reads at most `max_body` bytes of the response within `timeout`.
pub async fn send(request: Request<Bytes>, timeout: Duration, max_body: usize) -> Result<Response> {
    let uri = request.uri().clone();
    let request = request.map(|body| Full::new(body).map_err(|never| match never {}));
    let options = wasmtime_wasi_http::RequestOptions {
        connect_timeout: Some(timeout),
        first_byte_timeout: Some(timeout),
        between_bytes_timeout: Some(timeout),
    };

    let exchange = async {
        let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options))
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let connection = tokio::spawn(io);
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|error| anyhow::anyhow!("reading the response body failed: {error}"))?
            .to_bytes();
        connection.abort();
        Ok::<_, anyhow::Error>(Response { status: parts.status, headers: parts.headers, body })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("request to {uri} timed out after {} ms", timeout.as_millis()))?
        .with_context(|| format!("request to {uri} failed"))
}
