//! A relbot service binary run as a child process for end-to-end tests: found (or built) in
//! the target folder, started with a config file, its output in a log file, probed over HTTP,
//! stopped with SIGKILL or SIGTERM. The detector and reporter helpers wrap it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

/// Path of a service binary: `$env_var` if set, else `<package>` in the target folder of the
/// running test (`cargo test --workspace` builds it when the package has an integration test),
/// else built with `cargo build -p <package>`.
pub fn locate_binary(package: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return Ok(bin.into());
    }
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary outside a cargo target folder")?;
    let bin = profile_dir.join(package);
    if bin.is_file() {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = profile_dir.parent().context("no target folder")?;
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", package, "--bin", package])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(crate::repo_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().context("running cargo build")?;
    ensure!(status.success(), "cargo build -p {package} failed");
    ensure!(bin.is_file(), "{} missing after the build", bin.display());
    Ok(bin)
}

/// [`locate_binary`], once per package in a test process: a build, when one is needed,
/// happens once, and every caller gets its outcome.
pub fn service_binary(package: &'static str, env_var: &str) -> anyhow::Result<PathBuf> {
    type Found = BTreeMap<&'static str, Result<PathBuf, String>>;
    static FOUND: Mutex<Found> = Mutex::new(BTreeMap::new());
    let mut found = FOUND.lock().unwrap_or_else(PoisonError::into_inner);
    found
        .entry(package)
        .or_insert_with(|| locate_binary(package, env_var).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// A running service process.
#[derive(Debug)]
pub struct ServiceProcess {
    /// What it is, for messages (`detector`, `reporter`).
    what: &'static str,
    child: Child,
    /// Its stdout and stderr, appended (restarts keep the earlier output).
    pub log: PathBuf,
    /// Its operations server.
    pub http: SocketAddr,
}

impl ServiceProcess {
    /// Starts `binary --config <dir>/<stem>.toml` (written from `toml`) with the extra
    /// environment `env`; output goes to `<dir>/<stem>.log`.
    pub fn start(
        what: &'static str,
        binary: &Path,
        dir: &Path,
        stem: &str,
        toml: &str,
        http_port: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let config = dir.join(format!("{stem}.toml"));
        std::fs::write(&config, toml)?;
        let log = dir.join(format!("{stem}.log"));
        let out = File::options().create(true).append(true).open(&log)?;
        let err = out.try_clone()?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env_remove("RUST_LOG");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            what,
            child,
            log,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
        })
    }

    /// Waits until `/readyz` answers 200, or fails with the log.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://{}/readyz", self.http);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited with {status}:\n{}", self.what, self.logs());
            }
            if let Ok((200, _)) = http_get(&url).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready within {timeout:?}:\n{}",
                    self.what,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET on the operations server: (status, body).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(&format!("http://{}{path}", self.http)).await
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {timeout:?} of SIGTERM", self.what);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over loopback (no client library needed for the probes).
pub async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("http:// only")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host))
            .await??;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response)).await??;
    let status = response
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}
