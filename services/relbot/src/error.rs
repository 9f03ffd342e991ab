//! Errors of the relbot CLI and the exit code each maps to.

use relbot_flow::source::SourceError;
use relbot_periodicity::ParamsError;

/// Process exit codes, after BSD `sysexits.h`; documented in `docs/CLI.md`.
pub mod exit {
    /// The run completed (bad lines, if any, were skipped and reported on stderr).
    pub const OK: u8 = 0;
    /// An unexpected failure, e.g. writing the output failed.
    pub const FAILURE: u8 = 1;
    /// Wrong command-line usage (also clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// Invalid configuration: a bad value in a config file, named by its key.
    pub const CONFIG: u8 = 64;
    /// Bad input data: a bad line under `--strict`, corrupt or truncated compressed input, or
    /// input whose format cannot be recognised.
    pub const DATA: u8 = 65;
    /// An input cannot be opened: missing, unreadable, or a directory.
    pub const NO_INPUT: u8 = 66;
    /// `--report`: a report could not be delivered to a sink (after its retries).
    pub const UNAVAILABLE: u8 = 69;
    /// Reading an input failed part way (an I/O error of the device).
    pub const IO: u8 = 74;
}

/// Why `relbot analyze` stopped.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The command line is inconsistent.
    #[error("{0}")]
    Usage(String),
    /// The detection parameters are invalid.
    #[error("invalid detection parameters: {0}")]
    Params(#[source] ParamsError),
    /// A configuration file could not be used.
    #[error("{0}")]
    Config(String),
    /// An input could not be opened.
    #[error("{0}")]
    Open(#[source] SourceError),
    /// An input failed while being read.
    #[error("{0}")]
    Read(#[source] SourceError),
    /// The format of an input could not be recognised.
    #[error("{file}: cannot recognise the input format; name it with --input-format")]
    UnknownFormat {
        /// The input.
        file: String,
    },
    /// An input cannot be opened (a binary file, or a directory of nfcapd files).
    #[error("{0}")]
    NoInput(String),
    /// Part of a binary input is unreadable and `--strict` was given (the message names the
    /// file).
    #[error("{0} (--strict: stopping)")]
    BadBinary(String),
    /// Reading a binary input failed part way (the message names the file).
    #[error("{0}")]
    BinaryIo(String),
    /// Writing the results failed.
    #[error("cannot write output: {0}")]
    Output(String),
    /// `--report`: some reports could not be delivered; the sinks and their failure counts.
    #[error("reports not delivered to sink(s) {0}")]
    Undelivered(String),
    /// The header an input needs (nfdump CSV) is missing or malformed.
    #[error("{file}:{line}: {message}")]
    BadHeader {
        /// The input.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        message: String,
    },
    /// A line did not parse and `--strict` was given.
    #[error("{file}:{line}: {message} (--strict: stopping)")]
    BadLine {
        /// The input.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        message: String,
    },
}

impl AnalyzeError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Output(_) => exit::FAILURE,
            Self::Undelivered(_) => exit::UNAVAILABLE,
            Self::Params(_) | Self::Config(_) => exit::CONFIG,
            Self::Open(_) | Self::NoInput(_) => exit::NO_INPUT,
            Self::BadBinary(_) => exit::DATA,
            Self::BinaryIo(_) => exit::IO,
            Self::Read(
                SourceError::Corrupt { .. }
                | SourceError::Truncated { .. }
                | SourceError::LineTooLong { .. },
            ) => exit::DATA,
            Self::Read(_) => exit::IO,
            Self::UnknownFormat { .. } | Self::BadHeader { .. } | Self::BadLine { .. } => {
                exit::DATA
            }
        }
    }
}
