//! `smsnode serve` as a process: the calls API, signed webhooks sent like curl sends them, and a
//! wait that survives the process being killed (SIGKILL) and started again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "feedfacefeedfacefeedfacefeedface";

/// A running `smsnode serve` process and its base URL. Dropping it kills the process.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a configuration with a Twilio account whose API is a closed loopback port. The tests
/// here only receive, so nothing is ever sent there.
fn write_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    std::fs::write(dir.join("token.txt"), TOKEN).unwrap();
    let config = format!(
        r#"
[service]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
database = "state.db"

[accounts.main]
provider = "twilio"
account_sid = "{ACCOUNT_SID}"
auth_token_file = "token.txt"
api_base = "http://127.0.0.1:9"

[[numbers]]
number = "{AGENT}"
account = "main"
telephony = "platform"
a2p = {{ business_profile = "approved", brand = "approved", campaign = "approved" }}
"#
    );
    let path = dir.join("smsnode.toml");
    std::fs::write(&path, config).unwrap();
    path
}

async fn spawn(config: &std::path::Path, port: u16) -> Service {
    let child = Command::new(smsnode_binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("SMSNODE_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smsnode serve starts");
    let service = Service { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = http::Request::get(format!("{}/healthz", service.url)).body(bytes::Bytes::new()).unwrap();
        if let Ok(response) = smsnode_host::client::send(request, Duration::from_secs(1), 1024).await
            && response.status == 200
        {
            return service;
        }
        assert!(Instant::now() < deadline, "smsnode serve did not respond to /healthz within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let (status, text) = post(url, "application/json", body.to_string().into_bytes(), None).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn post_signed(service: &Service, params: &[(&str, &str)]) -> u16 {
    let url = format!("{}/webhooks/twilio/sms", service.url);
    let owned: Vec<(String, String)> = params.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let signature = smsnode_sms::twilio::signature::compute(TOKEN, &url, &owned);
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&owned).finish();
    post(&url, "application/x-www-form-urlencoded", body.into_bytes(), Some(&signature)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_service_resumes_wait() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let service = spawn(&config, port).await;

    let (status, call) = post_json(&format!("{}/calls", service.url), json!({ "call_id": "CA-kill", "caller": CALLER, "agent_number": AGENT })).await;
    assert_eq!(status, 201, "call started: {call}");
    let (status, run) = post_json(&format!("{}/calls/CA-kill/nodes/run", service.url), json!({ "config": { "mode": "wait", "timeout_seconds": 300 } })).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "waiting");
    let run_id = run["run_id"].as_str().unwrap().to_string();

    drop(service);
    let service = spawn(&config, port).await;

    let params = [
        ("MessageSid", "SMkill000000000000000000000000000"),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", AGENT),
        ("Body", "Still here"),
        ("NumMedia", "0"),
    ];
    assert_eq!(post_signed(&service, &params).await, 200, "signed webhook accepted");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body, _) = get(&format!("{}/runs/{run_id}", service.url)).await;
        assert_eq!(status, 200);
        let run: Value = serde_json::from_slice(&body).unwrap();
        if run["status"] == "done" {
            assert_eq!(run["transition"], "reply");
            assert_eq!(run["output"]["body"], "Still here");
            break;
        }
        assert!(Instant::now() < deadline, "the wait was not resumed after the restart: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_message_survives_kill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let service = spawn(&config, port).await;
    post_json(&format!("{}/calls", service.url), json!({ "call_id": "CA-durable", "caller": CALLER, "agent_number": AGENT })).await;

    let params = [
        ("MessageSid", "SMdurable0000000000000000000000000"),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", AGENT),
        ("Body", "Accepted before the kill"),
    ];
    assert_eq!(post_signed(&service, &params).await, 200);
    drop(service);

    let service = spawn(&config, port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body, _) = get(&format!("{}/calls/CA-durable/events", service.url)).await;
        let events: Value = serde_json::from_slice(&body).unwrap();
        let received: Vec<&Value> = events["events"].as_array().unwrap().iter().filter(|event| event["kind"] == "sms.received").collect();
        if !received.is_empty() {
            assert_eq!(received.len(), 1, "processed once");
            assert_eq!(received[0]["data"]["body"], "Accepted before the kill");
            break;
        }
        assert!(Instant::now() < deadline, "the accepted message was lost");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_api_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let service = spawn(&config, port).await;

    let (status, body) = post_json(&format!("{}/calls", service.url), json!({ "caller": "12125550147", "agent_number": AGENT })).await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "caller", "{body}");

    let (status, body) = post_json(&format!("{}/calls", service.url), json!({ "caller": CALLER })).await;
    assert_eq!(status, 422, "missing agent_number: {body}");

    post_json(&format!("{}/calls", service.url), json!({ "call_id": "CA-api", "caller": CALLER, "agent_number": AGENT })).await;
    let (status, body) = post_json(&format!("{}/calls/CA-api/nodes/run", service.url), json!({ "config": { "sender": { "type": "pigeon" } } })).await;
    assert_eq!(status, 422);
    assert!(body["field"].as_str().unwrap().starts_with("config.sender"), "{body}");

    let (status, _) = post_json(&format!("{}/calls/CA-missing/nodes/run", service.url), json!({ "config": {} })).await;
    assert_eq!(status, 404);
}
