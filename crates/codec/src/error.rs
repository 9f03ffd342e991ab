//! The one error type of this crate.

use crate::schema::SchemaKind;

/// Everything that can go wrong while encoding, decoding or talking to a schema registry.
///
/// Decoding untrusted bytes only ever yields one of these, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The message does not start with the magic of the configured wire format.
    #[error("{schema}: bad magic for {format}: expected {expected:02x?}, found {found:02x?}")]
    BadMagic {
        /// The record type being decoded.
        schema: SchemaKind,
        /// `single-object` or `confluent`.
        format: &'static str,
        /// The magic bytes the format requires.
        expected: &'static [u8],
        /// The bytes found instead (at most as many as expected).
        found: Vec<u8>,
    },
    /// A single-object message names a schema fingerprint that is neither the current schema
    /// nor a released version of it.
    #[error("{schema}: unknown schema fingerprint {fingerprint:#018x}")]
    UnknownFingerprint {
        /// The record type being decoded.
        schema: SchemaKind,
        /// The CRC-64-AVRO fingerprint found in the header.
        fingerprint: u64,
    },
    /// A Confluent-framed message names a schema id this codec did not resolve at start.
    #[error("{schema}: unknown schema registry id {id}")]
    UnknownSchemaId {
        /// The record type being decoded.
        schema: SchemaKind,
        /// The id found in the header.
        id: u32,
    },
    /// The data ended before the value was complete.
    #[error("{schema}: truncated input: ended inside {field}")]
    Truncated {
        /// The record type being decoded.
        schema: SchemaKind,
        /// What was being read (header, or the Avro field name).
        field: &'static str,
    },
    /// Bytes were left over after a complete value.
    #[error("{schema}: {count} trailing bytes after the datum")]
    TrailingBytes {
        /// The record type being decoded.
        schema: SchemaKind,
        /// How many bytes were left.
        count: usize,
    },
    /// A number does not fit the field: on decode, a value outside the documented range (a
    /// port above 65535, a negative count); on encode, a `u64` above `i64::MAX`.
    #[error("{schema}: field {field}: value {value} out of range")]
    OutOfRange {
        /// The record type.
        schema: SchemaKind,
        /// The Avro field name.
        field: &'static str,
        /// The offending value.
        value: i128,
    },
    /// A field holds a value the contract forbids (bad varint, invalid UTF-8, union or enum
    /// index out of range, a wrong-sized address, a score outside [0, 1], a malformed id…).
    #[error("{schema}: field {field}: {reason}")]
    InvalidValue {
        /// The record type.
        schema: SchemaKind,
        /// The Avro field name (or a path such as `periods.peers`).
        field: &'static str,
        /// What is wrong, for an operator.
        reason: String,
    },
    /// apache-avro rejected a value or a datum (generic path and schema resolution).
    #[error("{schema}: avro: {source}")]
    Avro {
        /// The record type.
        schema: SchemaKind,
        /// The library's error.
        #[source]
        source: Box<apache_avro::Error>,
    },
    /// A writer schema could not be parsed.
    #[error("{schema}: invalid writer schema: {reason}")]
    Schema {
        /// The record type.
        schema: SchemaKind,
        /// What the parser said.
        reason: String,
    },
    /// The schema registry could not be reached or answered with an error.
    #[error("schema registry {url}: subject {subject}: {reason}")]
    Registry {
        /// The registry base URL.
        url: String,
        /// The subject (`<topic>-value`).
        subject: String,
        /// What went wrong (HTTP status, registry error code and message, transport error).
        reason: String,
    },
    /// In lookup-only mode, the current schema is not registered under the subject.
    #[error("schema registry {url}: subject {subject}: the current {schema} schema is not registered (lookup-only mode)")]
    NotRegistered {
        /// The registry base URL.
        url: String,
        /// The subject looked up.
        subject: String,
        /// The record type.
        schema: SchemaKind,
    },
}

impl CodecError {
    pub(crate) fn avro(schema: SchemaKind, source: apache_avro::Error) -> Self {
        Self::Avro {
            schema,
            source: Box::new(source),
        }
    }

    pub(crate) fn invalid(
        schema: SchemaKind,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidValue {
            schema,
            field,
            reason: reason.into(),
        }
    }
}
