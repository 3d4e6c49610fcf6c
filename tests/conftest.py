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


@pytest.fixture(scope="session")
def mlp_model(tmp_path_factory) -> "os.PathLike[str]":
    """A small CIFAR-10 MLP (3072-32-10) trained on the embedded sample, saved once per test
    worker: for the tests that need any trained image-classifier file (predict, evaluate,
    batches). The playground's shipped CNN is tested on its own (tests/web)."""
    from vedere.classify import MLPClassifier
    from vedere.data.dataset import load_split

    train = load_split(None, "train", progress=False)
    names = np.asarray(train.classes)[train.labels]
    est = MLPClassifier(hidden_sizes=(32,), epochs=3, seed=0).fit(train.images, names)
    return est.save(tmp_path_factory.mktemp("model") / "mlp.safetensors")
