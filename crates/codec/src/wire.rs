//! The two wire formats of a Kafka record value, and [`Codec`], which frames and unframes
//! one record type.
//!
//! - **Avro single-object encoding** (no registry): `C3 01`, the 8-byte little-endian
//!   CRC-64-AVRO fingerprint of the writer schema's parsing canonical form, the datum.
//! - **Confluent wire format** (registry configured): `00`, the 4-byte big-endian schema id
//!   the registry assigned, the datum.
//!
//! A datum written with the current schema is decoded by the record's own decoder. A datum
//! written with a released older version (known by fingerprint, or by an id resolved at start)
//! is checked structurally, then resolved to the current schema by apache-avro.

use std::{fmt, marker::PhantomData};

use apache_avro::types::Value;

use crate::{
    datum::check_datum,
    error::CodecError,
    schema::{self, SchemaKind, SchemaVersion},
};

/// First two bytes of an Avro single-object message.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
/// Length of a single-object header: magic and fingerprint.
pub const SINGLE_OBJECT_HEADER_LEN: usize = 10;
/// First byte of a Confluent-framed message.
pub const CONFLUENT_MAGIC: u8 = 0x00;
/// Length of a Confluent header: magic and schema id.
pub const CONFLUENT_HEADER_LEN: usize = 5;

/// How record values are framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireFormat {
    /// Avro single-object encoding, self-describing by schema fingerprint; used when no
    /// schema registry is configured.
    SingleObject,
    /// Confluent wire format with the ids a schema registry assigned for the topic's subject.
    Confluent(ConfluentIds),
}

/// Schema registry ids for one subject, resolved at start (see [`crate::registry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfluentIds {
    /// The id of the current schema: written into every message, and read.
    pub current: u32,
    /// `(version, id)` of released versions (`schemas/history/`) that are also read.
    pub released: Vec<(u32, u32)>,
}

impl ConfluentIds {
    /// Ids for a subject that knows only the current schema.
    pub fn current(id: u32) -> Self {
        Self {
            current: id,
            released: Vec::new(),
        }
    }
}

pub(crate) mod sealed {
    /// Keeps [`AvroRecord`](super::AvroRecord) to the record types of the contract.
    pub trait Sealed {}
}

/// A record type of the wire contract: [`relbot_flow::FlowRecord`],
/// [`Detection`](crate::Detection) or [`Report`](crate::Report).
pub trait AvroRecord: sealed::Sealed + Sized {
    /// Which schema this type is written with.
    const KIND: SchemaKind;

    /// Appends the Avro binary datum of `self` under the current schema (no framing).
    /// On error, `out` may hold part of the datum; [`Codec::encode`] truncates it.
    fn encode_datum(&self, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes one datum written with the current schema; every byte must be consumed.
    fn decode_datum(datum: &[u8]) -> Result<Self, CodecError>;

    /// The apache-avro generic value under the current schema (reference path).
    fn to_value(&self) -> Result<Value, CodecError>;

    /// The inverse of [`AvroRecord::to_value`]; accepts what apache-avro produces when it
    /// decodes or resolves a datum to the current schema.
    fn from_value(value: Value) -> Result<Self, CodecError>;
}

/// Decodes a datum written with `writer`, resolving it to the current schema of `T`.
///
/// The fast path when `writer` has the current fingerprint; otherwise the datum is checked
/// against `writer` (bounds, indexes, trailing bytes) before apache-avro resolves it.
pub fn decode_datum_with_writer<T: AvroRecord>(
    writer: &SchemaVersion,
    datum: &[u8],
) -> Result<T, CodecError> {
    let current = schema::current(T::KIND);
    if writer.fingerprint() == current.fingerprint() {
        return T::decode_datum(datum);
    }
    check_datum(writer, datum)?;
    let mut rest = datum;
    let value = apache_avro::from_avro_datum(writer.schema(), &mut rest, Some(current.schema()))
        .map_err(|e| CodecError::avro(T::KIND, e))?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            schema: T::KIND,
            count: rest.len(),
        });
    }
    T::from_value(value)
}

/// Encodes and decodes one record type in one wire format.
///
/// Cheap to clone; holds no schema of its own (schemas are process-wide statics).
pub struct Codec<T> {
    format: WireFormat,
    header: [u8; SINGLE_OBJECT_HEADER_LEN],
    header_len: usize,
    current_fingerprint: u64,
    _record: PhantomData<fn() -> T>,
}

/// Frames [`relbot_flow::FlowRecord`]s.
pub type FlowCodec = Codec<relbot_flow::FlowRecord>;
/// Frames [`Detection`](crate::Detection)s.
pub type DetectionCodec = Codec<crate::Detection>;
/// Frames [`Report`](crate::Report)s.
pub type ReportCodec = Codec<crate::Report>;

