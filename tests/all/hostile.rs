//! A hostile plugin in the real host. Requests off the allowlist are denied before they leave,
//! and a guest `Authorization` header is rejected. An endless loop and a memory bomb are
//! stopped by the limits, and the host serves the next run afterwards.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use smsnode_host::app::App;
use smsnode_host::config::HostConfig;
use smsnode_host::runtime::RunError;
use smsnode_host::sandbox::Sandbox;
use smsnode_host::store::Store;
use tokio::net::TcpListener;

use crate::support::*;

struct HostileHost {
    app: Arc<App>,
    sandbox: Sandbox,
    /// Connections the off-allowlist listener accepted.
    trap_hits: Arc<AtomicUsize>,
    trap_authority: String,
}

/// Starts a host that runs the hostile component with tight limits. It also starts a loopback
/// listener that no account allows and that counts every connection it gets.
async fn start() -> HostileHost {
    let config = format!("{}\n[limits]\nmemory_mib = 32\nrun_timeout_ms = 1000\n", base_config());
    let mut config = HostConfig::parse(&config, Path::new(".")).unwrap();
    let sandbox = Sandbox::start().await.unwrap();
    for account in config.sandbox_accounts() {
        sandbox.add_account(&account.account_sid, &account.auth_token);
    }
    config.attach_sandbox(&sandbox.api_base());

    let trap = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_authority = trap.local_addr().unwrap().to_string();
    let trap_hits = Arc::new(AtomicUsize::new(0));
    let hits = trap_hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = trap.accept().await {
            hits.fetch_add(1, Ordering::SeqCst);
        }
    });

    let wasm = std::fs::read(env!("HOSTILE_NODE_WASM")).expect("the tests' build script builds the hostile component");
    let app = App::start(config, Store::open_in_memory().unwrap(), &wasm, Some(&cache_dir())).await.unwrap();
    let call = smsnode_host::store::CallRecord { call_id: "CA-hostile".into(), ..smsnode_host::store::CallRecord::detached() };
    app.store.start_call(&call).unwrap();
    HostileHost { app, sandbox, trap_hits, trap_authority }
}

impl HostileHost {
    async fn run(&self, config: Value) -> Result<String, RunError> {
        let run = self.app.run_node("CA-hostile", &config, &json!({})).await?;
        Ok(run.output.unwrap()["result"].as_str().unwrap().to_string())
    }

    /// Returns the path of one message of the platform account, which a plugin may fetch.
    fn account_path(&self) -> String {
        format!("/2010-04-01/Accounts/{}/Messages/SM00000000000000000000000000000000.json", self.app.config.accounts["platform"].account_sid)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_off_allowlist_denied() {
    let host = start().await;

    let result = host.run(json!({ "action": "request", "authority": host.trap_authority, "path": "/steal" })).await.unwrap();

    assert_eq!(result, "error:ErrorCode::HttpRequestDenied");
    assert_eq!(host.trap_hits.load(Ordering::SeqCst), 0, "nothing reached the listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_account_path_denied() {
    let host = start().await;
    let authority = host.sandbox.addr().to_string();
    let sid = host.app.config.accounts["platform"].account_sid.clone();

    let paths = [
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json".to_string(),
        format!("/2010-04-01/Accounts/{sid}/../AC00000000000000000000000000000000/Messages.json"),
        format!("/2010-04-01/Accounts/{sid}/%2e%2e/Messages.json"),
        "/healthz".to_string(),
        format!("/2010-04-01/Accounts/{sid}/Messages.json"),
        format!("/2010-04-01/Accounts/{sid}/Keys.json"),
    ];
    for path in paths {
        let result = host.run(json!({ "action": "request", "authority": authority, "path": path })).await.unwrap();
        assert_eq!(result, "error:ErrorCode::HttpRequestDenied", "path {path}");
    }
    assert!(host.sandbox.requests().is_empty(), "nothing reached the sandbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_request_gets_credentials() {
    let host = start().await;

    let config = json!({ "action": "request", "authority": host.sandbox.addr().to_string(), "path": host.account_path() });
    let result = host.run(config).await.unwrap();

    // The sandbox has no such message: 404 with valid credentials, 401 without them.
    assert_eq!(result, "status:404", "the host added the account's Basic auth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_authorization_rejected() {
    let host = start().await;

    let config = json!({ "action": "authorization", "authority": host.sandbox.addr().to_string(), "path": host.account_path() });
    let result = host.run(config).await.unwrap();

    assert_eq!(result, "header-rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loop_stopped() {
    let host = start().await;

    let error = host.run(json!({ "action": "loop" })).await.expect_err("the loop is stopped");

    assert!(matches!(error, RunError::TimeLimit(1000)), "got {error}");
    assert_eq!(host.run(json!({ "action": "ok" })).await.unwrap(), "ok", "the next run works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_stopped() {
    let host = start().await;

    let error = host.run(json!({ "action": "memory" })).await.expect_err("the bomb is stopped");

    assert!(matches!(error, RunError::MemoryLimit(32)), "got {error}");
    assert_eq!(host.run(json!({ "action": "ok" })).await.unwrap(), "ok", "the next run works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_host_event_rejected() {
    let host = start().await;

    let error = host.run(json!({ "action": "forge-event" })).await.expect_err("the forged event stops the run");

    assert!(matches!(&error, RunError::Trap(message) if message.contains("may not append")), "got {error}");
    let events = host.app.store.events("CA-hostile", 0).unwrap();
    assert!(events.iter().all(|event| event.kind != "sms.received"), "no forged reply stored");
}
