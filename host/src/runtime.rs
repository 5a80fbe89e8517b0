//! The sandboxed runtime for node plugins: one wasmtime engine with the pooling allocator, the
//! component compiled once (and cached on disk) and pre-instantiated, and a fresh instance per
//! run with a memory limit and a wall-clock limit.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::smsnode::node::{accounts, call, log, numbers, state, types};
use crate::bindings::{Descriptor, FlowNodePre, NodeError};
use crate::config::Limits;
use crate::imports::NodeHost;
use crate::outbound::{Denial, OutboundHooks, OutboundPolicy};

/// Interval at which the engine's epoch advances. Running guest code yields at every tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Reason a run did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The node rejected its configuration or input.
    #[error("invalid node configuration: {}: {}", .0.field, .0.message)]
    Config(NodeError),
    #[error("the plugin ran longer than the {0} ms limit and was stopped. Raise limits.run_timeout_ms if the work is legitimate")]
    TimeLimit(u64),
    #[error("the plugin exceeded its {0} MiB memory limit and was stopped. Raise limits.memory_mib if the work is legitimate")]
    MemoryLimit(u32),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error(transparent)]
    Host(#[from] anyhow::Error),
}

/// The store data of one run.
pub struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    table: ResourceTable,
    limiter: MemoryLimiter,
    pub host: NodeHost,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Caps a run's linear memory and remembers whether the cap was hit.
struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The result of a run, with the outgoing requests the policy denied during it.
#[derive(Debug)]
pub struct RunReport<T> {
    pub result: T,
    pub denials: Vec<Denial>,
}

/// A compiled, pre-instantiated node plugin and the engine that runs it.
pub struct Runtime {
    engine: Engine,
    pre: FlowNodePre<RunState>,
    limits: Limits,
    policy: Arc<OutboundPolicy>,
    /// Hex SHA-256 of the component's bytes.
    pub component_hash: String,
    /// One permit per pooled instance, so runs beyond `limits.concurrent_runs` wait their turn
    /// instead of failing to instantiate.
    permits: tokio::sync::Semaphore,
}

impl Runtime {
    /// Compiles (or loads from `cache_dir`) and pre-instantiates the component in `wasm`.
    pub fn new(wasm: &[u8], limits: &Limits, policy: Arc<OutboundPolicy>, cache_dir: Option<&Path>) -> Result<Runtime> {
        let engine = Engine::new(&engine_config(limits)).map_err(anyhow::Error::from).context("cannot create the wasmtime engine")?;
        let component_hash = hex::encode(Sha256::digest(wasm));
        let component = load_component(&engine, wasm, &component_hash, cache_dir)?;

        let mut linker: Linker<RunState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        add_node_imports(&mut linker)?;
        let pre = FlowNodePre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).context(
            "the plugin imports something this host does not provide. Build it against the smsnode:node WIT package",
        )?)
        .map_err(anyhow::Error::from)
        .context("the plugin does not export the smsnode:node/node interface")?;

        // The ticker thread holds only a weak engine reference and ends once the engine is gone.
        start_epoch_ticker(&engine)?;
        Ok(Runtime {
            engine,
            pre,
            limits: limits.clone(),
            policy,
            component_hash,
            permits: tokio::sync::Semaphore::new(limits.concurrent_runs as usize),
        })
    }

    /// Calls the plugin's `describe`.
    pub async fn describe(&self, host: NodeHost) -> Result<Descriptor, RunError> {
        let report = self
            .call(host, |bindings, store| Box::pin(async move { bindings.smsnode_node_node().call_describe(store).await }))
            .await?;
        Ok(report.result)
    }

    /// Calls the plugin's `run` with a configuration and input (both JSON).
    pub async fn run(&self, host: NodeHost, config: &str, input: &str) -> Result<RunReport<types::RunResult>, RunError> {
        let (config, input) = (config.to_string(), input.to_string());
        let report = self
            .call(host, move |bindings, store| {
                Box::pin(async move { bindings.smsnode_node_node().call_run(store, &config, &input).await })
            })
            .await?;
        flatten(report)
    }

    /// Calls the plugin's `resume` for a node that waited.
    pub async fn resume(
        &self,
        host: NodeHost,
        config: &str,
        state: &str,
        event: types::ResumeEvent,
    ) -> Result<RunReport<types::RunResult>, RunError> {
        let (config, state) = (config.to_string(), state.to_string());
        let report = self
            .call(host, move |bindings, store| {
                Box::pin(async move { bindings.smsnode_node_node().call_resume(store, &config, &state, &event).await })
            })
            .await?;
        flatten(report)
    }

    /// Instantiates the plugin in a fresh store and makes one export call under the limits.
    async fn call<T, F>(&self, host: NodeHost, export: F) -> Result<RunReport<T>, RunError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(
                &'a crate::bindings::FlowNode,
                &'a mut Store<RunState>,
            ) -> std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>
            + Send,
    {
        let _permit = self.permits.acquire().await.map_err(|error| RunError::Host(error.into()))?;
        let hooks = OutboundHooks::new(self.policy.clone());
        let denials = hooks.denials.clone();
        let max_bytes = self.limits.memory_mib as usize * 1024 * 1024;
        let state = RunState {
            // No preopened folders, environment, arguments, network or stdin: only clocks,
            // random, and stderr for the plugin's panic messages.
            wasi: WasiCtx::builder().inherit_stderr().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build(),
            http: WasiHttpCtx::new(),
            hooks,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { max_bytes, hit: false },
            host,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Guest code yields to the async runtime at every epoch tick, so a busy plugin does not
        // keep a worker thread. The timeout below then stops it at the wall-clock limit, also
        // while it is blocked in a host call such as an HTTP request or a sleep.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);

        let limit = Duration::from_millis(self.limits.run_timeout_ms);
        let outcome = tokio::time::timeout(limit, async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            export(&bindings, &mut store).await
        })
        .await;

        let denials = denials.lock().map(|list| list.clone()).unwrap_or_default();
        match outcome {
            Err(_elapsed) => Err(RunError::TimeLimit(self.limits.run_timeout_ms)),
            Ok(Ok(result)) => Ok(RunReport { result, denials }),
            Ok(Err(error)) => Err(self.classify_trap(error, store.data().limiter.hit)),
        }
    }

    fn classify_trap(&self, error: wasmtime::Error, memory_hit: bool) -> RunError {
        if memory_hit {
            return RunError::MemoryLimit(self.limits.memory_mib);
        }
        if let Some(trap) = error.downcast_ref::<wasmtime::Trap>()
            && *trap == wasmtime::Trap::Interrupt
        {
            return RunError::TimeLimit(self.limits.run_timeout_ms);
        }
        RunError::Trap(format!("{error:#}"))
    }
}

