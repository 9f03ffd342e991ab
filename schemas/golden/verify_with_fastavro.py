"""Independent check of the golden files with fastavro (not Rust, not apache-avro).

Usage: python3 -m pip install fastavro && python3 schemas/golden/verify_with_fastavro.py
Checks, for every schemas/history/<name>.v<N>.avsc: the parsing canonical form's CRC-64-AVRO
fingerprint equals the one in <name>.v<N>.single-object.bin, both golden files carry the
expected header, and fastavro decodes their datums to the documented known values.
"""

import io
import json
import pathlib
import struct
import sys

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

HERE = pathlib.Path(__file__).resolve().parent
SCHEMAS = HERE.parent
CONFLUENT_ID = 7

EXPECTED = {
    "flow": {"start_ms": 1416316500000, "src_port": 49152, "dst_port": 16471, "protocol": 17,
             "bytes": 1234, "packets": 3, "observation_domain": 7, "flags": 9},
    "detection": {"detection_id": "71be316cbe93fb72122f7540f0505359", "algorithm": "classic",
                  "score": 1.0, "confidence": 0.5, "emitted_at_ms": 1416315660000},
    "report": {"report_id": "7ca021afd1e3ae362adacfd8cddaabd1",
               "detection_id": "71be316cbe93fb72122f7540f0505359", "sink_name": "cch-production",
               "src_mode": "plain", "status": "delivered", "attempts": 1, "reason": None},
}


def millis(v):
    # fastavro turns timestamp-millis into datetime; compare as epoch milliseconds.
    return round(v.timestamp() * 1000) if hasattr(v, "timestamp") else v


def main():
    failures = 0
    for path in sorted((SCHEMAS / "history").glob("*.avsc")):
        name, version = path.stem.split(".")
        text = path.read_text()
        # fastavro gives the fingerprint as the hex of its 8 little-endian bytes.
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(json.loads(text)), "CRC-64-AVRO"))
        schema = parse_schema(json.loads(text))
        so = (HERE / f"{name}.{version}.single-object.bin").read_bytes()
        cf = (HERE / f"{name}.{version}.confluent.bin").read_bytes()
        ok = so[:2] == b"\xc3\x01" and so[2:10] == fp
        ok &= cf[:1] == b"\x00" and struct.unpack(">I", cf[1:5])[0] == CONFLUENT_ID
        for datum in (so[10:], cf[5:]):
            buf = io.BytesIO(datum)
            record = schemaless_reader(buf, schema)
            ok &= buf.tell() == len(datum)
            for key, want in EXPECTED[name].items():
                ok &= millis(record[key]) == want
        fp64 = struct.unpack("<Q", fp)[0]
        print(f"{'ok  ' if ok else 'FAIL'} {name} {version} fingerprint {fp64:#018x}")
        failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
