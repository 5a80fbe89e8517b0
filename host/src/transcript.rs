//! The transcript `smsnode run` prints: readable lines, or with `--json` one JSON object per
//! line with a `type` field (`call.started`, `sms.sent`, `sms.failed`, `sms.received`,
//! `sms.status`, `node.waiting`, `node.transition`, `call.ended`, `sandbox.request`, ...).

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::sandbox::RecordedRequest;
use crate::store::{CallEvent, CallRecord};

/// Maximum number of body characters shown in a readable line.
const BODY_PREVIEW_CHARS: usize = 120;

pub struct Transcript {
    json: bool,
    out: Box<dyn Write + Send>,
    /// Start time of the call. Event times are shown relative to it.
    call_start: Option<SystemTime>,
}

impl Transcript {
    pub fn new(json: bool, out: Box<dyn Write + Send>) -> Transcript {
        Transcript { json, out, call_start: None }
    }

    pub fn stdout(json: bool) -> Transcript {
        Self::new(json, Box::new(std::io::stdout()))
    }

    pub fn call_started(&mut self, call: &CallRecord) {
        self.call_start = Some(SystemTime::now());
        if !self.json {
            let direction = serde_json::to_value(call.direction).unwrap_or_default();
            let telephony = serde_json::to_value(call.telephony).unwrap_or_default();
            self.line(&format!(
                "call {}: caller {} with agent {} ({} call, {} telephony)",
                call.call_id,
                call.caller,
                call.agent_number,
                direction.as_str().unwrap_or(""),
                telephony.as_str().unwrap_or("")
            ));
        }
    }

    /// Returns the time of an event since the call started, from the event's own timestamp.
    fn since_start(&self, event: &CallEvent, fallback: Duration) -> Duration {
        let at = humantime::parse_rfc3339(&event.at).ok();
        match (self.call_start, at) {
            (Some(start), Some(at)) => at.duration_since(start).unwrap_or_default(),
            _ => fallback,
        }
    }

    pub fn node_started(&mut self, name: &str, elapsed: Duration) {
        let elapsed = self.call_start.and_then(|start| start.elapsed().ok()).unwrap_or(elapsed);
        if self.json {
            self.object(json!({ "type": "node.started", "node": name, "elapsed_ms": elapsed.as_millis() as u64 }));
        } else {
            self.line(&format!("{} run {name}", stamp(elapsed)));
        }
    }

    pub fn event(&mut self, event: &CallEvent, elapsed: Duration) {
        let elapsed = self.since_start(event, elapsed);
        if self.json {
            let mut object = json!({ "type": event.kind, "call_id": event.call_id, "at": event.at, "elapsed_ms": elapsed.as_millis() as u64 });
            if let (Some(target), Some(data)) = (object.as_object_mut(), event.data.as_object()) {
                for (name, value) in data {
                    target.entry(name.clone()).or_insert(value.clone());
                }
            }
            self.object(object);
            return;
        }
        let text = describe_event(event);
        self.line(&format!("{} {text}", stamp(elapsed)));
    }

    pub fn sandbox(&mut self, requests: &[RecordedRequest]) {
        if self.json {
            for request in requests {
                let mut object = serde_json::to_value(request).unwrap_or_default();
                object["type"] = json!("sandbox.request");
                self.object(object);
            }
            return;
        }
        if requests.is_empty() {
            return;
        }
        self.line("sandbox provider received:");
        for request in requests {
            let outcome = match (&request.message_sid, request.error_code) {
                (Some(sid), _) => format!("{} created {sid}", request.status),
                (None, Some(code)) => format!("{} error {code}", request.status),
                (None, None) => request.status.to_string(),
            };
            let auth = if request.authenticated { "Basic auth valid" } else { "Basic auth invalid" };
            self.line(&format!("  {} {} -> {outcome} ({auth})", request.method, request.path));
            for (name, value) in &request.form {
                self.line(&format!("      {name}={}", preview(value)));
            }
        }
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn object(&mut self, value: Value) {
        self.line(&value.to_string());
    }
}

fn describe_event(event: &CallEvent) -> String {
    let data = &event.data;
    let text = |name: &str| data.get(name).and_then(Value::as_str).unwrap_or("").to_string();
    match event.kind.as_str() {
        "call.started" => "call.started".into(),
        "call.ended" => "call.ended".into(),
        "sms.sent" => format!(
            "sms.sent {} from {} to {} ({}, {} segment{}): \"{}\"",
            text("message_sid"),
            text("from"),
            text("to"),
            text("encoding"),
            data["segments"],
            if data["segments"] == json!(1) { "" } else { "s" },
            preview(&text("body")),
        ),
        "sms.failed" => {
            let code = data.get("error_code").map(|code| format!(" (error {code})")).unwrap_or_default();
            format!("sms.failed {}{code}: {}", text("reason"), text("message"))
        }
        "sms.received" => {
            let media: Vec<String> = data["media"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| format!("{} at {}", item["content_type"].as_str().unwrap_or(""), item["fetch_path"].as_str().unwrap_or("")))
                .collect();
            let media = if media.is_empty() { String::new() } else { format!(" with media: {}", media.join(", ")) };
            format!("sms.received {} from {} to {}: \"{}\"{media}", text("message_sid"), text("from"), text("to"), preview(&text("body")))
        }
        "sms.status" => {
            let code = data.get("error_code").filter(|code| !code.is_null()).map(|code| format!(" (error {code})")).unwrap_or_default();
            format!("sms.status {} is {}{code}", text("message_sid"), text("status"))
        }
        "node.waiting" => format!("node.waiting for a reply, up to {} ms", data["timeout_ms"]),
        "node.transition" => format!("node.transition {} {}", text("transition"), data["output"]),
        "node.error" => format!("node.error {}", text("error")),
        other => format!("{other} {data}"),
    }
}

fn preview(text: &str) -> String {
    let mut shown: String = text.chars().take(BODY_PREVIEW_CHARS).collect();
    if text.chars().count() > BODY_PREVIEW_CHARS {
        shown.push('…');
    }
    shown
}

fn stamp(elapsed: Duration) -> String {
    format!("[{:>6.3}s]", elapsed.as_secs_f64())
}
