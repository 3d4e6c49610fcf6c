"""How vedere's compiled kernels use the cores: Numba's threading layer, one lock, and a
serial twin of every parallel kernel for jobs too small to be worth a parallel launch.

**The threading layer is vedere's own.** Numba's default layer is OpenMP where it finds
one. In a process that has loaded PyTorch (a notebook comparing the two, torchvision for
data), that is PyTorch's OpenMP runtime, whose threads spin after each parallel region:
they then take the cores that NumPy's BLAS threads need between two kernels, and a training
step ran at a fifth of its speed unless ``OMP_WAIT_POLICY=PASSIVE`` was set before either
library loaded. vedere therefore selects Numba's own ``workqueue`` layer (plain threads that
sleep when idle, shared with no other library), before its first parallel kernel starts
Numba's threads, whatever was imported before it. A ``NUMBA_THREADING_LAYER`` in the
environment is the user's choice and wins. :func:`threading_layer` reports the layer in
force.

**One parallel kernel at a time.** The workqueue layer aborts the whole process when two
Python threads launch parallel kernels at once (the playground trains and detects in
threads). Every parallel launch holds :data:`PARALLEL_LOCK`; it already uses every core.

**Serial below a measured size.** Waking the worker threads costs a few microseconds on a
quiet machine and far more on a loaded one or under some hypervisors; a small job (a
global pooling of a few thousand values, the last block of a network) runs faster on the
calling thread. :func:`parallel_min_work` measures, once per process, what a parallel launch
costs here against the serial cost of a value, and :class:`Kernel` runs its serial build
(without the GIL, so several run at once) when the job's largest array holds fewer values
than that. ``VEDERE_PARALLEL_MIN`` (a non-negative integer) sets the threshold instead.

**Work shared as threads come free.** A ``prange`` loop deals its iterations out to the
threads in advance. When one core is slowed for a while (a hypervisor's other work on the
same physical core slows vector loops by up to 2×, in streaks), the launch waits for that
core. :func:`share` runs numbered pieces of a job on the calling thread and on helper
threads, each taking the next piece when it is free (as OpenCV's thread pool hands out
stripes), with serial nogil builds doing the work; no lock is held, so several such jobs
run at once. The detector's scan uses it.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

#: the layer vedere selects unless NUMBA_THREADING_LAYER is set
PREFERRED_LAYER = "workqueue"

if not os.environ.get("NUMBA_THREADING_LAYER"):
    # read by Numba when it first starts its threads; no effect if they already run
    numba.config.THREADING_LAYER = PREFERRED_LAYER

#: held while a parallel kernel runs (see the module's docstring)
PARALLEL_LOCK = threading.Lock()

#: bounds of the measured threshold (values of the largest array): below the lower one a
#: launch never pays, above the upper one it always does. The upper bound matters: the
#: trivial kernel timed runs from cache at a fraction of a nanosecond a value, real kernels
#: stream from memory at several times that, so the measured figure alone (1.1–1.3 million
#: on the Intel Xeon measured) kept a convolution's 1-million-value im2col blocks on one
#: core: the default CNN step ran at 325 images/s instead of 353–356
MIN_WORK_BOUNDS = (4_096, 262_144)

#: launches since the process started (or :func:`reset_launch_counts`), by "name parallel"
#: and "name serial"; read by ``bench/*_throughput.py --profile``
LAUNCHES: Counter[str] = Counter()

_threshold: int | None = None
_threshold_lock = threading.Lock()


def threading_layer() -> str:
    """The threading layer Numba runs parallel kernels on (starting its threads if needed)."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: run one
        with PARALLEL_LOCK:
            _touch_parallel(np.zeros(2, dtype=np.float32))
        return numba.threading_layer()


def _touch(a):  # pragma: no cover - compiled
    for i in numba.prange(a.size):
        a[i] = a[i] * np.float32(0.5) + np.float32(1.0)


