"""Image-folder trees ``<split>/<class>/<image>``, as a directory or a ``.tar.gz`` of one.

The split folder may sit under any prefix (``cifar10/train/cat/0001.jpg`` is fine); class
names are the sorted names of the folders in the split. Images of any size, mode and common
format are decoded to RGB and, when ``size`` is given, resized to it; without ``size`` they
must all share the size of the first one.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from ..escape import printable
from . import archive
from .errors import DataError
from .images import decode, is_image_name
from .imageset import ImageSet

Payload = bytes | Path

#: largest decoded image set held in memory (N × H × W × 3 bytes)
MAX_DECODED_BYTES = 12 * 2**30


def check_class_name(source: str | os.PathLike[str], name: str) -> str:
    """``name`` if it is printable; a class folder named with a newline or another control
    character could fake lines in what vedere prints, so it is refused (DataError)."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise DataError(
            source, f"class folder {name!r} has control characters in its name; rename it"
        )
    return name


def _class_of(rel: PurePosixPath, split: str) -> str | None:
    """The class folder of a path ``…/<split>/<class>[/<file>]``, if it has that shape."""
    parts = rel.parts
    if len(parts) >= 2 and parts[-2] == split:
        return parts[-1]
    return None


def _collect(source: Path, split: str) -> tuple[dict[str, list[tuple[str, Payload]]], set[str]]:
    """Files per class and the set of class folders seen (some possibly empty)."""
    by_class: dict[str, list[tuple[str, Payload]]] = {}
    folders: set[str] = set()
    if archive.is_tar(source):
        for rel, data in archive.iter_files(source, dirs=True):
            if data is None:
                cls = _class_of(rel, split)
                if cls is not None:
                    folders.add(cls)
                continue
            cls = _class_of(rel.parent, split)
            if cls is not None:
                folders.add(cls)
                if is_image_name(rel.name):
                    by_class.setdefault(cls, []).append((str(rel), data))
        return by_class, folders
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        rel = PurePosixPath(Path(dirpath).relative_to(source).as_posix())
        cls = _class_of(rel, split)
        if cls is None:
            continue
        folders.add(cls)
        for name in sorted(filenames):
            if is_image_name(name):
                by_class.setdefault(cls, []).append((str(rel / name), Path(dirpath) / name))
    return by_class, folders


def load_folder(
    source: str | os.PathLike[str],
    split: str = "train",
    size: tuple[int, int] | None = None,
    progress: bool = True,
) -> ImageSet:
    """Decode every image of ``split`` in a folder tree or ``.tar.gz`` archive.

    Raises :class:`DataError` naming the offending file for a corrupt image, an empty class
    folder, a missing split, images of different sizes without ``size``, or a bad archive.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(source, "no such file or directory")
    is_tar = archive.is_tar(source)
    if not source.is_dir() and not (is_tar and source.is_file()):
        raise DataError(source, "not a directory or a .tar.gz archive of an image-folder tree")

    by_class, folders = _collect(source, split)
    for name in sorted(folders - set(by_class)):
        raise DataError(source, f"class folder {split}/{name} holds no images")
    if not by_class:
        raise DataError(source, f"no images under a {split}/<class>/ folder")
    classes = [check_class_name(source, c) for c in sorted(by_class)]
    files = [(k, rel, data) for k, c in enumerate(classes) for rel, data in sorted(by_class[c])]

    def name_of(rel: str, data: Payload) -> str:
        return f"{source}:{rel}" if is_tar else str(data)

    first = decode(files[0][2], name_of(files[0][1], files[0][2]), size)
    need = len(files) * first.size
    if need > MAX_DECODED_BYTES:
        raise DataError(
            source,
            f"{len(files):,} images of {first.shape[1]}x{first.shape[0]} would take "
            f"{need / 2**30:.1f} GiB decoded (at most {MAX_DECODED_BYTES / 2**30:.0f} GiB); "
            "give a smaller image size",
        )
    images = np.empty((len(files), *first.shape), dtype=np.uint8)
    labels = np.array([k for k, _, _ in files], dtype=np.int64)
    bar = tqdm(
        files,
        desc=printable(f"decoding {source.name} [{split}]"),
        unit="img",
        disable=not progress,
        mininterval=0.5,
    )
    for i, (_, rel, data) in enumerate(bar):
        img = first if i == 0 else decode(data, name_of(rel, data), size)
        if img.shape != first.shape:
            raise DataError(
                name_of(rel, data),
                f"image is {img.shape[1]}x{img.shape[0]} but the first one is "
                f"{first.shape[1]}x{first.shape[0]}; give an image size to resize them all",
            )
        images[i] = img
    return ImageSet(images, labels, classes, str(source), split)