fn flatten(report: RunReport<Result<types::RunResult, NodeError>>) -> Result<RunReport<types::RunResult>, RunError> {
    match report.result {
        Ok(result) => Ok(RunReport { result, denials: report.denials }),
        Err(error) => Err(RunError::Config(error)),
    }
}

fn engine_config(limits: &Limits) -> Config {
    let runs = limits.concurrent_runs;
    let memory_bytes = limits.memory_mib as usize * 1024 * 1024;

    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(runs)
        .total_core_instances(runs * 16)
        .total_memories(runs * 4)
        .total_tables(runs * 16)
        .total_stacks(runs)
        .max_memory_size(memory_bytes);

    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    // Reserve only what a memory may grow to, so many pooled instances fit in the address space.
    config.memory_reservation(memory_bytes as u64);
    config
}

fn add_node_imports(linker: &mut Linker<RunState>) -> Result<()> {
    fn host(state: &mut RunState) -> &mut NodeHost {
        &mut state.host
    }
    types::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    call::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    state::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    numbers::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    accounts::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    log::add_to_linker::<RunState, HasSelf<NodeHost>>(linker, host)?;
    Ok(())
}

/// Loads the compiled component from the cache, or compiles it and stores it there. The cache
/// key is the component's hash and the engine's compatibility hash, so a different component,
/// wasmtime version or engine setting never reuses stale code.
fn load_component(engine: &Engine, wasm: &[u8], component_hash: &str, cache_dir: Option<&Path>) -> Result<Component> {
    let Some(cache_dir) = cache_dir else {
        return Component::new(engine, wasm).map_err(anyhow::Error::from).context("cannot compile the plugin component");
    };
    let path = cache_path(engine, component_hash, cache_dir);
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same engine
        // configuration (its name contains a hash of the engine's compatibility hash), in a
        // cache folder this host owns. Wasmtime also checks the header and rejects a mismatched
        // file.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(path = %path.display(), %error, "ignoring unusable compiled-code cache entry"),
        }
    }

    let component = Component::new(engine, wasm).map_err(anyhow::Error::from).context("cannot compile the plugin component")?;
    if let Err(error) = store_compiled(&component, &path) {
        tracing::warn!(path = %path.display(), %error, "cannot write the compiled-code cache");
    }
    Ok(component)
}

fn cache_path(engine: &Engine, component_hash: &str, cache_dir: &Path) -> PathBuf {
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{}-{:016x}.cwasm", &component_hash[..32], hasher.finish()))
}

fn store_compiled(component: &Component, path: &Path) -> Result<()> {
    let dir = path.parent().context("cache path has no folder")?;
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    // Write to a unique temporary name, then rename, so a concurrent reader never sees half a file.
    let temporary = dir.join(format!(".{}.{}.tmp", std::process::id(), rand::random::<u64>()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Returns the default compiled-code cache folder: `$SMSNODE_CACHE_DIR`, else the user's cache
/// folder.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SMSNODE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("smsnode"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/smsnode"))
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("smsnode-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    Ok(())
}
