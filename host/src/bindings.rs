//! Host-side bindings of the `smsnode:node` flow-node world. The WASI interfaces come from
//! wasmtime-wasi and wasmtime-wasi-http, so only the node's own interfaces are generated here.

wasmtime::component::bindgen!({
    world: "flow-node",
    path: "../wit",
    imports: { default: trappable },
    exports: { default: async },
    anyhow: true,
    with: {
        "wasi": wasmtime_wasi::p2::bindings,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub use exports::smsnode::node::node::{Descriptor, NodeError};
pub use smsnode::node::types;
