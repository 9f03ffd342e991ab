//! Round trips, the fast flow path against apache-avro's generic path, framing against
//! apache-avro's single-object writer, and every rejection the decoders promise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use apache_avro::{GenericSingleObjectReader, GenericSingleObjectWriter};
use common::{any_detection, any_flow, any_report, known_detection, known_flow, known_report};
use proptest::prelude::*;
use relbot_codec::{
    flow::{
        decode_flow_datum, decode_flow_datum_generic, encode_flow_datum, encode_flow_datum_generic,
    },
    schema, AvroRecord, Codec, CodecError, ConfluentIds, DetectionCodec, FlowCodec, ReportCodec,
    SchemaKind,
};
use relbot_flow::FlowRecord;

fn datum<T: AvroRecord>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode_datum(&mut out).unwrap();
    out
}

proptest! {
    #[test]
    fn fast_flow_encoding_is_byte_identical_to_apache_avro(flow in any_flow()) {
        let mut fast = Vec::new();
        encode_flow_datum(&flow, &mut fast).unwrap();
        prop_assert_eq!(&fast, &encode_flow_datum_generic(&flow).unwrap());
        prop_assert_eq!(decode_flow_datum(&fast).unwrap(), flow);
        prop_assert_eq!(decode_flow_datum_generic(&fast).unwrap(), flow);
    }

    #[test]
    fn flows_round_trip_in_both_formats(flow in any_flow(), id in any::<u32>()) {
        for codec in [FlowCodec::single_object(), FlowCodec::confluent(ConfluentIds::current(id))] {
            let bytes = codec.to_vec(&flow).unwrap();
            prop_assert_eq!(codec.decode(&bytes).unwrap(), flow);
        }
    }

    #[test]
    fn detections_round_trip(d in any_detection()) {
        let codec = DetectionCodec::single_object();
        prop_assert_eq!(codec.decode(&codec.to_vec(&d).unwrap()).unwrap(), d);
    }

    #[test]
    fn reports_round_trip(r in any_report()) {
        let codec = ReportCodec::confluent(ConfluentIds::current(3));
        prop_assert_eq!(codec.decode(&codec.to_vec(&r).unwrap()).unwrap(), r);
    }
}

/// apache-avro 0.21 computes a non-standard fingerprint for schemas with logical types (see
/// `canonical.rs`), so its single-object messages differ from ours in the fingerprint only:
/// the datums are identical, and we read its messages too.
#[test]
fn single_object_messages_of_apache_avro_are_read() {
    fn check<T: AvroRecord + PartialEq + std::fmt::Debug>(v: &T, codec: Codec<T>) {
        let ours = codec.to_vec(v).unwrap();
        let schema = schema::current(T::KIND).schema();
        let mut writer = GenericSingleObjectWriter::new_with_capacity(schema, 256).unwrap();
        let mut theirs = Vec::new();
        writer
            .write_value(v.to_value().unwrap(), &mut theirs)
            .unwrap();
        assert_eq!(ours[..2], theirs[..2], "{}", T::KIND);
        assert_eq!(ours[10..], theirs[10..], "{}", T::KIND);
        assert_eq!(&codec.decode(&theirs).unwrap(), v, "{}", T::KIND);
        // Their reader checks their fingerprint; it reads our datum once the header is theirs.
        let mut rewrapped = theirs[..10].to_vec();
        rewrapped.extend_from_slice(&ours[10..]);
        let reader = GenericSingleObjectReader::new(schema.clone()).unwrap();
        let value = reader.read_value(&mut rewrapped.as_slice()).unwrap();
        assert_eq!(&T::from_value(value).unwrap(), v);
    }
    check(&known_flow(), FlowCodec::single_object());
    check(&known_detection(), DetectionCodec::single_object());
    check(&known_report(), ReportCodec::single_object());
}

