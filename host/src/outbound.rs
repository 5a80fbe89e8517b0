//! The one place that decides whether a plugin's outgoing HTTP request may leave: deny by
//! default, allow only URLs under a configured account's API path, and add that account's
//! credentials on the way out. A plugin may not set `Authorization` itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::uri::Uri;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use crate::config::{Account, HostConfig};
use crate::secrets::Secret;

/// A URL prefix one account may call, with the credentials added to its requests.
#[derive(Debug, Clone)]
struct Rule {
    account: String,
    scheme: String,
    /// `host:port`, with the scheme's default port filled in.
    authority: String,
    path_prefix: String,
    /// The full `Authorization` header value.
    authorization: Secret,
}

/// The outgoing HTTP policy shared by every run.
#[derive(Debug, Default)]
pub struct OutboundPolicy {
    rules: Vec<Rule>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

/// Outcome of the policy check: allowed as an account, or denied with a reason.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow { account: String },
    Deny { reason: String },
}

impl OutboundPolicy {
    /// Allows each account's Twilio Messages API path: `{api_base}/2010-04-01/Accounts/{sid}/`.
    pub fn from_config(config: &HostConfig) -> OutboundPolicy {
        let rules = config.accounts.values().filter_map(rule_for).collect();
        OutboundPolicy {
            rules,
            connect_timeout: Duration::from_millis(config.limits.connect_timeout_ms),
            response_timeout: Duration::from_millis(config.limits.response_timeout_ms),
        }
    }

    /// Decides whether a request to `uri` may leave.
    pub fn decide(&self, method: &http::Method, uri: &Uri) -> Decision {
        match self.matching_rule(method, uri) {
            Ok(rule) => Decision::Allow { account: rule.account.clone() },
            Err(reason) => Decision::Deny { reason },
        }
    }

    fn matching_rule(&self, method: &http::Method, uri: &Uri) -> Result<&Rule, String> {
        let scheme = uri.scheme_str().unwrap_or("");
        let Some(authority) = uri.authority() else {
            return Err(format!("{uri} has no host"));
        };
        let port = authority.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        let authority = format!("{}:{port}", authority.host().to_ascii_lowercase());
        let path = uri.path();
        if has_dot_segment(path) {
            return Err(format!("{uri} has a dot segment or an encoded separator in its path"));
        }

        let rule = self
            .rules
            .iter()
            .find(|rule| rule.scheme == scheme && rule.authority == authority && path.starts_with(&rule.path_prefix))
            .ok_or_else(|| format!("no configured account allows {scheme}://{authority}{path}"))?;
        let resource = &path[rule.path_prefix.len()..];
        if !allowed_message_call(method, resource) {
            return Err(format!("{method} {path} is not a message send or fetch, the only calls a plugin may make"));
        }
        Ok(rule)
    }

    fn options(&self) -> RequestOptions {
        RequestOptions {
            connect_timeout: Some(self.connect_timeout),
            first_byte_timeout: Some(self.response_timeout),
            between_bytes_timeout: Some(self.response_timeout),
        }
    }
}

fn rule_for(account: &Account) -> Option<Rule> {
    let uri: Uri = account.api_base.parse().ok()?;
    let scheme = uri.scheme_str()?.to_string();
    let authority = uri.authority()?;
    let port = authority.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    let credentials = format!("{}:{}", account.account_sid, account.auth_token.expose());
    Some(Rule {
        account: account.name.clone(),
        authority: format!("{}:{port}", authority.host().to_ascii_lowercase()),
        scheme,
        path_prefix: format!("/2010-04-01/Accounts/{}/", account.account_sid),
        authorization: Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))),
    })
}

/// Returns whether a request under an account's path is one a plugin may make: creating a
/// message, or fetching one message. Other resources (API keys, phone numbers, the message
/// list) could leak credentials or other calls' messages, so they are denied.
fn allowed_message_call(method: &http::Method, resource: &str) -> bool {
    if *method == http::Method::POST {
        return resource == "Messages.json";
    }
    if *method == http::Method::GET
        && let Some(sid) = resource.strip_prefix("Messages/").and_then(|rest| rest.strip_suffix(".json"))
    {
        return !sid.is_empty() && sid.bytes().all(|byte| byte.is_ascii_alphanumeric());
    }
    false
}

