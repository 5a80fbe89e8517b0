//! Benchmarks of the host with the embedded SMS node, on loopback against the sandbox provider:
//! one send per run (latency percentiles), and how many waiting nodes the host keeps and what
//! they cost in time, database size and memory.
//!
//! Run with `cargo bench -p smsnode-host --bench node --profile dev`: the dev profile reuses the
//! test build (dependencies at opt-level 1) instead of building wasmtime again in release mode.
//! Results are printed; BENCHMARKS.md keeps the figures measured so far.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use smsnode_host::app::App;
use smsnode_host::config::HostConfig;
use smsnode_host::sandbox::Sandbox;
use smsnode_host::store::{CallRecord, Direction, Store, now};

const AGENT: &str = "+14155550100";
const CALLER: &str = "+12125550147";
const SEND_RUNS: usize = 300;
const WAITING_NODES: usize = 10_000;

/// Runs every benchmark, or those whose name (`sends`, `waits`) is an argument.
fn main() {
    let selected: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with('-')).collect();
    let wanted = |name: &str| selected.is_empty() || selected.iter().any(|arg| arg == name);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        if wanted("sends") {
            bench_sends().await;
        }
        if wanted("waits") {
            bench_waits().await;
        }
    });
}

async fn start_host(database: &Path) -> (std::sync::Arc<App>, Sandbox) {
    let config = format!(
        "[accounts.platform]\nprovider = \"sandbox\"\n[[numbers]]\nnumber = \"{AGENT}\"\naccount = \"platform\"\ntelephony = \"platform\"\n\
         a2p = {{ business_profile = \"approved\", brand = \"approved\", campaign = \"approved\" }}\n"
    );
    let mut config = HostConfig::parse(&config, Path::new(".")).expect("valid configuration");
    let sandbox = Sandbox::start().await.expect("sandbox");
    for account in config.sandbox_accounts() {
        sandbox.add_account(&account.account_sid, &account.auth_token);
    }
    config.attach_sandbox(&sandbox.api_base());
    let cache = std::env::temp_dir().join("smsnode-bench-cache");
    let app = App::start(config, Store::open(database).expect("database"), smsnode_host::DEFAULT_PLUGIN, Some(&cache)).await.expect("host");
    (app, sandbox)
}

fn start_call(app: &App, call_id: &str) {
    let call = CallRecord {
        call_id: call_id.into(),
        direction: Direction::Inbound,
        caller: CALLER.into(),
        agent_number: AGENT.into(),
        telephony: smsnode_host::config::Telephony::Platform,
        active: true,
        variables: [("first_name".to_string(), "Dana".to_string())].into(),
        started_at: now(),
        ended_at: None,
    };
    app.start_call(&call).expect("call starts");
}

/// Measures one SMS per run: instantiate, fill the template, choose the sender, POST to the sandbox.
async fn bench_sends() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (app, _sandbox) = start_host(&dir.path().join("bench.db")).await;
    start_call(&app, "CA-bench-send");
    let config = json!({ "body": "Hi {{first_name}}, your code is 4821." });

    let mut latencies = Vec::with_capacity(SEND_RUNS);
    let started = Instant::now();
    for _ in 0..SEND_RUNS {
        let run_started = Instant::now();
        let run = app.run_node("CA-bench-send", &config, &json!({})).await.expect("run");
        assert_eq!(run.transition.as_deref(), Some("sent"));
        latencies.push(run_started.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "send run: {SEND_RUNS} runs in {:.0} ms, {:.0} runs/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64() * 1e3,
        SEND_RUNS as f64 / elapsed.as_secs_f64(),
        millis(latencies[latencies.len() / 2]),
        millis(latencies[latencies.len() * 99 / 100]),
    );
}

/// Measures many nodes waiting at once. Each wait is a stored row, so resident memory should
/// not grow with their number; the benchmark prints it before and after.
async fn bench_waits() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let database = dir.path().join("waits.db");
    let (app, _sandbox) = start_host(&database).await;
    let rss_before = resident_kib();

    let started = Instant::now();
    for index in 0..WAITING_NODES {
        let call_id = format!("CA-wait-{index}");
        start_call(&app, &call_id);
        let run = app.run_node(&call_id, &json!({ "mode": "wait", "timeout_seconds": 3600 }), &json!({})).await.expect("run");
        assert_eq!(run.status, "waiting");
    }
    let elapsed = started.elapsed();
    let rss_after = resident_kib();
    let waits = app.store.count_waits().expect("count");
    let size = std::fs::metadata(&database).map(|meta| meta.len()).unwrap_or(0)
        + std::fs::metadata(database.with_extension("db-wal")).map(|meta| meta.len()).unwrap_or(0);
    println!(
        "waiting nodes: {waits} stored in {:.1} s ({:.2} ms each), database {:.1} MiB, resident memory {} -> {} MiB",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / WAITING_NODES as f64,
        size as f64 / (1024.0 * 1024.0),
        rss_before / 1024,
        rss_after / 1024,
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Resident set size of this process in KiB, from /proc (0 where it is not available).
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with("VmRSS:")).and_then(|line| line.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}
