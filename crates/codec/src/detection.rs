//! [`Detection`]: what the detector found for one host in one window, and its Avro mapping.

use std::net::IpAddr;

use apache_avro::types::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    datum::{check_datum, ip_octets},
    error::CodecError,
    id::DetectionId,
    schema::{self, SchemaKind},
    value::{as_array, as_ip, ip_value, u64_to_long, Fields},
    wire::{sealed::Sealed, AvroRecord},
};

const KIND: SchemaKind = SchemaKind::Detection;

/// The result of evaluating one monitored host over one event-time window with one
/// periodicity algorithm (`schemas/detection.avsc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Idempotency key, normally [`Detection::compute_id`].
    pub detection_id: DetectionId,
    /// The monitored host (the flows' `src`).
    pub host: IpAddr,
    /// Window start, inclusive, ms since the Unix epoch, UTC.
    pub window_start_ms: i64,
    /// Window end, exclusive, ms since the Unix epoch, UTC; `>= window_start_ms`.
    pub window_end_ms: i64,
    /// Algorithm name, e.g. `classic`.
    pub algorithm: String,
    /// Algorithm and parameter version, e.g. `1`.
    pub algorithm_version: String,
    /// One entry per candidate period, ascending `period_ms`, zero counts included.
    pub periods: Vec<PeriodResult>,
    /// Host score in [0, 1].
    pub score: f64,
    /// Confidence in [0, 1] that the score is right.
    pub confidence: f64,
    /// What the detector saw.
    pub evidence: Evidence,
    /// Wall-clock emission time, ms since the Unix epoch, UTC (not part of the id).
    pub emitted_at_ms: i64,
}

/// The outcome for one candidate period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodResult {
    /// Candidate period, ms; `> 0`.
    pub period_ms: i64,
    /// Number of peers contacted with this period; `>= peers.len()` and `<= i32::MAX`.
    pub count: u32,
    /// The periodic peers, possibly capped by the detector.
    pub peers: Vec<IpAddr>,
    /// Per-peer confidence in [0, 1], one per peer in the same order, when the algorithm
    /// scores peers.
    pub peer_confidence: Option<Vec<f64>>,
}

/// Summary of the input behind a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Flows of the host in the window that reached the algorithm; `<= i64::MAX`.
    pub flows_seen: u64,
    /// Distinct (host, peer) pairs evaluated; `<= i64::MAX`.
    pub pairs_evaluated: u64,
    /// Earliest flow start seen, ms since the Unix epoch (0 without flows).
    pub first_flow_ms: i64,
    /// Latest flow start seen, ms since the Unix epoch (0 without flows).
    pub last_flow_ms: i64,
}

/// Domain separation tag of [`Detection::compute_id`], NUL included.
const DETECTION_ID_TAG: &[u8] = b"relbot.detection.v1\0";

impl Detection {
    /// The idempotency key of this detection: the first 16 bytes of SHA-256 over
    ///
    /// 1. `b"relbot.detection.v1\0"` (20 bytes);
    /// 2. `host` as 16 bytes (IPv4 mapped into IPv6);
    /// 3. `window_start_ms`, `window_end_ms`: 8 bytes big-endian each;
    /// 4. `algorithm`, `algorithm_version`: each a 4-byte big-endian byte length, then UTF-8;
    /// 5. the number of periods, 4 bytes big-endian;
    /// 6. per period, in ascending `period_ms` order (stable): `period_ms` 8 bytes BE,
    ///    `count` 4 bytes BE, the number of peers 4 bytes BE, then the peers as 16 bytes each
    ///    in ascending byte order.
    ///
    /// Not hashed: `score`, `confidence`, `peer_confidence`, `evidence`, `emitted_at_ms`, so a
    /// replay that reaches the same result gets the same id.
    pub fn compute_id(&self) -> DetectionId {
        let mut h = Sha256::new();
        h.update(DETECTION_ID_TAG);
        h.update(ip_octets(self.host));
        h.update(self.window_start_ms.to_be_bytes());
        h.update(self.window_end_ms.to_be_bytes());
        hash_str(&mut h, &self.algorithm);
        hash_str(&mut h, &self.algorithm_version);
        hash_len(&mut h, self.periods.len());
        let mut periods: Vec<&PeriodResult> = self.periods.iter().collect();
        periods.sort_by_key(|p| p.period_ms);
        for p in periods {
            h.update(p.period_ms.to_be_bytes());
            h.update(p.count.to_be_bytes());
            let mut peers: Vec<[u8; 16]> = p.peers.iter().map(|&ip| ip_octets(ip)).collect();
            peers.sort_unstable();
            hash_len(&mut h, peers.len());
            for peer in peers {
                h.update(peer);
            }
        }
        DetectionId::from_bytes(first16(&h.finalize()))
    }

