//! The SMS node: sends an SMS or MMS during a call, waits for the caller's reply, and reports
//! the transition it took. It is built as a flow-node component for wasm32-wasip2, and the SMS
//! rules it applies live in the `smsnode-sms` crate.

mod bindings {
    wit_bindgen::generate!({
        world: "flow-node",
        path: "../wit",
        generate_all,
    });
}

mod config;
mod describe;
mod failure;
mod http;
mod host;
mod send;
mod sender;
mod wait;

use bindings::exports::smsnode::node::node::Guest;
use bindings::smsnode::node::types::{Descriptor, NodeError, ResumeEvent, RunResult};

struct SmsNode;

impl Guest for SmsNode {
    fn describe() -> Descriptor {
        describe::descriptor()
    }

    fn run(config: String, input: String) -> Result<RunResult, NodeError> {
        let config = config::parse(&config)?;
        let input = config::parse_input(&input)?;
        match config.mode {
            config::Mode::Send => Ok(RunResult::Done(send::run(&config, &input)?)),
            config::Mode::SendAndWait => wait::send_and_wait(&config, &input),
            config::Mode::Wait => wait::wait_only(&config, &input),
        }
    }

    fn resume(config: String, state: String, event: ResumeEvent) -> Result<RunResult, NodeError> {
        let config = config::parse(&config)?;
        wait::resume(&config, &state, event)
    }
}

bindings::export!(SmsNode with_types_in bindings);
