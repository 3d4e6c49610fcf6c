"""Predict or detect over whole image collections: one JSON line per image, streamed.

``vedere predict MODEL DIR_OR_GLOB --out preds.jsonl`` and ``vedere detect DIR_OR_GLOB --out
boxes.jsonl`` go through :func:`run_batch`:

- inputs are files, folders (every image under them, recursively, in sorted order) and glob
  patterns (``photos/**/*.jpg``), expanded lazily;
- images are sent to the executor (:mod:`vedere.executor`) in chunks, with at most two chunks
  per worker in flight, so memory stays bounded whatever the collection's size;
- each finished chunk is appended to the output, one JSON object per line with its
  ``"image"`` path first; an image that cannot be read gives ``{"image": …, "error": …}``
  and the batch goes on;
- images already in the output are skipped on a rerun (a line cut short by a killed run is
  dropped first), so a batch killed at any moment continues where it stopped.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import glob
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data.images import is_image_name
from .errors import expected
from .executor import Executor
from .fileio import OutputError, check_outputs, output_error

#: images per chunk sent to a worker
CHUNK = 32


def _glob(pattern: str) -> list[str]:
    """The paths matching ``pattern`` (``*``, ``?``, ``[…]`` within a name, ``**`` for any
    number of folders), sorted. Only the pattern's literal head may pass through links to
    folders: a magic component never enters one, so link loops (``l1 -> .``) cannot make the
    walk endless or list a file many times. Hidden names match only patterns that start with
    a dot (as :mod:`glob`)."""
    parts = pattern.split(os.sep)
    i = 0
    while i < len(parts) - 1 and not glob.has_magic(parts[i]):
        i += 1
    head = os.sep.join(parts[:i]) if i else ""
    if pattern.startswith(os.sep) and not head:
        head = os.sep
    found: list[str] = []

    def entries(folder: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder or os.curdir) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError:
            return []

    def is_dir(e: os.DirEntry[str]) -> bool:
        try:
            return e.is_dir(follow_symlinks=False)
        except OSError:
            return False

    def walk(folder: str, rest: list[str]) -> None:
        if not rest:
            found.append(folder)
            return
        part, more = rest[0], rest[1:]
        if part == "**":
            walk(folder, more)  # no folder at all
            for e in entries(folder):
                if e.name.startswith("."):
                    continue
                if is_dir(e):
                    walk(os.path.join(folder, e.name), rest)
                elif not more:  # a trailing ** matches files too
                    found.append(os.path.join(folder, e.name))
        elif glob.has_magic(part):
            for e in entries(folder):
                if e.name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(e.name, part) and (not more or is_dir(e)):
                    walk(os.path.join(folder, e.name), more)
        else:
            p = os.path.join(folder, part) if folder else part
            if os.path.lexists(p) and (not more or os.path.isdir(p)):
                walk(p, more)

    if head and not os.path.isdir(head):
        return []
    walk(head, parts[i:])
    return sorted(set(found))


def expand_inputs(inputs: Iterable[str]) -> Iterator[str]:
    """Image paths named by ``inputs``: files as given, folders walked recursively (sorted),
    glob patterns expanded (``**`` recursive). Links to folders inside a folder or below a
    pattern's literal head are not entered, and every file is given once (the first name it
    is reached by), so link loops end. A name that matches nothing is yielded as is (its
    line will say it does not exist)."""
    seen: set[tuple[int, int] | str] = set()

    def first(path: str) -> bool:
        try:
            st = os.stat(path)
            key: tuple[int, int] | str = (st.st_dev, st.st_ino)
        except OSError:
            key = path
        if key in seen:
            return False
        seen.add(key)
        return True

    for item in inputs:
        if os.path.isdir(item):
            for dirpath, dirnames, filenames in os.walk(item):  # does not enter folder links
                dirnames.sort()
                for name in sorted(filenames):
                    p = os.path.join(dirpath, name)
                    if is_image_name(name) and first(p):
                        yield p
        elif glob.has_magic(item):
            for p in _glob(item):
                if os.path.isfile(p) and is_image_name(p) and first(p):
                    yield p
        elif first(item):
            yield item


#: the longest line a JSON-lines output may end with when it is repaired (a record is far
#: shorter); the end is searched for its last newline in chunks of REPAIR_CHUNK bytes
MAX_LINE = 16 << 20
REPAIR_CHUNK = 1 << 20


def _repair(out: Path) -> set[str]:
    """The images already in ``out`` (creating nothing). A last line without its newline
    (a killed writer) is cut off so that appending continues on a clean line; the newline is
    searched from the end in bounded chunks, and a last partial line longer than MAX_LINE
    bytes is refused (OutputError), never cut. Lines are read one at a time, each at most
    MAX_LINE bytes (longer ones are skipped), so memory stays bounded by the set of names."""
    done: set[str] = set()
    try:
        f = open(out, "rb+")
    except FileNotFoundError:
        return done
    with f:
        size = f.seek(0, os.SEEK_END)
        end = size
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                end = -1
                pos = size
                while pos > 0 and size - pos < MAX_LINE:
                    start = max(0, pos - REPAIR_CHUNK)
                    f.seek(start)
                    k = f.read(pos - start).rfind(b"\n")
                    if k >= 0:
                        end = start + k + 1
                        break
                    pos = start
                end = max(end, 0)  # no newline at all: the whole file is one partial line
                if size - end > MAX_LINE:
                    raise OutputError(
                        out,
                        f"its last {size - max(end, pos):,} bytes hold no line break: not a "
                        "JSON-lines file (refusing to cut it; name another --out)",
                    )
                f.truncate(end)
        f.seek(0)
        while f.tell() < end:
            line = f.readline(MAX_LINE)
            if not line.endswith(b"\n"):  # over MAX_LINE: skip the rest of it
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_LINE)
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("image"), str):
                done.add(rec["image"])
    return done


@dataclass
class BatchStats:
    written: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def summary(self, out: str | os.PathLike[str]) -> str:
        """The line ``vedere predict/detect --out FILE.jsonl`` prints at the end."""
        rate = self.written / max(self.seconds, 1e-9)
        return (
            f"{self.written} images written to {out} ({self.errors} unreadable, "
            f"{self.skipped} already there), {rate:.1f} images/s"
        )


class _LineSink:
    """The JSON-lines output, opened for appending, unbuffered (a failed write is seen where
    it fails): a write that fails (disk full) cuts the file back to its last whole line and
    raises an OutputError naming it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        try:
            self.f = open(out, "ab", buffering=0)
            self.good = self.f.seek(0, os.SEEK_END)  # the length up to its last whole line
        except OSError as e:
            raise output_error(out, e) from None

    def append(self, records: list[dict[str, Any]]) -> None:
        data = b"".join(json.dumps(rec).encode() + b"\n" for rec in records)
        view = memoryview(data)
        try:
            while view:
                view = view[self.f.write(view) :]
        except OSError as e:
            with contextlib.suppress(OSError):
                os.truncate(self.out, self.good)
            raise output_error(self.out, e) from None
        self.good += len(data)

    def sync(self) -> None:
        try:
            os.fsync(self.f.fileno())
        except OSError as e:
            raise output_error(self.out, e) from None

    def close(self) -> None:
        self.f.close()


