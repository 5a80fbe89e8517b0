//! The host side of the node's imports: the call, key-value state, the number registry,
//! accounts without secrets, and logging. Each run gets its own `NodeHost`.

use std::sync::Arc;

use serde_json::Value;
use anyhow::Result;

use crate::bindings::smsnode::node::{accounts, call, log, numbers, state, types};
use crate::config::{self, HostConfig};
use crate::store::{CallRecord, Direction, Store};

/// Event kinds only the host appends.
const RESERVED_EVENT_PREFIXES: &[&str] = &["call.", "node.", "sms.received", "sms.status"];

/// Host state of one node run: the call, the configuration and the store that its imports read
/// and write.
pub struct NodeHost {
    pub node_type: String,
    pub call: CallRecord,
    pub config: Arc<HostConfig>,
    pub store: Arc<Store>,
}

impl NodeHost {
    /// Returns the state owner for a scope: the plugin alone, or the plugin within this call.
    fn owner(&self, scope: state::Scope) -> String {
        match scope {
            state::Scope::Plugin => format!("plugin/{}", self.node_type),
            state::Scope::Call => format!("plugin/{}/call/{}", self.node_type, self.call.call_id),
        }
    }
}

impl NodeHost {
    /// Registers the message of an `sms.sent` event, so its status callbacks and the replies
    /// to its sender find this call.
    fn register_sent_message(&self, data: &Value) -> Result<()> {
        let field = |name: &str| data.get(name).and_then(Value::as_str);
        if let (Some(sid), Some(from), Some(to)) = (field("message_sid"), field("from"), field("to")) {
            let status = field("status").unwrap_or("queued");
            self.store.register_message(sid, &self.call.call_id, from, to, status)?;
        }
        Ok(())
    }
}

impl types::Host for NodeHost {}

impl call::Host for NodeHost {
    fn context(&mut self) -> Result<types::CallInfo> {
        // The call may have ended since the run started, so read its current state.
        let active = self.store.call(&self.call.call_id)?.map(|call| call.active).unwrap_or(false);
        Ok(types::CallInfo {
            call_id: self.call.call_id.clone(),
            direction: match self.call.direction {
                Direction::Inbound => types::CallDirection::Inbound,
                Direction::Outbound => types::CallDirection::Outbound,
            },
            caller: self.call.caller.clone(),
            agent_number: self.call.agent_number.clone(),
            active,
            telephony: telephony(self.call.telephony),
            variables: self.call.variables.iter().map(|(name, value)| (name.clone(), value.clone())).collect(),
        })
    }

    fn append_event(&mut self, kind: String, data: String) -> Result<()> {
        // Only the host records what it witnessed: calls, node transitions, inbound texts and
        // delivery statuses. A plugin forging one could fake a reply or a status.
        if RESERVED_EVENT_PREFIXES.iter().any(|prefix| kind.starts_with(prefix)) {
            anyhow::bail!("the plugin may not append a `{kind}` event: call.*, node.*, sms.received and sms.status are recorded by the host");
        }
        let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
        if kind == "sms.sent" {
            self.register_sent_message(&data)?;
        }
        self.store.append_event(&self.call.call_id, &kind, &data)?;
        Ok(())
    }
}

impl state::Host for NodeHost {
    fn get(&mut self, scope: state::Scope, key: String) -> Result<Option<String>> {
        Ok(self.store.state_get(&self.owner(scope), &key)?)
    }

    fn set(&mut self, scope: state::Scope, key: String, value: String) -> Result<()> {
        Ok(self.store.state_set(&self.owner(scope), &key, &value)?)
    }

    fn delete(&mut self, scope: state::Scope, key: String) -> Result<()> {
        Ok(self.store.state_delete(&self.owner(scope), &key)?)
    }

    fn get_or_insert(&mut self, scope: state::Scope, key: String, value: String) -> Result<String> {
        Ok(self.store.state_get_or_insert(&self.owner(scope), &key, &value)?)
    }

    fn increment(&mut self, scope: state::Scope, key: String, delta: i64) -> Result<i64> {
        Ok(self.store.state_increment(&self.owner(scope), &key, delta)?)
    }
}

impl numbers::Host for NodeHost {
    fn lookup(&mut self, number: String) -> Result<Option<numbers::NumberInfo>> {
        Ok(self.config.numbers.get(&number).map(number_info))
    }

    fn pool(&mut self) -> Result<Vec<String>> {
        Ok(self.config.pool.clone())
    }

    fn opted_out(&mut self, sender: String, recipient: String) -> Result<bool> {
        Ok(self.store.opted_out(&sender, &recipient)?)
    }
}

impl accounts::Host for NodeHost {
    fn get(&mut self, name: String) -> Result<Option<accounts::AccountInfo>> {
        let status_callback = self.config.status_callback_url();
        Ok(self.config.accounts.get(&name).map(|account| accounts::AccountInfo {
            name: account.name.clone(),
            provider: "twilio".into(),
            api_base: account.api_base.clone(),
            account_id: account.account_sid.clone(),
            status_callback: status_callback.clone(),
        }))
    }
}

impl log::Host for NodeHost {
    fn write(&mut self, level: log::Level, message: String) -> Result<()> {
        let call_id = self.call.call_id.as_str();
        let node = self.node_type.as_str();
        match level {
            log::Level::Trace => tracing::trace!(call_id, node, "{message}"),
            log::Level::Debug => tracing::debug!(call_id, node, "{message}"),
            log::Level::Info => tracing::info!(call_id, node, "{message}"),
            log::Level::Warn => tracing::warn!(call_id, node, "{message}"),
            log::Level::Error => tracing::error!(call_id, node, "{message}"),
        }
        Ok(())
    }
}

fn telephony(telephony: config::Telephony) -> types::Telephony {
    match telephony {
        config::Telephony::Platform => types::Telephony::Platform,
        config::Telephony::Custom => types::Telephony::Custom,
    }
}

fn number_info(entry: &config::NumberConfig) -> numbers::NumberInfo {
    numbers::NumberInfo {
        number: entry.number.clone(),
        account: entry.account.clone(),
        telephony: telephony(entry.telephony),
        sms: entry.sms,
        mms: entry.mms,
        a2p: numbers::A2pRegistration {
            business_profile: registration(entry.a2p.business_profile),
            brand: registration(entry.a2p.brand),
            campaign: registration(entry.a2p.campaign),
            brand_tier: entry.a2p.brand_tier.clone(),
        },
    }
}

fn registration(status: config::RegistrationStatus) -> numbers::RegistrationStatus {
    match status {
        config::RegistrationStatus::NotStarted => numbers::RegistrationStatus::NotStarted,
        config::RegistrationStatus::Pending => numbers::RegistrationStatus::Pending,
        config::RegistrationStatus::Approved => numbers::RegistrationStatus::Approved,
        config::RegistrationStatus::Rejected => numbers::RegistrationStatus::Rejected,
    }
}
