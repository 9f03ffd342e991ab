//! The embedded Avro schemas: the current version of each, every released version kept under
//! `schemas/history/`, their parsing canonical forms and CRC-64-AVRO fingerprints.
//!
//! All of it is parsed once, on first use.

use std::{collections::HashMap, fmt, sync::LazyLock};

use apache_avro::{rabin::Rabin, Schema};

use crate::error::CodecError;

/// The three record types of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaKind {
    /// `eu.acdc.relbot.FlowRecord` (`schemas/flow.avsc`), topic `relbot.flows.v1`.
    Flow,
    /// `eu.acdc.relbot.Detection` (`schemas/detection.avsc`), topic `relbot.detections.v1`.
    Detection,
    /// `eu.acdc.relbot.Report` (`schemas/report.avsc`), the reporter's delivery log and DLQ.
    Report,
}

impl SchemaKind {
    /// Every kind, in a fixed order.
    pub const ALL: [SchemaKind; 3] = [SchemaKind::Flow, SchemaKind::Detection, SchemaKind::Report];

    /// The full Avro name of the record, e.g. `eu.acdc.relbot.FlowRecord`.
    pub fn full_name(self) -> &'static str {
        match self {
            SchemaKind::Flow => "eu.acdc.relbot.FlowRecord",
            SchemaKind::Detection => "eu.acdc.relbot.Detection",
            SchemaKind::Report => "eu.acdc.relbot.Report",
        }
    }

    /// The file stem under `schemas/`: `flow`, `detection` or `report`.
    pub fn file_stem(self) -> &'static str {
        match self {
            SchemaKind::Flow => "flow",
            SchemaKind::Detection => "detection",
            SchemaKind::Report => "report",
        }
    }

    fn index(self) -> usize {
        match self {
            SchemaKind::Flow => 0,
            SchemaKind::Detection => 1,
            SchemaKind::Report => 2,
        }
    }
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.full_name();
        f.write_str(name.rsplit('.').next().unwrap_or(name))
    }
}

/// One parsed version of a schema: the current one, or a released one from `schemas/history/`.
#[derive(Debug)]
pub struct SchemaVersion {
    kind: SchemaKind,
    version: Option<u32>,
    text: String,
    schema: Schema,
    canonical: String,
    fingerprint: u64,
    apache_avro_fingerprint: u64,
    named: HashMap<String, Schema>,
}

impl SchemaVersion {
    /// The record type.
    pub fn kind(&self) -> SchemaKind {
        self.kind
    }

    /// The released version number (`schemas/history/<name>.v<N>.avsc`), or `None` for the
    /// current schema.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The schema file as embedded, with its documentation.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The Avro parsing canonical form (what the fingerprint is computed over), computed as
    /// the specification says (not as apache-avro 0.21 does; see `schemas/README.md`).
    pub fn canonical_form(&self) -> &str {
        &self.canonical
    }

    /// CRC-64-AVRO (Rabin) fingerprint of the parsing canonical form, as the Avro
    /// specification defines it (and Java, Python and fastavro compute it); single-object
    /// headers carry it little-endian.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether `fingerprint` names this schema: the specification's fingerprint, or the one
    /// apache-avro 0.21 computes, which differs for primitives with a logical type (it keeps
    /// `{"type":"long"}` where the specification reduces to `"long"`). Accepting the latter
    /// lets messages from apache-avro's own single-object writer be read.
    pub fn has_fingerprint(&self, fingerprint: u64) -> bool {
        self.fingerprint == fingerprint || self.apache_avro_fingerprint == fingerprint
    }

    /// A named type (record, enum, fixed) of this schema by full name, to resolve references.
    pub(crate) fn named(&self, full_name: &str) -> Option<&Schema> {
        self.named.get(full_name)
    }
}

const FLOW: &str = include_str!("../../../schemas/flow.avsc");
const DETECTION: &str = include_str!("../../../schemas/detection.avsc");
const REPORT: &str = include_str!("../../../schemas/report.avsc");

/// Released versions, oldest first. A new release appends a line here and a file under
/// `schemas/history/` (see `schemas/README.md`).
const FLOW_HISTORY: &[(u32, &str)] = &[(1, include_str!("../../../schemas/history/flow.v1.avsc"))];
const DETECTION_HISTORY: &[(u32, &str)] = &[(
    1,
    include_str!("../../../schemas/history/detection.v1.avsc"),
)];
const REPORT_HISTORY: &[(u32, &str)] =
    &[(1, include_str!("../../../schemas/history/report.v1.avsc"))];

struct Family {
    current: SchemaVersion,
    history: Vec<SchemaVersion>,
}

static FAMILIES: LazyLock<[Family; 3]> = LazyLock::new(|| {
    [
        family(SchemaKind::Flow, FLOW, FLOW_HISTORY),
        family(SchemaKind::Detection, DETECTION, DETECTION_HISTORY),
        family(SchemaKind::Report, REPORT, REPORT_HISTORY),
    ]
});

fn family(kind: SchemaKind, current: &'static str, history: &[(u32, &'static str)]) -> Family {
    Family {
        current: parse(kind, None, current),
        history: history
            .iter()
            .map(|&(version, text)| parse(kind, Some(version), text))
            .collect(),
    }
}

