//! The plugin's descriptor as JSON, for `smsnode describe` and `GET /describe`.

use serde_json::{Value, json};

use crate::bindings::Descriptor;

/// Converts the descriptor to JSON, with its JSON-text fields (schemas) parsed into JSON values.
pub fn descriptor_json(descriptor: &Descriptor) -> Value {
    let parse = |text: &str| serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
    json!({
        "node_type": descriptor.node_type,
        "display_name": descriptor.display_name,
        "version": descriptor.version,
        "description": descriptor.description,
        "config_schema": parse(&descriptor.config_schema),
        "transitions": descriptor.transitions.iter().map(|transition| json!({
            "name": transition.name,
            "description": transition.description,
        })).collect::<Vec<_>>(),
        "tool": {
            "name": descriptor.tool.name,
            "description": descriptor.tool.description,
            "parameters": parse(&descriptor.tool.parameters),
        },
    })
}
