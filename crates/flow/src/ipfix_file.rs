//! IPFIX files (RFC 5655): a file is IPFIX messages one after another, templates first (or
//! at least before their data, though [`Collector`] holds early data anyway). Each message is
//! decoded with a [`Collector`] whose clock is the message's export time, so template and
//! buffer ages follow the file's time, not the wall clock.
//!
//! Records carry no exporter address (a file does not say who exported it); their observation
//! domain is the message's.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::netflow::{ipfix_message_length, Collector, CollectorConfig, DecodeError};
use crate::FlowRecord;

/// Reading an IPFIX file failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IpfixFileError {
    /// The file could not be opened or read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A message header is unusable (not IPFIX, bad length, cut short); nothing after it can
    /// be found.
    #[error("{}: message at byte {offset}: {source}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Offset of the message in the file.
        offset: u64,
        /// What is wrong.
        source: DecodeError,
    },
}

/// Whether `head` (the first bytes of an input) starts like an IPFIX file: version 10 and a
/// message length of at least a header, for format detection.
pub fn is_ipfix_file(head: &[u8]) -> bool {
    head.len() >= 16
        && head[..2] == [0, 10]
        && usize::from(u16::from_be_bytes([head[2], head[3]])) >= 16
}

/// What a file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpfixFileStats {
    /// Messages read.
    pub messages: u64,
    /// Flow records decoded.
    pub records: u64,
    /// Sets skipped, with their reasons (see [`DecodeError::reason`]), counted.
    pub issues: Vec<(&'static str, u64)>,
}

impl IpfixFileStats {
    fn count(&mut self, reason: &'static str) {
        match self.issues.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.issues.push((reason, 1)),
        }
    }
}

/// Reads an IPFIX file message by message.
#[derive(Debug)]
pub struct IpfixFileReader<R> {
    reader: R,
    path: PathBuf,
    collector: Collector,
    offset: u64,
    message: Vec<u8>,
    stats: IpfixFileStats,
}

/// The "exporter" the collector sees for file input.
const FILE_SOURCE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl IpfixFileReader<BufReader<File>> {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self, IpfixFileError> {
        let file = File::open(path).map_err(|source| IpfixFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(BufReader::with_capacity(1 << 20, file), path))
    }
}

impl<R: Read> IpfixFileReader<R> {
    /// Reads from `reader`; `path` names it in errors. Templates never expire (a file may
    /// span days); data before its template is held for up to 60 s of file time.
    pub fn new(reader: R, path: &Path) -> Self {
        let config = CollectorConfig {
            template_timeout: None,
            ..CollectorConfig::default()
        };
        Self::with_collector(reader, path, Collector::new(config))
    }

    /// Reads with a collector configured by the caller (sampling mode, limits).
    pub fn with_collector(reader: R, path: &Path, collector: Collector) -> Self {
        Self {
            reader,
            path: path.to_path_buf(),
            collector,
            offset: 0,
            message: Vec::with_capacity(1 << 16),
            stats: IpfixFileStats::default(),
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> &IpfixFileStats {
        &self.stats
    }

    /// Reads the next message, appending its flows to `out`; `Ok(false)` at the end of the
    /// file.
    pub fn read_message(&mut self, out: &mut Vec<FlowRecord>) -> Result<bool, IpfixFileError> {
        let io = |source| IpfixFileError::Io {
            path: self.path.clone(),
            source,
        };
        let format = |source| IpfixFileError::Format {
            path: self.path.clone(),
            offset: self.offset,
            source,
        };
        self.message.resize(16, 0);
        let n = read_full(&mut self.reader, &mut self.message).map_err(io)?;
        if n == 0 {
            return Ok(false);
        }
        self.message.truncate(n);
        if n == 16 {
            let announced = usize::from(u16::from_be_bytes([self.message[2], self.message[3]]));
            if announced > 16 {
                self.message.resize(announced, 0);
                let more = read_full(&mut self.reader, &mut self.message[16..]).map_err(io)?;
                self.message.truncate(16 + more);
            }
        }
        // Checks version and length against what could be read.
        let length = ipfix_message_length(&self.message).map_err(format)?;
        let export_secs = u32::from_be_bytes([
            self.message[4],
            self.message[5],
            self.message[6],
            self.message[7],
        ]);
        let before = out.len();
        let report = self
            .collector
            .decode(
                FILE_SOURCE,
                &self.message[..length],
                i64::from(export_secs) * 1000,
                out,
            )
            .map_err(format)?;
        for record in &mut out[before..] {
            record.exporter = None;
        }
        for issue in &report.issues {
            self.stats.count(issue.reason());
        }
        self.stats.messages += 1;
        self.stats.records += report.records as u64;
        self.offset += length as u64;
        Ok(true)
    }
}

/// Reads as much of `buf` as the input has; returns how much.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads every flow of an IPFIX file.
pub fn read_file(path: &Path) -> Result<(Vec<FlowRecord>, IpfixFileStats), IpfixFileError> {
    let mut reader = IpfixFileReader::open(path)?;
    let mut out = Vec::new();
    while reader.read_message(&mut out)? {}
    Ok((out, reader.stats.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::build::{flow_fields, MessageBuilder};
    use crate::netflow::Protocol;

    fn flow(i: u8) -> FlowRecord {
        FlowRecord {
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_000_100,
            src: [10, 0, 0, i].into(),
            dst: [192, 0, 2, 1].into(),
            protocol: 17,
            bytes: 100,
            packets: 1,
            observation_domain: 5,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn reads_messages_in_sequence() {
        let fields = flow_fields(Protocol::Ipfix, false);
        let mut file = MessageBuilder::ipfix(1_700_000_001_000, 5)
            .template(256, &fields)
            .flows(256, &fields, &[flow(1)])
            .build();
        file.extend(
            MessageBuilder::ipfix(1_700_000_002_000, 5)
                .flows(256, &fields, &[flow(2), flow(3)])
                .build(),
        );
        let mut reader = IpfixFileReader::new(&file[..], Path::new("f.ipfix"));
        let mut out = Vec::new();
        while reader.read_message(&mut out).unwrap() {}
        assert_eq!(out, [flow(1), flow(2), flow(3)]);
        assert_eq!(reader.stats().messages, 2);

        // A file cut inside the second message.
        let cut = &file[..file.len() - 3];
        let mut reader = IpfixFileReader::new(cut, Path::new("f.ipfix"));
        let mut out = Vec::new();
        assert!(reader.read_message(&mut out).unwrap());
        let err = reader.read_message(&mut out).unwrap_err();
        assert!(
            err.to_string().starts_with("f.ipfix: message at byte "),
            "{err}"
        );
        // Not IPFIX at all.
        let mut reader = IpfixFileReader::new(&b"hello, world, not ipfix"[..], Path::new("t"));
        assert!(reader.read_message(&mut out).is_err());
    }
}
