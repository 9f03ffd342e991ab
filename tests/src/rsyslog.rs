//! A real syslog peer for tests: Debian's `rsyslogd` (packages `rsyslog`, and
//! `rsyslog-gnutls` for TLS), started in the foreground with a configuration written to a
//! temporary folder, receiving over TCP (plain, or TLS with the `gtls` driver) on a loopback
//! port and writing every raw message, one per line, to a file the test reads back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::pki::TestPki;
use crate::reporter::free_port;

/// Where `rsyslogd` is looked for.
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// True when `rsyslogd` (and, for TLS, its gtls driver) is installed.
pub fn installed(tls: bool) -> bool {
    Path::new(RSYSLOGD).is_file()
        && (!tls
            || [
                "/usr/lib/x86_64-linux-gnu/rsyslog",
                "/usr/lib/aarch64-linux-gnu/rsyslog",
                "/usr/lib/rsyslog",
            ]
            .iter()
            .any(|dir| Path::new(dir).join("lmnsd_gtls.so").is_file()))
}

/// A running `rsyslogd`; stopped when dropped.
#[derive(Debug)]
pub struct Rsyslog {
    child: Child,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// The file the received messages go to.
    pub output: PathBuf,
    /// Its own log (stderr).
    pub log: PathBuf,
}

impl Rsyslog {
    /// Starts `rsyslogd` listening on a free loopback port, plain TCP, or TLS with the server
    /// certificate of `tls`; waits until the port accepts connections.
    pub fn start(dir: &Path, tls: Option<&TestPki>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let output = dir.join("received.log");
        let work = dir.join("work");
        std::fs::create_dir_all(&work)?;
        let (global_tls, module) = match tls {
            None => (String::new(), r#"module(load="imtcp")"#.to_owned()),
            Some(pki) => (
                format!(
                    r#"DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{}"
       DefaultNetstreamDriverCertFile="{}"
       DefaultNetstreamDriverKeyFile="{}""#,
                    pki.ca.display(),
                    pki.cert.display(),
                    pki.key.display()
                ),
                r#"module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")"#
                    .to_owned(),
            ),
        };
        let config = format!(
            r#"global(workDirectory="{work}"
       {global_tls})
{module}
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="{output}" template="raw")
"#,
            work = work.display(),
            output = output.display(),
        );
        let conf = dir.join("rsyslog.conf");
        std::fs::write(&conf, config)?;
        let log = dir.join("rsyslogd.log");
        let stderr = std::fs::File::create(&log)?;
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(stderr.try_clone()?)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {RSYSLOGD}"))?;
        let mut this = Self {
            child,
            port,
            output,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = this.child.try_wait()? {
                bail!(
                    "rsyslogd exited with {status}: {}",
                    std::fs::read_to_string(&this.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "rsyslogd does not listen on {port}: {}",
                    std::fs::read_to_string(&this.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        this.port = port;
        Ok(this)
    }

    /// The lines received so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
