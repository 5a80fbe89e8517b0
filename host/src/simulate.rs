//! `smsnode run`: simulates a call from a scenario against the real host, with the sandbox
//! provider and the webhook service on loopback, and reports every event as it happens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::app::{App, NodeRun};
use crate::config::{HostConfig, Provider};
use crate::runtime::RunError;
use crate::sandbox::{InboundScript, RecordedRequest, Sandbox, ScriptedMedia};
use crate::scenario::{CallerText, Scenario};
use crate::service::{self, StartCall};
use crate::store::{CallEvent, Store};
use crate::transcript::Transcript;

/// Maximum time a scenario may run before it is stopped, whatever its nodes wait for.
const SCENARIO_LIMIT: Duration = Duration::from_secs(600);
/// Maximum time the call stays up after its last node so that delivery statuses can arrive.
const STATUS_GRACE: Duration = Duration::from_secs(2);

/// Result of a scenario run: the call's id, node runs and events, and the sandbox's record.
#[derive(Debug)]
pub struct ScenarioReport {
    pub call_id: String,
    pub runs: Vec<NodeRun>,
    pub events: Vec<CallEvent>,
    pub sandbox_requests: Vec<RecordedRequest>,
}

/// Runs a scenario and reports its events to `transcript` as they happen.
pub async fn run(scenario: &Scenario, plugin: &[u8], cache_dir: Option<&std::path::Path>, transcript: &mut Transcript) -> Result<ScenarioReport> {
    let mut config = HostConfig::load(&scenario.config_path)?;

    // Loopback services: the sandbox provider, and the webhook service it posts to.
    let sandbox = start_sandbox(&mut config).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot bind the webhook service to 127.0.0.1")?;
    let service_url = format!("http://{}", listener.local_addr()?);
    if config.accounts.values().all(|account| account.provider == Provider::Sandbox) {
        config.service.public_url = Some(service_url.clone());
    }
    if let Some(sandbox) = &sandbox {
        sandbox.deliver_webhooks_to(config.service.public_url.as_deref().unwrap_or(&service_url));
        sandbox.inject_faults(scenario.faults.iter().copied());
    }

    let app = App::start(config, Store::open_in_memory()?, plugin, cache_dir).await?;
    let server = tokio::spawn(service::serve(app.clone(), listener));
    let result = tokio::time::timeout(SCENARIO_LIMIT, run_call(&app, scenario, sandbox.as_ref(), transcript)).await;
    server.abort();

    let (call_id, runs) = result.map_err(|_| anyhow::anyhow!("the scenario ran longer than {} s and was stopped", SCENARIO_LIMIT.as_secs()))??;
    let sandbox_requests = sandbox.as_ref().map(Sandbox::requests).unwrap_or_default();
    transcript.sandbox(&sandbox_requests);
    Ok(ScenarioReport { events: app.store.events(&call_id, 0)?, call_id, runs, sandbox_requests })
}

async fn start_sandbox(config: &mut HostConfig) -> Result<Option<Sandbox>> {
    if config.sandbox_accounts().next().is_none() {
        return Ok(None);
    }
    let sandbox = Sandbox::start().await?;
    for account in config.sandbox_accounts() {
        sandbox.add_account(&account.account_sid, &account.auth_token);
    }
    config.attach_sandbox(&sandbox.api_base());
    Ok(Some(sandbox))
}

/// Starts the call, runs its nodes in order, and ends it.
async fn run_call(app: &Arc<App>, scenario: &Scenario, sandbox: Option<&Sandbox>, transcript: &mut Transcript) -> Result<(String, Vec<NodeRun>)> {
    let spec = &scenario.call;
    let request = StartCall {
        call_id: spec.id.clone(),
        caller: spec.caller.clone(),
        agent_number: spec.agent_number.clone(),
        direction: spec.direction,
        variables: spec.variables.clone(),
    };
    let call = service::call_record(app, request).map_err(|error| anyhow::anyhow!("call.{error}"))?;
    let call_id = call.call_id.clone();
    let mut events = app.store.subscribe();
    let started = Instant::now();
    transcript.call_started(&call);
    app.start_call(&call)?;

    for text in &scenario.texts {
        schedule_text(app.clone(), sandbox, &call_id, text.clone())?;
    }
    if let Some(after) = spec.end_after_ms {
        let app = app.clone();
        let call_id = call_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            if let Err(error) = app.end_call(&call_id).await {
                tracing::error!(error = %format!("{error:#}"), "ending the call failed");
            }
        });
    }

    let mut runs = Vec::new();
    for (name, node_config, input) in &scenario.nodes {
        drain(&call_id, &mut events, transcript, started);
        transcript.node_started(name, started.elapsed());
        let run = match app.run_node(&call_id, node_config, input).await {
            Ok(run) => run,
            Err(RunError::Config(error)) => bail!("{name}: config.{}: {}", error.field, error.message),
            Err(error) => return Err(anyhow::Error::new(error).context(format!("{name} failed"))),
        };
        let run = finish_run(app, run, &mut events, transcript, started).await?;
        runs.push(run);
    }

    if spec.end_after_ms.is_none() {
        await_final_statuses(app, &call_id).await?;
    }
    app.end_call(&call_id).await?;
    drain(&call_id, &mut events, transcript, started);
    Ok((call_id, runs))
}

