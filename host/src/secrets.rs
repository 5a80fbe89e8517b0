//! Provider secrets: read from an environment variable or a file, never printed, never passed
//! to a plugin.

use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};
use rand::RngCore;

/// A secret such as an Auth Token. `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Loads the secret of `field` from exactly one of an environment variable or a file.
    pub fn load(field: &str, env: Option<&str>, file: Option<&Path>, base: &Path) -> Result<Secret> {
        let (value, source) = match (env, file) {
            (Some(_), Some(_)) => {
                bail!("{field}: set auth_token_env or auth_token_file, not both")
            }
            (None, None) => bail!(
                "{field}: the Auth Token is missing. Set auth_token_env to the name of an environment \
                 variable that contains it, or auth_token_file to a file that contains it"
            ),
            (Some(variable), None) => match std::env::var(variable) {
                Ok(value) => (value, format!("{field}.auth_token_env: the environment variable {variable}")),
                Err(_) => bail!(
                    "{field}.auth_token_env: the environment variable {variable} is not set. Export it \
                     with the account's Auth Token"
                ),
            },
            (None, Some(path)) => {
                let path = base.join(path);
                match std::fs::read_to_string(&path) {
                    Ok(value) => (value, format!("{field}.auth_token_file: the file {}", path.display())),
                    Err(err) => bail!("{field}.auth_token_file: cannot read {}: {err}", path.display()),
                }
            }
        };

        let value = value.trim().to_string();
        if value.is_empty() {
            bail!("{source} is empty. Put the account's Auth Token there");
        }
        Ok(Secret(value))
    }

    /// Wraps a value derived from secrets, such as an `Authorization` header value.
    pub(crate) fn new(value: String) -> Secret {
        Secret(value)
    }

    /// Generates a random secret for accounts of the embedded sandbox.
    pub fn random() -> Secret {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Secret(hex::encode(bytes))
    }

    /// Returns the secret itself. Callers must not log or return it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}
