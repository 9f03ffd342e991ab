//! Line-oriented flow formats: the seed's `EPOCH_MS SRC DST` triples, `nfdump -o fmt:` and
//! `nfdump -o csv` output.
//!
//! Parsing is pure and allocation-free per line (addresses go straight from bytes to
//! [`std::net::IpAddr`]); one [`LineParser`] per input is shared by the threads that parse
//! its [`Block`](crate::source::Block)s with [`parse_block`]. Bad lines become
//! [`LineError`]s, never panics.
//!
//! Layout: `format` names and sniffs formats; `parser` dispatches a line to `triples`,
//! `nfdump_fmt` or `nfdump_csv`, which use the byte-level helpers in `fields` and `time`;
//! `read` glues a [`BlockReader`](crate::source::BlockReader) to a parser for simple callers.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use relbot_flow::source::BlockReader;
//! use relbot_flow::text::{detect_format, parse_block, LineParser, TextFormat};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut reader = BlockReader::open(Path::new("flows.txt.gz"))?; // or "-" for stdin
//! let Some(first) = reader.next_block()? else {
//!     return Ok(()); // empty input
//! };
//! let format = detect_format(&first.data).unwrap_or(TextFormat::NfdumpFmt);
//! let parser = LineParser::new(format, &first.data)?; // reads the CSV header, if any
//! let (mut records, mut errors) = (Vec::new(), Vec::new());
//! let mut next = Some(first);
//! while let Some(block) = next {
//!     // A parallel caller hands `block` to a worker here: `parser` is `Sync`.
//!     parse_block(&parser, &block, &mut records, &mut errors);
//!     next = reader.next_block()?;
//! }
//! # Ok(())
//! # }
//! ```

mod error;
mod fields;
mod format;
mod nfdump_csv;
mod nfdump_fmt;
mod parser;
mod read;
mod time;
mod triples;

pub use error::{LineError, LineErrorKind};
pub use format::{detect_format, TextFormat, UnknownFormat};
pub use nfdump_csv::DEFAULT_HEADER as NFDUMP_CSV_DEFAULT_HEADER;
pub use parser::{parse_block, LineParser, ParseStats};
pub use read::{read_all, ReadError};

#[cfg(test)]
mod proptests;
