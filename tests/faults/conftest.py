"""The faults tests import the harness (faults.py) beside them; `rig` is a Rig on the shared
ctest cluster, named after the test's module and closed after the test, also on failure."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import Rig  # noqa: E402


@pytest.fixture
def rig(request):
    r = Rig(request.module.__name__.removeprefix("test_"), shared=True)
    yield r
    r.close()