def _done_before(out: Path, inputs: list[str]) -> set[str]:
    """The images ``out`` already holds, after refusing an output that is a device, FIFO,
    folder or one of the named inputs (before any work) and repairing a cut last line."""
    check_outputs([out], [i for i in inputs if not glob.has_magic(i) and not os.path.isdir(i)])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return _repair(out)
    except OutputError:
        raise
    except OSError as e:
        raise output_error(out, e) from None


def _lost_chunk(fut: Any, e: Exception) -> list[dict[str, Any]]:
    """The records of a chunk whose worker was lost twice: an error for each of its images."""
    return [
        {"image": p, "error": f"{type(e).__name__}: {e}"} for p in getattr(fut, "vedere_paths", [])
    ]


def run_batch(
    inputs: Iterable[str],
    work: Callable[..., list[dict[str, Any]]],
    args: tuple[Any, ...],
    out: str | os.PathLike[str],
    executor: Executor,
    chunk: int = CHUNK,
    progress: bool = True,
) -> BatchStats:
    """Apply ``work(paths, *args)`` (one record per path) to every image of ``inputs`` on
    ``executor`` and append the records to the JSON-lines file ``out``: chunks of ``chunk``
    images, at most two per worker in flight, images already in ``out`` skipped."""
    from tqdm import tqdm

    out = Path(out)
    inputs = list(inputs)
    done = _done_before(out, inputs)
    stats = BatchStats()
    t0 = time.perf_counter()
    limit = 2 * max(1, executor.workers)
    in_flight: list[Any] = []
    sink = _LineSink(out)
    bar = tqdm(desc="images", unit="img", disable=not progress, file=sys.stderr, mininterval=0.5)

    def drain(block_until_below: int) -> None:
        while len(in_flight) > block_until_below:
            for fut in executor.first_completed(in_flight):
                in_flight.remove(fut)
                try:
                    records = fut.result()
                except Exception as e:  # a worker lost twice: report the chunk's images
                    records = _lost_chunk(fut, e)
                sink.append(records)
                stats.written += len(records)
                stats.errors += sum("error" in rec for rec in records)
                bar.update(len(records))

    def submit(paths: list[str]) -> None:
        fut = executor.submit(work, paths, *args)
        with contextlib.suppress(AttributeError, TypeError):
            fut.vedere_paths = paths  # to name the images if the chunk is lost
        in_flight.append(fut)

    try:
        pending: list[str] = []
        for path in expand_inputs(inputs):
            if path in done:
                stats.skipped += 1
                continue
            done.add(path)
            pending.append(path)
            if len(pending) == chunk:
                submit(pending)
                pending = []
                drain(limit - 1)
        if pending:
            submit(pending)
        drain(0)
        sink.sync()
    finally:
        sink.close()
        bar.close()
    stats.seconds = time.perf_counter() - t0
    return stats


