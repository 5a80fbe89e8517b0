//! The embedded sandbox provider: a real HTTP server on 127.0.0.1 that speaks Twilio's
//! Messages API (v2010). It checks Basic auth, maps Twilio's documented test numbers to their
//! errors, and records every request and message. It can post delivery status callbacks and
//! scripted inbound messages as signed Twilio webhooks.

mod api;
mod webhooks;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use serde::Serialize;
use smsnode_sms::twilio::MessageResource;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use webhooks::{DeliveryOutcome, InboundScript, ScriptedMedia, delivery_outcome};

use crate::secrets::Secret;

/// One request the sandbox received, as a test or transcript shows it. Credentials are
/// reduced to whether they were valid.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The form fields in the order received.
    pub form: Vec<(String, String)>,
    /// Whether Basic auth named the account and its Auth Token.
    pub authenticated: bool,
    /// HTTP status of the sandbox's response.
    pub status: u16,
    pub message_sid: Option<String>,
    pub error_code: Option<u32>,
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

/// State shared by the sandbox's request handlers.
pub(crate) struct Shared {
    addr: SocketAddr,
    accounts: Mutex<HashMap<String, Secret>>,
    requests: Mutex<Vec<RecordedRequest>>,
    messages: Mutex<Vec<MessageResource>>,
    /// HTTP statuses returned to the next requests instead of handling them, for retry tests.
    faults: Mutex<VecDeque<u16>>,
    webhooks: webhooks::Webhooks,
}

impl Shared {
    fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Sandbox {
    /// Starts the sandbox on `127.0.0.1` at a free port.
    pub async fn start() -> Result<Sandbox> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address")).await
    }

    /// Starts the sandbox on `addr`, which must be a loopback address.
    pub async fn start_on(addr: SocketAddr) -> Result<Sandbox> {
        anyhow::ensure!(addr.ip().is_loopback(), "the sandbox listens on loopback only, not {addr}");
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot bind the sandbox to {addr}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            addr,
            accounts: Mutex::default(),
            requests: Mutex::default(),
            messages: Mutex::default(),
            faults: Mutex::default(),
            webhooks: webhooks::Webhooks::default(),
        });

        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = api::router(shared.clone());
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = server.await {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(%addr, "sandbox provider started");
        Ok(Sandbox { addr, shared, _shutdown: shutdown })
    }

    /// Returns the API base to configure accounts with, such as `http://127.0.0.1:41234`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lets `account_sid` authenticate with `auth_token`.
    pub fn add_account(&self, account_sid: &str, auth_token: &Secret) {
        Shared::lock(&self.shared.accounts).insert(account_sid.to_string(), auth_token.clone());
    }

    /// Returns every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        Shared::lock(&self.shared.requests).clone()
    }

    /// Returns every message accepted so far, with its current status.
    pub fn messages(&self) -> Vec<MessageResource> {
        Shared::lock(&self.shared.messages).clone()
    }

    /// Responds to the next requests with these HTTP statuses (such as 503 or 429) instead of
    /// handling them.
    pub fn inject_faults(&self, statuses: impl IntoIterator<Item = u16>) {
        Shared::lock(&self.shared.faults).extend(statuses);
    }

    /// Sends scripted inbound messages to `{public_url}/webhooks/twilio/sms`, signed with the
    /// receiving account's Auth Token. Status callbacks go to each message's `StatusCallback`.
    pub fn deliver_webhooks_to(&self, public_url: &str) {
        self.shared.webhooks.configure(public_url);
    }

    /// Schedules an inbound message (the caller texting back).
    pub fn script_inbound(&self, script: InboundScript) {
        self.inbox().script_inbound(script);
    }

    /// Returns a handle that schedules inbound messages, for tasks that outlive a borrow of the
    /// sandbox.
    pub fn inbox(&self) -> SandboxInbox {
        SandboxInbox(self.shared.clone())
    }
}

/// Schedules inbound messages on a running sandbox.
#[derive(Clone)]
pub struct SandboxInbox(Arc<Shared>);

impl SandboxInbox {
    pub fn script_inbound(&self, script: InboundScript) {
        webhooks::schedule_inbound(self.0.clone(), script);
    }
}
