//! relbot-codec: the Avro wire contract shared by relbot's services.
//!
//! Three record types travel over Kafka: [`FlowRecord`](relbot_flow::FlowRecord) (ingest →
//! detector), [`Detection`] (detector → reporter) and [`Report`] (the reporter's delivery
//! log and dead letters). Their schemas live in `schemas/*.avsc` and are embedded here;
//! `schemas/README.md` explains them, the wire formats and the evolution rule.
//!
//! Layout:
//! - [`schema`]: the embedded schemas, their released versions and fingerprints;
//! - [`wire`]: single-object and Confluent framing, and [`Codec`], the typed encoder/decoder;
//! - [`flow`], [`detection`], [`report`]: the record types and their Avro mappings
//!   (flows have a hand-written datum codec, tested against apache-avro's);
//! - [`registry`]: a small Confluent Schema Registry client and [`Codec::from_config`];
//! - [`error`]: the one error type, [`CodecError`];
//! - private helpers: `datum` (varints, a bounds-checked cursor, and the structural check
//!   every datum passes before apache-avro sees it), `canonical` (the specification's parsing
//!   canonical form and CRC-64-AVRO, which apache-avro 0.21 gets wrong for logical types),
//!   `value` (generic-value helpers), `id` ([`DetectionId`], [`ReportId`]).
//!
//! ```
//! use relbot_codec::FlowCodec;
//! use relbot_flow::FlowRecord;
//!
//! let codec = FlowCodec::single_object();
//! let flow = FlowRecord::from_triple(1_400_000_000_000, "192.0.2.1".parse()?, "198.51.100.7".parse()?);
//! let bytes = codec.to_vec(&flow)?;
//! assert_eq!(&bytes[..2], &[0xC3, 0x01]);
//! assert_eq!(codec.decode(&bytes)?, flow);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Decoders are pure: bytes in, a value or a [`CodecError`] out, never a panic, no I/O.

mod canonical;
mod datum;
pub mod detection;
pub mod error;
pub mod flow;
mod id;
pub mod registry;
pub mod report;
pub mod schema;
mod value;
pub mod wire;

pub use detection::{Detection, Evidence, PeriodResult};
pub use error::CodecError;
pub use id::{DetectionId, ParseIdError, ReportId};
pub use registry::{RegistryClient, RegistryConfig, RegistryMode};
pub use report::{Report, ReportStatus, SrcMode};
pub use schema::{SchemaKind, SchemaVersion};
pub use wire::{
    AvroRecord, Codec, ConfluentIds, DetectionCodec, FlowCodec, ReportCodec, WireFormat,
};