def _renamed(fn: Callable[..., Any], suffix: str, **constants: object) -> Callable[..., Any]:
    """A copy of ``fn`` under another name. Numba names its on-disk cache entries after the
    function, not after the compile options: two builds of one function would share entries,
    and the serial build would load the parallel one's machine code. ``constants`` replace
    globals of ``fn`` in the copy (Numba compiles a global as a constant, so a branch on one
    is compiled away)."""
    glob = {**fn.__globals__, **constants} if constants else fn.__globals__
    copy = types.FunctionType(fn.__code__, glob, fn.__name__ + suffix)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__doc__ = fn.__doc__
    return copy


_touch_parallel = numba.njit(parallel=True, cache=True)(_renamed(_touch, "_parallel"))
_touch_serial = numba.njit(cache=True, nogil=True)(_renamed(_touch, "_serial"))


def _median_seconds(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure_parallel_min_work() -> int:
    """The number of values below which a serial kernel beats a parallel launch here.

    With T threads, a parallel job of n values saves (1 - 1/T)·n·s of the serial time n·s
    and costs one launch L, so it pays when n > L / ((1 - 1/T)·s); returned is twice that
    (a margin for the lock and the noise), within :data:`MIN_WORK_BOUNDS`. L and s are
    medians over a few repeats of a trivial kernel (one multiply-add a value, the cheapest a
    real kernel does, so real kernels err on the serial side).
    """
    threads = numba.get_num_threads()
    if threads <= 1:
        return MIN_WORK_BOUNDS[1]
    tiny = np.zeros(threads, dtype=np.float32)
    block = np.zeros(1 << 16, dtype=np.float32)
    with PARALLEL_LOCK:
        _touch_parallel(tiny)  # compile or load, start the threads
        launch = _median_seconds(lambda: _touch_parallel(tiny), 25)
    _touch_serial(block)
    per_value = _median_seconds(lambda: _touch_serial(block), 9) / block.size
    n = 2.0 * launch / ((1.0 - 1.0 / threads) * max(per_value, 1e-12))
    return int(min(max(n, MIN_WORK_BOUNDS[0]), MIN_WORK_BOUNDS[1]))


def parallel_min_work() -> int:
    """The serial/parallel threshold in force (values of a job's largest array): the
    ``VEDERE_PARALLEL_MIN`` environment variable, else :func:`set_parallel_min_work`'s
    value, else :func:`measure_parallel_min_work`'s, measured once per process."""
    global _threshold
    if _threshold is None:
        with _threshold_lock:
            if _threshold is None:
                env = os.environ.get("VEDERE_PARALLEL_MIN")
                _threshold = (
                    _parse_threshold(env, "VEDERE_PARALLEL_MIN")
                    if env
                    else measure_parallel_min_work()
                )
    return _threshold


def _parse_threshold(value: object, name: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(text)


def set_parallel_min_work(n: int | None) -> None:
    """Force the threshold: 0 runs every job in parallel, a huge value every job serially,
    None measures again on next use (tests use it to force each path)."""
    global _threshold
    _threshold = None if n is None else _parse_threshold(n, "parallel_min_work")


def reset_launch_counts() -> None:
    """Empty :data:`LAUNCHES`."""
    LAUNCHES.clear()


def _work(args: tuple[Any, ...]) -> int:
    return max((a.size for a in args if isinstance(a, np.ndarray)), default=0)


class Kernel:
    """A compiled loop with a parallel build (``prange`` shared out among Numba's threads,
    under :data:`PARALLEL_LOCK`) and a serial one (the calling thread, no GIL), chosen per
    call by the size of its largest array argument against :func:`parallel_min_work`.

    ``fn`` is a plain Python function written with ``numba.prange``; both builds are cached
    on disk under their own names. ``variant`` names a second pair of builds of the same
    ``fn`` whose ``constants`` replace some of its globals (compiled as constants, so a
    branch on one is compiled away). ``error_model="numpy"`` lets a division by zero give
    inf instead of raising: Python's model puts a branch in every division, and a loop
    with a branch is not compiled to vector instructions.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        fastmath: bool = False,
        variant: str = "",
        constants: dict[str, object] | None = None,
        error_model: str = "python",
    ) -> None:
        self.__name__ = fn.__name__ + variant
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        consts = constants or {}
        opts = {"cache": True, "fastmath": fastmath, "error_model": error_model}
        self.parallel = numba.njit(parallel=True, **opts)(
            _renamed(fn, f"{variant}_parallel", **consts)
        )
        self.serial = numba.njit(nogil=True, **opts)(_renamed(fn, f"{variant}_serial", **consts))
        self._keys = (f"{self.__name__} parallel", f"{self.__name__} serial")

    def __call__(self, *args: Any) -> Any:
        return self.run(_work(args) >= parallel_min_work(), *args)

    def run(self, in_parallel: bool, *args: Any) -> Any:
        """The parallel build (under :data:`PARALLEL_LOCK`) when ``in_parallel`` and Numba
        has more than one thread, else the serial one: for callers that know the job's size
        better than its largest array does (the detector's scan counts windows)."""
        if in_parallel and numba.get_num_threads() > 1:
            LAUNCHES[self._keys[0]] += 1
            with PARALLEL_LOCK:
                return self.parallel(*args)
        LAUNCHES[self._keys[1]] += 1
        return self.serial(*args)


def kernel(
    fn: Callable[..., Any] | None = None, *, fastmath: bool = False, error_model: str = "python"
) -> Kernel | Callable[[Callable[..., Any]], Kernel]:
    """Decorator: ``@kernel`` or ``@kernel(fastmath=True, error_model="numpy")`` makes
    ``fn`` a :class:`Kernel`."""
    if fn is None:
        return lambda f: Kernel(f, fastmath=fastmath, error_model=error_model)
    return Kernel(fn, fastmath=fastmath, error_model=error_model)


_helpers: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, size, pool)
_helpers_lock = threading.Lock()


def helper_pool(size: int) -> ThreadPoolExecutor:
    """vedere's helper threads, at least ``size`` of them (created on first use, again after
    a fork, whose child has none of its parent's threads, or when more are asked for).
    Shared by :func:`share` and the convolution's block workers
    (:mod:`vedere.nn.conv_blocks`)."""
    global _helpers
    with _helpers_lock:
        if _helpers is None or _helpers[0] != os.getpid() or _helpers[1] < size:
            pool = ThreadPoolExecutor(size, thread_name_prefix="vedere-helper")
            _helpers = (os.getpid(), size, pool)
        return _helpers[2]


def share(work: Callable[[int], None], n: int, threads: int) -> None:
    """``work(0)``, …, ``work(n − 1)``, each once, on the calling thread and ``threads`` − 1
    helper threads, each thread taking the next index as soon as it is free (so a slowed
    core does less of the job, not the same share later). ``work`` should spend its time in
    code that releases the GIL (a serial nogil :class:`Kernel` build). Returns when every
    piece that started has finished; re-raises the first exception a piece raised (the
    pieces not yet started then do not run). A helper still busy with another job starts
    late or never: the calling thread does the rest itself."""
    if threads <= 1 or n <= 1:
        for i in range(n):
            work(i)
        return
    cond = threading.Condition()
    state: dict[str, Any] = {"next": 0, "active": 0, "error": None}

    def take_pieces() -> None:
        while True:
            with cond:
                if state["error"] is not None or state["next"] >= n:
                    return
                i = state["next"]
                state["next"] = i + 1
                state["active"] += 1
            try:
                work(i)
            except BaseException as e:  # re-raised by the calling thread
                with cond:
                    if state["error"] is None:
                        state["error"] = e
            finally:
                with cond:
                    state["active"] -= 1
                    cond.notify_all()

    pool = helper_pool(threads - 1)
    for _ in range(threads - 1):
        pool.submit(take_pieces)
    take_pieces()
    with cond:
        while state["active"]:
            cond.wait()
    if state["error"] is not None:
        raise state["error"]
