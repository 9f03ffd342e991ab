//! Loading a service's typed configuration, and printing it with secrets redacted.
//!
//! Sources, later ones winning key by key:
//! 1. the defaults compiled into the binary ([`ServiceConfig::DEFAULT_TOML`], `include_str!`);
//! 2. an optional TOML file (`--config`);
//! 3. environment variables `RELBOT_<SERVICE>__<SECTION>__<KEY>`, `__` separating levels,
//!    e.g. `RELBOT_REPORTER__RULE__MIN_IDX=2`; values are parsed as TOML scalars would be
//!    (numbers, booleans), keys listed in [`ServiceConfig::LIST_KEYS`] as comma-separated
//!    lists.
//!
//! Unknown keys are errors (every struct is `deny_unknown_fields`), and every error names the
//! key it is about. [`ServiceConfig::validate`] adds the cross-field rules.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ServiceError;
use crate::settings::RuntimeSettings;

/// Placeholder printed instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// The typed configuration of one service.
pub trait ServiceConfig: DeserializeOwned + Serialize + Send + 'static {
    /// Service name, lowercase: `reporter` reads `RELBOT_REPORTER__…` and logs as
    /// `relbot-reporter`.
    const NAME: &'static str;
    /// The compiled-in defaults (a TOML document, usually `include_str!("../config/default.toml")`).
    const DEFAULT_TOML: &'static str;
    /// Dotted keys whose environment values are comma-separated lists.
    const LIST_KEYS: &'static [&'static str] = &[];

    /// The `[runtime]` section.
    fn runtime(&self) -> &RuntimeSettings;

    /// Cross-field rules serde cannot express; one sentence per problem, naming the key.
    /// The default checks the `[runtime]` section only.
    fn validate(&self) -> Vec<String> {
        self.runtime().problems()
    }
}

/// Environment prefix of a service: `RELBOT_<NAME>` in upper case.
pub fn env_prefix<C: ServiceConfig>() -> String {
    format!("RELBOT_{}", C::NAME.to_ascii_uppercase().replace('-', "_"))
}

/// Loads defaults, then `file`, then the process environment, and validates the result.
pub fn load<C: ServiceConfig>(file: Option<&Path>) -> Result<C, ServiceError> {
    load_with_env(file, None)
}

/// As [`load`], with the environment given as a map (tests) instead of the process's.
pub fn load_with_env<C: ServiceConfig>(
    file: Option<&Path>,
    env: Option<HashMap<String, String>>,
) -> Result<C, ServiceError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(
        C::DEFAULT_TOML,
        config::FileFormat::Toml,
    ));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ServiceError::config(format!(
                "{}: config file not found",
                path.display()
            )));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    let mut environment = config::Environment::with_prefix(&env_prefix::<C>())
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(env);
    if !C::LIST_KEYS.is_empty() {
        environment = environment.list_separator(",");
        for key in C::LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
    }
    let origin = file.map_or_else(
        || "defaults and environment".to_owned(),
        |p| format!("{}, defaults and environment", p.display()),
    );
    let loaded: C = builder
        .add_source(environment)
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ServiceError::config(format!("{origin}: {e}")))?;
    let problems = loaded.validate();
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ServiceError::Config { problems })
    }
}

/// The effective configuration as TOML, with secrets replaced by `<redacted>`: values of keys
/// that name a secret (`password`, `secret`, `token`, `api_key`, `private_key`, `.pem`…), but
/// not the keys that say where a secret is (`…_env`, `…_file`, `….location`).
pub fn effective_toml<C: ServiceConfig>(config: &C) -> Result<String, ServiceError> {
    let mut value = toml::Value::try_from(config)
        .map_err(|e| ServiceError::config(format!("cannot print the configuration: {e}")))?;
    redact(&mut value);
    toml::to_string_pretty(&value)
        .map_err(|e| ServiceError::config(format!("cannot print the configuration: {e}")))
}

