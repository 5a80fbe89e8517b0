//! The flow-node host. It starts and ends calls, runs nodes in them and stores the waits of
//! nodes that await an event. It resumes a wait on the matching event, on its timeout or when
//! the call ends. Waits live in the store, so they cost no instance and no thread, and a
//! restarted host resumes them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::bindings::types::{self, ResumeEvent, RunResult, WaitEvent};
use crate::bindings::Descriptor;
use crate::config::HostConfig;
use crate::imports::NodeHost;
use crate::outbound::OutboundPolicy;
use crate::runtime::{RunError, Runtime};
use crate::store::{CallRecord, Store, WaitRecord};

/// Maximum sleep of the timer task between two checks of the waits table.
const TIMER_IDLE: Duration = Duration::from_secs(30);

/// Status and result of a node run.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRun {
    pub run_id: String,
    pub call_id: String,
    /// `done` or `waiting`.
    pub status: String,
    pub transition: Option<String>,
    pub output: Option<Value>,
}

/// The host shared by the CLI, the service and the tests.
pub struct App {
    pub config: Arc<HostConfig>,
    pub store: Arc<Store>,
    pub runtime: Arc<Runtime>,
    pub descriptor: Descriptor,
    /// Wakes the timer task when a wait with an earlier deadline is stored.
    timer_wake: Notify,
    /// Wakes the webhook processor when a webhook is accepted.
    pub(crate) queue_wake: Notify,
}

impl App {
    /// Loads the plugin, describes it and starts the timer and webhook tasks.
    pub async fn start(config: HostConfig, store: Store, plugin: &[u8], cache_dir: Option<&std::path::Path>) -> Result<Arc<App>> {
        let policy = Arc::new(OutboundPolicy::from_config(&config));
        let runtime = Runtime::new(plugin, &config.limits, policy, cache_dir)?;
        let config = Arc::new(config);
        let store = Arc::new(store);

        let describe_host = NodeHost { node_type: "describe".into(), call: CallRecord::detached(), config: config.clone(), store: store.clone() };
        let descriptor = runtime.describe(describe_host).await.context("the plugin's describe failed")?;

        let released = store.release_all_waits()?;
        if released > 0 {
            tracing::info!(waits = released, "released waits claimed before the last stop");
        }

        let app = Arc::new(App {
            config,
            store,
            runtime: Arc::new(runtime),
            descriptor,
            timer_wake: Notify::new(),
            queue_wake: Notify::new(),
        });
        tokio::spawn(recheck_waits(Arc::downgrade(&app)));
        tokio::spawn(timer_task(Arc::downgrade(&app)));
        tokio::spawn(crate::inbound::processor_task(Arc::downgrade(&app)));
        tracing::info!(node_type = %app.descriptor.node_type, version = %app.descriptor.version, waits = app.store.count_waits()?, "host started");
        Ok(app)
    }

    /// Starts a call and records `call.started`.
    pub fn start_call(&self, call: &CallRecord) -> Result<()> {
        self.store.start_call(call)?;
        self.store.append_event(
            &call.call_id,
            "call.started",
            &json!({ "caller": call.caller, "agent_number": call.agent_number, "direction": call.direction }),
        )?;
        tracing::info!(call_id = %call.call_id, "call started");
        Ok(())
    }

    /// Ends a call, records `call.ended` and resumes its waiting nodes with `call_ended`.
    /// Returns false when the call was not active.
    pub async fn end_call(&self, call_id: &str) -> Result<bool> {
        if !self.store.end_call(call_id)? {
            return Ok(false);
        }
        self.store.append_event(call_id, "call.ended", &json!({}))?;
        tracing::info!(call_id, "call ended");
        for wait in self.store.waits_of_call(call_id)? {
            self.resume(&wait.run_id, ResumeEvent::CallEnded).await;
        }
        Ok(true)
    }

    /// Runs the node in a call with a configuration and input.
    pub async fn run_node(&self, call_id: &str, node_config: &Value, input: &Value) -> Result<NodeRun, RunError> {
        let call = self.store.call(call_id)?.with_context(|| format!("call {call_id} not found. Start the call first"))?;
        let run_id = format!("RN{}", hex::encode(rand::random::<[u8; 12]>()));
        let after_event_id = self.store.last_event_id(call_id)?;
        self.store.insert_run(&run_id, call_id)?;

        let node_config = node_config.to_string();
        let report = self.runtime.run(self.node_host(call), &node_config, &input.to_string()).await;
        let result = match report {
            Ok(report) => report.result,
            Err(error) => {
                self.store.update_run(&run_id, "error", None, None, Some(&error.to_string()))?;
                self.store.append_event(call_id, "node.error", &json!({ "run_id": run_id, "error": error.to_string() }))?;
                return Err(error);
            }
        };
        Ok(self.settle(&run_id, call_id, &node_config, after_event_id, result).await?)
    }

