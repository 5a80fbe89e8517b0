//! Pool sender choice across calls and host restarts: one number per call, kept for every
//! message of the call even after the pool changes, and calls spread evenly over the pool.

use std::collections::HashMap;

use serde_json::json;

use crate::support::*;

fn pool_send() -> serde_json::Value {
    json!({ "body": "Hello {{first_name}}", "sender": { "type": "pool" } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_number_sticks_to_call() {
    let host = Harness::start().await;
    host.call("CA-sticky", AGENT);

    let first = host.run("CA-sticky", pool_send()).await.output.unwrap()["from"].clone();
    for _ in 0..3 {
        let next = host.run("CA-sticky", pool_send()).await.output.unwrap()["from"].clone();
        assert_eq!(next, first, "every message of the call from the same number");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_spread_over_pool() {
    let host = Harness::start().await;
    let mut uses: HashMap<String, u32> = HashMap::new();
    for index in 0..6 {
        let call_id = format!("CA-spread-{index}");
        host.call(&call_id, AGENT);
        let run = host.run(&call_id, pool_send()).await;
        *uses.entry(run.output.unwrap()["from"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for number in POOL {
        assert_eq!(uses.get(number), Some(&2), "calls from {number}: {uses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_change_keeps_call_number() {
    let host = Harness::start().await;
    host.call("CA-change", AGENT);
    let first = host.run("CA-change", pool_send()).await.output.unwrap()["from"].as_str().unwrap().to_string();

    // Restart the host with a pool that no longer has the call's number.
    let (sandbox, database, dir, _) = host.stop();
    let remaining: Vec<&str> = POOL.iter().copied().filter(|number| *number != first).collect();
    let config = base_config().replace(
        &format!("numbers = [\"{}\", \"{}\", \"{}\"]", POOL[0], POOL[1], POOL[2]),
        &format!("numbers = [\"{}\", \"{}\"]", remaining[0], remaining[1]),
    );
    let host = Harness::start_on(&config, &database, sandbox, None).await;
    let _keep = dir;

    let next = host.run("CA-change", pool_send()).await.output.unwrap()["from"].as_str().unwrap().to_string();
    assert_eq!(next, first, "the call keeps its number after the pool changed");

    host.call("CA-change-new", AGENT);
    let other = host.run("CA-change-new", pool_send()).await.output.unwrap()["from"].as_str().unwrap().to_string();
    assert!(remaining.contains(&other.as_str()), "a new call uses the new pool: {other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_needs_active_call() {
    let host = Harness::start().await;
    host.call("CA-ended", AGENT);
    host.app.end_call("CA-ended").await.unwrap();

    let run = host.run("CA-ended", pool_send()).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    assert_eq!(run.output.unwrap()["reason"], "call_not_active");
    assert!(host.sandbox.requests().is_empty(), "no request left");
}
