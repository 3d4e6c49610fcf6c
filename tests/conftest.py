import os
import shutil
import tempfile

# isort: off
import vedere  # noqa: F401  (before NumPy: it sets OpenBLAS's idle-thread timeout, see there)
import numpy as np

# isort: on
import pytest

# every test (and every `vedere` subprocess a test starts) caches decoded images in a
# private folder, never in the user's ~/.cache
_CACHE = tempfile.mkdtemp(prefix="vedere-test-cache-")
os.environ["VEDERE_CACHE"] = _CACHE


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
