//! Sender choice: the agent's platform number once its A2P 10DLC registration is approved, a
//! number of the customer's own Twilio account, or a pool number picked once per call.

use smsnode_sms::a2p::{self, Registration, Status};
use smsnode_sms::sender::{PoolState, pick_pool_sender};

use crate::bindings::smsnode::node::numbers::{self, NumberInfo, RegistrationStatus};
use crate::bindings::smsnode::node::state::{self, Scope};
use crate::bindings::smsnode::node::types::{CallInfo, Telephony};
use crate::config::Sender;
use crate::failure::Failure;

/// Call-scoped key of the pool number every message of the call goes out from.
const POOL_SENDER_KEY: &str = "pool.sender";
/// Plugin-scoped counter that spreads calls over the pool in turn.
const POOL_CURSOR_KEY: &str = "pool.cursor";

/// The number a message goes out from, and the provider account that owns it.
#[derive(Debug, Clone)]
pub struct ChosenSender {
    pub number: String,
    pub account: String,
    /// Kind of sender choice: `platform_number`, `twilio_number` or `pool`.
    pub kind: &'static str,
}

/// Chooses the sender for one message and checks it may send it.
pub fn choose(sender: &Sender, call: &CallInfo, needs_mms: bool) -> Result<ChosenSender, Failure> {
    let (info, kind) = match sender {
        Sender::PlatformNumber => (platform_number(call)?, "platform_number"),
        Sender::TwilioNumber { account, number } => (own_number(account, number)?, "twilio_number"),
        Sender::Pool => (pool_number(call)?, "pool"),
    };
    check_capability(&info, needs_mms)?;
    Ok(ChosenSender { number: info.number, account: info.account, kind })
}

/// Returns the agent's number when the platform runs it and its A2P 10DLC registration is
/// approved.
fn platform_number(call: &CallInfo) -> Result<NumberInfo, Failure> {
    let number = &call.agent_number;
    let info = lookup(number)?;
    if info.telephony != Telephony::Platform {
        return Err(Failure::new(
            "sender_not_platform_number",
            format!(
                "the agent number {number} is a custom-telephony number, not a platform number. \
                 Use sender type `twilio_number` with its account, or `pool`"
            ),
        )
        .with("from", number.as_str()));
    }

    let registration = registration(&info);
    if let Some(step) = a2p::first_incomplete_step(&registration) {
        return Err(Failure::new(
            "a2p_registration_incomplete",
            format!(
                "the platform number {number} cannot send SMS yet because its A2P 10DLC {} is {}. \
                 The business profile, brand and campaign must all be approved",
                step.step.as_str(),
                step.status.as_str(),
            ),
        )
        .with("from", number.as_str())
        .with("step", step.step.as_str())
        .with("status", step.status.as_str()));
    }
    Ok(info)
}

/// Looks up a number of the customer's own account and checks that it belongs to the named
/// account.
fn own_number(account: &str, number: &str) -> Result<NumberInfo, Failure> {
    let info = lookup(number)?;
    if info.account != account {
        return Err(Failure::new(
            "sender_account_mismatch",
            format!(
                "the number {number} belongs to account `{}`, not `{account}`. \
                 Set sender.account to `{}` or pick a number of `{account}`",
                info.account, info.account
            ),
        )
        .with("from", number));
    }
    Ok(info)
}

/// Returns the call's pool number: the one already chosen for the call, or the next in turn.
fn pool_number(call: &CallInfo) -> Result<NumberInfo, Failure> {
    if !call.active {
        return Err(Failure::new(
            "call_not_active",
            format!(
                "pool numbers send only during a call, and call {} has ended. \
                 Use sender type `platform_number` or `twilio_number` after a call",
                call.call_id
            ),
        ));
    }

    let pool = numbers::pool();
    let Some(number) = pick_pool_sender(&mut HostPoolState, &pool) else {
        return Err(Failure::new(
            "pool_empty",
            "the host's SMS-approved pool has no numbers. Add numbers to `pool` in the host configuration",
        ));
    };
    lookup(&number)
}

/// Pool state kept by the host: the call's chosen number and the plugin-wide turn counter.
struct HostPoolState;

impl PoolState for HostPoolState {
    fn chosen(&mut self) -> Option<String> {
        state::get(Scope::Call, POOL_SENDER_KEY)
    }

    fn choose(&mut self, number: &str) -> String {
        state::get_or_insert(Scope::Call, POOL_SENDER_KEY, number)
    }

    fn next_turn(&mut self) -> u64 {
        state::increment(Scope::Plugin, POOL_CURSOR_KEY, 1).unsigned_abs()
    }
}

fn lookup(number: &str) -> Result<NumberInfo, Failure> {
    numbers::lookup(number).ok_or_else(|| {
        Failure::new(
            "sender_unknown",
            format!(
                "the number {number} is not in the host's number registry. \
                 Add it under [[numbers]] in the host configuration"
            ),
        )
        .with("from", number)
    })
}

fn check_capability(info: &NumberInfo, needs_mms: bool) -> Result<(), Failure> {
    if needs_mms && !info.mms {
        return Err(Failure::new(
            "sender_not_mms_capable",
            format!(
                "the number {} cannot send MMS. Remove media_urls or send from an MMS-capable number",
                info.number
            ),
        )
        .with("from", info.number.as_str()));
    }
    if !info.sms {
        return Err(Failure::new(
            "sender_not_sms_capable",
            format!("the number {} cannot send SMS. Send from an SMS-capable number", info.number),
        )
        .with("from", info.number.as_str()));
    }
    Ok(())
}

fn registration(info: &NumberInfo) -> Registration {
    Registration {
        business_profile: status(info.a2p.business_profile),
        brand: status(info.a2p.brand),
        campaign: status(info.a2p.campaign),
    }
}

fn status(status: RegistrationStatus) -> Status {
    match status {
        RegistrationStatus::NotStarted => Status::NotStarted,
        RegistrationStatus::Pending => Status::Pending,
        RegistrationStatus::Approved => Status::Approved,
        RegistrationStatus::Rejected => Status::Rejected,
    }
}