    /// Records a run's result: its transition, or its wait. A wait whose event already came
    /// (a reply faster than the run, or a status callback) is resumed at once.
    async fn settle(&self, run_id: &str, call_id: &str, node_config: &str, after_event_id: i64, result: RunResult) -> Result<NodeRun> {
        match result {
            RunResult::Done(outcome) => {
                let output: Value = serde_json::from_str(&outcome.output).unwrap_or(Value::String(outcome.output.clone()));
                self.store.update_run(run_id, "done", Some(&outcome.transition), Some(&output), None)?;
                self.store.append_event(call_id, "node.transition", &json!({ "run_id": run_id, "transition": outcome.transition, "output": output }))?;
                tracing::info!(call_id, run_id, transition = %outcome.transition, "node took a transition");
                Ok(NodeRun { run_id: run_id.into(), call_id: call_id.into(), status: "done".into(), transition: Some(outcome.transition), output: Some(output) })
            }
            RunResult::Wait(request) => {
                let wait = wait_record(run_id, call_id, node_config, after_event_id, &request);
                self.store.put_wait(&wait)?;
                self.store.update_run(run_id, "waiting", None, None, None)?;
                self.store.append_event(
                    call_id,
                    "node.waiting",
                    &json!({ "run_id": run_id, "timeout_ms": request.timeout_ms, "for": wait.message_filters, "status_of": wait.status_sids }),
                )?;
                tracing::info!(call_id, run_id, timeout_ms = request.timeout_ms, "node waiting");
                self.timer_wake.notify_one();
                Box::pin(self.resume_if_already_due(&wait)).await?;
                Ok(NodeRun { run_id: run_id.into(), call_id: call_id.into(), status: "waiting".into(), transition: None, output: None })
            }
        }
    }

