//! The `smsnode` command: run a scenario, describe the node, count SMS segments, check a
//! configuration, or serve the calls API and Twilio webhooks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use smsnode_host::config::HostConfig;
use smsnode_host::runtime::default_cache_dir;
use smsnode_host::sandbox::Sandbox;
use smsnode_host::scenario::Scenario;
use smsnode_host::store::Store;
use smsnode_host::transcript::Transcript;
use smsnode_host::{DEFAULT_PLUGIN, app::App, describe, service, simulate};

#[derive(Parser)]
#[command(name = "smsnode", version, about = "An SMS node for AI phone and chat agent flows, run sandboxed under wasmtime")]
struct Cli {
    /// A node plugin component to load instead of the embedded SMS node.
    #[arg(long, global = true, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,

    /// Folder for compiled plugin code [default: $SMSNODE_CACHE_DIR, else ~/.cache/smsnode].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a call from a scenario file and print its transcript.
    Run {
        /// Print one JSON object per line, each with a `type` field.
        #[arg(long)]
        json: bool,
        scenario: PathBuf,
    },
    /// Print the node's descriptor: configuration schema, transitions and tool definition.
    Describe,
    /// Print the encoding and segment count of an SMS text.
    Segments {
        /// Print `{"encoding", "segments", "units"}` as JSON.
        #[arg(long)]
        json: bool,
        text: String,
    },
    /// Check a host configuration file and print a summary.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Serve the calls API and Twilio webhooks.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Address to listen on, overriding service.listen.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<()> {
    let plugin = load_plugin(cli.plugin.as_deref())?;
    let cache_dir = cli.cache_dir.or_else(default_cache_dir);
    match cli.command {
        Command::Run { json, scenario } => {
            let scenario = Scenario::load(&scenario)?;
            let mut transcript = Transcript::stdout(json);
            simulate::run(&scenario, &plugin, cache_dir.as_deref(), &mut transcript).await?;
        }
        Command::Describe => {
            let app = App::start(HostConfig::parse("", Path::new("."))?, Store::open_in_memory()?, &plugin, cache_dir.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&describe::descriptor_json(&app.descriptor))?);
        }
        Command::Segments { json, text } => print_segments(&text, json)?,
        Command::Check { config } => {
            let config = HostConfig::load(&config)?;
            println!(
                "configuration is valid: {} account(s), {} number(s), {} pool number(s)",
                config.accounts.len(),
                config.numbers.len(),
                config.pool.len()
            );
        }
        Command::Serve { config, listen } => serve(&config, listen, &plugin, cache_dir.as_deref()).await?,
    }
    Ok(())
}

fn load_plugin(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read the plugin {}", path.display())),
        None => Ok(DEFAULT_PLUGIN.to_vec()),
    }
}

/// Most characters one message may carry (Twilio's limit for `Body`).
const MAX_BODY_CHARS: usize = 1600;

fn print_segments(text: &str, json: bool) -> Result<()> {
    let count = smsnode_sms::segments::count(text);
    if json {
        println!("{}", serde_json::json!({ "encoding": count.encoding.as_str(), "segments": count.segments, "units": count.units }));
    } else {
        let unit = if count.encoding == smsnode_sms::segments::Encoding::Gsm7 { "septets" } else { "UTF-16 code units" };
        println!("{}: {} segment(s), {} {unit}", count.encoding.as_str(), count.segments, count.units);
        if let Some(character) = smsnode_sms::segments::first_non_gsm7(text) {
            println!("UCS-2 because GSM-7 cannot encode {character:?} (U+{:04X})", u32::from(character));
        }
        let characters = text.chars().count();
        if characters > MAX_BODY_CHARS {
            println!("{characters} characters: the SMS node sends at most {MAX_BODY_CHARS} and would take `failed`");
        }
    }
    Ok(())
}

async fn serve(config_path: &Path, listen: Option<String>, plugin: &[u8], cache_dir: Option<&Path>) -> Result<()> {
    let mut config = HostConfig::load(config_path)?;
    let listen = listen.unwrap_or_else(|| config.service.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}. Set another address in service.listen or --listen"))?;
    let local_url = format!("http://{}", listener.local_addr()?);
    if config.service.public_url.is_none() {
        tracing::warn!(url = %local_url, "service.public_url is not set, so webhook signatures are checked against the local address");
        config.service.public_url = Some(local_url.clone());
    }

    let sandbox = if config.sandbox_accounts().next().is_some() {
        let sandbox = Sandbox::start().await?;
        for account in config.sandbox_accounts() {
            sandbox.add_account(&account.account_sid, &account.auth_token);
        }
        config.attach_sandbox(&sandbox.api_base());
        sandbox.deliver_webhooks_to(config.service.public_url.as_deref().unwrap_or(&local_url));
        tracing::info!(api_base = %sandbox.api_base(), "sandbox provider serving the sandbox accounts");
        Some(sandbox)
    } else {
        None
    };

    let loopback = listener.local_addr().map(|addr| addr.ip().is_loopback()).unwrap_or(false);
    if !loopback && config.service.api_token.is_none() {
        tracing::warn!(%listen, "the calls API is reachable beyond this machine without a token; set service.api_token_env or service.api_token_file");
    }
    let store = Store::open(&config.service.database)?;
    let app = App::start(config, store, plugin, cache_dir).await?;
    tracing::info!(%local_url, "smsnode serving");
    let server = service::serve(app, listener);
    tokio::select! {
        result = server => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping on interrupt"),
    }
    drop(sandbox);
    Ok(())
}
