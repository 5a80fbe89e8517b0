//! Sending during a call: the real SMS node in the real host, against the sandbox provider,
//! with assertions on the request the sandbox received and the transition taken.

use serde_json::json;

use crate::support::*;

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_send_reaches_sandbox() {
    let host = Harness::start().await;
    host.call("CA-pool", AGENT);

    let run = host.run("CA-pool", json!({ "body": "Hi {{first_name}}, see you at 3pm + bring ID", "sender": { "type": "pool" } })).await;

    assert_eq!(run.transition.as_deref(), Some("sent"), "output: {:?}", run.output);
    let output = run.output.unwrap();
    assert_eq!(output["sender"], "pool");
    assert_eq!(output["encoding"], "GSM-7");
    assert_eq!(output["segments"], 1);
    assert!(POOL.contains(&output["from"].as_str().unwrap()), "from a pool number: {output}");

    let requests = host.sandbox.requests();
    assert_eq!(requests.len(), 1, "one request");
    let request = &requests[0];
    assert!(request.authenticated, "Basic auth with the account's credentials");
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Messages.json", host.account_sid("platform")));
    assert_eq!(form_value(&request.form, "To"), vec![CALLER]);
    assert_eq!(form_value(&request.form, "From"), vec![output["from"].as_str().unwrap()]);
    assert_eq!(form_value(&request.form, "Body"), vec!["Hi Dana, see you at 3pm + bring ID"], "template filled, + kept");
    assert_eq!(form_value(&request.form, "StatusCallback"), vec![format!("{}/webhooks/twilio/status", host.service_url).as_str()]);
    assert_eq!(request.message_sid.as_deref(), output["message_sid"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mms_repeats_media_url() {
    let host = Harness::start().await;
    host.call("CA-mms", AGENT);
    let media = ["https://cdn.example.test/a.jpg", "https://cdn.example.test/b.png"];

    let run = host.run("CA-mms", json!({ "body": "Your documents", "media_urls": media })).await;

    assert_eq!(run.transition.as_deref(), Some("sent"), "output: {:?}", run.output);
    let requests = host.sandbox.requests();
    assert_eq!(form_value(&requests[0].form, "MediaUrl"), media.to_vec(), "MediaUrl repeated in order");
    assert!(run.output.unwrap()["message_sid"].as_str().unwrap().starts_with("MM"), "an MMS sid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_number_needs_a2p_approval() {
    let host = Harness::start().await;
    host.call("CA-pending", PENDING_AGENT);

    let run = host.run("CA-pending", json!({ "body": "Hello", "sender": { "type": "platform_number" } })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["reason"], "a2p_registration_incomplete");
    assert_eq!(output["step"], "brand", "the first step not approved");
    assert_eq!(output["status"], "pending");
    assert!(host.sandbox.requests().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_twilio_number_uses_its_account() {
    let host = Harness::start().await;
    host.call("CA-own", AGENT);

    let sender = json!({ "type": "twilio_number", "account": "clinic", "number": CLINIC_NUMBER });
    let run = host.run("CA-own", json!({ "body": "From the clinic", "sender": sender })).await;

    assert_eq!(run.transition.as_deref(), Some("sent"), "output: {:?}", run.output);
    let request = &host.sandbox.requests()[0];
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Messages.json", host.account_sid("clinic")));
    assert!(request.authenticated, "the clinic account's credentials");
    assert_eq!(form_value(&request.form, "From"), vec![CLINIC_NUMBER]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_only_number_refuses_media() {
    let host = Harness::start().await;
    host.call("CA-own-mms", AGENT);

    let sender = json!({ "type": "twilio_number", "account": "clinic", "number": CLINIC_NUMBER });
    let run = host.run("CA-own-mms", json!({ "body": "x", "media_urls": ["https://cdn.example.test/a.jpg"], "sender": sender })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    assert_eq!(run.output.unwrap()["reason"], "sender_not_mms_capable");
    assert!(host.sandbox.requests().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opted_out_test_number_fails() {
    let host = Harness::start().await;
    host.call("CA-stop", AGENT);

    // Twilio treats its test number +15005550004 as an unsubscribed recipient (error 21610).
    let run = host.run("CA-stop", json!({ "body": "Hello", "to": "+15005550004" })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["reason"], "provider_error");
    assert_eq!(output["error_code"], 21610);
    assert_eq!(host.sandbox.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_retried() {
    let host = Harness::start().await;
    host.call("CA-retry", AGENT);
    host.sandbox.inject_faults([503, 429]);

    let run = host.run("CA-retry", json!({ "body": "Hello" })).await;

    assert_eq!(run.transition.as_deref(), Some("sent"), "output: {:?}", run.output);
    let statuses: Vec<u16> = host.sandbox.requests().iter().map(|request| request.status).collect();
    assert_eq!(statuses, vec![503, 429, 201]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded() {
    let host = Harness::start().await;
    host.call("CA-retry-out", AGENT);
    host.sandbox.inject_faults([500, 500, 500]);

    let run = host.run("CA-retry-out", json!({ "body": "Hello", "max_retries": 2 })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["error_code"], 20500, "the provider's last error");
    assert_eq!(host.sandbox.requests().len(), 3, "one try and two retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_variable_sends_nothing() {
    let host = Harness::start().await;
    host.call("CA-template", AGENT);

    let run = host.run("CA-template", json!({ "body": "Hi {{nickname}}" })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["reason"], "template_variable_missing");
    assert_eq!(output["variable"], "nickname");
    assert!(host.sandbox.requests().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_variable_may_be_empty() {
    let host = Harness::start().await;
    host.call("CA-template-empty", AGENT);

    let run = host.run("CA-template-empty", json!({ "body": "Hi {{nickname}}!", "missing_variable": "empty" })).await;

    assert_eq!(run.transition.as_deref(), Some("sent"));
    assert_eq!(form_value(&host.sandbox.requests()[0].form, "Body"), vec!["Hi !"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_body_fails_before_sending() {
    let host = Harness::start().await;
    host.call("CA-long", AGENT);

    let run = host.run("CA-long", json!({ "body": "x".repeat(1601) })).await;

    assert_eq!(run.transition.as_deref(), Some("failed"));
    assert_eq!(run.output.unwrap()["reason"], "body_too_long");
    assert!(host.sandbox.requests().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_segments_reported() {
    let host = Harness::start().await;
    host.call("CA-segments", AGENT);

    let run = host.run("CA-segments", json!({ "body": "€".repeat(81) })).await;

    let output = run.output.unwrap();
    assert_eq!(output["encoding"], "GSM-7");
    assert_eq!(output["units"], 162, "each euro sign is an escape pair");
    assert_eq!(output["segments"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_recipient_fails() {
    let host = Harness::start().await;
    host.call("CA-recipient", AGENT);

    let run = host.run("CA-recipient", json!({ "body": "Hello", "to": "{{callback}}" })).await;
    assert_eq!(run.transition.as_deref(), Some("failed"), "callback is not set");

    let input = json!({ "callback": "555-0100" });
    let run = host.app.run_node("CA-recipient", &json!({ "body": "Hello", "to": "{{callback}}" }), &input).await.unwrap();
    assert_eq!(run.transition.as_deref(), Some("failed"));
    let output = run.output.unwrap();
    assert_eq!(output["reason"], "invalid_recipient");
    assert!(output["message"].as_str().unwrap().contains("555-0100"), "names the value: {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_message_replaces_body() {
    let host = Harness::start().await;
    host.call("CA-tool", AGENT);

    let input = json!({ "message": "Our address is 1 Main St." });
    let run = host.app.run_node("CA-tool", &json!({}), &input).await.unwrap();

    assert_eq!(run.transition.as_deref(), Some("sent"), "output: {:?}", run.output);
    assert_eq!(form_value(&host.sandbox.requests()[0].form, "Body"), vec!["Our address is 1 Main St."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_names_the_field() {
    let host = Harness::start().await;
    host.call("CA-config", AGENT);

    let cases = [
        (json!({ "body": "x", "sender": { "type": "carrier_pigeon" } }), "sender"),
        (json!({ "body": "x", "media_urls": ["http://insecure.example.test/a.jpg"] }), "media_urls[0]"),
        (json!({ "body": "x", "to": "12345" }), "to"),
        (json!({ "body": "x", "timeout_seconds": 0 }), "timeout_seconds"),
        (json!({ "body": "x", "colour": "red" }), "colour"),
        (json!({ "body": "Hi {{first name}}" }), "body"),
    ];
    for (config, field) in cases {
        let error = host.app.run_node("CA-config", &config, &json!({})).await.expect_err("invalid configuration");
        let smsnode_host::runtime::RunError::Config(error) = error else {
            panic!("expected a configuration error for {config}, got {error}");
        };
        assert!(error.field.starts_with(field), "field for {config}: {}", error.field);
        assert!(!error.message.is_empty(), "a message for {config}");
    }
    assert!(host.sandbox.requests().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token_never_reaches_guest() {
    let host = Harness::start().await;
    host.call("CA-secret", AGENT);
    host.sandbox.inject_faults([503]);
    host.run("CA-secret", json!({ "body": "Hello", "sender": { "type": "pool" } })).await;
    host.run("CA-secret", json!({ "body": "Hi {{missing}}" })).await;

    let tokens = [host.token("platform"), host.token("clinic")];
    let events = serde_json::to_string(&host.app.store.events("CA-secret", 0).unwrap()).unwrap();
    let descriptor = serde_json::to_string(&smsnode_host::describe::descriptor_json(&host.app.descriptor)).unwrap();
    let requests = serde_json::to_string(&host.sandbox.requests()).unwrap();
    for token in &tokens {
        assert!(!events.contains(token.as_str()), "no token in the call's events or outputs");
        assert!(!descriptor.contains(token.as_str()), "no token in the descriptor");
        assert!(!requests.contains(token.as_str()), "no token in the sandbox record");
        assert!(!format!("{:?}", host.app.config).contains(token.as_str()), "no token in the configuration's debug output");
    }
}
