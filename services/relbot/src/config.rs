//! The typed configuration of `relbot analyze`: compiled-in defaults, then an optional TOML
//! file, then `RELBOT_ANALYZE__…` environment variables (`__` separates sections), then
//! `--seed-config` for the original's JSON. Unknown keys are errors that name the key.

use std::path::Path;

use relbot_engine::{FilterConfig, PeerFilter};
use relbot_periodicity::Algorithm as Detector;
use relbot_periodicity::{BeaconParams, ClassicParams};
use serde::{Deserialize, Serialize};

use crate::error::AnalyzeError;

/// Defaults, compiled in.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "RELBOT_ANALYZE";

/// Detection algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// The original RelBot check, reproduced bit for bit.
    Classic,
    /// relbot's own: estimates each pair's period from its inter-arrival gaps, tolerating
    /// jitter, drift, missing beats and offline gaps, with a confidence per pair.
    Beacon,
}

/// Configuration of `relbot analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeConfig {
    /// Detection algorithm.
    pub algorithm: Algorithm,
    /// Parameters of the classic algorithm (see `config/default.toml` for units).
    pub classic: ClassicParams,
    /// Parameters of the beacon algorithm (every key optional; units in the key names).
    #[serde(default)]
    pub beacon: BeaconParams,
    /// False-positive control, shared with the detector (docs/DETECTION.md).
    #[serde(default)]
    pub filter: FilterConfig,
}

impl AnalyzeConfig {
    /// Loads defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, AnalyzeError> {
        Self::load_with_env(file, config::Environment::with_prefix(ENV_PREFIX))
    }

    fn load_with_env(file: Option<&Path>, env: config::Environment) -> Result<Self, AnalyzeError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(AnalyzeError::Config(format!(
                    "{}: config file not found",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let env = env
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("classic.periods_ms")
            .with_list_parse_key("filter.allow_peers")
            .with_list_parse_key("filter.allow_ports")
            .try_parsing(true);
        let loaded = builder
            .add_source(env)
            .build()
            .and_then(|c| c.try_deserialize::<Self>())
            .map_err(|e| AnalyzeError::Config(format!("configuration: {e}")))?;
        loaded.classic.validate().map_err(AnalyzeError::Params)?;
        loaded.algorithm()?;
        loaded.filter()?;
        Ok(loaded)
    }

    /// The configured algorithm, ready to run.
    pub fn algorithm(&self) -> Result<Detector, AnalyzeError> {
        match self.algorithm {
            Algorithm::Classic => {
                Detector::classic(self.classic.clone()).map_err(AnalyzeError::Params)
            }
            Algorithm::Beacon => Detector::beacon(self.beacon.clone())
                .map_err(|e| AnalyzeError::Config(format!("beacon: {e}"))),
        }
    }

    /// The configured false-positive control, its allow-list file read.
    pub fn filter(&self) -> Result<PeerFilter, AnalyzeError> {
        PeerFilter::new(&self.filter).map_err(|e| AnalyzeError::Config(e.to_string()))
    }

    /// Replaces the classic parameters with the original's JSON config file, read unchanged.
    pub fn apply_seed_config(&mut self, path: &Path) -> Result<(), AnalyzeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AnalyzeError::Config(format!("{}: {e}", path.display())))?;
        self.classic = ClassicParams::from_seed_json(&text)
            .map_err(|e| AnalyzeError::Config(format!("{}: {e}", path.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config::Environment::with_prefix(ENV_PREFIX).source(Some(map))
    }

    #[test]
    fn defaults_are_beacon_and_the_shipped_seed_config() {
        let c = AnalyzeConfig::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.classic, ClassicParams::seed_shipped());
        assert_eq!(c.algorithm, Algorithm::Beacon);
    }

    #[test]
    fn file_then_environment_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relbot.toml");
        std::fs::write(&path, "[classic]\nradius = 0\nunit_ms = 500\n").unwrap();
        let c = AnalyzeConfig::load_with_env(
            Some(&path),
            env(&[
                ("RELBOT_ANALYZE__CLASSIC__UNIT_MS", "250"),
                ("RELBOT_ANALYZE__CLASSIC__PERIODS_MS", "60000,120000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.classic.radius, 0);
        assert_eq!(c.classic.unit_ms, 250);
        assert_eq!(c.classic.periods_ms, vec![60000, 120000]);
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relbot.toml");
        std::fs::write(&path, "[classic]\nradiuss = 2\n").unwrap();
        let e = AnalyzeConfig::load_with_env(Some(&path), env(&[])).unwrap_err();
        assert!(e.to_string().contains("radiuss"), "{e}");
        let e = AnalyzeConfig::load_with_env(None, env(&[("RELBOT_ANALYZE__COLOUR", "x")]))
            .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn invalid_values_are_rejected() {
        let e =
            AnalyzeConfig::load_with_env(None, env(&[("RELBOT_ANALYZE__CLASSIC__UNIT_MS", "0")]))
                .unwrap_err();
        assert!(e.to_string().contains("UNIT_MS"), "{e}");
    }
}
