//! Loading the scoring config for a replay.

use pulse_core::config::{ConfigError, ScoringConfig};

/// Parses a scoring config: either a scoring TOML file (the core's format), or a
/// whole `pulse.toml` whose `[scoring]` table is taken. Errors name the key.
pub fn scoring_config_from_toml(text: &str) -> Result<ScoringConfig, ConfigError> {
    if let Ok(table) = text.parse::<toml::Table>() {
        if let Some(toml::Value::Table(scoring)) = table.get("scoring") {
            let inner = toml::to_string(scoring).map_err(|e| ConfigError::Parse(format!("scoring: {e}")))?;
            return ScoringConfig::from_toml_str(&inner).map_err(|e| match e {
                ConfigError::Invalid { path, message } => {
                    ConfigError::Invalid { path: format!("scoring.{path}"), message }
                }
                ConfigError::Parse(m) => ConfigError::Parse(format!("in [scoring]: {m}")),
            });
        }
    }
    ScoringConfig::from_toml_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scoring_file_and_scoring_section_both_load() {
        let plain = scoring_config_from_toml("horizon_days = 40\n").expect("plain");
        assert_eq!(plain.horizon_days, 40);
        let section =
            scoring_config_from_toml("[kafka]\nbrokers = \"x\"\n\n[scoring]\nhorizon_days = 41\n").expect("section");
        assert_eq!(section.horizon_days, 41);
        assert_eq!(scoring_config_from_toml("").expect("empty"), ScoringConfig::default());
    }

    #[test]
    fn errors_name_the_key() {
        let e = scoring_config_from_toml("horizon_dayz = 40\n").expect_err("typo").to_string();
        assert!(e.contains("horizon_dayz"), "{e}");
        let e = scoring_config_from_toml("horizon_days = 5\n").expect_err("range").to_string();
        assert!(e.contains("horizon_days"), "{e}");
        let e = scoring_config_from_toml("[scoring]\nhorizon_days = 5\n").expect_err("range").to_string();
        assert!(e.contains("scoring.horizon_days"), "{e}");
    }
}