/// Returns whether a path could step outside its prefix once a server normalizes it.
fn has_dot_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.split('/').any(|segment| segment == "." || segment == "..")
        || lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path.contains('\\')
}

/// A request the policy denied, kept for the run's report.
#[derive(Debug, Clone)]
pub struct Denial {
    pub uri: String,
    pub reason: String,
}

/// The `wasi:http` hooks of one run: the policy, and the denials it made.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    pub denials: Arc<Mutex<Vec<Denial>>>,
}

impl OutboundHooks {
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        OutboundHooks { policy, denials: Arc::default() }
    }
}

fn forbidden_header(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || DEFAULT_FORBIDDEN_HEADERS.contains(name)
}

type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>), HttpError>>
        + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn is_forbidden_header(&mut self, name: &HeaderName) -> bool {
        forbidden_header(name)
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(forbidden_header)
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri().clone();
        let rule = match self.policy.matching_rule(request.method(), &uri) {
            Ok(rule) => rule.clone(),
            Err(reason) => {
                tracing::warn!(uri = %uri, %reason, "outgoing request denied");
                self.denials.lock().expect("denials lock").push(Denial { uri: uri.to_string(), reason });
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };

        // The plugin cannot set Authorization (a forbidden header), so this is the only one.
        let Ok(authorization) = HeaderValue::from_str(rule.authorization.expose()) else {
            return Box::new(async { Err(HttpError::InternalError(Some("invalid credentials".into()))) });
        };
        request.headers_mut().insert(AUTHORIZATION, authorization);
        tracing::debug!(uri = %uri, account = %rule.account, "outgoing request allowed");

        let options = self.policy.options();
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn policy() -> OutboundPolicy {
        let dir = std::env::temp_dir().join(format!("smsnode-outbound-{}-{}", std::process::id(), rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "secret-token").unwrap();
        let text = format!("[accounts.main]\nprovider = \"twilio\"\naccount_sid = \"{SID}\"\nauth_token_file = \"token\"\n");
        OutboundPolicy::from_config(&HostConfig::parse(&text, &dir).unwrap())
    }

    fn decide(method: http::Method, url: &str) -> Decision {
        policy().decide(&method, &url.parse().unwrap())
    }

    #[test]
    fn account_messages_path_allowed() {
        let allowed = Decision::Allow { account: "main".into() };
        assert_eq!(decide(http::Method::POST, &format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")), allowed);
        assert_eq!(
            decide(http::Method::GET, &format!("https://API.twilio.com:443/2010-04-01/Accounts/{SID}/Messages/SM1.json")),
            allowed,
            "one message, host case and default port"
        );
    }

    #[test]
    fn everything_else_denied() {
        let denied = [
            "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json".to_string(),
            format!("http://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"),
            format!("https://api.twilio.com:8443/2010-04-01/Accounts/{SID}/Messages.json"),
            format!("https://evil.example.test/2010-04-01/Accounts/{SID}/Messages.json"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/../AC1/Messages.json"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/%2E%2E/AC1/Messages.json"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Keys.json"),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/PN1.json"),
        ];
        for url in denied {
            assert!(matches!(decide(http::Method::POST, &url), Decision::Deny { .. }), "POST {url} is denied");
        }
        let list = format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json");
        assert!(matches!(decide(http::Method::GET, &list), Decision::Deny { .. }), "listing every message is denied");
        let delete = format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/SM1.json");
        assert!(matches!(decide(http::Method::DELETE, &delete), Decision::Deny { .. }), "deleting a message is denied");
    }

    #[test]
    fn credentials_not_in_debug_output() {
        let printed = format!("{:?}", policy());
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:secret-token"));
        assert!(!printed.contains("secret-token"), "the token is printed: {printed}");
        assert!(!printed.contains(&encoded), "the Authorization value is printed: {printed}");
    }
}
