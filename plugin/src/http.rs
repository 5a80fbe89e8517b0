//! A small blocking HTTP client over `wasi:http`: one form POST, the whole response read back.
//! The host decides whether the request may leave and adds the account's credentials.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Maximum response body read back, in bytes. Provider responses are a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Size of one write into the request body stream.
const WRITE_CHUNK_BYTES: usize = 4096;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Reason a request got no response.
#[derive(Debug)]
pub enum HttpError {
    /// The host did not let the request leave.
    Denied,
    /// The connection could not be made, so the provider never saw the request.
    NotConnected(String),
    /// The request may have reached the provider, but no full response came back.
    Failed(String),
}

impl HttpError {
    pub fn describe(&self) -> String {
        match self {
            HttpError::Denied => "the host denied the request: no configured account allows this URL".into(),
            HttpError::NotConnected(detail) => format!("could not connect: {detail}"),
            HttpError::Failed(detail) => format!("request failed: {detail}"),
        }
    }
}

/// Sends `body` as an `application/x-www-form-urlencoded` POST to `base` (`scheme://authority`)
/// and `path`.
pub fn post_form(base: &str, path: &str, body: &[u8]) -> Result<Response, HttpError> {
    let (scheme, authority) = split_base(base)?;
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"application/x-www-form-urlencoded".to_vec()),
        ("accept".to_string(), b"application/json".to_vec()),
    ])
    .map_err(|err| HttpError::Failed(format!("invalid header: {err:?}")))?;

    let request = OutgoingRequest::new(headers);
    let set = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request.set_path_with_query(Some(path)).is_ok();
    if !set {
        return Err(HttpError::Failed(format!("invalid request URL {base}{path}")));
    }
    let outgoing_body = request.body().map_err(|()| HttpError::Failed("request body taken twice".into()))?;

    // Start the request before writing the body, so the host consumes the body as it arrives.
    let future = outgoing_handler::handle(request, None).map_err(classify)?;
    write_body(outgoing_body, body);

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(classify(code)),
        Some(Err(())) | None => return Err(HttpError::Failed("response taken twice".into())),
    };

    let status = response.status();
    let incoming = response.consume().map_err(|()| HttpError::Failed("response body taken twice".into()))?;
    let body = read_body(incoming)?;
    Ok(Response { status, body })
}

/// Writes the request body. A write error means the host dropped the request, and the response
/// future then reports why.
fn write_body(outgoing_body: OutgoingBody, body: &[u8]) {
    if let Ok(stream) = outgoing_body.write() {
        for chunk in body.chunks(WRITE_CHUNK_BYTES) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}

fn read_body(incoming: IncomingBody) -> Result<Vec<u8>, HttpError> {
    let stream = incoming.stream().map_err(|()| HttpError::Failed("response stream taken twice".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_RESPONSE_BYTES {
                    return Err(HttpError::Failed(format!(
                        "response body is larger than {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(err)) => {
                return Err(HttpError::Failed(format!("reading the response failed: {}", err.to_debug_string())));
            }
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok(body)
}

fn split_base(base: &str) -> Result<(Scheme, &str), HttpError> {
    let invalid = || HttpError::Failed(format!("invalid API base `{base}`. Write it as scheme://host[:port]"));
    let (scheme, authority) = base.split_once("://").ok_or_else(invalid)?;
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => return Err(invalid()),
    };
    let authority = authority.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(invalid());
    }
    Ok((scheme, authority))
}

fn classify(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied,
        ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_) => HttpError::NotConnected(describe_code(&code)),
        other => HttpError::Failed(describe_code(&other)),
    }
}

/// Describes a `wasi:http` error code in a few English words.
fn describe_code(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::DestinationNotFound => "destination not found".into(),
        ErrorCode::DestinationUnavailable => "destination unavailable".into(),
        ErrorCode::DnsTimeout => "DNS lookup timed out".into(),
        ErrorCode::DnsError(_) => "DNS lookup failed".into(),
        ErrorCode::HttpResponseTimeout => "response timed out".into(),
        ErrorCode::ConnectionTerminated => "connection closed before the response".into(),
        ErrorCode::TlsCertificateError => "TLS certificate rejected".into(),
        other => format!("{other:?}"),
    }
}
