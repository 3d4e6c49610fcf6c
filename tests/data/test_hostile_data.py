"""Training data that may be hostile: devices, FIFOs, huge sizes, expanding pickles, renamed
archives, control characters in class names (issue 12)."""

import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import cifar_batches, write_cifar_binary, write_cifar_python, write_folder
from vedere.data import cifar10
from vedere.data.errors import DataError
from vedere.data.folder import load_folder
from vedere.data.images import MAX_IMAGE_SIDE, check_image_size, decode
from vedere.data.transforms import Normalizer

REPO = Path(__file__).resolve().parents[2]


def run_limited(
    code: str, timeout: float = 60, memory: int = 1 << 30
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with at most ``memory`` bytes of address space;
    a hang is a failure (TimeoutExpired), not a stuck suite."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def _tree_with(tmp_path: Path, make_bad) -> Path:
    write_folder(tmp_path, {"train": {"cat": 2, "dog": 2}})
    make_bad(tmp_path / "train" / "cat")
    return tmp_path


@pytest.mark.parametrize(
    "kind",
    ["dev-zero-link", "fifo"],
)
def test_devices_and_fifos_in_a_tree_are_refused_in_bounded_time_and_memory(tmp_path, kind):
    def make_bad(folder: Path) -> None:
        if kind == "fifo":
            os.mkfifo(folder / "f.jpg")
        else:
            (folder / "z.jpg").symlink_to("/dev/zero")

    root = _tree_with(tmp_path, make_bad)
    bad = "f.jpg" if kind == "fifo" else "z.jpg"
    for use_cache in (False, True):
        cache = repr(str(tmp_path / "cache")) if use_cache else '""'
        r = run_limited(
            f"""
            from vedere.data.dataset import load_split
            from vedere.data.errors import DataError
            try:
                load_split({str(root)!r}, "train", cache_dir={cache}, progress=False)
            except DataError as e:
                print("DataError:", e)
            """,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert "DataError:" in r.stdout and bad in r.stdout and "regular file" in r.stdout


def test_image_size_is_validated_before_anything_is_allocated(tmp_path):
    assert check_image_size(32) == 32
    for bad in (0, -3, 100_000, MAX_IMAGE_SIDE + 1, 2.5, "32", True):
        with pytest.raises(ValueError, match="--image-size"):
            check_image_size(bad)
    write_folder(tmp_path, {"train": {"cat": 1, "dog": 1}})
    r = run_limited(
        f"""
        from vedere.data.folder import load_folder
        try:
            load_folder({str(tmp_path)!r}, "train", size=(100000, 100000), progress=False)
        except ValueError as e:
            print("ValueError:", e)
        """,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ValueError:" in r.stdout and "size" in r.stdout


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width × height (its data is one empty row: corrupt)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [8000, 65500])
def test_pixel_count_is_checked_from_the_header_before_decoding(tmp_path, side):
    f = tmp_path / "bomb.png"
    f.write_bytes(_png_header_only(side, side))
    with pytest.raises(DataError, match=r"bomb\.png: .*(pixels|refused)"):
        decode(f)


def test_oversized_files_are_refused_before_they_are_read(tmp_path):
    f = tmp_path / "huge.png"
    with open(f, "wb") as fh:
        fh.truncate(65 * 2**20)  # sparse: costs no disk
    with pytest.raises(DataError, match=r"huge\.png: file of 68,157,440 bytes"):
        decode(f)


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        decode(tmp_path)


# -- CIFAR-10 python batches ------------------------------------------------------------------
class _Call:
    """Pickles as ``func(*args)`` (by reference to ``func``), as a tampered batch would."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_batch(data) -> bytes:
    return pickle.dumps({b"data": data, b"labels": []}, protocol=2)


def test_restricted_unpickler_refuses_expanding_codecs():
    import _codecs

    # each hex level doubles the bytes: 30 levels turn one byte into a gigabyte
    data: object = b"a"
    for _ in range(30):
        data = _Call(_codecs.encode, data, "hex")
    raw = _evil_batch(data)
    assert len(raw) < 2000
    r = run_limited(
        f"""
        from vedere.data import cifar10
        from vedere.data.errors import DataError
        try:
            cifar10.read_batch_pickle({raw!r}, "evil_batch")
        except DataError as e:
            print("DataError:", e)
        """,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DataError: evil_batch:" in r.stdout and "refused: _codecs.encode" in r.stdout


def test_restricted_unpickler_refuses_huge_declared_arrays():
    from numpy._core.multiarray import _reconstruct

    # _reconstruct(ndarray, (10**10,), b'b') would allocate 10 GB before BUILD fills it
    raw = _evil_batch(_Call(_reconstruct, np.ndarray, (10**10,), b"b"))
    r = run_limited(
        f"""
        from vedere.data import cifar10
        from vedere.data.errors import DataError
        try:
            cifar10.read_batch_pickle({raw!r}, "evil_batch")
        except DataError as e:
            print("DataError:", e)
        """,
        memory=2 << 30,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DataError: evil_batch:" in r.stdout and "refused: array of declared shape" in r.stdout


def test_restricted_unpickler_refuses_object_dtypes():
    raw = _evil_batch(_Call(np.dtype, "O", False, True))
    with pytest.raises(DataError, match="refused: dtype"):
        cifar10.read_batch_pickle(raw, "evil_batch")


def test_restricted_unpickler_still_reads_real_batches():
    data = np.arange(4 * 3072, dtype=np.uint8).reshape(4, 3072)
    raw = pickle.dumps({b"data": data, b"labels": [0, 1, 2, 9], b"batch_label": b"x"}, 2)
    images, labels = cifar10.read_batch_pickle(raw, "ok")
    np.testing.assert_array_equal(images, data.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(labels, [0, 1, 2, 9])


@pytest.mark.parametrize("writer", [write_cifar_python, write_cifar_binary])
def test_integrity_is_checked_by_content_not_by_name(tmp_path, writer):
    # generated batches are not the official ones: with checksums on, they must be refused
    # whatever the archive is called
    path = writer(tmp_path, cifar_batches())
    mirror = path.with_name(path.name.replace(".tar.gz", "-mirror.tar.gz"))
    path.rename(mirror)
    with pytest.raises(DataError, match="MD5 mismatch") as e:
        cifar10.load_cifar10(mirror, "train")
    assert str(mirror) in str(e.value)
    if writer is write_cifar_python:  # names the tampered member
        assert "data_batch_1" in str(e.value)
    cifar10.load_cifar10(mirror, "train", verify=False)  # readable on request


def test_batch_members_larger_than_a_batch_are_refused(tmp_path):
    import tarfile

    big = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(big, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = cifar10.MAX_BATCH_BYTES + 1
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with pytest.raises(DataError, match="refused"):
        cifar10.load_cifar10(big, "train", verify=False)


# -- transforms, class names -----------------------------------------------------------------
def test_normalizer_refit_uses_the_new_data():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, (5, 4, 4, 3), dtype=np.uint8)
    b = rng.integers(150, 256, (5, 4, 4, 3), dtype=np.uint8)
    norm = Normalizer().fit(a)
    norm(a[:1])  # fills the tiled cache
    norm.fit(b)
    out = norm(b).reshape(-1, 3)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-3)
    flat = b.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(norm.mean, flat.mean(axis=0), rtol=1e-5)


def test_class_names_with_control_characters_are_refused(tmp_path):
    write_folder(tmp_path, {"train": {"cat": 1, "dog": 1}})
    os.rename(tmp_path / "train" / "dog", tmp_path / "train" / "dog\nhorse 0.99")
    with pytest.raises(DataError, match=r"control characters"):
        load_folder(tmp_path, "train", progress=False)
    Image.new("RGB", (2, 2)).save(tmp_path / "x.png")  # an ordinary name still reads
