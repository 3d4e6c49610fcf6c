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

#: images per chunk sent to a worker
CHUNK = 32


def expand_inputs(inputs: Iterable[str]) -> Iterator[str]:
    """Image paths named by ``inputs``: files as given, folders walked recursively (sorted),
    glob patterns expanded (``**`` recursive). A name that matches nothing is yielded as is
    (its line will say it does not exist)."""
    for item in inputs:
        if os.path.isdir(item):
            for dirpath, dirnames, filenames in os.walk(item):
                dirnames.sort()
                for name in sorted(filenames):
                    if is_image_name(name):
                        yield os.path.join(dirpath, name)
        elif glob.has_magic(item):
            for p in sorted(glob.iglob(item, recursive=True)):
                if os.path.isfile(p) and is_image_name(p):
                    yield p
        else:
            yield item


def _repair(out: Path) -> set[str]:
    """The images already in ``out`` (creating nothing); a last line without its newline (a
    killed writer) is cut off so that appending continues on a clean line."""
    done: set[str] = set()
    if not out.exists():
        return done
    with open(out, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            f.truncate(end)
    for line in data[:end].splitlines():
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


def run_batch(
    inputs: Iterable[str],
    work: Callable[..., list[dict[str, Any]]],
    args: tuple[Any, ...],
    out: str | os.PathLike[str],
    executor: Any,
    chunk: int = CHUNK,
    progress: bool = True,
) -> BatchStats:
    """Apply ``work(paths, *args)`` (one record per path) to every image of ``inputs`` on
    ``executor`` and append the records to the JSON-lines file ``out``."""
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and not out.is_file():
        raise ValueError(f"{out}: not a regular file (the output must be a .jsonl file)")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _repair(out)
    stats = BatchStats()
    t0 = time.perf_counter()
    limit = 2 * max(1, executor.workers)
    in_flight: list[Any] = []
    bar = tqdm(desc="images", unit="img", disable=not progress, file=sys.stderr, mininterval=0.5)

    def drain(f: Any, block_until_below: int) -> None:
        while len(in_flight) > block_until_below:
            for fut in executor.first_completed(in_flight):
                in_flight.remove(fut)
                try:
                    records = fut.result()
                except Exception as e:  # a worker lost twice: report the chunk's images
                    records = [
                        {"image": p, "error": f"{type(e).__name__}: {e}"}
                        for p in getattr(fut, "vedere_paths", [])
                    ]
                for rec in records:
                    f.write(json.dumps(rec) + "\n")
                    stats.written += 1
                    stats.errors += "error" in rec
                f.flush()
                bar.update(len(records))

    def submit(paths: list[str]) -> None:
        fut = executor.submit(work, paths, *args)
        with contextlib.suppress(AttributeError, TypeError):
            fut.vedere_paths = paths  # to name the images if the chunk is lost
        in_flight.append(fut)

    with open(out, "a", encoding="utf-8") as f:
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
                drain(f, limit - 1)
        if pending:
            submit(pending)
        drain(f, 0)
        f.flush()
        os.fsync(f.fileno())
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
    from .data.errors import DataError
    from .data.images import decode

    est = _classifier(_file_key(str(model_path(model))))
    h, w, _ = est.preprocess_.shape
    records: list[dict[str, Any]] = [{"image": p} for p in paths]
    good, arrays = [], []
    for i, p in enumerate(paths):
        try:
            arrays.append(decode(p, p, (h, w)))
            good.append(i)
        except (DataError, ValueError, OSError) as e:
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


def detect_chunk(paths: list[str], cascade: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"image", "width", "height", "scanned", "boxes": [{x, y, w, h, neighbors}…]}`` for
    each path (or ``"error"``). ``options`` are ``max_pixels`` and
    :func:`vedere.detect.detector.detect`'s keyword arguments, as ``vedere detect`` uses them."""
    from .data.errors import DataError
    from .detect import detector
    from .detect.samples import read_gray

    c = _cascade(cascade)
    opts = dict(options)
    max_pixels = opts.pop("max_pixels", None)
    records: list[dict[str, Any]] = []
    for p in paths:
        try:
            gray = read_gray(p)
            if max_pixels is None:
                found, scanned = detector.detect(gray, c, **opts), gray.shape
            else:
                found, scanned = detector.detect_scaled(gray, c, max_pixels, **opts)
        except (DataError, ValueError, OSError) as e:
            records.append({"image": p, "error": str(e)})
            continue
        records.append(
            {
                "image": p,
                "width": int(gray.shape[1]),
                "height": int(gray.shape[0]),
                "scanned": [int(scanned[1]), int(scanned[0])],
                "boxes": found.to_list(),
            }
        )
    return records
