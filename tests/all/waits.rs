//! Awaiting a reply: `reply`, `timeout`, `delivery_failed` and `call_ended`, and a wait that
//! outlives a host stop.

use std::time::Duration;

use serde_json::json;
use smsnode_host::sandbox::InboundScript;

use crate::support::*;

fn caller_texts(host: &Harness, to: &str, body: &str, delay_ms: u64) {
    host.sandbox.script_inbound(InboundScript {
        account_sid: host.account_sid("platform"),
        from: CALLER.into(),
        to: to.into(),
        body: body.into(),
        media: vec![],
        delay: Duration::from_millis(delay_ms),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_resumes_waiting_node() {
    let host = Harness::start().await;
    host.call("CA-reply", AGENT);

    let run = host.run("CA-reply", json!({ "mode": "send_and_wait", "body": "Reply YES", "sender": { "type": "pool" } })).await;
    assert_eq!(run.status, "waiting");
    assert_eq!(host.app.store.count_waits().unwrap(), 1, "the wait is a stored row");

    let from = host.app.store.call_senders("CA-reply").unwrap()[0].clone();
    caller_texts(&host, &from, "YES", 50);
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("reply"));
    let output = done.output.unwrap();
    assert_eq!(output["body"], "YES");
    assert_eq!(output["from"], CALLER);
    assert_eq!(output["to"], from.as_str(), "the reply went to the pool number");
    assert_eq!(host.app.store.count_waits().unwrap(), 0, "the wait is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_only_hears_unprompted_text() {
    let host = Harness::start().await;
    host.call("CA-wait-only", AGENT);

    let run = host.run("CA-wait-only", json!({ "mode": "wait" })).await;
    assert_eq!(run.status, "waiting");
    assert!(host.sandbox.requests().is_empty(), "wait mode sends nothing");

    caller_texts(&host, AGENT, "My member id is A-1234", 0);
    let done = host.finished(&run.run_id).await;
    assert_eq!(done.transition.as_deref(), Some("reply"));
    assert_eq!(done.output.unwrap()["body"], "My member id is A-1234");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_fires() {
    let host = Harness::start().await;
    host.call("CA-timeout", AGENT);

    let run = host.run("CA-timeout", json!({ "mode": "send_and_wait", "body": "Reply YES", "timeout_seconds": 1 })).await;
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("timeout"));
    assert_eq!(done.output.unwrap()["sent"]["to"], CALLER, "the output keeps the sent message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_takes_delivery_failed() {
    let host = Harness::start().await;
    host.call("CA-undelivered", AGENT);

    // The sandbox reports +15005550011 as undelivered with error 30003.
    let run = host.run("CA-undelivered", json!({ "mode": "send_and_wait", "body": "Reply YES", "to": "+15005550011" })).await;
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("delivery_failed"));
    let output = done.output.unwrap();
    assert_eq!(output["status"], "undelivered");
    assert_eq!(output["error_code"], 30003);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_end_resumes_wait() {
    let host = Harness::start().await;
    host.call("CA-hangup", AGENT);

    let run = host.run("CA-hangup", json!({ "mode": "send_and_wait", "body": "Reply YES" })).await;
    host.app.end_call("CA-hangup").await.unwrap();
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("call_ended"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_survives_host_restart() {
    let host = Harness::start().await;
    host.call("CA-restart", AGENT);
    let run = host.run("CA-restart", json!({ "mode": "send_and_wait", "body": "Reply YES", "timeout_seconds": 120 })).await;
    assert_eq!(run.status, "waiting");

    // Stop the host, so that no instance, task or thread keeps the wait.
    let (sandbox, database, dir, addr) = host.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let host = Harness::start_on(&base_config(), &database, sandbox, Some(addr)).await;
    let _keep = dir;
    assert_eq!(host.app.store.count_waits().unwrap(), 1, "the wait is still stored");
    caller_texts(&host, AGENT, "YES after the restart", 0);
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("reply"));
    assert_eq!(done.output.unwrap()["body"], "YES after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_fires_after_restart() {
    let host = Harness::start().await;
    host.call("CA-restart-timeout", AGENT);
    let run = host.run("CA-restart-timeout", json!({ "mode": "wait", "timeout_seconds": 1 })).await;
    let (sandbox, database, dir, addr) = host.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let host = Harness::start_on(&base_config(), &database, sandbox, Some(addr)).await;
    let _keep = dir;
    let done = host.finished(&run.run_id).await;
    assert_eq!(done.transition.as_deref(), Some("timeout"), "the overdue wait fires at start-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_from_other_recipient() {
    let host = Harness::start().await;
    host.call("CA-other", AGENT);
    let spouse = "+13125550188";

    let run = host.run("CA-other", json!({ "mode": "send_and_wait", "body": "Can you confirm?", "to": spouse })).await;
    host.sandbox.script_inbound(InboundScript {
        account_sid: host.account_sid("platform"),
        from: spouse.into(),
        to: AGENT.into(),
        body: "Confirmed".into(),
        media: vec![],
        delay: Duration::from_millis(50),
    });
    let done = host.finished(&run.run_id).await;

    assert_eq!(done.transition.as_deref(), Some("reply"), "a reply from the texted number joins the call");
    assert_eq!(done.output.unwrap()["from"], spouse);
}
