"""Shared by the Python integration tests: a scratch database and topics per test, and the
example client of examples/python on the import path."""
import sys

import pytest

from harness import ROOT, Scratch

sys.path.insert(0, str(ROOT / "examples" / "python"))


@pytest.fixture
def scratch(request):
    s = Scratch(request.node.name[:24].lower())
    yield s
    s.close()
