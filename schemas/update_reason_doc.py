"""Writes the list of reason codes into the doc of Rejection.reason_code in Rejection.avsc.

usage: python3 schemas/update_reason_doc.py build/tools/okno/okno

The list comes from `okno workflow --reasons-doc` (common/workflow/names.c, the one source);
test_workflow_table fails while the schema's doc differs from it. A doc is not part of the
schema's Parsing Canonical Form, so the fingerprint does not change."""
import json
import subprocess
import sys
from pathlib import Path

path = Path(__file__).resolve().parent / "Rejection.avsc"
doc = subprocess.run([sys.argv[1], "workflow", "--reasons-doc"], check=True, capture_output=True,
                     text=True).stdout
schema = json.loads(path.read_text())
for field in schema["fields"]:
    if field["name"] == "reason_code":
        field["doc"] = doc
path.write_text(json.dumps(schema, indent=2) + "\n")
