//! Scenario files for `smsnode run`: a simulated call, the nodes run in it one after another,
//! and what the caller texts meanwhile. Errors name the field, the value and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use smsnode_sms::e164;

use crate::store::Direction;

/// Maximum number of scripted inbound media items per text. Twilio delivers at most 10 per MMS.
const MAX_TEXT_MEDIA: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// The host configuration, relative to the scenario file.
    config: PathBuf,
    call: CallSpec,
    #[serde(default)]
    nodes: Vec<NodeSpec>,
    #[serde(default)]
    caller: CallerSpec,
    #[serde(default)]
    sandbox: SandboxSpec,
}

/// The simulated call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    pub id: Option<String>,
    pub caller: String,
    pub agent_number: String,
    #[serde(default = "inbound")]
    pub direction: Direction,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Time at which the caller hangs up, in milliseconds after the call starts. By default the
    /// call ends after the last node.
    pub end_after_ms: Option<u64>,
}

fn inbound() -> Direction {
    Direction::Inbound
}

/// One node run in the call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A label for the transcript.
    pub name: Option<String>,
    /// The node's configuration (see `smsnode describe`).
    pub config: toml::Table,
    /// Input variables, such as an LLM's tool arguments.
    #[serde(default)]
    pub input: toml::Table,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerSpec {
    #[serde(default)]
    texts: Vec<TextSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextSpec {
    #[serde(default)]
    after_ms: u64,
    #[serde(default)]
    body: String,
    to: Option<String>,
    #[serde(default)]
    media: Vec<MediaSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaSpec {
    content_type: String,
    file: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSpec {
    /// HTTP statuses, such as 503, that the sandbox returns to the first message requests instead
    /// of handling them.
    #[serde(default)]
    faults: Vec<u16>,
}

/// A message the caller texts during the call.
#[derive(Debug, Clone)]
pub struct CallerText {
    pub after: Duration,
    pub body: String,
    /// The number texted. By default it is the number the call's last SMS came from, else the
    /// agent number.
    pub to: Option<String>,
    pub media: Vec<(String, Vec<u8>)>,
}

/// A checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub config_path: PathBuf,
    pub call: CallSpec,
    pub nodes: Vec<(String, Value, Value)>,
    pub texts: Vec<CallerText>,
    pub faults: Vec<u16>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the scenario file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("invalid scenario {}", path.display()))
    }

    pub fn parse(text: &str, base: &Path) -> Result<Scenario> {
        let file: ScenarioFile = toml::from_str(text)?;

        for (field, number) in [("call.caller", &file.call.caller), ("call.agent_number", &file.call.agent_number)] {
            e164::validate(number).map_err(|error| anyhow::anyhow!("{field}: {error}"))?;
        }
        if file.nodes.is_empty() {
            bail!("nodes: the scenario runs no node. Add a [[nodes]] table with the node's config");
        }

        let nodes = file
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let name = node.name.clone().unwrap_or_else(|| format!("node {}", index + 1));
                let config = serde_json::to_value(&node.config)?;
                let input = serde_json::to_value(&node.input)?;
                Ok((name, config, input))
            })
            .collect::<Result<Vec<_>>>()?;

        let mut texts = Vec::new();
        for (index, text) in file.caller.texts.iter().enumerate() {
            texts.push(caller_text(index, text, base)?);
        }

        Ok(Scenario { config_path: base.join(&file.config), call: file.call, nodes, texts, faults: file.sandbox.faults })
    }
}

fn caller_text(index: usize, text: &TextSpec, base: &Path) -> Result<CallerText> {
    let field = format!("caller.texts[{index}]");
    if let Some(to) = &text.to {
        e164::validate(to).map_err(|error| anyhow::anyhow!("{field}.to: {error}"))?;
    }
    if text.body.is_empty() && text.media.is_empty() {
        bail!("{field}: a text needs a body or media");
    }
    if text.media.len() > MAX_TEXT_MEDIA {
        bail!("{field}.media: {} items given, but an MMS carries at most {MAX_TEXT_MEDIA}", text.media.len());
    }

    let mut media = Vec::new();
    for (media_index, item) in text.media.iter().enumerate() {
        let path = base.join(&item.file);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{field}.media[{media_index}].file: cannot read {}. The path is relative to the scenario file", path.display()))?;
        if !item.content_type.contains('/') {
            bail!("{field}.media[{media_index}].content_type: `{}` is not a media type such as image/jpeg", item.content_type);
        }
        media.push((item.content_type.clone(), bytes));
    }
    Ok(CallerText { after: Duration::from_millis(text.after_ms), body: text.body.clone(), to: text.to.clone(), media })
}
