//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoders.
//!
//! The entry point is [`Collector`]: one per service (or per receiving thread), fed with
//! `(source address, datagram, now)` and returning records plus a [`DecodeReport`] of what it
//! learned, buffered, skipped and expired, so that the caller can count it. Pure: no I/O (except
//! the explicit state file helpers in [`persist`]), no logging, no metrics, no clock.
//!
//! Layout:
//! - [`v5`], `v9`, `ipfix`: the wire formats;
//! - [`template`]: templates compiled for decoding, and the cache keyed by exporter, protocol,
//!   observation domain / source id and template id;
//! - `fields`, `time`: which information elements make a [`FlowRecord`](crate::FlowRecord),
//!   and how relative times become absolute;
//! - `sampling`: sampling rates and system init time from options records;
//! - `pending`: data sets waiting for their template;
//! - [`persist`]: saving and restoring what was learned across restarts;
//! - [`build`]: the inverse, datagrams from records, for tests, benchmarks and replay.
//!
//! See `docs/DECODERS.md` for the decisions (own decoder rather than a crate, time handling,
//! sampling) and the interop evidence.

mod be;
pub mod build;
mod collector;
mod error;
mod fields;
mod ipfix;
mod pending;
pub mod persist;
mod sampling;
pub mod template;
mod time;
pub mod v5;
mod v9;

#[cfg(test)]
mod tests;

pub use collector::{Collector, CollectorConfig, DecodeReport, ExpiryReport};
pub use error::DecodeError;
pub use pending::PendingConfig;
pub use sampling::{DomainState, SamplingMode};
pub use template::{
    DomainKey, FieldSpec, Protocol, Template, TemplateCache, TemplateKey, TemplateKind,
};
pub use v5::decode_v5;

/// Length of the IPFIX message at the start of `bytes` (header checked), for readers of IPFIX
/// files and streams that must cut messages apart.
pub fn ipfix_message_length(bytes: &[u8]) -> Result<usize, DecodeError> {
    ipfix::message_length(bytes)
}
