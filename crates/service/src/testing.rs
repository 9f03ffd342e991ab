//! Test helpers every service's tests share (feature `testing`): a configuration from TOML
//! text, and a service binary's `--check` run on it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: failing loudly is the point

use std::path::Path;
use std::process::Command;

use crate::ServiceConfig;

/// `toml` loaded as the service would load it from a file (defaults, then the file), or the
/// error's text.
pub fn load_str<C: ServiceConfig>(toml: &str) -> Result<C, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    crate::load(Some(&path)).map_err(|e| e.to_string())
}

/// Runs `binary --config <toml in a file> --check`: its exit code and its stdout and stderr
/// together.
pub fn check(binary: impl AsRef<Path>, toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(binary.as_ref())
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