    /// `self` with `detection_id` set to [`Detection::compute_id`].
    pub fn with_computed_id(mut self) -> Self {
        self.detection_id = self.compute_id();
        self
    }

    /// Checks the invariants the schema documents (done on every encode and decode): score,
    /// confidences in [0, 1]; window end not before start; periods positive; counts at
    /// least the listed peers and within `int`; one peer confidence per peer.
    pub fn validate(&self) -> Result<(), CodecError> {
        unit_interval("score", self.score)?;
        unit_interval("confidence", self.confidence)?;
        if self.window_end_ms < self.window_start_ms {
            return Err(CodecError::invalid(
                KIND,
                "window_end_ms",
                format!(
                    "{} is before window_start_ms {}",
                    self.window_end_ms, self.window_start_ms
                ),
            ));
        }
        for p in &self.periods {
            if p.period_ms <= 0 {
                return Err(CodecError::OutOfRange {
                    schema: KIND,
                    field: "periods.period_ms",
                    value: p.period_ms.into(),
                });
            }
            if p.count > i32::MAX as u32 {
                return Err(CodecError::OutOfRange {
                    schema: KIND,
                    field: "periods.count",
                    value: p.count.into(),
                });
            }
            if (p.count as usize) < p.peers.len() {
                return Err(CodecError::invalid(
                    KIND,
                    "periods.count",
                    format!(
                        "count {} is below the {} listed peers",
                        p.count,
                        p.peers.len()
                    ),
                ));
            }
            if let Some(conf) = &p.peer_confidence {
                if conf.len() != p.peers.len() {
                    return Err(CodecError::invalid(
                        KIND,
                        "periods.peer_confidence",
                        format!("{} confidences for {} peers", conf.len(), p.peers.len()),
                    ));
                }
                for &c in conf {
                    unit_interval("periods.peer_confidence", c)?;
                }
            }
        }
        Ok(())
    }
}

fn unit_interval(field: &'static str, v: f64) -> Result<(), CodecError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(CodecError::invalid(
            KIND,
            field,
            format!("{v} is not in [0, 1]"),
        ))
    }
}

