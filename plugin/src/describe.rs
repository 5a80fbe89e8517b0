//! The SMS node's descriptor: type, configuration schema, transitions and tool definition.

use serde_json::json;

use crate::bindings::smsnode::node::types::{Descriptor, ToolDefinition, Transition};
use crate::config::Config;

pub const NODE_TYPE: &str = "smsnode.sms";

/// Transitions the node can take, with the meaning of each for the flow.
const TRANSITIONS: &[(&str, &str)] = &[
    ("sent", "The provider accepted the message. Output: message_sid, status, from, to, encoding, segments, units."),
    ("failed", "Nothing was sent, or the provider rejected the message. Output: reason, message, and error_code where the provider gave one."),
    ("reply", "The recipient replied. Output: body, from, to, message_sid, media."),
    ("timeout", "No reply came within timeout_seconds."),
    ("delivery_failed", "The sent message's status became undelivered or failed. Output: message_sid, status, error_code."),
    ("call_ended", "The call ended while the node awaited a reply."),
];

pub fn descriptor() -> Descriptor {
    let schema = schemars::schema_for!(Config);
    Descriptor {
        node_type: NODE_TYPE.to_string(),
        display_name: "Send SMS".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        description: "Sends an SMS or MMS to the caller during a call, from the platform number, \
                      the customer's own Twilio number or an SMS-approved pool number, and can \
                      await the reply."
            .to_string(),
        config_schema: schema.as_value().to_string(),
        transitions: TRANSITIONS
            .iter()
            .map(|(name, description)| Transition {
                name: name.to_string(),
                description: description.to_string(),
            })
            .collect(),
        tool: tool_definition(),
    }
}

/// Builds the tool definition: the function an LLM agent calls to text the caller during the
/// call.
fn tool_definition() -> ToolDefinition {
    let parameters = json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "maxLength": 1600,
                "description": "The text to send. Keep it short: 160 plain characters fit one SMS segment."
            },
            "to": {
                "type": "string",
                "pattern": "^\\+[1-9][0-9]{6,14}$",
                "description": "Recipient in E.164, such as +14155550100. Leave out to text the caller."
            }
        },
        "required": ["message"],
        "additionalProperties": false
    });
    ToolDefinition {
        name: "send_sms".to_string(),
        description: "Send a text message to the caller during this call, for example a link, an \
                      address or a confirmation they need to keep."
            .to_string(),
        parameters: parameters.to_string(),
    }
}
