//! The test harness: the real host with the embedded SMS node, the sandbox provider and the
//! webhook service on 127.0.0.1, and a SQLite file in a temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use smsnode_host::app::{App, NodeRun};
use smsnode_host::config::HostConfig;
use smsnode_host::sandbox::Sandbox;
use smsnode_host::store::{CallRecord, Direction, RunRecord, Store, now};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The agent's platform number, fully A2P-registered.
pub const AGENT: &str = "+14155550100";
/// Pool numbers.
pub const POOL: [&str; 3] = ["+14155550101", "+14155550102", "+14155550103"];
/// A platform number whose brand registration is still pending.
pub const PENDING_AGENT: &str = "+14155550110";
/// A number of the customer's own Twilio account `clinic`, SMS only.
pub const CLINIC_NUMBER: &str = "+14155550120";
/// A custom-telephony number whose A2P campaign is not approved.
pub const UNREGISTERED_CUSTOM: &str = "+14155550130";
/// The caller.
pub const CALLER: &str = "+12125550147";

/// Builds a host configuration with two sandbox accounts, the numbers above and the pool.
pub fn base_config() -> String {
    let approved = r#"a2p = { business_profile = "approved", brand = "approved", campaign = "approved" }"#;
    let mut config = String::from(
        r#"
[accounts.platform]
provider = "sandbox"

[accounts.clinic]
provider = "sandbox"
"#,
    );
    config.push_str(&format!(
        "[[numbers]]\nnumber = \"{AGENT}\"\naccount = \"platform\"\ntelephony = \"platform\"\nmms = true\n{approved}\n"
    ));
    for number in POOL {
        config.push_str(&format!("[[numbers]]\nnumber = \"{number}\"\naccount = \"platform\"\ntelephony = \"platform\"\nmms = true\n{approved}\n"));
    }
    config.push_str(&format!(
        "[[numbers]]\nnumber = \"{PENDING_AGENT}\"\naccount = \"platform\"\ntelephony = \"platform\"\n\
         a2p = {{ business_profile = \"approved\", brand = \"pending\", campaign = \"not_started\" }}\n"
    ));
    config.push_str(&format!("[[numbers]]\nnumber = \"{CLINIC_NUMBER}\"\naccount = \"clinic\"\ntelephony = \"custom\"\nmms = false\n{approved}\n"));
    config.push_str(&format!(
        "[[numbers]]\nnumber = \"{UNREGISTERED_CUSTOM}\"\naccount = \"clinic\"\ntelephony = \"custom\"\n\
         a2p = {{ business_profile = \"approved\", brand = \"approved\", campaign = \"pending\" }}\n"
    ));
    config.push_str(&format!("[pool]\nnumbers = [\"{}\", \"{}\", \"{}\"]\n", POOL[0], POOL[1], POOL[2]));
    config
}

/// Returns the folder of compiled plugin code shared by every test of this binary.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smsnode-cache")
}

/// One running host.
pub struct Harness {
    pub app: Arc<App>,
    pub sandbox: Sandbox,
    pub service_url: String,
    pub database: PathBuf,
    server: JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// Starts a host on a fresh database with the base configuration.
    pub async fn start() -> Harness {
        Self::start_with(&base_config()).await
    }

    pub async fn start_with(config: &str) -> Harness {
        let dir = tempfile::tempdir().expect("temporary folder");
        let database = dir.path().join("smsnode.db");
        let sandbox = Sandbox::start().await.expect("sandbox starts");
        let mut harness = Self::start_on(config, &database, sandbox, None).await;
        harness._dir = Some(dir);
        harness
    }

