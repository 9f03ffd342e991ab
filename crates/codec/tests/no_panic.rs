//! Every decode function, fed arbitrary bytes, returns a value or a `CodecError`: never a
//! panic, never an unbounded allocation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{known_detection, known_flow, known_report};
use proptest::prelude::*;
use relbot_codec::{
    flow::{decode_flow_datum, decode_flow_datum_generic},
    schema, AvroRecord, Codec, ConfluentIds, Detection, DetectionCodec, FlowCodec, Report,
    ReportCodec, SchemaKind,
};
use relbot_flow::FlowRecord;

fn all_decoders(bytes: &[u8]) {
    let _ = FlowCodec::single_object().decode(bytes);
    let _ = DetectionCodec::single_object().decode(bytes);
    let _ = ReportCodec::single_object().decode(bytes);
    let ids = ConfluentIds {
        current: 1,
        released: vec![(1, 2)],
    };
    let _ = FlowCodec::confluent(ids.clone()).decode(bytes);
    let _ = DetectionCodec::confluent(ids.clone()).decode(bytes);
    let _ = ReportCodec::confluent(ids).decode(bytes);
    let _ = decode_flow_datum(bytes);
    let _ = decode_flow_datum_generic(bytes);
    let _ = FlowRecord::decode_datum(bytes);
    let _ = Detection::decode_datum(bytes);
    let _ = Report::decode_datum(bytes);
}

/// A valid header of `kind` in front of arbitrary bytes reaches the datum decoders.
fn with_header(kind: SchemaKind, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC3, 0x01];
    out.extend_from_slice(&schema::current(kind).fingerprint().to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(at, b) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = b;
        }
    }
    bytes.truncate(cut.max(1).min(bytes.len()));
    bytes
}

fn decode_mutated<T: AvroRecord>(codec: &Codec<T>, bytes: &[u8]) {
    let _ = codec.decode(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        all_decoders(&bytes);
    }

    #[test]
    fn arbitrary_datums_behind_valid_headers(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        for kind in SchemaKind::ALL {
            all_decoders(&with_header(kind, &body));
        }
        let mut cf = vec![0, 0, 0, 0, 1];
        cf.extend_from_slice(&body);
        all_decoders(&cf);
        let mut cf_old = vec![0, 0, 0, 0, 2];
        cf_old.extend_from_slice(&body);
        all_decoders(&cf_old);
    }

    #[test]
    fn mutated_valid_messages(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let flow = FlowCodec::single_object();
        let det = DetectionCodec::single_object();
        let rep = ReportCodec::single_object();
        decode_mutated(&flow, &mutate(flow.to_vec(&known_flow()).unwrap(), &edits, cut));
        decode_mutated(&det, &mutate(det.to_vec(&known_detection()).unwrap(), &edits, cut));
        decode_mutated(&rep, &mutate(rep.to_vec(&known_report()).unwrap(), &edits, cut));
    }
}

#[test]
fn huge_length_prefixes_are_rejected_without_allocating() {
    // detection_id: a string claiming 2^62 bytes.
    let mut huge = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert!(DetectionCodec::single_object()
        .decode(&with_header(SchemaKind::Detection, &huge))
        .is_err());
    // A valid prefix up to `periods`, then an array block claiming 2^62 items.
    let mut datum = Vec::new();
    known_detection().encode_datum(&mut datum).unwrap();
    let id_and_host = 1 + 32 + 16;
    let mut prefix = datum[..id_and_host].to_vec();
    prefix.extend_from_slice(&[0x02, 0x02]); // two timestamps
    prefix.extend_from_slice(&[0x02, b'x', 0x02, b'1']); // algorithm, version
    prefix.append(&mut huge);
    assert!(Detection::decode_datum(&prefix).is_err());
}
