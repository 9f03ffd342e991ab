//! Binary inputs of `relbot analyze`: nfcapd files (nfdump 1.7 layout 2, directories in time
//! order like `nfdump -R`) and IPFIX files (RFC 5655), recognised by their magic and decoded
//! by `relbot-flow` into the same records the text parsers give.
//!
//! Damage is handled like a bad text line: the unreadable part (an nfcapd block that does not
//! decompress or decode, the rest of a file cut short, an IPFIX file from a bad message header
//! on) is described on stderr naming the file, counted as a skipped block, and the run goes
//! on; with `--strict` it stops the run (exit 65).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use relbot_flow::ipfix_file::{self, IpfixFileError, IpfixFileReader};
use relbot_flow::nfcapd::{self, FormatError, NfcapdError, NfcapdReader};

use super::inputs::Payload;
use crate::error::AnalyzeError;

/// Records per batch sent to the inserting thread (IPFIX messages hold few records each).
const BATCH: usize = 8192;

/// The binary formats `relbot analyze` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// nfdump's nfcapd files.
    Nfcapd,
    /// IPFIX files.
    IpfixFile,
}

impl BinaryKind {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nfcapd => "nfcapd",
            Self::IpfixFile => "ipfix-file",
        }
    }
}

/// Recognises a binary input by its first bytes: nfcapd's magic 0xA50C, or an IPFIX message
/// header (version 10). `None` for anything else (text, compressed text, unreadable: the
/// text path reports those).
pub fn sniff(path: &Path) -> Option<BinaryKind> {
    let mut head = [0u8; 16];
    let mut file = File::open(path).ok()?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    let head = &head[..filled];
    if nfcapd::is_nfcapd(head) {
        Some(BinaryKind::Nfcapd)
    } else if ipfix_file::is_ipfix_file(head) {
        Some(BinaryKind::IpfixFile)
    } else {
        None
    }
}

/// The nfcapd files of a directory, oldest first; an error when there are none.
pub fn list_nfcapd(dir: &Path) -> Result<Vec<PathBuf>, AnalyzeError> {
    let files = nfcapd::list_files(dir).map_err(|e| AnalyzeError::NoInput(e.to_string()))?;
    if files.is_empty() {
        return Err(AnalyzeError::NoInput(format!(
            "{}: directory holds no nfcapd files (nfcapd.YYYYMMDDhhmm…)",
            dir.display()
        )));
    }
    Ok(files)
}

/// Checks that `path` is a readable regular file; returns its size.
pub fn check_readable(path: &Path) -> Result<u64, AnalyzeError> {
    let no_input = |e: std::io::Error| AnalyzeError::NoInput(format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(no_input)?;
    let meta = file.metadata().map_err(no_input)?;
    if meta.is_dir() {
        return Err(AnalyzeError::NoInput(format!(
            "{}: is a directory",
            path.display()
        )));
    }
    Ok(meta.len())
}

/// Decodes one binary input, sending its records in batches; `false` when the run is
/// stopping. Damage is sent as [`Payload::Skipped`], or returned as an error with `strict`.
pub fn read(
    path: &Path,
    name: &str,
    kind: BinaryKind,
    strict: bool,
    send: &mut impl FnMut(Payload) -> bool,
) -> Result<bool, AnalyzeError> {
    match kind {
        BinaryKind::Nfcapd => read_nfcapd(path, name, strict, send),
        BinaryKind::IpfixFile => read_ipfix(path, name, strict, send),
    }
}

/// What to do about damage: skip (and say so) or stop.
fn damaged(
    strict: bool,
    message: String,
    what: &str,
    send: &mut impl FnMut(Payload) -> bool,
) -> Result<bool, AnalyzeError> {
    if strict {
        return Err(AnalyzeError::BadBinary(message));
    }
    Ok(send(Payload::Skipped(format!("{message}; {what} skipped"))))
}

fn read_nfcapd(
    path: &Path,
    name: &str,
    strict: bool,
    send: &mut impl FnMut(Payload) -> bool,
) -> Result<bool, AnalyzeError> {
    let mut reader = match NfcapdReader::open(path) {
        Ok(r) => r,
        Err(NfcapdError::Io { source, .. }) => {
            return Err(AnalyzeError::BinaryIo(format!("{name}: {source}")))
        }
        Err(NfcapdError::Format { source, .. }) => {
            return damaged(strict, format!("{name}: {source}"), "file", send)
        }
    };
    let mut out = Vec::new();
    loop {
        match reader.read_block(&mut out) {
            Ok(Some(_)) => {
                if out.len() >= BATCH && !send(Payload::Records(std::mem::take(&mut out))) {
                    return Ok(false);
                }
            }
            Ok(None) => break,
            Err(NfcapdError::Io { source, .. }) => {
                return Err(AnalyzeError::BinaryIo(format!("{name}: {source}")))
            }
            Err(NfcapdError::Format { block, source, .. }) => {
                let at = block.map(|b| format!("block {b}: ")).unwrap_or_default();
                // A block that was read whole but does not decode is skipped alone; a broken
                // block header or a file cut short leaves nothing readable after it.
                let whole = matches!(
                    source,
                    FormatError::Decompress { .. } | FormatError::BadRecord { .. }
                );
                let what = if whole { "block" } else { "rest of the file" };
                if !out.is_empty() && !send(Payload::Records(std::mem::take(&mut out))) {
                    return Ok(false);
                }
                if !damaged(strict, format!("{name}: {at}{source}"), what, send)? {
                    return Ok(false);
                }
                if !whole {
                    return Ok(true);
                }
            }
        }
    }
    Ok(out.is_empty() || send(Payload::Records(out)))
}

fn read_ipfix(
    path: &Path,
    name: &str,
    strict: bool,
    send: &mut impl FnMut(Payload) -> bool,
) -> Result<bool, AnalyzeError> {
    let mut reader = IpfixFileReader::open(path)
        .map_err(|e| AnalyzeError::BinaryIo(format!("{name}: {}", io_text(&e))))?;
    let mut out = Vec::new();
    loop {
        match reader.read_message(&mut out) {
            Ok(true) => {
                if out.len() >= BATCH && !send(Payload::Records(std::mem::take(&mut out))) {
                    return Ok(false);
                }
            }
            Ok(false) => break,
            Err(e @ IpfixFileError::Io { .. }) => {
                return Err(AnalyzeError::BinaryIo(format!("{name}: {}", io_text(&e))))
            }
            Err(IpfixFileError::Format { offset, source, .. }) => {
                if !out.is_empty() && !send(Payload::Records(std::mem::take(&mut out))) {
                    return Ok(false);
                }
                let message = format!("{name}: message at byte {offset}: {source}");
                return damaged(strict, message, "rest of the file", send);
            }
        }
    }
    let sets: u64 = reader.stats().issues.iter().map(|(_, n)| n).sum();
    if sets > 0 {
        let reasons: Vec<String> = reader
            .stats()
            .issues
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        eprintln!(
            "relbot: {name}: {sets} IPFIX set(s) not decoded ({})",
            reasons.join(", ")
        );
    }
    Ok(out.is_empty() || send(Payload::Records(out)))
}

/// The operating system's part of an IPFIX file error (the path is named by the caller).
fn io_text(e: &IpfixFileError) -> String {
    match e {
        IpfixFileError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}