    /// Starts a host on an existing database and sandbox, listening on `addr` if given.
    pub async fn start_on(config: &str, database: &Path, sandbox: Sandbox, addr: Option<std::net::SocketAddr>) -> Harness {
        let mut config = HostConfig::parse(config, Path::new(".")).expect("valid test configuration");
        let listener = TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap())).await.expect("bind service");
        let service_url = format!("http://{}", listener.local_addr().unwrap());
        config.service.public_url = Some(service_url.clone());
        for account in config.sandbox_accounts() {
            sandbox.add_account(&account.account_sid, &account.auth_token);
        }
        config.attach_sandbox(&sandbox.api_base());
        sandbox.deliver_webhooks_to(&service_url);

        let store = Store::open(database).expect("database opens");
        let app = App::start(config, store, smsnode_host::DEFAULT_PLUGIN, Some(&cache_dir())).await.expect("host starts");
        let server = tokio::spawn({
            let app = app.clone();
            async move {
                let _ = smsnode_host::service::serve(app, listener).await;
            }
        });
        Harness { app, sandbox, service_url, database: database.to_path_buf(), server, _dir: None }
    }

    /// Stops the service and the host's tasks, keeping the database and the sandbox.
    pub fn stop(self) -> (Sandbox, PathBuf, Option<tempfile::TempDir>, std::net::SocketAddr) {
        self.server.abort();
        let addr = self.service_url.trim_start_matches("http://").parse().unwrap();
        (self.sandbox, self.database, self._dir, addr)
    }

    /// Returns the Auth Token of a configured account.
    pub fn token(&self, account: &str) -> String {
        self.app.config.accounts[account].auth_token.expose().to_string()
    }

    pub fn account_sid(&self, account: &str) -> String {
        self.app.config.accounts[account].account_sid.clone()
    }

    /// Starts a call from the caller to `agent`.
    pub fn call(&self, call_id: &str, agent: &str) -> CallRecord {
        let call = CallRecord {
            call_id: call_id.into(),
            direction: Direction::Inbound,
            caller: CALLER.into(),
            agent_number: agent.into(),
            telephony: self.app.config.numbers[agent].telephony,
            active: true,
            variables: [("first_name".to_string(), "Dana".to_string())].into(),
            started_at: now(),
            ended_at: None,
        };
        self.app.start_call(&call).expect("call starts");
        call
    }

    pub async fn run(&self, call_id: &str, config: Value) -> NodeRun {
        self.app.run_node(call_id, &config, &serde_json::json!({})).await.expect("node runs")
    }

    /// Waits until a run has its final transition.
    pub async fn finished(&self, run_id: &str) -> RunRecord {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let run = self.app.store.run(run_id).unwrap().expect("run exists");
            if run.status == "done" || run.status == "error" {
                return run;
            }
            assert!(Instant::now() < deadline, "run {run_id} still {} after 20 s", run.status);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `condition` is true, for at most 10 s.
    pub async fn eventually(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Posts a form to the service, signed with `token` unless `signature` is given.
    pub async fn post_form(&self, path: &str, params: &[(&str, &str)], token: &str, signature: Option<&str>) -> (u16, String) {
        let owned: Vec<(String, String)> = params.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        let url = format!("{}{path}", self.service_url);
        let signature = signature.map(str::to_string).unwrap_or_else(|| smsnode_sms::twilio::signature::compute(token, &url, &owned));
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&owned).finish();
        post(&url, "application/x-www-form-urlencoded", body.into_bytes(), Some(&signature)).await
    }
}

/// Posts raw bytes to a loopback URL and returns the status and body.
pub async fn post(url: &str, content_type: &str, body: Vec<u8>, signature: Option<&str>) -> (u16, String) {
    let mut request = http::Request::post(url).header("content-type", content_type);
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    let response = smsnode_host::client::send(request.body(bytes::Bytes::from(body)).unwrap(), Duration::from_secs(10), 1 << 20)
        .await
        .expect("loopback request");
    (response.status.as_u16(), String::from_utf8_lossy(&response.body).into_owned())
}

/// Sends a GET to a loopback URL.
pub async fn get(url: &str) -> (u16, Vec<u8>, String) {
    let request = http::Request::get(url).body(bytes::Bytes::new()).unwrap();
    let response = smsnode_host::client::send(request, Duration::from_secs(10), 8 << 20).await.expect("loopback request");
    let content_type = response.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
    (response.status.as_u16(), response.body.to_vec(), content_type)
}

/// Returns the path of the `smsnode` binary. The test command builds it before the tests run
/// (`cargo build -p smsnode-host`), because cargo builds no binary of another package for a test.
pub fn smsnode_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    let binary = target.join("debug/smsnode");
    assert!(binary.exists(), "{} is missing. Run `cargo build -p smsnode-host` before the tests", binary.display());
    binary
}

/// Returns the repository's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