pub(crate) fn hash_len(h: &mut Sha256, len: usize) {
    h.update(u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

pub(crate) fn hash_str(h: &mut Sha256, s: &str) {
    hash_len(h, s.len());
    h.update(s.as_bytes());
}

pub(crate) fn first16(digest: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, d) in out.iter_mut().zip(digest) {
        *o = *d;
    }
    out
}

impl Sealed for Detection {}

impl AvroRecord for Detection {
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
        self.validate()?;
        let periods = self
            .periods
            .iter()
            .map(|p| {
                let confidence = match &p.peer_confidence {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(c) => Value::Union(
                        1,
                        Box::new(Value::Array(c.iter().map(|&v| Value::Double(v)).collect())),
                    ),
                };
                Value::Record(vec![
                    ("period_ms".into(), Value::Long(p.period_ms)),
                    ("count".into(), Value::Int(p.count as i32)),
                    (
                        "peers".into(),
                        Value::Array(p.peers.iter().map(|&ip| ip_value(ip)).collect()),
                    ),
                    ("peer_confidence".into(), confidence),
                ])
            })
            .collect();
        let e = &self.evidence;
        let evidence = Value::Record(vec![
            (
                "flows_seen".into(),
                Value::Long(u64_to_long(KIND, "evidence.flows_seen", e.flows_seen)?),
            ),
            (
                "pairs_evaluated".into(),
                Value::Long(u64_to_long(
                    KIND,
                    "evidence.pairs_evaluated",
                    e.pairs_evaluated,
                )?),
            ),
            (
                "first_flow_ms".into(),
                Value::TimestampMillis(e.first_flow_ms),
            ),
            (
                "last_flow_ms".into(),
                Value::TimestampMillis(e.last_flow_ms),
            ),
        ]);
        Ok(Value::Record(vec![
            (
                "detection_id".into(),
                Value::String(self.detection_id.to_string()),
            ),
            ("host".into(), ip_value(self.host)),
            (
                "window_start_ms".into(),
                Value::TimestampMillis(self.window_start_ms),
            ),
            (
                "window_end_ms".into(),
                Value::TimestampMillis(self.window_end_ms),
            ),
            ("algorithm".into(), Value::String(self.algorithm.clone())),
            (
                "algorithm_version".into(),
                Value::String(self.algorithm_version.clone()),
            ),
            ("periods".into(), Value::Array(periods)),
            ("score".into(), Value::Double(self.score)),
            ("confidence".into(), Value::Double(self.confidence)),
            ("evidence".into(), evidence),
            (
                "emitted_at_ms".into(),
                Value::TimestampMillis(self.emitted_at_ms),
            ),
        ]))
    }

    fn from_value(value: Value) -> Result<Self, CodecError> {
        let mut f = Fields::new(KIND, "Detection", value)?;
        let id = f.string("detection_id")?;
        let detection_id = id.parse().map_err(|e: crate::id::ParseIdError| {
            CodecError::invalid(KIND, "detection_id", e.to_string())
        })?;
        let host = f.ip("host")?;
        let window_start_ms = f.long("window_start_ms")?;
        let window_end_ms = f.long("window_end_ms")?;
        let algorithm = f.string("algorithm")?;
        let algorithm_version = f.string("algorithm_version")?;
        let periods = f
            .array("periods")?
            .into_iter()
            .map(period_from_value)
            .collect::<Result<_, _>>()?;
        let score = f.double("score")?;
        let confidence = f.double("confidence")?;
        let mut ev = Fields::new(KIND, "evidence", f.take("evidence")?)?;
        let evidence = Evidence {
            flows_seen: ev.long_in("flows_seen", i64::MAX as u64)?,
            pairs_evaluated: ev.long_in("pairs_evaluated", i64::MAX as u64)?,
            first_flow_ms: ev.long("first_flow_ms")?,
            last_flow_ms: ev.long("last_flow_ms")?,
        };
        let detection = Detection {
            detection_id,
            host,
            window_start_ms,
            window_end_ms,
            algorithm,
            algorithm_version,
            periods,
            score,
            confidence,
            evidence,
            emitted_at_ms: f.long("emitted_at_ms")?,
        };
        detection.validate()?;
        Ok(detection)
    }
}

fn period_from_value(value: Value) -> Result<PeriodResult, CodecError> {
    let mut f = Fields::new(KIND, "periods", value)?;
    let period_ms = f.long("period_ms")?;
    let count = f.int_in("count", i32::MAX as u32)?;
    let peers = f
        .array("peers")?
        .into_iter()
        .map(|v| as_ip(KIND, "periods.peers", v))
        .collect::<Result<_, _>>()?;
    let peer_confidence = match f.nullable("peer_confidence")? {
        None => None,
        Some(v) => Some(
            as_array(KIND, "periods.peer_confidence", v)?
                .into_iter()
                .map(|c| match c {
                    Value::Double(d) => Ok(d),
                    _ => Err(CodecError::invalid(
                        KIND,
                        "periods.peer_confidence",
                        "expected double",
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(PeriodResult {
        period_ms,
        count,
        peers,
        peer_confidence,
    })
}