#[test]
fn encode_appends_and_leaves_the_buffer_alone_on_error() {
    let codec = FlowCodec::single_object();
    let mut buf = vec![9, 9];
    codec.encode(&known_flow(), &mut buf).unwrap();
    assert_eq!(&buf[..2], &[9, 9]);
    assert_eq!(codec.decode(&buf[2..]).unwrap(), known_flow());
    let before = buf.clone();
    let huge = FlowRecord {
        bytes: u64::MAX,
        ..known_flow()
    };
    let err = codec.encode(&huge, &mut buf).unwrap_err();
    assert!(
        matches!(err, CodecError::OutOfRange { field: "bytes", .. }),
        "{err}"
    );
    assert_eq!(buf, before);
}

#[test]
fn ipv4_travels_mapped_and_returns_as_ipv4() {
    let flow = known_flow();
    let d = datum(&flow);
    // src starts after the two timestamps.
    let src = &d[12..28];
    assert_eq!(
        src,
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 143]
    );
    assert!(decode_flow_datum(&d).unwrap().src.is_ipv4());
}

fn err_of(r: Result<impl std::fmt::Debug, CodecError>) -> CodecError {
    r.expect_err("must be rejected")
}

#[test]
fn framing_errors_are_typed() {
    let so = FlowCodec::single_object();
    let cf = FlowCodec::confluent(ConfluentIds::current(5));
    let good = so.to_vec(&known_flow()).unwrap();
    let good_cf = cf.to_vec(&known_flow()).unwrap();

    assert!(matches!(
        err_of(so.decode(&[])),
        CodecError::Truncated { .. }
    ));
    assert!(matches!(
        err_of(so.decode(&[0xC3])),
        CodecError::Truncated { .. }
    ));
    assert!(matches!(
        err_of(so.decode(&good[..7])),
        CodecError::Truncated { .. }
    ));
    assert!(matches!(
        err_of(so.decode(&good_cf)),
        CodecError::BadMagic { .. }
    ));
    assert!(matches!(
        err_of(cf.decode(&good)),
        CodecError::BadMagic { .. }
    ));
    assert!(matches!(
        err_of(cf.decode(&good_cf[..3])),
        CodecError::Truncated { .. }
    ));

    let mut other_fp = good.clone();
    other_fp[5] ^= 0xff;
    assert!(matches!(
        err_of(so.decode(&other_fp)),
        CodecError::UnknownFingerprint {
            schema: SchemaKind::Flow,
            ..
        }
    ));
    // A detection is not a flow: its fingerprint is unknown to the flow codec.
    let det = DetectionCodec::single_object()
        .to_vec(&known_detection())
        .unwrap();
    assert!(matches!(
        err_of(so.decode(&det)),
        CodecError::UnknownFingerprint { .. }
    ));

    let other_id = FlowCodec::confluent(ConfluentIds::current(6))
        .to_vec(&known_flow())
        .unwrap();
    assert!(matches!(
        err_of(cf.decode(&other_id)),
        CodecError::UnknownSchemaId { id: 6, .. }
    ));

    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        err_of(so.decode(&trailing)),
        CodecError::TrailingBytes { count: 1, .. }
    ));
    for cut in 10..good.len() {
        assert!(
            matches!(
                err_of(so.decode(&good[..cut])),
                CodecError::Truncated { .. }
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn flow_datum_errors_are_typed() {
    let d = datum(&known_flow());
    // src_port is the first byte after the two 16-byte addresses.
    let port_at = 12 + 32;
    let mut bad_port = d[..port_at].to_vec();
    bad_port.extend_from_slice(&[0x80, 0x80, 0x08]); // 65536
    bad_port.extend_from_slice(&d[port_at + 3..]);
    assert!(matches!(
        err_of(decode_flow_datum(&bad_port)),
        CodecError::OutOfRange {
            field: "src_port",
            value: 65536,
            ..
        }
    ));
    let mut negative = d.clone();
    negative[port_at] = 0x01; // zig-zag -1
    negative.remove(port_at + 1);
    negative.remove(port_at + 1);
    assert!(matches!(
        err_of(decode_flow_datum(&negative)),
        CodecError::OutOfRange {
            field: "src_port",
            value: -1,
            ..
        }
    ));
    // The exporter union index follows the two counters; 4 is branch 2, which does not exist.
    let flow = FlowRecord {
        exporter: None,
        ..known_flow()
    };
    let mut d = datum(&flow);
    let at = d.iter().rposition(|&b| b == 0).unwrap(); // the null branch byte
    let mut probe = d.clone();
    probe[at] = 4;
    assert!(decode_flow_datum(&probe).is_err());
    d[at] = 2; // branch 1 without the address: truncated or misread, never a panic
    assert!(decode_flow_datum(&d).is_err());
    let overlong = [0xffu8; 11];
    assert!(matches!(
        err_of(decode_flow_datum(&overlong)),
        CodecError::InvalidValue { .. }
    ));
}

#[test]
fn detection_invariants_are_enforced_both_ways() {
    let codec = DetectionCodec::single_object();
    let mut d = known_detection();
    d.score = f64::NAN;
    assert!(matches!(
        err_of(codec.to_vec(&d)),
        CodecError::InvalidValue { field: "score", .. }
    ));
    let mut d = known_detection();
    d.periods[0].peer_confidence = Some(vec![0.5]);
    assert!(codec.to_vec(&d).is_err());
    let mut d = known_detection();
    d.periods[2].count = 0;
    assert!(codec.to_vec(&d).is_err());
    let mut d = known_detection();
    d.window_end_ms = d.window_start_ms - 1;
    assert!(codec.to_vec(&d).is_err());

    // A datum that apache-avro accepts but breaks the contract is rejected on decode.
    let mut value = known_detection().to_value().unwrap();
    if let apache_avro::types::Value::Record(fields) = &mut value {
        for (name, v) in fields.iter_mut() {
            if name == "confidence" {
                *v = apache_avro::types::Value::Double(1.5);
            }
        }
    }
    let datum =
        apache_avro::to_avro_datum(schema::current(SchemaKind::Detection).schema(), value).unwrap();
    let mut bytes = codec.header().to_vec();
    bytes.extend_from_slice(&datum);
    assert!(matches!(
        err_of(codec.decode(&bytes)),
        CodecError::InvalidValue {
            field: "confidence",
            ..
        }
    ));
}

#[test]
fn detection_id_ignores_order_and_non_result_fields() {
    let d = known_detection();
    let mut shuffled = d.clone();
    shuffled.periods.reverse();
    shuffled.periods.last_mut().unwrap().peers.reverse();
    shuffled.score = 0.0;
    shuffled.confidence = 0.0;
    shuffled.evidence.flows_seen += 1;
    shuffled.emitted_at_ms += 1;
    shuffled
        .periods
        .iter_mut()
        .for_each(|p| p.peer_confidence = None);
    assert_eq!(shuffled.compute_id(), d.compute_id());
    let mut other = d.clone();
    other.periods[0].count += 1;
    assert_ne!(other.compute_id(), d.compute_id());
    let mut other = d.clone();
    other.algorithm_version = "2".into();
    assert_ne!(other.compute_id(), d.compute_id());
    let mut other = d;
    other.window_end_ms += 1;
    assert_ne!(other.compute_id(), known_detection().compute_id());
}

#[test]
fn report_ids_differ_per_sink_and_enums_are_checked() {
    let r = known_report();
    assert_eq!(r.compute_id(), r.report_id);
    assert_ne!(
        relbot_codec::ReportId::derive(&r.detection_id, "webhook"),
        r.report_id
    );
    let codec = ReportCodec::single_object();
    let mut bytes = codec.to_vec(&r).unwrap();
    // The src_mode enum index follows the host string; find it by re-encoding with anon.
    let anon = codec
        .to_vec(&relbot_codec::Report {
            src_mode: relbot_codec::SrcMode::Anon,
            ..r.clone()
        })
        .unwrap();
    let at = bytes.iter().zip(&anon).position(|(a, b)| a != b).unwrap();
    bytes[at] = 6; // index 3: no such symbol
    assert!(codec.decode(&bytes).is_err());
    assert_eq!(
        serde_json::to_value(&r).unwrap()["status"],
        serde_json::json!("delivered")
    );
}
