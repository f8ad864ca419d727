//! Layered configuration (defaults in code, then a TOML file, then `PULSE__SECTION__KEY`
//! environment variables), deserialized into typed structs that deny unknown keys.
//!
//! Validation does no I/O: it only checks values, and every error names the offending key
//! so an operator can fix the right line. Connectivity is checked separately at start-up.

use std::{fmt, path::Path};

use serde::{de::DeserializeOwned, Deserialize};

/// A configuration error, always naming the key it is about.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Load(String),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), message: message.into() }
    }
}

/// Loads `T` from (lowest to highest precedence) its serde defaults, the TOML file at
/// `file` (when given it must exist; when `None`, `pulse.toml` in the working directory is
/// used if present) and environment variables `PULSE__SECTION__KEY`.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder();
    match file {
        Some(path) => {
            if !path.exists() {
                return Err(SettingsError::Load(format!("config file {} does not exist", path.display())));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        None => {
            builder = builder
                .add_source(config::File::with_name("pulse.toml").format(config::FileFormat::Toml).required(false));
        }
    }
    builder = builder
        .add_source(config::Environment::with_prefix("PULSE").prefix_separator("__").separator("__").try_parsing(true));
    let built = builder.build().map_err(|e| SettingsError::Load(e.to_string()))?;
    built.try_deserialize::<T>().map_err(|e| SettingsError::Load(e.to_string()))
}

/// A credential. Deserializes from a plain string, never prints its value.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Validation helpers that produce key-naming errors.
pub fn ensure(cond: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), SettingsError> {
    if cond {
        Ok(())
    } else {
        Err(SettingsError::invalid(key, message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
