//! relbot-flow: the [`FlowRecord`] every part of relbot speaks, and pure decoders that turn
//! bytes into records.
//!
//! Layout:
//! - [`record`]: the normalised flow record;
//! - [`text`]: line formats (the seed's `EPOCH_MS SRC DST` triples, `nfdump -o fmt:` and
//!   `nfdump -o csv` output), parsed straight into addresses without per-line allocation;
//! - [`source`]: opening a file or stdin, transparent gzip/zstd, cutting input into line blocks
//!   that callers may parse in parallel;
//! - [`netflow`]: NetFlow v5/v9 and IPFIX datagrams, through a stateful [`netflow::Collector`]
//!   (templates, sampling, data waiting for its template, state saved across restarts);
//! - [`nfcapd`]: nfdump's binary files (layout 2, any compression) and directories of them;
//! - [`ipfix_file`]: IPFIX files (RFC 5655), a sequence of IPFIX messages;
//! - [`networks`]: monitored networks (`Cidr`, `Networks`), the initiator filter.
//!
//! Decoders never log, never count metrics and never panic on input: bad input is an error
//! value that names what was wrong (and, for files, the file and line).

pub mod ipfix_file;
pub mod netflow;
pub mod networks;
pub mod nfcapd;
pub mod record;
pub mod source;
pub mod text;

pub use record::FlowRecord;