impl SchemaVersion {
    /// Parses a writer schema of `kind` obtained elsewhere (e.g. from a registry), to decode
    /// with [`decode_datum_with_writer`](crate::wire::decode_datum_with_writer).
    pub fn writer(kind: SchemaKind, text: &str) -> Result<Self, CodecError> {
        try_parse(kind, None, text).map_err(|reason| CodecError::Schema {
            schema: kind,
            reason,
        })
    }
}

// The schemas are constants compiled into the binary and every one is parsed by the unit tests
// below, so a failure here is a build defect, not bad input: failing loudly on first use is
// right, and an error value would only push an impossible case onto every caller.
#[allow(clippy::expect_used)]
fn parse(kind: SchemaKind, version: Option<u32>, text: &'static str) -> SchemaVersion {
    try_parse(kind, version, text).expect("embedded Avro schema must parse")
}

fn try_parse(kind: SchemaKind, version: Option<u32>, text: &str) -> Result<SchemaVersion, String> {
    let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let canonical = crate::canonical::parsing_canonical_form(&json)?;
    let fingerprint = crate::canonical::crc64_avro(canonical.as_bytes());
    let theirs = schema.fingerprint::<Rabin>();
    let mut le = [0u8; 8];
    le.copy_from_slice(theirs.bytes.get(..8).unwrap_or(&[0; 8]));
    let apache_avro_fingerprint = u64::from_le_bytes(le);
    let mut named = HashMap::new();
    collect_named(&schema, &mut named);
    Ok(SchemaVersion {
        kind,
        version,
        text: text.to_owned(),
        schema,
        canonical,
        fingerprint,
        apache_avro_fingerprint,
        named,
    })
}

fn collect_named(schema: &Schema, out: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(record) => {
            out.insert(record.name.fullname(None), schema.clone());
            for field in &record.fields {
                collect_named(&field.schema, out);
            }
        }
        Schema::Enum(e) => {
            out.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) => {
            out.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Array(a) => collect_named(&a.items, out),
        Schema::Map(m) => collect_named(&m.types, out),
        Schema::Union(u) => {
            for variant in u.variants() {
                collect_named(variant, out);
            }
        }
        _ => {}
    }
}

/// The current schema of `kind` (the one this build writes).
pub fn current(kind: SchemaKind) -> &'static SchemaVersion {
    &FAMILIES[kind.index()].current
}

/// The released versions of `kind`, oldest first.
pub fn history(kind: SchemaKind) -> &'static [SchemaVersion] {
    &FAMILIES[kind.index()].history
}

/// The writer schema a single-object fingerprint stands for: the current schema, else a
/// released version; `None` when unknown.
pub(crate) fn by_fingerprint(kind: SchemaKind, fingerprint: u64) -> Option<&'static SchemaVersion> {
    let current = current(kind);
    if current.has_fingerprint(fingerprint) {
        return Some(current);
    }
    history(kind)
        .iter()
        .find(|v| v.has_fingerprint(fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_parses_and_is_named_as_its_kind() {
        for kind in SchemaKind::ALL {
            let cur = current(kind);
            let quoted = format!("\"{}\"", kind.full_name());
            assert_eq!(cur.canonical_form().matches(&quoted).count(), 1);
            assert!(cur.canonical_form().starts_with(&format!(
                "{{\"name\":\"{}\",\"type\":\"record\"",
                kind.full_name()
            )));
            assert!(!history(kind).is_empty());
            assert!(cur.named("eu.acdc.relbot.IpAddress").is_some() || kind == SchemaKind::Report);
        }
    }

    #[test]
    fn fingerprints_agree_with_fastavro() {
        // Computed with fastavro (`fingerprint(to_parsing_canonical_form(s), "CRC-64-AVRO")`,
        // which prints the little-endian header bytes as hex) from schemas/history/*.v1.avsc;
        // see schemas/golden/verify_with_fastavro.py.
        let pinned = [
            (SchemaKind::Flow, 0xdefb_8eb2_ab87_5944_u64),
            (SchemaKind::Detection, 0xb069_993c_6d43_ba00),
            (SchemaKind::Report, 0xc7b2_625b_651c_918b),
        ];
        for (kind, fp) in pinned {
            assert_eq!(history(kind)[0].fingerprint(), fp, "{kind}");
            assert_eq!(current(kind).fingerprint(), fp, "{kind}");
        }
    }

    #[test]
    fn flow_canonical_form_reduces_logical_types_to_primitives() {
        let cf = current(SchemaKind::Flow).canonical_form();
        assert!(cf.starts_with(
            r#"{"name":"eu.acdc.relbot.FlowRecord","type":"record","fields":[{"name":"start_ms","type":"long"},"#
        ));
        assert!(cf.contains(r#"{"name":"exporter","type":["null","eu.acdc.relbot.IpAddress"]}"#));
    }

    #[test]
    fn docs_and_logical_types_do_not_reach_the_canonical_form() {
        let cf = current(SchemaKind::Flow).canonical_form();
        assert!(!cf.contains("doc"));
        assert!(!cf.contains("logicalType"));
        assert!(!cf.contains("default"));
    }
}