/// Prints the call's events until the run takes its final transition.
async fn finish_run(app: &App, mut run: NodeRun, events: &mut broadcast::Receiver<CallEvent>, transcript: &mut Transcript, started: Instant) -> Result<NodeRun> {
    loop {
        match events.recv().await {
            Ok(event) if event.call_id == run.call_id => {
                transcript.event(&event, started.elapsed());
                let same_run = event.data.get("run_id").and_then(Value::as_str) == Some(run.run_id.as_str());
                if same_run && matches!(event.kind.as_str(), "node.transition" | "node.error") {
                    if let Some(record) = app.store.run(&run.run_id)? {
                        run.status = record.status;
                        run.transition = record.transition;
                        run.output = record.output;
                    }
                    return Ok(run);
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "transcript skipped events");
                // The skipped events may include this run's transition, which the store has.
                if let Some(record) = app.store.run(&run.run_id)?
                    && matches!(record.status.as_str(), "done" | "error")
                {
                    run.status = record.status;
                    run.transition = record.transition;
                    run.output = record.output;
                    return Ok(run);
                }
            }
            Err(broadcast::error::RecvError::Closed) => bail!("the host stopped while the node ran"),
        }
    }
}

/// Gives the call's sent messages a moment to reach a final delivery status, so the
/// transcript shows it.
async fn await_final_statuses(app: &App, call_id: &str) -> Result<()> {
    let deadline = Instant::now() + STATUS_GRACE;
    while Instant::now() < deadline {
        let pending = app.store.call_messages(call_id)?.iter().any(|(_, status)| !smsnode_sms::twilio::status::is_final(status));
        if !pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Prints the events that are already queued.
fn drain(call_id: &str, events: &mut broadcast::Receiver<CallEvent>, transcript: &mut Transcript, started: Instant) {
    while let Ok(event) = events.try_recv() {
        if event.call_id == call_id {
            transcript.event(&event, started.elapsed());
        }
    }
}

/// Schedules the sandbox to text the agent as the caller, after the text's delay.
fn schedule_text(app: Arc<App>, sandbox: Option<&Sandbox>, call_id: &str, text: CallerText) -> Result<()> {
    let Some(sandbox) = sandbox else {
        bail!("caller.texts needs a sandbox account, because real providers cannot be scripted");
    };
    let inbox = sandbox.inbox();
    let call_id = call_id.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(text.after).await;
        let Ok(Some(call)) = app.store.call(&call_id) else {
            return;
        };
        let to = text.to.clone().unwrap_or_else(|| last_sender(&app, &call_id).unwrap_or(call.agent_number.clone()));
        let Some(account) = app.config.numbers.get(&to).and_then(|number| app.config.accounts.get(&number.account)) else {
            tracing::warn!(to, "caller text dropped because its number is not configured on this host");
            return;
        };
        inbox.script_inbound(InboundScript {
            account_sid: account.account_sid.clone(),
            from: call.caller.clone(),
            to,
            body: text.body.clone(),
            media: text.media.iter().map(|(content_type, bytes)| ScriptedMedia { content_type: content_type.clone(), bytes: bytes.clone() }).collect(),
            delay: Duration::ZERO,
        });
    });
    Ok(())
}

/// Returns the number that the call's most recent SMS went out from.
fn last_sender(app: &App, call_id: &str) -> Option<String> {
    let events = app.store.events(call_id, 0).ok()?;
    events.iter().rev().find(|event| event.kind == "sms.sent").and_then(|event| event.data["from"].as_str().map(str::to_string))
}

