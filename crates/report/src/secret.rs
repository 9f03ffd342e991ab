//! Secrets (API keys, webhook secrets, pseudonymisation keys) come from an environment
//! variable or a file (a mounted Kubernetes secret), never from the configuration itself, and
//! are never printed: [`Secret`]'s `Debug` and `Display` say `<redacted>`.

use std::fmt;
use std::path::Path;

use crate::error::ReportError;

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// Wraps a value (tests; services read secrets with [`resolve`]).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Problems with where a secret is to be found (exactly one of `env` and `file`, set and
/// readable), naming `key_env`/`key_file` as `prefix_env`/`prefix_file`.
pub fn problems(prefix: &str, env: Option<&str>, file: Option<&Path>) -> Vec<String> {
    match (env, file) {
        (None, None) => vec![format!("set `{prefix}_env` or `{prefix}_file`")],
        (Some(_), Some(_)) => vec![format!(
            "set only one of `{prefix}_env` and `{prefix}_file`"
        )],
        _ => match resolve(prefix, env, file) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        },
    }
}

/// Reads a secret from the environment variable `env` or the file `file` (trailing newline
/// removed). `what` names it in errors, e.g. `sinks.cch.api_key`.
pub fn resolve(what: &str, env: Option<&str>, file: Option<&Path>) -> Result<Secret, ReportError> {
    let fail = |reason: String| ReportError::Secret {
        what: what.to_owned(),
        reason,
    };
    let value = match (env, file) {
        (Some(var), None) => std::env::var(var)
            .map_err(|_| fail(format!("environment variable {var} is not set")))?,
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?
        }
        (None, None) => return Err(fail("neither `…_env` nor `…_file` is set".to_owned())),
        (Some(_), Some(_)) => return Err(fail("both `…_env` and `…_file` are set".to_owned())),
    };
    let value = value.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(fail("it is empty".to_owned()));
    }
    Ok(Secret(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secrets_lose_their_newline_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = resolve("sinks.x.api_key", None, Some(&path)).unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert!(!format!("{secret:?} {secret}").contains("s3cret"));
    }

    #[test]
    fn missing_secrets_say_where_they_were_looked_for() {
        let err = resolve("sinks.x.api_key", Some("RELBOT_TEST_UNSET_VAR_1"), None).unwrap_err();
        assert!(err.to_string().contains("RELBOT_TEST_UNSET_VAR_1"), "{err}");
        assert_eq!(problems("api_key", None, None).len(), 1);
    }
}
