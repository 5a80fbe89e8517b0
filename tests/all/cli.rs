//! The `smsnode` command as a user runs it: segments, describe, the examples, and errors for bad
//! configuration and scenario files.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{smsnode_binary, workspace};

fn smsnode(args: &[&str]) -> Output {
    Command::new(smsnode_binary())
        .args(args)
        .env("SMSNODE_CACHE_DIR", crate::support::cache_dir())
        .output()
        .expect("smsnode runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses the JSON lines of `run --json`.
fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output).lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect()
}

#[test]
fn segments_match_every_vector() {
    let path = workspace().join("../shared/reference/vectors/segments.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("segment vectors")).unwrap();
    for case in vectors["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let output = smsnode(&["segments", "--json", text]);
        assert!(output.status.success(), "segments failed for {text:?}: {}", stderr(&output));
        let result: Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(result["encoding"], case["encoding"], "encoding of {text:?}");
        assert_eq!(result["segments"], case["segments"], "segments of {text:?}");
        assert_eq!(result["units"], case["units"], "units of {text:?}");
    }
}

#[test]
fn describe_lists_transitions_schema_tool() {
    let output = smsnode(&["describe"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let descriptor: Value = serde_json::from_str(&stdout(&output)).unwrap();

    let transitions: Vec<&str> = descriptor["transitions"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap()).collect();
    for name in ["sent", "failed", "reply", "timeout", "delivery_failed", "call_ended"] {
        assert!(transitions.contains(&name), "transition {name} in {transitions:?}");
    }
    assert_eq!(descriptor["config_schema"]["type"], "object", "a JSON Schema of the configuration");
    assert!(descriptor["config_schema"]["properties"]["sender"].is_object(), "the schema covers the sender");
    assert_eq!(descriptor["tool"]["name"], "send_sms");
    assert_eq!(descriptor["tool"]["parameters"]["required"][0], "message");
}

#[test]
fn appointment_example_sends_from_pool() {
    let scenario = workspace().join("examples/appointment-confirmation/scenario.toml");
    let output = smsnode(&["run", "--json", scenario.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);

    let sent = lines.iter().find(|line| line["type"] == "sms.sent").expect("an sms.sent line");
    assert_eq!(sent["from"], "+14155550101", "the first pool number");
    assert!(sent["body"].as_str().unwrap().starts_with("Hi Dana,"), "the template filled in");
    let transition = lines.iter().find(|line| line["type"] == "node.transition").expect("a node.transition line");
    assert_eq!(transition["transition"], "sent");
    let request = lines.iter().find(|line| line["type"] == "sandbox.request").expect("the sandbox's record");
    assert_eq!(request["status"], 201);
    assert_eq!(request["authenticated"], true);

    let text = smsnode(&["run", scenario.to_str().unwrap()]);
    assert!(stdout(&text).contains("sandbox provider received:"), "the readable transcript shows the sandbox's record");
}

#[test]
fn opted_out_example_fails() {
    let scenario = workspace().join("examples/send-to-opted-out/scenario.toml");
    let output = smsnode(&["run", "--json", scenario.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);

    let failed = lines.iter().find(|line| line["type"] == "sms.failed").expect("an sms.failed line");
    assert_eq!(failed["error_code"], 21610);
    let transition = lines.iter().find(|line| line["type"] == "node.transition").unwrap();
    assert_eq!(transition["transition"], "failed");
}

/// Runs an example scenario with `--json` and returns its transitions in order, with every
/// JSON line.
fn example_transitions(name: &str) -> (Vec<String>, Vec<Value>) {
    let scenario = workspace().join(format!("examples/{name}/scenario.toml"));
    let output = smsnode(&["run", "--json", scenario.to_str().unwrap()]);
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    let lines = json_lines(&output);
    let transitions = lines.iter().filter(|line| line["type"] == "node.transition").map(|line| line["transition"].as_str().unwrap().to_string()).collect();
    (transitions, lines)
}

#[test]
fn photo_id_example_takes_reply() {
    let (transitions, lines) = example_transitions("collect-photo-id");
    assert_eq!(transitions, vec!["reply"]);
    let received = lines.iter().find(|line| line["type"] == "sms.received").expect("the photo arrives in the call");
    assert_eq!(received["num_media"], 1);
    assert_eq!(received["media"][0]["content_type"], "image/jpeg");
    assert!(lines.iter().any(|line| line["type"] == "node.waiting"), "the node waited");
    let reply = lines.iter().find(|line| line["type"] == "node.transition").unwrap();
    let fetch_path = reply["output"]["media"][0]["fetch_path"].as_str().expect("the reply names the host path of the photo");
    assert!(fetch_path.starts_with("/messages/MM"), "fetch path {fetch_path} names the MMS");
    assert!(fetch_path.ends_with("/media/0"), "fetch path {fetch_path} names the first item");
}

#[test]
fn no_reply_example_times_out() {
    let (transitions, _) = example_transitions("reply-timeout");
    assert_eq!(transitions, vec!["timeout"]);
}

#[test]
fn stop_example_opts_out() {
    let (transitions, lines) = example_transitions("caller-texts-stop");
    assert_eq!(transitions, vec!["reply", "failed"]);
    let reply = lines.iter().find(|line| line["type"] == "node.transition").unwrap();
    assert_eq!(reply["output"]["keyword"], "opt_out");
    let failed = lines.iter().find(|line| line["type"] == "sms.failed").expect("the second text fails");
    assert_eq!(failed["reason"], "opted_out");
    assert_eq!(failed["error_code"], 21610);
    let sent_requests = lines.iter().filter(|line| line["type"] == "sandbox.request").count();
    assert_eq!(sent_requests, 1, "no request for the opted-out text");
}

#[test]
fn own_twilio_example_config_checks() {
    let config = workspace().join("examples/own-twilio-number/smsnode.twilio.toml");
    let missing = Command::new(smsnode_binary()).args(["check", "--config", config.to_str().unwrap()]).env_remove("CLINIC_TWILIO_AUTH_TOKEN").output().unwrap();
    assert!(!missing.status.success(), "a missing Auth Token is an error");
    assert!(stderr(&missing).contains("CLINIC_TWILIO_AUTH_TOKEN"), "names the variable: {}", stderr(&missing));

    let present = Command::new(smsnode_binary())
        .args(["check", "--config", config.to_str().unwrap()])
        .env("CLINIC_TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(present.status.success(), "{}", stderr(&present));
    assert!(!stdout(&present).contains("0123456789abcdef"), "the token is never printed");

    let scenario = workspace().join("examples/own-twilio-number/scenario.toml");
    let output = smsnode(&["run", "--json", scenario.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let sent = json_lines(&output).into_iter().find(|line| line["type"] == "sms.sent").expect("an sms.sent line");
    assert_eq!(sent["from"], "+14155550120");
}

#[test]
fn bad_config_error_names_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[accounts.main]\nprovider = \"twilio\"\naccount_sid = \"AC123\"\n", "accounts.main.account_sid", "AC123"),
        ("[[numbers]]\nnumber = \"555-0100\"\naccount = \"x\"\ntelephony = \"platform\"\n", "numbers[0].number", "555-0100"),
        ("[accounts.a]\nprovider = \"sandbox\"\n[pool]\nnumbers = [\"+14155550101\"]\n", "pool.numbers[0]", "+14155550101"),
        ("[limits]\nmemory_mib = 1\n", "limits.memory_mib", "1"),
        (
            "[accounts.a]\nprovider = \"sandbox\"\n[[numbers]]\nnumber = \"+14155550101\"\naccount = \"a\"\ntelephony = \"platform\"\n\
             a2p = { business_profile = \"approved\", brand = \"rejected\" }\n[pool]\nnumbers = [\"+14155550101\"]\n",
            "pool.numbers[0]",
            "A2P",
        ),
        ("[accounts.a]\nprovider = \"carrier\"\n", "provider", "carrier"),
    ];
    for (text, field, value) in cases {
        let path = dir.path().join("smsnode.toml");
        std::fs::write(&path, text).unwrap();
        let output = smsnode(&["check", "--config", path.to_str().unwrap()]);
        let message = stderr(&output);
        assert!(!output.status.success(), "{text} is rejected");
        assert!(message.contains(field), "names the field {field}: {message}");
        assert!(message.contains(value), "names the value {value}: {message}");
        assert!(!message.contains("panicked"), "no panic: {message}");
    }
}

#[test]
fn bad_scenario_error_names_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = workspace().join("examples/appointment-confirmation/smsnode.toml");
    let base = format!("config = {:?}\n", config.to_str().unwrap());
    let cases = [
        (format!("{base}[call]\ncaller = \"12125550147\"\nagent_number = \"+14155550100\"\n[[nodes]]\nconfig = {{ body = \"x\" }}\n"), "call.caller"),
        (format!("{base}[call]\ncaller = \"+12125550147\"\nagent_number = \"+14155550100\"\n"), "nodes"),
        (format!("{base}[call]\ncaller = \"+12125550147\"\nagent_number = \"+14155550100\"\n[[nodes]]\nconfig = {{ body = \"x\", sender = {{ type = \"fax\" }} }}\n"), "sender"),
        (format!("{base}[call]\ncaller = \"+12125550147\"\nagent_number = \"+14155550199\"\n[[nodes]]\nconfig = {{ body = \"x\" }}\n"), "agent_number"),
    ];
    for (text, field) in cases {
        let path = dir.path().join("scenario.toml");
        std::fs::write(&path, &text).unwrap();
        let output = smsnode(&["run", path.to_str().unwrap()]);
        let message = stderr(&output);
        assert!(!output.status.success(), "{text} is rejected");
        assert!(message.contains(field), "names {field}: {message}");
        assert!(!message.contains("panicked"), "no panic: {message}");
    }
}
