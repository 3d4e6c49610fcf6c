"""Where work that fans out runs: in this process, on a local Dask cluster, or on an existing one.

Sweep trials, batch predict/detect and the experiments' runs all go through one small
interface: ``submit(fn, *args)`` returns a future, ``as_completed(futures)`` yields them as
they finish, ``close()`` (or leaving the ``with`` block) shuts down what was started.

- :class:`InProcessExecutor` runs each call at once, in this process (``--workers 1``).
- :class:`DaskExecutor` sends calls to Dask distributed workers: a ``LocalCluster`` of K
  worker *processes* (``--workers K``), each with one task thread and cores // K BLAS threads,
  so that K × threads ≤ cores (no oversubscription); or an existing cluster by address
  (``--scheduler tcp://HOST:8786``), whose workers must see the same data and output paths.

Connecting to an existing cluster is bounded: the whole handshake (TCP connection, Dask's
greeting, the scheduler's description of its workers) must finish within
:func:`scheduler_timeout` seconds — ``VEDERE_SCHEDULER_TIMEOUT``, 5 by default — and any failure
(refused, silent, closed midway, garbage or absurd frame lengths) is one ``ValueError``
naming the address, never a hang or a traceback.

A worker process that dies while running a call (killed, out of memory) makes the scheduler
run that call again on another worker, once (``allowed-failures = 1``); if it dies again, the
future's ``result()`` raises ``distributed.KilledWorker``. The caller decides what a failed
call means (a sweep marks the trial failed and goes on).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

#: environment variables that set the thread count of the BLAS/OpenMP/Numba pools
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """BLAS threads for each of ``workers`` processes so that workers × threads ≤ cores."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, workers))


#: seconds the connection to ``--scheduler ADDR`` may take, unless VEDERE_SCHEDULER_TIMEOUT says
DEFAULT_SCHEDULER_TIMEOUT = 5.0
MAX_SCHEDULER_TIMEOUT = 3600.0


def scheduler_timeout() -> float:
    """Seconds allowed to connect to a scheduler: ``VEDERE_SCHEDULER_TIMEOUT`` (a number of
    seconds in (0, 3600]) or :data:`DEFAULT_SCHEDULER_TIMEOUT`."""
    text = os.environ.get("VEDERE_SCHEDULER_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_SCHEDULER_TIMEOUT
    try:
        value = float(text) if len(text) <= 20 else float("nan")
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_SCHEDULER_TIMEOUT:
        raise ValueError(
            f"VEDERE_SCHEDULER_TIMEOUT: expected seconds in (0, {MAX_SCHEDULER_TIMEOUT:g}], "
            f"got {text[:40]!r}"
        )
    return value


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def connect_client(address: str, timeout: float) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, with its workers' description
    fetched, all within ``timeout`` seconds; a ValueError naming the address otherwise."""
    from distributed import Client

    where = f"--scheduler {address}"
    url = urllib.parse.urlsplit(address)
    if url.scheme == "tcp" and url.hostname:  # a refused port fails now, not after retries
        try:
            port = url.port or 8786
            socket.create_connection((url.hostname, port), timeout=timeout).close()
        except (OSError, ValueError) as e:
            raise ValueError(f"{where}: cannot connect ({_why(e)})") from None
    box: dict[str, Any] = {}

    def attempt() -> None:
        client = None
        try:
            client = Client(address, timeout=timeout)
            box["workers"] = len(client.scheduler_info().get("workers", {}))
            box["client"] = client
        except BaseException as e:  # MemoryError from an absurd frame length included
            box["error"] = e
            if client is not None:
                with contextlib.suppress(Exception):  # the connection is being given up
                    client.close(timeout=1)

    # the handshake runs in a thread so that a listener that accepts and stays silent
    # cannot hold the command: after `timeout` seconds it is given up (the thread is a
    # daemon and ends when the connection does)
    t = threading.Thread(target=attempt, name="vedere-connect", daemon=True)
    t.start()
    t.join(timeout + 1)
    if t.is_alive():
        raise ValueError(
            f"{where}: no answer within {timeout:g} s (not a Dask scheduler?; "
            "VEDERE_SCHEDULER_TIMEOUT sets the wait)"
        )
    if "error" in box:
        raise ValueError(f"{where}: cannot talk to it ({_why(box['error'])})")
    return box["client"], box["workers"]


class InProcessExecutor:
    """Runs every call at once in this process; futures come back already finished."""

    workers = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # the caller reads it from the future, as with Dask
            fut.set_exception(e)
        return fut

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        yield from list(futures)

    def first_completed(self, futures: Iterable[Any]) -> list[Any]:
        """The futures of ``futures`` that are done (all of them: calls ran in submit)."""
        return list(futures)

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return "in this process"


class DaskExecutor:
    """Calls run on Dask distributed workers (a new LocalCluster, or ``scheduler``'s)."""

    def __init__(
        self, workers: int = 2, scheduler: str | None = None, connect_timeout: float | None = None
    ) -> None:
        import dask
        from distributed import Client, LocalCluster

        if scheduler is None and (isinstance(workers, bool) or not 1 <= workers <= 256):
            raise ValueError(f"--workers must be between 1 and 256, got {workers}")
        # a call whose worker died is retried once elsewhere, then reported as failed
        dask.config.set({"distributed.scheduler.allowed-failures": 1})
        self._cluster = None
        if scheduler is None:
            threads = threads_per_worker(workers)
            env = {v: str(threads) for v in THREAD_VARS}
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
                env=env,
            )
            self.client = Client(self._cluster)
            self.workers = workers
            self._where = f"a local Dask cluster of {workers} processes × {threads} BLAS threads"
        else:
            timeout = scheduler_timeout() if connect_timeout is None else connect_timeout
            self.client, n = connect_client(scheduler, timeout)
            self.workers = max(1, n)
            self._where = f"the Dask cluster at {scheduler} ({self.workers} workers)"

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        yield from as_completed(list(futures))

    def first_completed(self, futures: Iterable[Any]) -> list[Any]:
        """Block until at least one of ``futures`` is done; return those that are."""
        from distributed import wait

        done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
        return list(done)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return self._where


@runtime_checkable
class Executor(Protocol):
    """What sweeps, batch jobs and experiments need of an executor (both classes here have
    it; so may a test's own): ``workers`` calls at once, ``submit`` → a future with
    ``result()``, ``as_completed`` / ``first_completed`` over futures, ``describe`` (for
    progress bars), ``close`` (also by leaving a ``with`` block)."""

    workers: int

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any: ...

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]: ...

    def first_completed(self, futures: Iterable[Any]) -> list[Any]: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor for ``--workers K`` / ``--scheduler ADDR``: in-process for one worker
    (or None), a local Dask cluster for K > 1, the given cluster for an address."""
    if scheduler:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ValueError(
                f"--scheduler must be an address like tcp://HOST:8786, got {scheduler!r}"
            )
        return DaskExecutor(scheduler=scheduler)
    if workers is None or workers == 1:
        return InProcessExecutor()
    return DaskExecutor(workers=workers)
