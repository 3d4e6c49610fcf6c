"""Decode once: image sets cached as memory-mapped ``.npy`` files keyed by the source's content.

The key is a SHA-256 of the source's bytes (every file of a directory tree, with its
relative path), the split, the requested size and the cache format version. An entry is a
folder ``<cache>/<key>/`` with ``images.npy``, ``labels.npy`` and ``meta.json``, written
under a temporary name and renamed into place, so a killed run never leaves a half entry.
Arrays are loaded with ``allow_pickle=False`` and memory-mapped: a second run starts in
seconds and does not hold the decoded images in RAM until it touches them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import DataError
from .imageset import ImageSet

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$VEDERE_CACHE``, else ``$XDG_CACHE_HOME/vedere``, else ``~/.cache/vedere``."""
    if os.environ.get("VEDERE_CACHE"):
        return Path(os.environ["VEDERE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "vedere"


def _hash_file(h: hashlib._Hash, path: Path) -> None:
    """Add the bytes of the regular file ``path`` to ``h``; FIFOs, devices and sockets (also
    behind a symbolic link: ``z.jpg -> /dev/zero``) are refused before they are opened."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise DataError(path, "not a regular file (a FIFO, device or socket); refused")
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def content_hash(source: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of every file (relative path + bytes) under a directory."""
    source = Path(source)
    h = hashlib.sha256()
    try:
        if source.is_dir():
            for dirpath, dirnames, filenames in os.walk(source):
                dirnames.sort()
                for name in sorted(filenames):
                    p = Path(dirpath) / name
                    h.update(p.relative_to(source).as_posix().encode() + b"\0")
                    _hash_file(h, p)
        else:
            _hash_file(h, source)
    except FileNotFoundError as e:
        raise DataError(e.filename or source, "no such file or directory") from None
    except OSError as e:
        raise DataError(e.filename or source, f"cannot read ({e.strerror})") from None
    return h.hexdigest()


def _entry_ok(entry: Path) -> ImageSet | None:
    try:
        meta = json.loads((entry / "meta.json").read_text())
        images = np.load(entry / "images.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(entry / "labels.npy", allow_pickle=False)
        if images.shape[0] != meta["n"] or labels.shape != (meta["n"],):
            return None
        return ImageSet(
            images,
            labels.astype(np.int64),
            list(meta["classes"]),
            meta["source"],
            meta["split"],
            {"cache": str(entry)},
        )
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def cached(
    source: str | os.PathLike[str],
    split: str,
    key_extra: str,
    load: Callable[[], ImageSet],
    cache_dir: str | os.PathLike[str] | None = None,
) -> ImageSet:
    """Return the cached image set for (source content, split, key_extra), or ``load()`` it
    and cache it. ``cache_dir=""`` disables the cache."""
    if cache_dir == "":
        return load()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(
        f"{content_hash(source)}|{split}|{key_extra}|v{CACHE_VERSION}".encode()
    ).hexdigest()[:32]
    entry = root / key
    if entry.is_dir():
        hit = _entry_ok(entry)
        if hit is not None:
            return hit
        shutil.rmtree(entry, ignore_errors=True)  # damaged entry: rebuild it
    data = load()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}."))
    except OSError:
        return data  # read-only cache location: work without it
    try:
        np.save(tmp / "images.npy", np.ascontiguousarray(data.images), allow_pickle=False)
        np.save(tmp / "labels.npy", data.labels, allow_pickle=False)
        meta = {
            "n": len(data),
            "classes": data.classes,
            "source": str(Path(source).resolve()),
            "split": split,
            "key_extra": key_extra,
            "version": CACHE_VERSION,
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, entry)
        except OSError:  # another process filled the entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    hit = _entry_ok(entry)
    return hit if hit is not None else data


def clear(cache_dir: str | os.PathLike[str] | None = None) -> None:
    """Remove every cached entry."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(root)
