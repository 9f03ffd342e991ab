//! relbot-flow: the [`FlowRecord`] every part of relbot speaks, and pure decoders that turn
//! bytes into records.
//!
//! Layout:
//! - [`record`]: the normalised flow record;
//! - [`text`]: line formats (the seed's `EPOCH_MS SRC DST` triples, `nfdump -o fmt:` and
//!   `nfdump -o csv` output), parsed straight into addresses without per-line allocation;
//! - [`source`]: opening a file or stdin, transparent gzip/zstd, cutting input into line blocks
//!   that callers may parse in parallel.
//!
//! Decoders never log, never count metrics and never panic on input: bad input is an error
//! value that names what was wrong (and, for files, the file and line).

pub mod record;
pub mod source;
pub mod text;

pub use record::FlowRecord;
