"""Small datasets that tests write for themselves (nothing is downloaded)."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEDERE_SHARED", REPO.parent / "shared"))
CIFAR_TRAIN = SHARED / "datasets" / "cifar10-train.tar.gz"
FACES24 = SHARED / "datasets" / "faces24-train.tar.gz"
#: 400 faces and 200 non-faces from faces24, shipped (bench/make_faces_small.py)
SMALL_FACES = Path(__file__).resolve().parent / "data" / "faces-small-{}.png"


def shared_file(path: Path) -> Path:
    """``path`` (a file of the shared datasets) if it exists. Otherwise the test is skipped
    with a reason naming the file — or fails, when VEDERE_REQUIRE_SHARED=1 (CI sets it, so
    that a missing dataset cannot silently skip tests there)."""
    if path.exists():
        return path
    reason = f"{path} is missing (the shared datasets; set VEDERE_SHARED to their folder)"
    if os.environ.get("VEDERE_REQUIRE_SHARED") == "1":
        pytest.fail(f"{reason} and VEDERE_REQUIRE_SHARED=1", pytrace=False)
    pytest.skip(reason)


def small_faces() -> tuple[np.ndarray, np.ndarray]:
    """The shipped face and non-face windows: (400, 24, 24) and (200, 24, 24) uint8."""
    out = []
    for kind in ("face", "nonface"):
        with Image.open(str(SMALL_FACES).format(kind)) as im:
            m = np.asarray(im.convert("L"))
        rows, cols = m.shape[0] // 24, m.shape[1] // 24
        out.append(m.reshape(rows, 24, cols, 24).transpose(0, 2, 1, 3).reshape(-1, 24, 24))
    return out[0], out[1]


def cifar_batches(n_per_batch: int = 6, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Fake CIFAR-10 batches: name -> (data (N, 3072) uint8 channel-major, labels)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        out[name] = (data, labels)
    return out


def write_cifar_python(root: Path, batches: dict, packed: bool = True) -> Path:
    """The python version: pickled dicts with bytes keys, protocol 2, as the official files."""
    files = {}
    for name, (data, labels) in batches.items():
        d = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{i}.png".encode() for i in range(len(labels))],
        }
        files[name] = pickle.dumps(d, protocol=2)
    files["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
    return _write(root, "cifar-10-batches-py", "cifar-10-python.tar.gz", files, packed)


def write_cifar_binary(root: Path, batches: dict, packed: bool = True) -> Path:
    """The binary version: records of one label byte and 3072 pixel bytes."""
    files = {}
    for name, (data, labels) in batches.items():
        rec = np.concatenate([np.asarray(labels, np.uint8)[:, None], data], axis=1)
        files[name + ".bin"] = rec.tobytes()
    files["batches.meta.txt"] = b"airplane\n"
    return _write(root, "cifar-10-batches-bin", "cifar-10-binary.tar.gz", files, packed)


def _write(root: Path, folder: str, archive: str, files: dict[str, bytes], packed: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if packed:
        path = root / archive
        with tarfile.open(path, "w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path
    (root / folder).mkdir(exist_ok=True)
    for name, data in files.items():
        (root / folder / name).write_bytes(data)
    return root


def to_images(data: np.ndarray) -> np.ndarray:
    """Channel-major CIFAR rows → (N, 32, 32, 3) with an independent formula."""
    n = data.shape[0]
    out = np.empty((n, 32, 32, 3), np.uint8)
    for c in range(3):
        out[..., c] = data[:, c * 1024 : (c + 1) * 1024].reshape(n, 32, 32)
    return out


def png_bytes(img: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


def write_folder(
    root: Path, spec: dict[str, dict[str, int]], size: int = 8, seed: int = 0, fmt: str = "PNG"
) -> dict[str, dict[str, list[np.ndarray]]]:
    """``root/<split>/<class>/NNN.png`` with random RGB images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    written: dict[str, dict[str, list[np.ndarray]]] = {}
    for split, classes in spec.items():
        for cls, n in classes.items():
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                (d / f"{i:03d}.{fmt.lower()}").write_bytes(png_bytes(img, fmt=fmt))
                written.setdefault(split, {}).setdefault(cls, []).append(img)
    return written


def tar_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    """A .tar.gz of a directory tree (directories included, as tar does)."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=prefix or src.name)
    return dest


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (tensor entries and ``__metadata__``)."""
    raw = path.read_bytes()
    return json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])


def write_model_file(path: Path, tensors: dict[str, np.ndarray], arch: dict) -> Path:
    """A model file of ``tensors`` for the architecture ``arch``, written as-is (a forgery:
    nothing checks that they fit together)."""
    from vedere.nn import tensor_file

    path.write_bytes(tensor_file.pack(tensors, {"architecture": arch, "extra": {}}))
    return path
