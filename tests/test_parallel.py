"""vedere.parallel: the threading layer vedere owns (whatever was imported first), the
serial/parallel choice, and parallel kernels launched from several threads at once."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere import parallel
from vedere.nn import GELU, BatchNorm2d, Conv2d, MaxPool2d, Sequential
from vedere.nn.kernels_loader import kernels

_PROBE = """
import sys
if sys.argv[1] == "torch-first":
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)  # start PyTorch's OpenMP threads
import numpy as np
from vedere import parallel
from vedere.nn import Conv2d
parallel.set_parallel_min_work(0)  # a parallel kernel for sure
Conv2d(3, 4, 3, padding=1, rng=0).forward(np.ones((2, 3, 8, 8), np.float32))
if sys.argv[1] == "torch-after":
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)
print(parallel.threading_layer())
"""


def _layer_in_subprocess(order: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, order],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("order", ["torch-first", "torch-after", "no-torch"])
def test_vedere_runs_on_its_own_threading_layer_whatever_was_imported_first(order):
    pytest.importorskip("torch")
    assert _layer_in_subprocess(order) == parallel.PREFERRED_LAYER


def test_the_users_numba_threading_layer_wins():
    assert _layer_in_subprocess("no-torch", NUMBA_THREADING_LAYER="omp") == "omp"


def test_parallel_min_env_variable_is_checked():
    env = {**os.environ, "VEDERE_PARALLEL_MIN": "-5"}
    code = "from vedere import parallel; parallel.parallel_min_work()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "VEDERE_PARALLEL_MIN must be a non-negative integer, got '-5'" in out.stderr


def test_measured_threshold_lies_within_its_bounds():
    lo, hi = parallel.MIN_WORK_BOUNDS
    assert lo <= parallel.measure_parallel_min_work() <= hi


@pytest.fixture
def forced():
    """set the threshold for one test, then measure again"""
    yield parallel.set_parallel_min_work
    parallel.set_parallel_min_work(None)


def test_each_kernel_gives_the_same_result_in_both_builds(forced, rng):
    """The parallel and serial builds of every nn kernel agree (to float32 rounding: the
    GELU kernels are compiled with fastmath, whose vectorisation may differ per build)."""
    k = kernels()
    x = rng.standard_normal((3, 7, 6, 5)).astype(np.float32)
    d = rng.standard_normal((3, 7, 6, 3, 3, 5)).astype(np.float32)
    flat = rng.standard_normal(500).astype(np.float32)
    rows = rng.standard_normal((40, 5)).astype(np.float32)
    a = rng.standard_normal(5).astype(np.float32)

    def run():
        cols = np.empty((3, 7, 6, 3, 3, 5), np.float32)
        k.im2col_stride1(x, 3, 3, 1, 1, cols)
        dx = np.empty_like(x)
        k.col2im_stride1(d, 1, 1, dx)
        pooled = np.empty((3, 3, 3, 5), np.float32)
        arg = np.empty((3, 3, 3, 5), np.int64)
        k.max_pool(x, 2, 2, 2, 2, pooled, arg)
        gel = np.empty_like(flat)
        k.gelu_flat32(flat, gel)
        aff = np.empty_like(rows)
        k.affine(a, rows, a, aff)
        return cols, dx, pooled, arg, gel, aff, k.channel_moments(rows, a, 4)

    forced(0)
    parallel.reset_launch_counts()
    par = run()
    assert all("parallel" in key for key in parallel.LAUNCHES)
    forced(2**40)
    parallel.reset_launch_counts()
    ser = run()
    assert all("serial" in key for key in parallel.LAUNCHES)
    for p, s in zip(par, ser, strict=True):
        np.testing.assert_allclose(p, s, rtol=1e-6, atol=1e-7)


def test_parallel_kernels_from_several_threads_at_once(forced, rng):
    """The playground trains in threads: concurrent parallel launches neither abort the
    process (the workqueue layer would, without the lock) nor change the results."""
    forced(0)
    net = Sequential(Conv2d(3, 8, 3, padding=1, rng=0), BatchNorm2d(8), GELU(), MaxPool2d(2))
    xs = [rng.standard_normal((4, 3, 12, 12)).astype(np.float32) for _ in range(4)]
    net.eval()
    want = [net.forward(x).copy() for x in xs]
    got: list = [None] * len(xs)
    errors: list = []

    def work(i):
        try:
            for _ in range(5):
                got[i] = net.forward(xs[i]).copy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(w, g)


@pytest.mark.parametrize(
    ("preset", "numpy_first", "expected"),
    [(None, False, "16"), ("28", False, "28"), (None, True, "unset")],
    ids=["vedere-sets-it", "the-users-value-wins", "too-late-after-numpy"],
)
def test_openblas_idle_threads_sleep_soon_unless_the_user_said_otherwise(
    preset, numpy_first, expected
):
    """OPENBLAS_THREAD_TIMEOUT is set (before NumPy loads OpenBLAS, which reads it once)
    unless the user set it; after NumPy it would do nothing, and vedere leaves it alone."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    first = "import numpy\n" if numpy_first else ""
    code = (
        first
        + "import os, vedere, numpy\nprint(os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


# --- parallel.share: pieces handed to threads as they come free -------------------------------


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 60), threads=st.integers(1, 5))
def test_share_runs_every_piece_exactly_once(n, threads):
    seen: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            seen.append(i)

    parallel.share(work, n, threads)
    assert sorted(seen) == list(range(n))


def test_share_uses_a_helper_thread_and_reraises_a_pieces_error():
    names = set()
    barrier = threading.Barrier(2, timeout=30)

    def work(i: int) -> None:
        names.add(threading.current_thread().name)
        if i < 2:
            barrier.wait()  # the first two pieces only finish once both threads hold one

    parallel.share(work, 8, 2)
    assert len(names) == 2 and threading.current_thread().name in names

    def fail(i: int) -> None:
        if i == 3:
            raise ValueError("piece 3")

    with pytest.raises(ValueError, match="piece 3"):
        parallel.share(fail, 10, 2)


def test_share_from_many_threads_at_once():
    """Jobs shared from several threads at once (the playground's detections): each runs all
    its pieces, whether or not the busy helpers join it."""
    out: dict[int, list[int]] = {}

    def job(k: int) -> None:
        got: list[int] = []
        parallel.share(lambda i: got.append(i) or time.sleep(0.001), 20, 3)
        out[k] = sorted(got)

    threads = [threading.Thread(target=job, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == {k: list(range(20)) for k in range(6)}
