//! The syslog sink: RFC 5424 messages with a CEF payload ([`crate::cef`]) over UDP (one
//! datagram each, RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425). TCP and TLS keep
//! one connection open and reconnect after an error; a report is acknowledged once written to
//! the connection (syslog has no application-level acknowledgement), UDP once sent.
//!
//! ```toml
//! [sinks.siem]
//! kind = "syslog"
//! address = "siem.example.org:6514"
//! transport = "tls"                 # "udp", "tcp" or "tls"
//! ca_file = "/etc/relbot/siem-ca.pem"
//! facility = "local4"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use relbot_codec::{Detection, ReportId};
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::cef::{cef_line, facility_code, rfc5424, SyslogHeader};
use crate::error::ReportError;
use crate::protect::{ProtectionConfig, Protector};
use crate::retry::{AttemptError, RetryPolicy};
use crate::sink::{timeout_problem, Prepared};
use crate::tls;

/// The transport to the syslog receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RFC 5426: one datagram per message, no acknowledgement.
    Udp,
    /// RFC 6587 octet-counted framing over TCP.
    Tcp,
    /// RFC 5425: octet-counted framing over TLS.
    Tls,
}

/// Settings of a `syslog` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `host:port` of the receiver.
    pub address: String,
    /// Transport.
    #[serde(default = "default_transport")]
    pub transport: Transport,
    /// TLS: the name the certificate must carry (default: the host part of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// TLS: PEM bundle of the CAs to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS: disables certificate verification (a warning is logged at start).
    #[serde(default)]
    pub insecure: bool,
    /// Facility name: kern, user, daemon, auth, syslog, authpriv, local0 … local7.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// HOSTNAME field of the messages (default: `$HOSTNAME`, else `-`).
    #[serde(default)]
    pub hostname: Option<String>,
    /// APP-NAME field.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// Timeout of connecting and of one write, e.g. "5s".
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Address protection.
    #[serde(default)]
    pub protection: ProtectionConfig,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_transport() -> Transport {
    Transport::Tls
}

fn default_facility() -> String {
    "local4".to_owned()
}

