//! [`read_all`]: the whole text path in one call, for tests and simple callers. The CLI drives
//! [`BlockReader`] and [`parse_block`] itself to parse blocks in parallel and show progress.

use std::path::{Path, PathBuf};

use super::{detect_format, parse_block, LineError, LineParser, TextFormat};
use crate::source::{BlockReader, SourceError};
use crate::FlowRecord;

/// Why [`read_all`] produced nothing: the input could not be read, or not understood.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening, reading or decompressing failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The CSV header lacks a column the reader needs.
    #[error("{}: {error}", .path.display())]
    Header {
        /// The input.
        path: PathBuf,
        /// The header line and what it lacks.
        error: LineError,
    },
    /// `format` was `None` and the start of the input fits no format.
    #[error("{}: cannot tell the input format (expected triples, nfdump-fmt or nfdump-csv)", .path.display())]
    UnknownFormat {
        /// The input.
        path: PathBuf,
    },
}

/// Reads a whole file (`-` for stdin; gzip/zstd decompressed) in `format`, or in the format
/// [`detect_format`] sees when `format` is `None`. Returns every record in input order and
/// every bad line; an empty input gives two empty vectors.
pub fn read_all(
    path: &Path,
    format: Option<TextFormat>,
) -> Result<(Vec<FlowRecord>, Vec<LineError>), ReadError> {
    let mut reader = BlockReader::open(path)?;
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    let Some(first) = reader.next_block()? else {
        return Ok((records, errors));
    };
    let format = match format.or_else(|| detect_format(&first.data)) {
        Some(format) => format,
        None => {
            return Err(ReadError::UnknownFormat {
                path: path.to_path_buf(),
            })
        }
    };
    let parser = LineParser::new(format, &first.data).map_err(|error| ReadError::Header {
        path: path.to_path_buf(),
        error,
    })?;
    let mut block = Some(first);
    while let Some(current) = block {
        parse_block(&parser, &current, &mut records, &mut errors);
        block = reader.next_block()?;
    }
    Ok((records, errors))
}
