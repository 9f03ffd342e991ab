//! Golden files: the known values of `common` encode to exactly the bytes under
//! `schemas/golden/`, and those bytes decode to the known values.
//!
//! Regenerate (only when a new schema version is released, never to make a test pass):
//! `RELBOT_CODEC_BLESS=1 cargo test -p relbot-codec --test golden`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::path::PathBuf;

use common::{known_detection, known_flow, known_report, GOLDEN_SCHEMA_ID};
use relbot_codec::{
    schema, AvroRecord, Codec, ConfluentIds, DetectionCodec, FlowCodec, ReportCodec, SchemaKind,
};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/golden")
}

/// The released version the golden files of the current schema are named for.
fn released_version(kind: SchemaKind) -> u32 {
    let last = schema::history(kind).last().unwrap();
    assert_eq!(
        schema::current(kind).canonical_form(),
        last.canonical_form(),
        "schemas/{0}.avsc differs from its latest release: copy it to \
         schemas/history/{0}.v<N+1>.avsc and add it to schema.rs before shipping",
        kind.file_stem()
    );
    last.version().unwrap()
}

fn check<T: AvroRecord + PartialEq + std::fmt::Debug>(value: &T) {
    let kind = T::KIND;
    let version = released_version(kind);
    let codecs = [
        ("single-object", Codec::<T>::single_object()),
        (
            "confluent",
            Codec::<T>::confluent(ConfluentIds::current(GOLDEN_SCHEMA_ID)),
        ),
    ];
    for (format, codec) in codecs {
        let path = golden_dir().join(format!("{}.v{version}.{format}.bin", kind.file_stem()));
        let encoded = codec.to_vec(value).unwrap();
        if std::env::var_os("RELBOT_CODEC_BLESS").is_some() {
            std::fs::write(&path, &encoded).unwrap();
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (RELBOT_CODEC_BLESS=1 writes it)", path.display()));
        assert_eq!(
            encoded,
            golden,
            "{} differs from the encoding",
            path.display()
        );
        assert_eq!(&codec.decode(&golden).unwrap(), value, "{}", path.display());
    }
}

#[test]
fn flow_matches_its_golden_files() {
    check(&known_flow());
}

#[test]
fn detection_matches_its_golden_files() {
    check(&known_detection());
}

#[test]
fn report_matches_its_golden_files() {
    check(&known_report());
}

#[test]
fn ids_of_the_known_values_are_pinned() {
    // Changing how ids are derived re-reports every detection: it must be deliberate.
    assert_eq!(
        known_detection().detection_id.to_string(),
        "71be316cbe93fb72122f7540f0505359"
    );
    assert_eq!(
        known_report().report_id.to_string(),
        "7ca021afd1e3ae362adacfd8cddaabd1"
    );
}

#[test]
fn single_object_header_carries_the_fingerprint_little_endian() {
    let bytes = FlowCodec::single_object().to_vec(&known_flow()).unwrap();
    let fp = schema::current(SchemaKind::Flow).fingerprint();
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(&bytes[2..10], &fp.to_le_bytes());
    let bytes = DetectionCodec::confluent(ConfluentIds::current(0x0102_0304))
        .to_vec(&known_detection())
        .unwrap();
    assert_eq!(&bytes[..5], &[0, 1, 2, 3, 4]);
    let _ = ReportCodec::single_object();
}
