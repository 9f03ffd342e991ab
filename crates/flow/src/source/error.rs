//! [`SourceError`]: what can go wrong opening or reading an input, naming the input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// How an input is compressed, as recognised from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed (or not in a format we recognise: then it is read as is).
    None,
    /// gzip (`1f 8b`), possibly several concatenated members.
    Gzip,
    /// Zstandard (`28 b5 2f fd`), possibly several frames.
    Zstd,
}

impl Compression {
    /// Recognises gzip and zstd by their magic bytes.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Opening or reading an input failed. Every variant names the input (`-` is shown as
/// `<stdin>`).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist.
    #[error("{}: no such file", shown(.path))]
    NotFound {
        /// The input.
        path: PathBuf,
    },
    /// The file (or a directory on its path) may not be read by this user.
    #[error("{}: permission denied", shown(.path))]
    PermissionDenied {
        /// The input.
        path: PathBuf,
    },
    /// The path is a directory, not a file.
    #[error("{}: is a directory", shown(.path))]
    IsDirectory {
        /// The input.
        path: PathBuf,
    },
    /// Opening failed for another reason.
    #[error("{}: cannot open: {source}", shown(.path))]
    Open {
        /// The input.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Reading failed (an I/O error of the file or pipe itself).
    #[error("{}: read error: {source}", shown(.path))]
    Read {
        /// The input.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The compressed stream is not valid (bad header, bad checksum, garbage).
    #[error("{}: corrupt {compression} stream: {source}", shown(.path))]
    Corrupt {
        /// The input.
        path: PathBuf,
        /// The compression recognised from the first bytes.
        compression: Compression,
        /// The decompressor's error.
        source: io::Error,
    },
    /// The input ends in the middle of the compressed stream (an interrupted copy or a file
    /// still being written).
    #[error("{}: truncated {compression} stream (the input ends before the compressed data)", shown(.path))]
    Truncated {
        /// The input.
        path: PathBuf,
        /// The compression recognised from the first bytes.
        compression: Compression,
    },
    /// A line is longer than any flow record can be: the input is probably not text.
    #[error("{}: line {line} is longer than {limit} bytes (is this a text file?)", shown(.path))]
    LineTooLong {
        /// The input.
        path: PathBuf,
        /// 1-based number of the line.
        line: u64,
        /// The limit, in bytes.
        limit: usize,
    },
}

impl SourceError {
    /// The input the error is about (`-` for stdin).
    pub fn path(&self) -> &Path {
        match self {
            SourceError::NotFound { path }
            | SourceError::PermissionDenied { path }
            | SourceError::IsDirectory { path }
            | SourceError::Open { path, .. }
            | SourceError::Read { path, .. }
            | SourceError::Corrupt { path, .. }
            | SourceError::Truncated { path, .. }
            | SourceError::LineTooLong { path, .. } => path,
        }
    }

    /// Classifies an error from opening `path`.
    pub(crate) fn open(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.kind() {
            io::ErrorKind::NotFound => SourceError::NotFound { path },
            io::ErrorKind::PermissionDenied => SourceError::PermissionDenied { path },
            io::ErrorKind::IsADirectory => SourceError::IsDirectory { path },
            _ => SourceError::Open { path, source },
        }
    }

    /// Classifies an error from reading `path`: operating-system errors are read errors;
    /// anything else coming out of a decompressor is about the compressed data.
    pub(crate) fn read(path: &Path, compression: Compression, source: io::Error) -> Self {
        let path = path.to_path_buf();
        if compression == Compression::None || source.raw_os_error().is_some() {
            return SourceError::Read { path, source };
        }
        if source.kind() == io::ErrorKind::UnexpectedEof {
            SourceError::Truncated { path, compression }
        } else {
            SourceError::Corrupt {
                path,
                compression,
                source,
            }
        }
    }
}

/// How an input is named in messages.
fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.to_string_lossy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f]), Compression::None);
        assert_eq!(Compression::sniff(b"1416"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }

    #[test]
    fn messages_name_the_input() {
        let error = SourceError::NotFound {
            path: "flows.txt".into(),
        };
        assert_eq!(error.to_string(), "flows.txt: no such file");
        let error = SourceError::Truncated {
            path: "-".into(),
            compression: Compression::Gzip,
        };
        assert!(error
            .to_string()
            .starts_with("<stdin>: truncated gzip stream"));
        assert_eq!(error.path(), Path::new("-"));
    }
}