fn default_app_name() -> String {
    "relbot-reporter".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl SyslogConfig {
    /// A configuration for `address` over `transport` with defaults.
    pub fn new(address: impl Into<String>, transport: Transport) -> Self {
        Self {
            address: address.into(),
            transport,
            server_name: None,
            ca_file: None,
            insecure: false,
            facility: default_facility(),
            hostname: None,
            app_name: default_app_name(),
            timeout: default_timeout(),
            protection: ProtectionConfig::Plain,
            retry: RetryPolicy::default(),
        }
    }

    fn host(&self) -> &str {
        let host = self
            .address
            .rsplit_once(':')
            .map_or(self.address.as_str(), |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    pub(crate) fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => problems.push(format!("`{at}.address` must be host:port")),
        }
        if facility_code(&self.facility).is_none() {
            problems.push(format!(
                "`{at}.facility` {:?} is not a syslog facility name",
                self.facility
            ));
        }
        problems.extend(timeout_problem(at, self.timeout));
        if self.transport == Transport::Tls {
            let name = self.server_name.as_deref().unwrap_or(self.host());
            if ServerName::try_from(name.to_owned()).is_err() {
                problems.push(format!(
                    "`{at}.server_name` {name:?} is not a DNS name or address"
                ));
            }
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                problems.push(format!("`{at}.ca_file` {}: no such file", ca.display()));
            }
        }
        problems
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A syslog sink.
pub struct SyslogSink {
    address: String,
    transport: Transport,
    timeout: Duration,
    header: SyslogHeader,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connection: Mutex<Connection>,
}

#[derive(Default)]
enum Connection {
    #[default]
    Closed,
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Closed => "Closed",
            Self::Udp(_) => "Udp",
            Self::Stream(_) => "Stream",
        })
    }
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("address", &self.address)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl SyslogSink {
    /// Builds the sink named `name` (connects on first send).
    pub fn new(name: &str, config: &SyslogConfig) -> Result<Self, ReportError> {
        let at = format!("sinks.{name}");
        let facility = facility_code(&config.facility)
            .ok_or_else(|| ReportError::config(format!("`{at}.facility` is unknown")))?;
        let tls = if config.transport == Transport::Tls {
            let server_name = config
                .server_name
                .clone()
                .unwrap_or_else(|| config.host().to_owned());
            let server_name = ServerName::try_from(server_name)
                .map_err(|e| ReportError::config(format!("`{at}.server_name`: {e}")))?;
            let rustls = tls::rustls_config(name, config.ca_file.as_deref(), config.insecure)?;
            Some((TlsConnector::from(rustls), server_name))
        } else {
            None
        };
        Ok(Self {
            address: config.address.clone(),
            transport: config.transport,
            timeout: config.timeout,
            header: SyslogHeader {
                facility,
                hostname: config
                    .hostname
                    .clone()
                    .or_else(|| std::env::var("HOSTNAME").ok())
                    .unwrap_or_else(|| "-".to_owned()),
                app_name: config.app_name.clone(),
            },
            tls,
            connection: Mutex::new(Connection::Closed),
        })
    }

    /// The RFC 5424 message of `detection` (without framing).
    pub(crate) fn message(
        &self,
        detection: &Detection,
        report_id: &ReportId,
        protector: &Protector,
    ) -> Vec<u8> {
        rfc5424(
            &self.header,
            report_id,
            &cef_line(detection, report_id, protector),
        )
        .into_bytes()
    }

    async fn connect(&self) -> Result<Connection, AttemptError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            AttemptError::transient(format!("syslog {what} {}: {e}", self.address))
        };
        let timed = |what: &'static str| {
            move |_| AttemptError::transient(format!("syslog {what} timed out"))
        };
        match self.transport {
            Transport::Udp => {
                let socket = UdpSocket::bind(if self.address.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })
                .await
                .map_err(|e| fail("bind for", &e))?;
                socket
                    .connect(&self.address)
                    .await
                    .map_err(|e| fail("connect to", &e))?;
                Ok(Connection::Udp(socket))
            }
            Transport::Tcp | Transport::Tls => {
                let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.address))
                    .await
                    .map_err(timed("connect"))?
                    .map_err(|e| fail("connect to", &e))?;
                let _ = tcp.set_nodelay(true);
                match &self.tls {
                    None => Ok(Connection::Stream(Box::new(tcp))),
                    Some((connector, name)) => {
                        let tls = tokio::time::timeout(
                            self.timeout,
                            connector.connect(name.clone(), tcp),
                        )
                        .await
                        .map_err(timed("TLS handshake"))?
                        .map_err(|e| fail("TLS handshake with", &e))?;
                        Ok(Connection::Stream(Box::new(tls)))
                    }
                }
            }
        }
    }

    pub(crate) async fn send(&self, report: &Prepared) -> Result<(), AttemptError> {
        let mut connection = self.connection.lock().await;
        if let Connection::Stream(stream) = &mut *connection {
            // A receiver that closed the connection is noticed before writing into it (the
            // write would succeed into the kernel's buffer and the message would be lost).
            let mut probe = [0u8; 64];
            match tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await {
                Err(_) => {}             // nothing to read: still open
                Ok(Ok(n)) if n > 0 => {} // receivers send nothing; ignore it
                Ok(_) => *connection = Connection::Closed,
            }
        }
        if matches!(*connection, Connection::Closed) {
            *connection = self.connect().await?;
        }
        let result = match &mut *connection {
            Connection::Closed => Err(AttemptError::transient("not connected")),
            Connection::Udp(socket) => socket
                .send(&report.body)
                .await
                .map(|_| ())
                .map_err(|e| AttemptError::transient(format!("syslog send: {e}"))),
            Connection::Stream(stream) => {
                let mut frame = format!("{} ", report.body.len()).into_bytes();
                frame.extend_from_slice(&report.body);
                let write = async {
                    stream.write_all(&frame).await?;
                    stream.flush().await
                };
                match tokio::time::timeout(self.timeout, write).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(AttemptError::transient(format!("syslog write: {e}"))),
                    Err(_) => Err(AttemptError::transient("syslog write timed out")),
                }
            }
        };
        if result.is_err() {
            *connection = Connection::Closed;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_and_facility_are_checked() {
        let mut c = SyslogConfig::new("no-port", Transport::Tcp);
        c.facility = "local9".into();
        let problems = c.problems("sinks.s").join("\n");
        assert!(problems.contains("sinks.s.address"), "{problems}");
        assert!(problems.contains("sinks.s.facility"), "{problems}");
        assert!(SyslogConfig::new("[::1]:514", Transport::Tls)
            .problems("s")
            .is_empty());
        assert_eq!(SyslogConfig::new("[::1]:514", Transport::Tls).host(), "::1");
    }
}