def _file_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _classifier(key: tuple[str, int, int]) -> Any:
    from .classify.prediction import load_image_classifier

    return load_image_classifier(key[0])[1]


def predict_chunk(paths: list[str], model: str, top_k: int | None) -> list[dict[str, Any]]:
    """``{"image", "top": [{"class", "probability"}…]}`` for each path (or ``"error"``)."""
    import numpy as np

    from .classify.prediction import model_path, top_classes
    from .data.images import decode

    est = _classifier(_file_key(str(model_path(model))))
    h, w, c = est.preprocess_.shape
    records: list[dict[str, Any]] = [{"image": p} for p in paths]
    good, arrays = [], []
    for i, p in enumerate(paths):
        try:
            arrays.append(decode(p, p, (h, w), channels=1 if c == 1 else 3))
            good.append(i)
        except (ValueError, OSError) as e:
            if not expected(e):  # a bug, not a bad image: stop with its traceback
                raise
            records[i]["error"] = str(e)
    if arrays:
        tops = top_classes(est, np.stack(arrays), top_k)
        for i, top in zip(good, tops, strict=True):
            records[i]["top"] = [{"class": c, "probability": q} for c, q in top]
    return records


@functools.lru_cache(maxsize=4)
def _cascade(spec: str) -> Any:
    from .detect.library import resolve_cascade

    return resolve_cascade(spec)


def detect_image(path: str, cascade: Any, options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Detect in the image at ``path`` with ``cascade`` (a :class:`~vedere.detect.cascade.
    Cascade`): its record ``{"image", "width", "height", "scanned", "boxes": [{x, y, w, h,
    neighbors}…]}`` and the :class:`~vedere.detect.detector.Detections`. ``options`` are
    ``max_pixels`` and :func:`vedere.detect.detector.detect`'s keyword arguments, as
    ``vedere detect`` uses them. Unreadable images raise as :func:`~vedere.detect.samples.
    read_gray` does."""
    from .detect import detector
    from .detect.samples import read_gray

    opts = dict(options)
    max_pixels = opts.pop("max_pixels", None)
    gray = read_gray(path)
    if max_pixels is None:
        found, scanned = detector.detect(gray, cascade, **opts), gray.shape
    else:
        found, scanned = detector.detect_scaled(gray, cascade, max_pixels, **opts)
    record = {
        "image": path,
        "width": int(gray.shape[1]),
        "height": int(gray.shape[0]),
        "scanned": [int(scanned[1]), int(scanned[0])],
        "boxes": found.to_list(),
    }
    return record, found


def detect_chunk(paths: list[str], cascade: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`detect_image`'s record for each path (or ``{"image", "error"}``), the cascade
    named by ``cascade`` (:func:`vedere.detect.library.resolve_cascade`)."""
    c = _cascade(cascade)
    records: list[dict[str, Any]] = []
    for p in paths:
        try:
            records.append(detect_image(p, c, options)[0])
        except (ValueError, OSError) as e:
            if not expected(e):
                raise
            records.append({"image": p, "error": str(e)})
    return records
