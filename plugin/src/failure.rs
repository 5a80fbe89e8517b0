//! The `failed` transition: why nothing was sent, or why the provider rejected the message.

use serde_json::{Map, Value, json};

use crate::bindings::smsnode::node::types::Outcome;

/// A reason the node takes `failed`, with a message a flow builder can act on.
#[derive(Debug)]
pub struct Failure {
    /// Stable snake_case reason, for example `opted_out` or `a2p_registration_incomplete`.
    pub reason: &'static str,
    pub message: String,
    /// The provider's error code, or the code the provider would have returned.
    pub error_code: Option<u32>,
    /// Further output variables.
    pub details: Map<String, Value>,
}

impl Failure {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Failure { reason, message: message.into(), error_code: None, details: Map::new() }
    }

    pub fn with_code(mut self, code: u32) -> Self {
        self.error_code = Some(code);
        self
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.details.insert(name.to_string(), value.into());
        self
    }

    /// Builds the output variables of the `failed` transition.
    pub fn output(&self) -> Value {
        let mut output = self.details.clone();
        output.insert("reason".into(), json!(self.reason));
        output.insert("message".into(), json!(self.message));
        if let Some(code) = self.error_code {
            output.insert("error_code".into(), json!(code));
        }
        Value::Object(output)
    }

    pub fn into_outcome(self) -> Outcome {
        Outcome { transition: "failed".into(), output: self.output().to_string() }
    }
}
