//! The JSON-lines sink: one [`ReportDoc`](crate::format::ReportDoc) per line, appended to a
//! file rotated by size (`reports.jsonl` → `reports.jsonl.1` → …), or written to stdout
//! (`path = "-"`). A report is acknowledged once its line is written (and, with `fsync`,
//! on disk).
//!
//! ```toml
//! [sinks.audit]
//! kind = "jsonl"
//! path = "/var/lib/relbot/reports.jsonl"   # "-" for stdout
//! max_bytes = 104857600                    # rotate above this size; 0 never rotates
//! keep = 5                                 # rotated files kept
//! fsync = false
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::protect::ProtectionConfig;
use crate::retry::{AttemptError, RetryPolicy};
use crate::sink::Prepared;

/// Settings of a `jsonl` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// The file, or `-` for stdout.
    pub path: String,
    /// Size in bytes above which the file is rotated; 0 never rotates.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.N`).
    #[serde(default = "default_keep")]
    pub keep: u32,
    /// `fsync` after every line (slower, survives power loss).
    #[serde(default)]
    pub fsync: bool,
    /// Address protection.
    #[serde(default)]
    pub protection: ProtectionConfig,
    /// Retry policy (for a full disk, say).
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_keep() -> u32 {
    5
}

impl JsonlConfig {
    /// A configuration writing to `path` with defaults.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            max_bytes: default_max_bytes(),
            keep: default_keep(),
            fsync: false,
            protection: ProtectionConfig::Plain,
            retry: RetryPolicy::default(),
        }
    }

    pub(crate) fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.path.trim().is_empty() {
            problems.push(format!("`{at}.path` is empty (use \"-\" for stdout)"));
        } else if self.path != "-" {
            let parent = Path::new(&self.path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                problems.push(format!(
                    "`{at}.path`: folder {} does not exist",
                    parent.display()
                ));
            }
        }
        if self.max_bytes > 0 && self.keep == 0 {
            problems.push(format!("`{at}.keep` must be at least 1 when rotating"));
        }
        problems
    }
}

/// A JSON-lines sink.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    // A std Mutex: held by one blocking task for one write, never across an await.
    state: Arc<Mutex<Writer>>,
}

#[derive(Debug)]
struct Writer {
    path: Option<PathBuf>,
    max_bytes: u64,
    keep: u32,
    fsync: bool,
    file: Option<File>,
    size: u64,
}

impl JsonlSink {
    /// Builds the sink named `name` (the file is opened on first write).
    pub fn new(_name: &str, config: &JsonlConfig) -> Result<Self, ReportError> {
        Ok(Self {
            state: Arc::new(Mutex::new(Writer {
                path: (config.path != "-").then(|| PathBuf::from(&config.path)),
                max_bytes: config.max_bytes,
                keep: config.keep.max(1),
                fsync: config.fsync,
                file: None,
                size: 0,
            })),
        })
    }

    pub(crate) async fn write(&self, report: &Prepared) -> Result<(), AttemptError> {
        let mut line = Vec::with_capacity(report.body.len() + 1);
        line.extend_from_slice(&report.body);
        line.push(b'\n');
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || {
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_line(&line)
        })
        .await
        .map_err(|e| AttemptError::transient(format!("writer task failed: {e}")))?
    }
}

impl Writer {
    fn write_line(&mut self, line: &[u8]) -> Result<(), AttemptError> {
        let Some(path) = self.path.clone() else {
            let mut out = std::io::stdout().lock();
            return out
                .write_all(line)
                .and_then(|()| out.flush())
                .map_err(|e| AttemptError::transient(format!("stdout: {e}")));
        };
        let io = |e: std::io::Error| AttemptError::transient(format!("{}: {e}", path.display()));
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            self.size = file.metadata().map_err(io)?.len();
            self.file = Some(file);
        }
        if self.max_bytes > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.file = None;
            rotate(&path, self.keep).map_err(io)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            self.size = 0;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(AttemptError::transient("file not open"));
        };
        let written =
            file.write_all(line)
                .and_then(|()| if self.fsync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Reopen next time; the partial line (if any) stays, the retry writes it whole.
            self.file = None;
            return Err(io(e));
        }
        self.size += line.len() as u64;
        Ok(())
    }
}

/// `path.(keep-1)` → `path.keep`, …, `path` → `path.1`.
fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    let numbered = |n: u32| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[cfg(test)]
mod tests {
    use relbot_codec::{DetectionId, ReportId, SrcMode};

    use super::*;

    fn prepared(n: u8) -> Prepared {
        Prepared {
            report_id: ReportId::from_bytes([n; 16]),
            detection_id: DetectionId::from_bytes([n; 16]),
            host: "192.0.2.1".into(),
            src_mode: SrcMode::Plain,
            body: format!("{{\"n\":{n:03}}}").into_bytes(),
        }
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut config = JsonlConfig::new(path.to_string_lossy());
        config.max_bytes = 25; // two 10-byte lines per file
        config.keep = 2;
        let sink = JsonlSink::new("t", &config).unwrap();
        for n in 0..7 {
            sink.write(&prepared(n)).await.unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "{\"n\":006}\n");
        assert_eq!(
            read(&dir.path().join("r.jsonl.1")),
            "{\"n\":004}\n{\"n\":005}\n"
        );
        assert_eq!(
            read(&dir.path().join("r.jsonl.2")),
            "{\"n\":002}\n{\"n\":003}\n"
        );
        assert!(!dir.path().join("r.jsonl.3").exists());
    }
}