impl<T> fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("record", &std::any::type_name::<T>())
            .field("format", &self.format)
            .finish()
    }
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        Self {
            format: self.format.clone(),
            header: self.header,
            header_len: self.header_len,
            current_fingerprint: self.current_fingerprint,
            _record: PhantomData,
        }
    }
}

impl<T: AvroRecord> Codec<T> {
    /// A codec for `format`.
    pub fn new(format: WireFormat) -> Self {
        let current_fingerprint = schema::current(T::KIND).fingerprint();
        let mut header = [0u8; SINGLE_OBJECT_HEADER_LEN];
        let header_len = match &format {
            WireFormat::SingleObject => {
                header[..2].copy_from_slice(&SINGLE_OBJECT_MAGIC);
                header[2..].copy_from_slice(&current_fingerprint.to_le_bytes());
                SINGLE_OBJECT_HEADER_LEN
            }
            WireFormat::Confluent(ids) => {
                header[0] = CONFLUENT_MAGIC;
                header[1..CONFLUENT_HEADER_LEN].copy_from_slice(&ids.current.to_be_bytes());
                CONFLUENT_HEADER_LEN
            }
        };
        Self {
            format,
            header,
            header_len,
            current_fingerprint,
            _record: PhantomData,
        }
    }

    /// Avro single-object encoding.
    pub fn single_object() -> Self {
        Self::new(WireFormat::SingleObject)
    }

    /// Confluent wire format with ids already resolved.
    pub fn confluent(ids: ConfluentIds) -> Self {
        Self::new(WireFormat::Confluent(ids))
    }

    /// The wire format.
    pub fn format(&self) -> &WireFormat {
        &self.format
    }

    /// The header every message this codec writes starts with.
    pub fn header(&self) -> &[u8] {
        &self.header[..self.header_len]
    }

    /// Appends one framed message to `out`; on error `out` is left as it was.
    #[inline]
    pub fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.extend_from_slice(self.header());
        value.encode_datum(out).inspect_err(|_| out.truncate(start))
    }

    /// One framed message in a new buffer.
    pub fn to_vec(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(64);
        self.encode(value, &mut out)?;
        Ok(out)
    }

    /// Decodes one framed message. Rejects a foreign magic, an unknown fingerprint or schema
    /// id, a truncated message and trailing bytes.
    #[inline]
    pub fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match &self.format {
            WireFormat::SingleObject => {
                let datum = check_header(T::KIND, bytes, &SINGLE_OBJECT_MAGIC, "single-object")?;
                let (fp, datum) = split_header::<8>(T::KIND, datum, "single-object fingerprint")?;
                let fp = u64::from_le_bytes(fp);
                if fp == self.current_fingerprint {
                    return T::decode_datum(datum);
                }
                match schema::by_fingerprint(T::KIND, fp) {
                    Some(writer) => decode_datum_with_writer(writer, datum),
                    None => Err(CodecError::UnknownFingerprint {
                        schema: T::KIND,
                        fingerprint: fp,
                    }),
                }
            }
            WireFormat::Confluent(ids) => {
                let datum = check_header(T::KIND, bytes, &[CONFLUENT_MAGIC], "confluent")?;
                let (id, datum) = split_header::<4>(T::KIND, datum, "confluent schema id")?;
                let id = u32::from_be_bytes(id);
                if id == ids.current {
                    return T::decode_datum(datum);
                }
                let writer = ids
                    .released
                    .iter()
                    .find(|&&(_, known)| known == id)
                    .and_then(|&(version, _)| {
                        schema::history(T::KIND)
                            .iter()
                            .find(|v| v.version() == Some(version))
                    });
                match writer {
                    Some(writer) => decode_datum_with_writer(writer, datum),
                    None => Err(CodecError::UnknownSchemaId {
                        schema: T::KIND,
                        id,
                    }),
                }
            }
        }
    }
}

/// Checks the magic and returns what follows it.
#[inline]
fn check_header<'a>(
    kind: SchemaKind,
    bytes: &'a [u8],
    magic: &'static [u8],
    format: &'static str,
) -> Result<&'a [u8], CodecError> {
    match bytes.strip_prefix(magic) {
        Some(rest) => Ok(rest),
        None if bytes.len() < magic.len() && magic.starts_with(bytes) => {
            Err(CodecError::Truncated {
                schema: kind,
                field: "header",
            })
        }
        None => Err(CodecError::BadMagic {
            schema: kind,
            format,
            expected: magic,
            found: bytes.iter().take(magic.len()).copied().collect(),
        }),
    }
}

#[inline]
fn split_header<'a, const N: usize>(
    kind: SchemaKind,
    bytes: &'a [u8],
    field: &'static str,
) -> Result<([u8; N], &'a [u8]), CodecError> {
    match bytes.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((*head, rest)),
        None => Err(CodecError::Truncated {
            schema: kind,
            field,
        }),
    }
}
