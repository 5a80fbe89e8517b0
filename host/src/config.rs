//! The host configuration file: provider accounts and their secrets, the numbers the host may
//! send from with their A2P 10DLC registration, the SMS-approved pool, limits and the service.
//! Every error names the field, the value and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use smsnode_sms::e164;

use crate::secrets::Secret;

/// Twilio's API base, used when a `twilio` account sets none.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    service: ServiceConfig,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    messaging: MessagingConfig,
    #[serde(default)]
    accounts: BTreeMap<String, AccountFile>,
    #[serde(default)]
    numbers: Vec<NumberConfig>,
    #[serde(default)]
    pool: PoolConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    provider: Provider,
    account_sid: Option<String>,
    auth_token_env: Option<String>,
    auth_token_file: Option<PathBuf>,
    api_base: Option<String>,
}

/// The HTTP service run by `smsnode serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address the service listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The public URL Twilio calls, without a trailing slash. Webhook signatures are checked
    /// against it, and every send names `{public_url}/webhooks/twilio/status` as its status
    /// callback.
    pub public_url: Option<String>,
    /// The SQLite database that stores calls, messages, waits and state.
    #[serde(default = "default_database")]
    pub database: PathBuf,
    /// An environment variable with the Bearer token the calls API requires.
    pub api_token_env: Option<String>,
    /// A file with the Bearer token the calls API requires.
    pub api_token_file: Option<PathBuf>,
    /// The token the calls API requires, when one of the two above is set. Webhooks and
    /// `/healthz` need none.
    #[serde(skip)]
    pub api_token: Option<Secret>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            listen: default_listen(),
            public_url: None,
            database: default_database(),
            api_token_env: None,
            api_token_file: None,
            api_token: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_database() -> PathBuf {
    "smsnode.db".into()
}

/// Limits on every plugin run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory one plugin instance may use, in MiB.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
    /// Wall-clock time one run or resume may take, in milliseconds.
    #[serde(default = "default_run_timeout_ms")]
    pub run_timeout_ms: u64,
    /// Plugin instances that may run at once.
    #[serde(default = "default_concurrent_runs")]
    pub concurrent_runs: u32,
    /// Time allowed to connect to a provider, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for a provider's response to start, in milliseconds.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: default_memory_mib(),
            run_timeout_ms: default_run_timeout_ms(),
            concurrent_runs: default_concurrent_runs(),
            connect_timeout_ms: default_connect_timeout_ms(),
            response_timeout_ms: default_response_timeout_ms(),
        }
    }
}

fn default_memory_mib() -> u32 {
    64
}

fn default_run_timeout_ms() -> u64 {
    30_000
}

fn default_concurrent_runs() -> u32 {
    64
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

fn default_response_timeout_ms() -> u64 {
    10_000
}

/// Replies and rules for inbound messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingConfig {
    /// Text sent back to a HELP or INFO message.
    #[serde(default = "default_help_reply")]
    pub help_reply: String,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig { help_reply: default_help_reply() }
    }
}

fn default_help_reply() -> String {
    "Reply STOP to unsubscribe. Msg&data rates may apply.".into()
}

/// A provider's API flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Twilio's Messages API.
    Twilio,
    /// The embedded Twilio-compatible sandbox on 127.0.0.1, started by the host.
    Sandbox,
}

/// A provider account with its secret.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub provider: Provider,
    pub account_sid: String,
    /// Scheme and authority, for example `https://api.twilio.com`. Empty for a sandbox account
    /// until the sandbox has started.
    pub api_base: String,
    pub auth_token: Secret,
}

/// Operator of a number: the platform or the customer's own telephony.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Telephony {
    Platform,
    Custom,
}

/// The state of one A2P 10DLC registration step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    #[default]
    NotStarted,
    Pending,
    Approved,
    Rejected,
}

/// A number's US A2P 10DLC registration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A2pConfig {
    #[serde(default)]
    pub business_profile: RegistrationStatus,
    #[serde(default)]
    pub brand: RegistrationStatus,
    #[serde(default)]
    pub campaign: RegistrationStatus,
    pub brand_tier: Option<String>,
}

