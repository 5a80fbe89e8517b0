//! Twilio webhooks against the running service: signatures, rejections that change nothing,
//! duplicates, out-of-order status callbacks, routing to calls, opt-out keywords and media.

use serde_json::json;
use smsnode_sms::twilio::signature;

use crate::support::*;

fn inbound<'a>(account_sid: &'a str, sid: &'a str, from: &'a str, to: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", account_sid),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
}

fn events_of(host: &Harness, call_id: &str, kind: &str) -> Vec<serde_json::Value> {
    host.app.store.events(call_id, 0).unwrap().into_iter().filter(|event| event.kind == kind).map(|event| event.data).collect()
}

#[test]
fn signature_vectors_all_pass() {
    let path = workspace().join("../shared/reference/vectors/twilio-signature.json");
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in vectors["cases"].as_array().unwrap() {
        let token = case["auth_token"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let expected = case["signature"].as_str().unwrap();
        let valid = match case.get("body") {
            Some(body) => signature::validate_json(token, url, body.as_str().unwrap().as_bytes(), expected),
            None => {
                let params: Vec<(String, String)> = case["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_str().unwrap().to_string()))
                    .collect();
                signature::validate(token, url, &params, expected)
            }
        };
        assert!(valid, "vector {}", case["name"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_change_nothing() {
    let host = Harness::start().await;
    host.call("CA-sig", AGENT);
    let sid = host.account_sid("platform");
    let params = inbound(&sid, "SMbad0000000000000000000000000000", CALLER, AGENT, "STOP");

    let (status, _) = host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), Some("bm90IGEgc2lnbmF0dXJl")).await;
    assert_eq!(status, 403, "a wrong signature");
    let (status, _) = host.post_form("/webhooks/twilio/sms", &params, "not-the-token", None).await;
    assert_eq!(status, 403, "signed with another token");

    let url = format!("{}/webhooks/twilio/sms", host.service_url);
    let (status, _) = post(&url, "application/x-www-form-urlencoded", b"MessageSid=SM1&From=%2B1".to_vec(), None).await;
    assert_eq!(status, 403, "no signature");
    let (status, _) = post(&url, "text/plain", b"hello".to_vec(), Some("x")).await;
    assert_eq!(status, 400, "not a form");
    let (status, _) = post(&url, "application/x-www-form-urlencoded", vec![b'a'; 200 * 1024], Some("x")).await;
    assert_eq!(status, 413, "oversized");

    let missing = vec![("AccountSid", sid.as_str()), ("Body", "hi")];
    let (status, _) = host.post_form("/webhooks/twilio/sms", &missing, &host.token("platform"), None).await;
    assert_eq!(status, 400, "signed, but without MessageSid, From and To");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!host.app.store.opted_out(AGENT, CALLER).unwrap(), "the rejected STOP opted nobody out");
    assert!(events_of(&host, "CA-sig", "sms.received").is_empty(), "no event");
    assert_eq!(host.app.store.pending_webhooks(10).unwrap().len(), 0, "nothing queued");
    assert!(host.app.store.inbound("SMbad0000000000000000000000000000").unwrap().is_none(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_message_sid_processed_once() {
    let host = Harness::start().await;
    host.call("CA-dup", AGENT);
    let sid = host.account_sid("platform");
    let params = inbound(&sid, "SMdup0000000000000000000000000000", CALLER, AGENT, "Running 5 minutes late");

    for _ in 0..3 {
        let (status, body) = host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;
        assert_eq!(status, 200);
        assert!(body.contains("<Response>"), "TwiML response: {body}");
    }

    host.eventually("the message joins the call", || !events_of(&host, "CA-dup", "sms.received").is_empty()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(events_of(&host, "CA-dup", "sms.received").len(), 1, "processed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_callbacks_never_move_back() {
    let host = Harness::start().await;
    host.call("CA-status", AGENT);
    let sid = host.account_sid("platform");
    let message = "SMstatus00000000000000000000000000";
    host.app.store.register_message(message, "CA-status", AGENT, CALLER, "queued").unwrap();

    for status in ["delivered", "sent", "queued", "undelivered"] {
        let params = vec![("MessageSid", message), ("AccountSid", sid.as_str()), ("From", AGENT), ("To", CALLER), ("MessageStatus", status)];
        let (code, _) = host.post_form("/webhooks/twilio/status", &params, &host.token("platform"), None).await;
        assert!(code == 204, "status {status} accepted: {code}");
    }

    host.eventually("callbacks processed", || host.app.store.count_pending_webhooks().unwrap() == 0).await;
    let (status, _) = host.app.store.message_status(message).unwrap().unwrap();
    assert_eq!(status, "delivered", "late callbacks do not move a final status");
    let statuses: Vec<_> = events_of(&host, "CA-status", "sms.status").into_iter().map(|data| data["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("delivered")], "one status event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_joins_right_call_only() {
    let host = Harness::start().await;
    let sid = host.account_sid("platform");
    host.call("CA-first", AGENT);

    let params = inbound(&sid, "SMjoin0000000000000000000000000000", CALLER, AGENT, "My policy number is 12345");
    host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;
    host.eventually("the text joins the call without any prior send", || !events_of(&host, "CA-first", "sms.received").is_empty()).await;
    let event = &events_of(&host, "CA-first", "sms.received")[0];
    assert_eq!(event["body"], "My policy number is 12345");

    // After the call ends, a later call between the same numbers gets only later texts.
    host.app.end_call("CA-first").await.unwrap();
    let params = inbound(&sid, "SMlate0000000000000000000000000000", CALLER, AGENT, "Are you still there?");
    host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;
    host.eventually("the late text is kept", || host.app.store.inbound("SMlate0000000000000000000000000000").unwrap().is_some()).await;
    let late = host.app.store.inbound("SMlate0000000000000000000000000000").unwrap().unwrap();
    assert_eq!(late.routing, "no_active_call", "kept and reported, not dropped");
    assert_eq!(host.app.store.unrouted_inbound(10).unwrap().len(), 1, "listed as unrouted");

    host.call("CA-second", AGENT);
    let params = inbound(&sid, "SMnext0000000000000000000000000000", CALLER, AGENT, "Calling back");
    host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;
    host.eventually("the new text joins the new call", || !events_of(&host, "CA-second", "sms.received").is_empty()).await;
    assert_eq!(events_of(&host, "CA-first", "sms.received").len(), 1, "the ended call gets nothing more");
    assert_eq!(events_of(&host, "CA-second", "sms.received").len(), 1, "the earlier late text stays out of the new call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_custom_number_not_routed() {
    let host = Harness::start().await;
    host.call("CA-custom", UNREGISTERED_CUSTOM);
    let sid = host.account_sid("clinic");

    let params = inbound(&sid, "SMcust0000000000000000000000000000", CALLER, UNREGISTERED_CUSTOM, "hello");
    let (status, _) = host.post_form("/webhooks/twilio/sms", &params, &host.token("clinic"), None).await;
    assert_eq!(status, 200, "accepted, so Twilio does not retry");

    host.eventually("the text is kept", || host.app.store.inbound("SMcust0000000000000000000000000000").unwrap().is_some()).await;
    let record = host.app.store.inbound("SMcust0000000000000000000000000000").unwrap().unwrap();
    assert_eq!(record.routing, "a2p_not_registered");
    assert!(events_of(&host, "CA-custom", "sms.received").is_empty(), "not in the call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_keywords() {
    let host = Harness::start().await;
    host.call("CA-optout", AGENT);
    let sid = host.account_sid("platform");
    let token = host.token("platform");

    let not_keyword = inbound(&sid, "SMkw00000000000000000000000000000", CALLER, AGENT, "Stop please");
    host.post_form("/webhooks/twilio/sms", &not_keyword, &token, None).await;
    let stop = inbound(&sid, "SMkw10000000000000000000000000000", CALLER, AGENT, "  stop ");
    host.post_form("/webhooks/twilio/sms", &stop, &token, None).await;
    host.eventually("STOP applied", || host.app.store.opted_out(AGENT, CALLER).unwrap()).await;

    let run = host.run("CA-optout", json!({ "body": "One more thing" })).await;
    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["reason"], "opted_out");
    assert_eq!(output["error_code"], 21610);
    assert!(host.sandbox.requests().is_empty(), "nothing sent to an opted-out recipient");

    let start = inbound(&sid, "SMkw20000000000000000000000000000", CALLER, AGENT, "START");
    host.post_form("/webhooks/twilio/sms", &start, &token, None).await;
    host.eventually("START applied", || !host.app.store.opted_out(AGENT, CALLER).unwrap()).await;
    let run = host.run("CA-optout", json!({ "body": "Welcome back" })).await;
    assert_eq!(run.transition.as_deref(), Some("sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_gets_configured_reply() {
    let host = Harness::start_with(&format!("{}\n[messaging]\nhelp_reply = \"Acme Dental: call 555-0100 for help.\"\n", base_config())).await;
    let sid = host.account_sid("platform");

    let params = inbound(&sid, "SMhelp0000000000000000000000000000", CALLER, AGENT, "help");
    let (status, body) = host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;

    assert_eq!(status, 200);
    assert!(body.contains("<Message>Acme Dental: call 555-0100 for help.</Message>"), "TwiML reply: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_fetched_through_host() {
    let host = Harness::start().await;
    host.call("CA-media", AGENT);
    let photo = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();

    host.sandbox.script_inbound(smsnode_host::sandbox::InboundScript {
        account_sid: host.account_sid("platform"),
        from: CALLER.into(),
        to: AGENT.into(),
        body: "my card".into(),
        media: vec![smsnode_host::sandbox::ScriptedMedia { content_type: "image/jpeg".into(), bytes: photo.clone() }],
        delay: std::time::Duration::ZERO,
    });
    host.eventually("the MMS joins the call", || !events_of(&host, "CA-media", "sms.received").is_empty()).await;
    let event = &events_of(&host, "CA-media", "sms.received")[0];
    assert_eq!(event["num_media"], 1);
    assert_eq!(event["media"][0]["content_type"], "image/jpeg");

    let path = event["media"][0]["fetch_path"].as_str().unwrap();
    let (status, bytes, content_type) = get(&format!("{}{path}", host.service_url)).await;
    assert_eq!(status, 200, "fetched with the account's auth and through the redirect");
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(bytes, photo);

    let (status, _, _) = get(&format!("{}/messages/SMunknown/media/0", host.service_url)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_as_they_arrive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let host = Harness::start().await;
    host.call("CA-stream", AGENT);
    let authority = host.service_url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let request = format!("GET /calls/CA-stream/events/stream HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();

    let account_sid = host.account_sid("platform");
    let params = inbound(&account_sid, "SMstream000000000000000000000000000", CALLER, AGENT, "on my way");
    host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;

    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !received.contains("event: sms.received") {
        let mut buffer = [0u8; 4096];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await.expect("the event arrives within 10 s").unwrap();
        assert!(read > 0, "the stream closed early: {received}");
        received.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    assert!(received.contains("text/event-stream"), "server-sent events: {received}");
    assert!(received.contains("event: call.started"), "the stored events come first");
    assert!(received.contains("on my way"), "the text is in the event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_body_webhook_accepted() {
    let host = Harness::start().await;
    host.call("CA-json", AGENT);
    let body = serde_json::json!({ "MessageSid": "SMjson0000000000000000000000000000", "From": CALLER, "To": AGENT, "Body": "sent as JSON" })
        .to_string();
    let url = format!("{}/webhooks/twilio/sms?bodySHA256={}", host.service_url, signature::body_sha256_hex(body.as_bytes()));

    let signed = signature::compute_json(&host.token("platform"), &url);
    let (status, _) = post(&url, "application/json", body.clone().into_bytes(), Some(&signed)).await;
    assert_eq!(status, 200, "a JSON body signed over its bodySHA256 URL");
    host.eventually("the JSON message joins the call", || !events_of(&host, "CA-json", "sms.received").is_empty()).await;

    let tampered = body.replace("sent as JSON", "changed in transit");
    let (status, _) = post(&url, "application/json", tampered.into_bytes(), Some(&signed)).await;
    assert_eq!(status, 403, "a body that does not match bodySHA256");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_cannot_sign_for_another() {
    let host = Harness::start().await;
    host.call("CA-forge", AGENT);

    // The clinic account signs correctly, but AGENT belongs to the platform account.
    let clinic = host.account_sid("clinic");
    let params = inbound(&clinic, "SMforge000000000000000000000000000", CALLER, AGENT, "STOP");
    let (status, _) = host.post_form("/webhooks/twilio/sms", &params, &host.token("clinic"), None).await;
    assert_eq!(status, 403);

    let form_without_account = vec![("MessageSid", "SMforge100000000000000000000000000"), ("From", CALLER), ("To", AGENT), ("Body", "STOP")];
    let (status, _) = host.post_form("/webhooks/twilio/sms", &form_without_account, &host.token("platform"), None).await;
    assert_eq!(status, 403, "a form must name its account");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!host.app.store.opted_out(AGENT, CALLER).unwrap(), "nobody was opted out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_guards_calls_api() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("api-token");
    std::fs::write(&token_path, "0123456789abcdef-api-token").unwrap();
    let config = format!("[service]\napi_token_file = {:?}\n{}", token_path.to_str().unwrap(), base_config());
    let host = Harness::start_with(&config).await;
    host.call("CA-token", AGENT);

    let (status, _, _) = get(&format!("{}/calls/CA-token/events", host.service_url)).await;
    assert_eq!(status, 401, "no token");
    let request = http::Request::get(format!("{}/calls/CA-token/events", host.service_url))
        .header("authorization", "Bearer 0123456789abcdef-api-token")
        .body(bytes::Bytes::new())
        .unwrap();
    let response = smsnode_host::client::send(request, std::time::Duration::from_secs(5), 1 << 20).await.unwrap();
    assert_eq!(response.status, 200, "the configured token");

    let (status, _, _) = get(&format!("{}/healthz", host.service_url)).await;
    assert_eq!(status, 200, "the health check needs no token");
    let account_sid = host.account_sid("platform");
    let params = inbound(&account_sid, "SMtoken00000000000000000000000000", CALLER, AGENT, "hi");
    let (status, _) = host.post_form("/webhooks/twilio/sms", &params, &host.token("platform"), None).await;
    assert_eq!(status, 200, "webhooks are signed, not token-guarded");
}
