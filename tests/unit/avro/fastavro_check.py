#!/usr/bin/env python3
"""Cross-checks okno's Avro layer against fastavro, the way a Python consumer sees it.

A consumer has only the .avsc files and the fingerprint in each record's single-object header.
So: okno_avro_make_corpus (C) writes a fresh valid record of every action, event type and
topic; fastavro parses schemas/*.avsc, computes each Parsing Canonical Form fingerprint, finds
every record's schema by the fingerprint the C side wrote (so the two canonical forms agree),
decodes the body, and checks the header's type names the payload branch.
Exits 77 (ctest: skipped) when fastavro is not installed."""
import glob
import io
import json
import os
import subprocess
import sys
import tempfile

try:
    import fastavro
    from fastavro.schema import fingerprint, to_parsing_canonical_form
except ImportError:
    print("fastavro is not installed: skipped")
    sys.exit(77)


def camel(snake):
    return "".join(part.capitalize() for part in snake.split("_"))


def load_schemas(src):
    by_fp = {}
    for path in sorted(glob.glob(os.path.join(src, "schemas", "*.avsc"))):
        with open(path) as f:
            parsed = fastavro.parse_schema(json.load(f))
        # fastavro spells the fingerprint as the hex of its 8 little-endian bytes, exactly as
        # they stand in the single-object header.
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        by_fp[fp] = (os.path.basename(path), parsed)
    return by_fp


def check_record(path, by_fp):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:2] == b"\xc3\x01", f"{path}: no single-object marker"
    fp = data[2:10]
    assert fp in by_fp, f"{path}: fingerprint {fp.hex()} matches no schema as fastavro sees it"
    name, parsed = by_fp[fp]
    body = io.BytesIO(data[10:])
    rec = fastavro.schemaless_reader(body, parsed, return_record_name=True)
    assert body.tell() == len(data) - 10, f"{path}: fastavro left bytes unread"
    code = rec.get("type", rec.get("action"))
    if code is not None:
        branch, _ = rec["payload"]
        assert branch == "okno.v1." + camel(code), f"{path}: {code} in branch {branch}"
    return name


def check_spec_vector():
    """The Avro specification's fingerprint of "int", as fastavro and okno spell it."""
    assert fingerprint('"int"', "CRC-64-AVRO") == "8f5c393f1ad57572"  # 0x7275d51a3f395c8f


def main():
    check_spec_vector()
    src = os.environ.get("OKNO_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../../.."))
    by_fp = load_schemas(src)
    assert len(by_fp) == 5, "five topic schemas with distinct fingerprints"
    passed = 0
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.argv[1], out], check=True)
        for path in sorted(glob.glob(os.path.join(out, "valid-*.bin"))):
            check_record(path, by_fp)
            passed += 1
    assert passed == 18 + 23 + 3, f"expected 44 records, got {passed}"
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    main()
