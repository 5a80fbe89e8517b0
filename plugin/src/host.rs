//! Small wrappers over the host's imports: logging and conversation events.

use serde_json::Value;

use crate::bindings::smsnode::node::{call, log};

pub fn info(message: &str) {
    log::write(log::Level::Info, message);
}

pub fn warn(message: &str) {
    log::write(log::Level::Warn, message);
}

/// Appends an event such as `sms.sent` to the call's conversation.
pub fn append_event(kind: &str, data: &Value) {
    call::append_event(kind, &data.to_string());
}
