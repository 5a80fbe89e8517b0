//! The smsnode host: a generic flow-node runner that runs node plugins (WebAssembly
//! components) sandboxed under wasmtime, with the embedded Twilio-compatible sandbox provider.

pub mod app;
pub mod bindings;
pub mod client;
pub mod config;
pub mod describe;
pub mod imports;
pub mod inbound;
pub mod media;
pub mod outbound;
pub mod runtime;
pub mod sandbox;
pub mod scenario;
pub mod secrets;
pub mod service;
pub mod simulate;
pub mod store;
pub mod transcript;
pub mod webhooks;

/// The SMS node plugin built from `plugin/`, embedded as the default plugin.
pub static DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("SMSNODE_PLUGIN_WASM"));
