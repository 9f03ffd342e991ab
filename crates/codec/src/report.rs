//! [`Report`]: what the reporter did with one detection for one sink, and its Avro mapping.

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    datum::check_datum,
    detection::{first16, hash_str},
    error::CodecError,
    id::{DetectionId, ReportId},
    schema::{self, SchemaKind},
    value::Fields,
    wire::{sealed::Sealed, AvroRecord},
};

const KIND: SchemaKind = SchemaKind::Report;

/// One delivery outcome (`schemas/report.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`ReportId::derive`] of `detection_id` and `sink_name`.
    pub report_id: ReportId,
    /// The detection reported on.
    pub detection_id: DetectionId,
    /// The sink's configured name, e.g. `cch-production`.
    pub sink_name: String,
    /// The sink's kind: `cch`, `json_lines`, `webhook`, `syslog`, `kafka`.
    pub sink_kind: String,
    /// The host as reported: address text when `src_mode` is plain, else a token.
    pub host: String,
    /// How the host was disclosed.
    pub src_mode: SrcMode,
    /// The outcome.
    pub status: ReportStatus,
    /// Delivery attempts made (0 when suppressed); `<= i32::MAX`.
    pub attempts: u32,
    /// Why it was dead-lettered or suppressed; `None` when delivered.
    pub reason: Option<String>,
    /// When the status was reached, ms since the Unix epoch, UTC.
    pub at_ms: i64,
}

/// How a host address was disclosed (CCH's `src_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SrcMode {
    /// The address itself.
    Plain,
    /// Anonymised (not reversible).
    Anon,
    /// Pseudonymised (reversible by the data owner).
    Pseudo,
}

/// What happened to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// The sink acknowledged it.
    Delivered,
    /// Retries exhausted or a permanent error; sent to the dead-letter topic.
    DeadLettered,
    /// Not sent on purpose (below threshold, duplicate, allow-listed).
    Suppressed,
}

impl SrcMode {
    /// Schema symbols in schema order.
    const SYMBOLS: [(&'static str, SrcMode); 3] = [
        ("plain", SrcMode::Plain),
        ("anon", SrcMode::Anon),
        ("pseudo", SrcMode::Pseudo),
    ];

    /// The Avro (and CCH) symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            SrcMode::Plain => "plain",
            SrcMode::Anon => "anon",
            SrcMode::Pseudo => "pseudo",
        }
    }
}

impl ReportStatus {
    /// Schema symbols in schema order.
    const SYMBOLS: [(&'static str, ReportStatus); 3] = [
        ("delivered", ReportStatus::Delivered),
        ("dead_lettered", ReportStatus::DeadLettered),
        ("suppressed", ReportStatus::Suppressed),
    ];

    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Delivered => "delivered",
            ReportStatus::DeadLettered => "dead_lettered",
            ReportStatus::Suppressed => "suppressed",
        }
    }
}

/// Domain separation tag of [`ReportId::derive`], NUL included.
const REPORT_ID_TAG: &[u8] = b"relbot.report.v1\0";

impl ReportId {
    /// The id of delivering `detection` to the sink named `sink_name`: the first 16 bytes of
    /// SHA-256 over `b"relbot.report.v1\0"` (17 bytes), the detection id's 16 bytes, and
    /// `sink_name` as a 4-byte big-endian byte length followed by its UTF-8 bytes.
    pub fn derive(detection: &DetectionId, sink_name: &str) -> Self {
        let mut h = Sha256::new();
        h.update(REPORT_ID_TAG);
        h.update(detection.as_bytes());
        hash_str(&mut h, sink_name);
        ReportId::from_bytes(first16(&h.finalize()))
    }
}

impl Report {
    /// [`ReportId::derive`] of this report's detection and sink.
    pub fn compute_id(&self) -> ReportId {
        ReportId::derive(&self.detection_id, &self.sink_name)
    }
}

fn symbol_index<T: Copy + PartialEq>(symbols: &[(&'static str, T)], v: T) -> (u32, String) {
    let i = symbols.iter().position(|(_, s)| *s == v).unwrap_or(0);
    let name = symbols.get(i).map_or("", |(n, _)| n);
    (i as u32, name.to_owned())
}

fn from_symbol<T: Copy>(
    symbols: &[(&'static str, T)],
    field: &'static str,
    s: &str,
) -> Result<T, CodecError> {
    symbols
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| CodecError::invalid(KIND, field, format!("unknown symbol {s:?}")))
}

impl Sealed for Report {}

impl AvroRecord for Report {
    const KIND: SchemaKind = KIND;

    fn encode_datum(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let value = self.to_value()?;
        let datum = apache_avro::to_avro_datum(schema::current(KIND).schema(), value)
            .map_err(|e| CodecError::avro(KIND, e))?;
        out.extend_from_slice(&datum);
        Ok(())
    }

    fn decode_datum(datum: &[u8]) -> Result<Self, CodecError> {
        let current = schema::current(KIND);
        check_datum(current, datum)?;
        let mut rest = datum;
        let value = apache_avro::from_avro_datum(current.schema(), &mut rest, None)
            .map_err(|e| CodecError::avro(KIND, e))?;
        Self::from_value(value)
    }

    fn to_value(&self) -> Result<Value, CodecError> {
        let attempts = i32::try_from(self.attempts).map_err(|_| CodecError::OutOfRange {
            schema: KIND,
            field: "attempts",
            value: self.attempts.into(),
        })?;
        let (mode_i, mode) = symbol_index(&SrcMode::SYMBOLS, self.src_mode);
        let (status_i, status) = symbol_index(&ReportStatus::SYMBOLS, self.status);
        let reason = match &self.reason {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(r) => Value::Union(1, Box::new(Value::String(r.clone()))),
        };
        Ok(Value::Record(vec![
            (
                "report_id".into(),
                Value::String(self.report_id.to_string()),
            ),
            (
                "detection_id".into(),
                Value::String(self.detection_id.to_string()),
            ),
            ("sink_name".into(), Value::String(self.sink_name.clone())),
            ("sink_kind".into(), Value::String(self.sink_kind.clone())),
            ("host".into(), Value::String(self.host.clone())),
            ("src_mode".into(), Value::Enum(mode_i, mode)),
            ("status".into(), Value::Enum(status_i, status)),
            ("attempts".into(), Value::Int(attempts)),
            ("reason".into(), reason),
            ("at_ms".into(), Value::TimestampMillis(self.at_ms)),
        ]))
    }

    fn from_value(value: Value) -> Result<Self, CodecError> {
        let mut f = Fields::new(KIND, "Report", value)?;
        let report_id = f
            .string("report_id")?
            .parse()
            .map_err(|e: crate::id::ParseIdError| {
                CodecError::invalid(KIND, "report_id", e.to_string())
            })?;
        let detection_id =
            f.string("detection_id")?
                .parse()
                .map_err(|e: crate::id::ParseIdError| {
                    CodecError::invalid(KIND, "detection_id", e.to_string())
                })?;
        Ok(Report {
            report_id,
            detection_id,
            sink_name: f.string("sink_name")?,
            sink_kind: f.string("sink_kind")?,
            host: f.string("host")?,
            src_mode: from_symbol(&SrcMode::SYMBOLS, "src_mode", &f.symbol("src_mode")?)?,
            status: from_symbol(&ReportStatus::SYMBOLS, "status", &f.symbol("status")?)?,
            attempts: f.int_in("attempts", i32::MAX as u32)?,
            reason: match f.nullable("reason")? {
                None => None,
                Some(v) => Some(crate::value::as_string(KIND, "reason", v)?),
            },
            at_ms: f.long("at_ms")?,
        })
    }
}