/// True for a key whose value is a secret itself.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let points_elsewhere = [
        "_env",
        "_file",
        "_path",
        ".location",
        "_location",
        ".mechanism",
        ".mechanisms",
        ".username",
    ]
    .iter()
    .any(|suffix| key.ends_with(suffix));
    if points_elsewhere {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "key.pem",
        "credential",
    ]
    .iter()
    .any(|needle| key.contains(needle))
}

/// Replaces the values of secret keys (see [`is_secret_key`]) in place, at any depth.
pub fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                if is_secret_key(key) && !v.is_table() {
                    *v = toml::Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        runtime: RuntimeSettings,
        section: Section,
        #[serde(default)]
        extra: BTreeMap<String, String>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Section {
        count: u32,
        ratio: f64,
        #[serde(with = "humantime_serde")]
        wait: Duration,
        names: Vec<String>,
    }

    impl ServiceConfig for Demo {
        const NAME: &'static str = "demo";
        const DEFAULT_TOML: &'static str = r#"
            [runtime]
            listen = "127.0.0.1:0"
            [section]
            count = 3
            ratio = 0.5
            wait = "30s"
            names = ["a"]
        "#;
        const LIST_KEYS: &'static [&'static str] = &["section.names"];

        fn runtime(&self) -> &RuntimeSettings {
            &self.runtime
        }

        fn validate(&self) -> Vec<String> {
            let mut problems = self.runtime.problems();
            if self.section.count == 0 {
                problems.push("`section.count` must be above 0".to_owned());
            }
            problems
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn problems(result: Result<Demo, ServiceError>) -> String {
        match result {
            Err(ServiceError::Config { problems }) => problems.join("\n"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = std::env::temp_dir().join(format!("relbot-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("demo.toml");
        std::fs::write(&file, "[section]\ncount = 7\nwait = \"2m\"\n").unwrap();
        let demo: Demo = load_with_env(
            Some(&file),
            env(&[
                ("RELBOT_DEMO__SECTION__WAIT", "5s"),
                ("RELBOT_DEMO__SECTION__RATIO", "0.25"),
                ("RELBOT_DEMO__SECTION__NAMES", "x,y"),
                ("RELBOT_DEMO__RUNTIME__LOG_FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(demo.section.count, 7);
        assert_eq!(demo.section.wait, Duration::from_secs(5));
        assert!((demo.section.ratio - 0.25).abs() < f64::EPSILON);
        assert_eq!(demo.section.names, ["x", "y"]);
        assert_eq!(demo.runtime.log_format, crate::LogFormat::Json);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let text = problems(load_with_env(
            None,
            env(&[("RELBOT_DEMO__SECTION__COLOUR", "red")]),
        ));
        assert!(text.contains("colour"), "{text}");

        let text = problems(load_with_env(
            None,
            env(&[("RELBOT_DEMO__SECTION__WAIT", "soon")]),
        ));
        assert!(text.contains("section.wait"), "{text}");

        let text = problems(load_with_env(
            None,
            env(&[("RELBOT_DEMO__SECTION__COUNT", "-1")]),
        ));
        assert!(text.contains("section.count"), "{text}");

        let text = problems(load_with_env(
            None,
            env(&[("RELBOT_DEMO__SECTION__COUNT", "0")]),
        ));
        assert_eq!(text, "`section.count` must be above 0");
    }

    #[test]
    fn missing_file_is_an_error() {
        let text = problems(load_with_env(
            Some(Path::new("/nonexistent/demo.toml")),
            None,
        ));
        assert!(text.contains("config file not found"), "{text}");
    }

    #[test]
    fn secrets_are_redacted() {
        let mut demo: Demo = load_with_env(None, None).unwrap();
        demo.extra
            .insert("sasl.password".to_owned(), "hunter2".to_owned());
        demo.extra
            .insert("api_key_env".to_owned(), "CCH_KEY".to_owned());
        demo.extra
            .insert("ssl.key.location".to_owned(), "/k.pem".to_owned());
        let text = effective_toml(&demo).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(REDACTED), "{text}");
        assert!(text.contains("CCH_KEY"), "{text}");
        assert!(text.contains("/k.pem"), "{text}");
    }
}
