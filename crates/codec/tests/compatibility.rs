//! Schema evolution: the current schema reads everything written with every released
//! version (BACKWARD compatibility), checked both by apache-avro's compatibility checker and
//! by decoding the golden datums each release left behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::path::PathBuf;

use apache_avro::{schema_compatibility::SchemaCompatibility, types::Value, Schema};
use common::{known_detection, known_flow, known_report, GOLDEN_SCHEMA_ID};
use relbot_codec::{
    schema, wire::decode_datum_with_writer, AvroRecord, Codec, ConfluentIds, SchemaKind,
    SchemaVersion,
};
use relbot_flow::FlowRecord;

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/golden")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn current_schemas_can_read_every_released_version() {
    for kind in SchemaKind::ALL {
        let current = schema::current(kind);
        for old in schema::history(kind) {
            SchemaCompatibility::can_read(old.schema(), current.schema()).unwrap_or_else(|e| {
                panic!("{kind}: current cannot read v{:?}: {e}", old.version())
            });
        }
    }
}

#[test]
fn released_versions_are_numbered_from_one_without_gaps() {
    for kind in SchemaKind::ALL {
        let versions: Vec<_> = schema::history(kind).iter().map(|v| v.version()).collect();
        let expected: Vec<_> = (1..=versions.len() as u32).map(Some).collect();
        assert_eq!(versions, expected, "{kind}");
    }
}

/// What the datum written with release `version` of `T` must decode to today: the known
/// value, with the defaults of fields added after `version` (none yet).
fn expected<T: AvroRecord>(version: u32, known: T) -> T {
    match version {
        1 => known,
        v => panic!("no expectation for v{v}: add one when releasing it"),
    }
}

fn decode_every_release<T: AvroRecord + PartialEq + std::fmt::Debug + Clone>(known: T) {
    let kind = T::KIND;
    for old in schema::history(kind) {
        let v = old.version().unwrap();
        let want = expected(v, known.clone());
        // Single object: the old fingerprint selects the old writer schema.
        let bytes = golden(&format!("{}.v{v}.single-object.bin", kind.file_stem()));
        assert_eq!(&bytes[2..10], &old.fingerprint().to_le_bytes());
        assert_eq!(
            Codec::<T>::single_object().decode(&bytes).unwrap(),
            want,
            "{kind} v{v}"
        );
        // Confluent: the id the registry gave that release selects it.
        let bytes = golden(&format!("{}.v{v}.confluent.bin", kind.file_stem()));
        let codec = Codec::<T>::confluent(ConfluentIds {
            current: GOLDEN_SCHEMA_ID + 1000,
            released: vec![(v, GOLDEN_SCHEMA_ID)],
        });
        assert_eq!(codec.decode(&bytes).unwrap(), want, "{kind} v{v}");
        // And through apache-avro's resolution, whatever the fingerprints.
        let mut datum = &bytes[5..];
        let value = apache_avro::from_avro_datum(
            old.schema(),
            &mut datum,
            Some(schema::current(kind).schema()),
        )
        .unwrap();
        assert!(datum.is_empty());
        assert_eq!(
            T::from_value(value).unwrap(),
            want,
            "{kind} v{v} via apache-avro"
        );
    }
}

#[test]
fn datums_of_every_release_decode_with_the_current_schema() {
    decode_every_release(known_flow());
    decode_every_release(known_detection());
    decode_every_release(known_report());
}

/// A writer schema older than v1 would look like: no exporter, no flags, narrower fields.
/// Shows that the resolution path really fills in the defaults the current schema declares.
const HYPOTHETICAL_OLDER_FLOW: &str = r#"{
  "type": "record", "name": "FlowRecord", "namespace": "eu.acdc.relbot",
  "fields": [
    {"name": "start_ms", "type": "long"},
    {"name": "end_ms", "type": "long"},
    {"name": "src", "type": {"type": "fixed", "name": "IpAddress", "size": 16}},
    {"name": "dst", "type": "IpAddress"},
    {"name": "protocol", "type": "int"},
    {"name": "bytes", "type": "int"},
    {"name": "packets", "type": "int"}
  ]
}"#;

#[test]
fn an_older_writer_is_resolved_with_defaults() {
    let writer = SchemaVersion::writer(SchemaKind::Flow, HYPOTHETICAL_OLDER_FLOW).unwrap();
    SchemaCompatibility::can_read(writer.schema(), schema::current(SchemaKind::Flow).schema())
        .unwrap();
    assert_ne!(
        writer.fingerprint(),
        schema::current(SchemaKind::Flow).fingerprint()
    );

    let src = common::ip("192.0.2.1");
    let dst = common::ip("2001:db8::2");
    let octets = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let value = Value::Record(vec![
        ("start_ms".into(), Value::Long(1_000)),
        ("end_ms".into(), Value::Long(2_000)),
        ("src".into(), Value::Fixed(16, octets(src))),
        ("dst".into(), Value::Fixed(16, octets(dst))),
        ("protocol".into(), Value::Int(6)),
        ("bytes".into(), Value::Int(40)),
        ("packets".into(), Value::Int(1)),
    ]);
    let datum = apache_avro::to_avro_datum(writer.schema(), value).unwrap();
    let flow: FlowRecord = decode_datum_with_writer(&writer, &datum).unwrap();
    assert_eq!(
        flow,
        FlowRecord {
            start_ms: 1_000,
            end_ms: 2_000,
            src,
            dst,
            protocol: 6,
            bytes: 40,
            packets: 1,
            ..FlowRecord::default()
        }
    );
    // Trailing garbage and truncation are caught on this path too.
    let mut long = datum.clone();
    long.push(0);
    assert!(decode_datum_with_writer::<FlowRecord>(&writer, &long).is_err());
    assert!(decode_datum_with_writer::<FlowRecord>(&writer, &datum[..datum.len() - 1]).is_err());
}

#[test]
fn adding_a_field_without_default_is_caught() {
    // The rule the README states, demonstrated: a new reader field without a default cannot
    // read old data.
    let current = schema::current(SchemaKind::Report).text();
    let mut json: serde_json::Value = serde_json::from_str(current).unwrap();
    json["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "added", "type": "string"}));
    let reader = Schema::parse_str(&json.to_string()).unwrap();
    let old = &schema::history(SchemaKind::Report)[0];
    assert!(SchemaCompatibility::can_read(old.schema(), &reader).is_err());
}