impl A2pConfig {
    pub fn approved(&self) -> bool {
        [self.business_profile, self.brand, self.campaign].iter().all(|status| *status == RegistrationStatus::Approved)
    }
}

/// A number the host may send from and receive on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberConfig {
    pub number: String,
    pub account: String,
    pub telephony: Telephony,
    #[serde(default = "yes")]
    pub sms: bool,
    #[serde(default)]
    pub mms: bool,
    #[serde(default)]
    pub a2p: A2pConfig,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolConfig {
    #[serde(default)]
    numbers: Vec<String>,
}

/// The checked host configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub service: ServiceConfig,
    pub limits: Limits,
    pub messaging: MessagingConfig,
    pub accounts: BTreeMap<String, Account>,
    pub numbers: BTreeMap<String, NumberConfig>,
    pub pool: Vec<String>,
}

impl HostConfig {
    /// Reads and checks a configuration file. Relative paths in it are relative to its folder.
    pub fn load(path: &Path) -> Result<HostConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("invalid configuration in {}", path.display()))
    }

    /// Parses and checks configuration text. Relative paths in it are relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<HostConfig> {
        let file: ConfigFile = toml::from_str(text)?;

        let mut accounts = BTreeMap::new();
        for (name, account) in file.accounts {
            let account = resolve_account(&name, account, base)?;
            accounts.insert(name, account);
        }

        let mut numbers = BTreeMap::new();
        for (index, entry) in file.numbers.into_iter().enumerate() {
            check_number(&format!("numbers[{index}].number"), &entry.number)?;
            if !accounts.contains_key(&entry.account) {
                bail!(
                    "numbers[{index}].account: `{}` is not a configured account. Add [accounts.{}] or use one of: {}",
                    entry.account,
                    entry.account,
                    names(accounts.keys())
                );
            }
            if numbers.contains_key(&entry.number) {
                bail!("numbers[{index}].number: {} is listed twice. Keep one entry per number", entry.number);
            }
            numbers.insert(entry.number.clone(), entry);
        }

        for (index, number) in file.pool.numbers.iter().enumerate() {
            let field = format!("pool.numbers[{index}]");
            check_number(&field, number)?;
            let Some(entry) = numbers.get(number) else {
                bail!("{field}: {number} is not in [[numbers]]. Add it there with its account and capabilities");
            };
            if !entry.sms {
                bail!("{field}: {number} is not SMS-capable (sms = false). Only SMS-approved numbers belong in the pool");
            }
            if !entry.a2p.approved() {
                bail!(
                    "{field}: {number} has no approved A2P 10DLC registration. Only SMS-approved numbers belong in the pool: \
                     set its a2p business_profile, brand and campaign to \"approved\" once they are, or remove it from the pool"
                );
            }
        }

        let mut service = file.service;
        if service.database.is_relative() {
            service.database = base.join(&service.database);
        }
        if let Some(url) = &service.public_url {
            check_public_url(url)?;
            service.public_url = Some(url.trim_end_matches('/').to_string());
        }
        service.api_token = load_api_token(&service, base)?;
        check_limits(&file.limits)?;

        Ok(HostConfig {
            service,
            limits: file.limits,
            messaging: file.messaging,
            accounts,
            numbers,
            pool: file.pool.numbers,
        })
    }

    /// Returns the accounts served by the embedded sandbox.
    pub fn sandbox_accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values().filter(|account| account.provider == Provider::Sandbox)
    }

    /// Points every sandbox account at a started sandbox.
    pub fn attach_sandbox(&mut self, api_base: &str) {
        for account in self.accounts.values_mut() {
            if account.provider == Provider::Sandbox {
                account.api_base = api_base.to_string();
            }
        }
    }

    /// Returns the URL that providers post delivery status changes to, when the service has a
    /// public URL.
    pub fn status_callback_url(&self) -> Option<String> {
        self.service.public_url.as_ref().map(|url| format!("{url}/webhooks/twilio/status"))
    }
}

