//! What can be wrong with an nfcapd file: [`FormatError`] for the bytes (pure), and
//! [`NfcapdError`] adding the file, the block and I/O.

use std::io;
use std::path::PathBuf;

use super::header::Compression;

/// Why bytes are not a readable nfcapd file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file does not start with nfdump's magic 0xA50C.
    #[error("not an nfcapd file (magic {found:#06x})")]
    BadMagic {
        /// The first two bytes, little-endian.
        found: u16,
    },
    /// Written on a big-endian machine (nfdump files are in the writer's byte order).
    #[error("big-endian nfcapd file (not supported)")]
    BigEndian,
    /// A layout other than 2: layout 1 is nfdump 1.6 (convert with nfdump 1.7: `nfdump -r OLD
    /// -w NEW`).
    #[error("unsupported nfcapd layout version {version} (only layout 2, nfdump 1.7+)")]
    UnsupportedLayout {
        /// The layout version found.
        version: u16,
    },
    /// The file is encrypted (nfdump has no encryption yet; the field is reserved).
    #[error("encrypted nfcapd file (not supported)")]
    Encrypted,
    /// A compression id this reader does not know.
    #[error("unknown compression id {id}")]
    UnknownCompression {
        /// The id in the file header.
        id: u8,
    },
    /// The file ends inside a header or block.
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// A block header is impossible (empty, or larger than nfdump ever writes).
    #[error("bad data block: {detail} (size {size})")]
    BadBlock {
        /// What is wrong.
        detail: &'static str,
        /// The block size field.
        size: usize,
    },
    /// A compressed block does not decompress.
    #[error("{compression} block does not decompress: {detail}")]
    Decompress {
        /// The file's compression.
        compression: Compression,
        /// The decompressor's message.
        detail: String,
    },
    /// A record inside a block is malformed (size below its header, running past the block,
    /// an element running past its record).
    #[error("bad record at byte {offset} of the block: {detail}")]
    BadRecord {
        /// What is wrong.
        detail: &'static str,
        /// Offset of the record in the uncompressed block.
        offset: usize,
    },
}

impl FormatError {
    /// A short, stable name for the reason, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            FormatError::BadMagic { .. } => "bad_magic",
            FormatError::BigEndian => "big_endian",
            FormatError::UnsupportedLayout { .. } => "unsupported_layout",
            FormatError::Encrypted => "encrypted",
            FormatError::UnknownCompression { .. } => "unknown_compression",
            FormatError::Truncated { .. } => "truncated",
            FormatError::BadBlock { .. } => "bad_block",
            FormatError::Decompress { .. } => "decompress",
            FormatError::BadRecord { .. } => "bad_record",
        }
    }
}

/// Reading an nfcapd file failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum NfcapdError {
    /// The file (or directory) could not be opened or read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The content is not a readable nfcapd file.
    #[error("{}: {}{source}", .path.display(), block.map(|b| format!("block {b}: ")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// The 0-based data block, when the error is inside one.
        block: Option<u32>,
        /// What is wrong.
        source: FormatError,
    },
}