    /// Resumes a new wait at once when its call ended, a matching message came, or a watched
    /// message already failed, before the wait was stored.
    async fn resume_if_already_due(&self, wait: &WaitRecord) -> Result<()> {
        let active = self.store.call(&wait.call_id)?.is_some_and(|call| call.active);
        if !active {
            self.resume(&wait.run_id, ResumeEvent::CallEnded).await;
            return Ok(());
        }
        for event in self.store.events(&wait.call_id, wait.after_event_id)? {
            if event.kind == "sms.received"
                && let Some(message) = crate::inbound::message_from_event(&event.data)
                && matches_filter(&wait.message_filters, &message.sender, &message.recipient)
            {
                self.resume(&wait.run_id, ResumeEvent::Message(message)).await;
                return Ok(());
            }
        }
        for sid in wait.status_sids.as_array().into_iter().flatten().filter_map(Value::as_str) {
            if let Some((status, error_code)) = self.store.message_status(sid)?
                && smsnode_sms::twilio::status::is_failure(&status)
            {
                let update = types::StatusUpdate { message_sid: sid.into(), status, error_code };
                self.resume(&wait.run_id, ResumeEvent::MessageStatus(update)).await;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Resumes a waiting run with `event`, unless another task claimed it first.
    pub async fn resume(&self, run_id: &str, event: ResumeEvent) {
        if let Err(error) = self.try_resume(run_id, event).await {
            tracing::error!(run_id, error = %format!("{error:#}"), "resuming a waiting node failed");
        }
    }

    async fn try_resume(&self, run_id: &str, event: ResumeEvent) -> Result<()> {
        let Some(wait) = self.store.claim_wait(run_id)? else {
            return Ok(());
        };
        let Some(call) = self.store.call(&wait.call_id)? else {
            self.store.delete_wait(run_id)?;
            self.store.update_run(run_id, "error", None, None, Some("the run's call no longer exists"))?;
            tracing::error!(run_id, call_id = %wait.call_id, "waiting run dropped: its call no longer exists");
            return Ok(());
        };
        let call_id = wait.call_id.clone();

        // A wait renewed after a message must not be resumed by that same message again.
        let after_event_id = match &event {
            ResumeEvent::Message(message) => self.store.received_event_id(&call_id, &message.message_sid)?.unwrap_or(wait.after_event_id),
            _ => wait.after_event_id,
        };
        let report = self.runtime.resume(self.node_host(call), &wait.node_config, &wait.state, event).await;
        match report {
            Ok(report) => {
                self.store.delete_wait(run_id)?;
                self.settle(run_id, &call_id, &wait.node_config, after_event_id, report.result).await?;
            }
            Err(RunError::Host(error)) => {
                // A host fault, such as a database error, leaves the wait for the next event or
                // timer.
                self.store.release_wait(run_id)?;
                return Err(error);
            }
            Err(error) => {
                self.store.delete_wait(run_id)?;
                self.store.update_run(run_id, "error", None, None, Some(&error.to_string()))?;
                self.store.append_event(&call_id, "node.error", &json!({ "run_id": run_id, "error": error.to_string() }))?;
                tracing::error!(run_id, call_id, %error, "resumed node failed");
            }
        }
        Ok(())
    }

    /// Resumes every due wait with `timeout`, and returns how long until the next deadline.
    async fn fire_due_timeouts(&self) -> Result<Duration> {
        for wait in self.store.due_waits(now_ms())? {
            tracing::info!(run_id = %wait.run_id, call_id = %wait.call_id, "wait timed out");
            self.resume(&wait.run_id, ResumeEvent::Timeout).await;
        }
        Ok(match self.store.next_deadline()? {
            Some(deadline) => Duration::from_millis((deadline - now_ms()).clamp(0, TIMER_IDLE.as_millis() as i64) as u64),
            None => TIMER_IDLE,
        })
    }

    pub(crate) fn node_host(&self, call: CallRecord) -> NodeHost {
        NodeHost { node_type: self.descriptor.node_type.clone(), call, config: self.config.clone(), store: self.store.clone() }
    }
}

/// Resumes, once at start-up, the stored waits whose event was recorded before the host
/// stopped but not yet handed to them.
async fn recheck_waits(app: std::sync::Weak<App>) {
    let Some(app) = app.upgrade() else {
        return;
    };
    let waits = match app.store.unclaimed_waits() {
        Ok(waits) => waits,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "listing stored waits failed");
            return;
        }
    };
    for wait in waits {
        if let Err(error) = app.resume_if_already_due(&wait).await {
            tracing::error!(run_id = %wait.run_id, error = %format!("{error:#}"), "rechecking a stored wait failed");
        }
    }
}

/// Fires wait timeouts, sleeping until the earliest deadline. One task serves every wait.
async fn timer_task(app: std::sync::Weak<App>) {
    loop {
        let Some(strong) = app.upgrade() else {
            return;
        };
        let sleep = match strong.fire_due_timeouts().await {
            Ok(sleep) => sleep,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "checking wait timeouts failed");
                Duration::from_secs(1)
            }
        };
        let woken = async {
            strong.timer_wake.notified().await;
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = woken => {}
        }
    }
}

fn wait_record(run_id: &str, call_id: &str, node_config: &str, after_event_id: i64, request: &types::WaitRequest) -> WaitRecord {
    let mut filters = Vec::new();
    let mut sids = Vec::new();
    for event in &request.events {
        match event {
            WaitEvent::Message(filter) => filters.push(json!({ "sender": filter.sender, "recipients": filter.recipients })),
            WaitEvent::MessageStatus(sid) => sids.push(json!(sid)),
        }
    }
    WaitRecord {
        run_id: run_id.into(),
        call_id: call_id.into(),
        node_config: node_config.into(),
        state: request.state.clone(),
        message_filters: Value::Array(filters),
        status_sids: Value::Array(sids),
        deadline_ms: now_ms().saturating_add(request.timeout_ms.min(i64::MAX as u64) as i64),
        after_event_id,
    }
}

/// Returns whether a message from `sender` to `recipient` matches one of a wait's filters.
pub(crate) fn matches_filter(filters: &Value, sender: &str, recipient: &str) -> bool {
    filters.as_array().into_iter().flatten().any(|filter| {
        filter["sender"].as_str() == Some(sender)
            && filter["recipients"].as_array().into_iter().flatten().any(|number| number.as_str() == Some(recipient))
    })
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}