/// Reads the calls API's Bearer token from `service.api_token_env` or `service.api_token_file`.
fn load_api_token(service: &ServiceConfig, base: &Path) -> Result<Option<Secret>> {
    let value = match (&service.api_token_env, &service.api_token_file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => bail!("service: set api_token_env or api_token_file, not both"),
        (Some(variable), None) => std::env::var(variable).map_err(|_| {
            anyhow::anyhow!("service.api_token_env: the environment variable {variable} is not set. Export it with the token API clients send")
        })?,
        (None, Some(path)) => {
            let path = base.join(path);
            std::fs::read_to_string(&path).with_context(|| format!("service.api_token_file: cannot read {}", path.display()))?
        }
    };
    let value = value.trim().to_string();
    if value.len() < 16 {
        bail!("service: the API token has {} characters. Use at least 16 random characters", value.len());
    }
    Ok(Some(Secret::new(value)))
}

fn resolve_account(name: &str, account: AccountFile, base: &Path) -> Result<Account> {
    let field = format!("accounts.{name}");
    let account_sid = match (&account.account_sid, account.provider) {
        (Some(sid), _) => sid.clone(),
        (None, Provider::Sandbox) => sandbox_account_sid(name),
        (None, Provider::Twilio) => {
            bail!("{field}.account_sid is missing. Set it to the Account SID from the Twilio console (AC followed by 32 hex digits)")
        }
    };
    if !is_account_sid(&account_sid) {
        bail!("{field}.account_sid: `{account_sid}` is not an Account SID. An Account SID is AC followed by 32 hex digits");
    }

    let (api_base, auth_token) = match account.provider {
        Provider::Sandbox => {
            if account.auth_token_env.is_some() || account.auth_token_file.is_some() || account.api_base.is_some() {
                bail!(
                    "{field}: a sandbox account takes no auth_token_env, auth_token_file or api_base, \
                     because the host starts the sandbox and creates its credentials. Remove them or set provider = \"twilio\""
                );
            }
            (String::new(), Secret::random())
        }
        Provider::Twilio => {
            let api_base = account.api_base.clone().unwrap_or_else(|| TWILIO_API_BASE.to_string());
            check_api_base(&format!("{field}.api_base"), &api_base)?;
            let auth_token = Secret::load(&field, account.auth_token_env.as_deref(), account.auth_token_file.as_deref(), base)?;
            (api_base.trim_end_matches('/').to_string(), auth_token)
        }
    };

    Ok(Account { name: name.to_string(), provider: account.provider, account_sid, api_base, auth_token })
}

/// Derives a stable, valid-looking Account SID from the name of a sandbox account that sets none.
fn sandbox_account_sid(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    format!("AC{}", hex::encode(&digest[..16]))
}

fn is_account_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn check_number(field: &str, number: &str) -> Result<()> {
    e164::validate(number).map_err(|err| anyhow::anyhow!("{field}: {err}"))
}

fn check_api_base(field: &str, url: &str) -> Result<()> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("{field}: `{url}` is not a URL. Write it as https://host[:port]");
    };
    if !matches!(scheme, "http" | "https") || rest.trim_end_matches('/').contains('/') || rest.is_empty() {
        bail!("{field}: `{url}` must be scheme://host[:port] with no path, for example https://api.twilio.com");
    }
    Ok(())
}

fn check_public_url(url: &str) -> Result<()> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("service.public_url: `{url}` is not a URL. Write the URL Twilio calls, such as https://sms.example.com");
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        bail!("service.public_url: `{url}` must start with https:// (or http:// for local tests)");
    }
    Ok(())
}

fn check_limits(limits: &Limits) -> Result<()> {
    if !(8..=4096).contains(&limits.memory_mib) {
        bail!("limits.memory_mib: {} is out of range. Use 8 to 4096 MiB", limits.memory_mib);
    }
    if !(100..=600_000).contains(&limits.run_timeout_ms) {
        bail!("limits.run_timeout_ms: {} is out of range. Use 100 to 600000 ms", limits.run_timeout_ms);
    }
    if !(1..=10_000).contains(&limits.concurrent_runs) {
        bail!("limits.concurrent_runs: {} is out of range. Use 1 to 10000", limits.concurrent_runs);
    }
    if limits.connect_timeout_ms == 0 || limits.response_timeout_ms == 0 {
        bail!("limits.connect_timeout_ms and limits.response_timeout_ms must be above 0 ms");
    }
    Ok(())
}

fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(String::as_str).collect();
    if list.is_empty() { "(none configured)".into() } else { list.join(", ") }
}
