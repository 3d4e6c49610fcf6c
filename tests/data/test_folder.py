"""Image-folder trees and their .tar.gz archives: decoding, errors, safe reading."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from tests.helpers import png_bytes, tar_dir, write_folder
from vedere.data import archive
from vedere.data.errors import DataError
from vedere.data.folder import load_folder
from vedere.data.images import decode


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "pets"
    written = write_folder(root, {"train": {"dog": 3, "cat": 2}, "test": {"cat": 1, "dog": 1}})
    return root, written


def test_directory_tree(tree):
    root, written = tree
    s = load_folder(root, "train", progress=False)
    assert s.classes == ["cat", "dog"]  # sorted folder names
    assert s.images.shape == (5, 8, 8, 3) and s.images.dtype == np.uint8
    np.testing.assert_array_equal(s.labels, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(s.images[0], written["train"]["cat"][0])
    np.testing.assert_array_equal(s.images[4], written["train"]["dog"][2])
    t = load_folder(root, "test", progress=False)
    assert len(t) == 2


def test_archive_equals_directory(tree, tmp_path):
    root, _ = tree
    arc = tar_dir(root, tmp_path / "pets.tar.gz", prefix="data/pets")
    a = load_folder(root, "train", progress=False)
    b = load_folder(arc, "train", progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_any_mode_and_size_with_resize(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "t" / "train" / "x"
    d.mkdir(parents=True)
    (d / "rgba.png").write_bytes(png_bytes(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)))
    (d / "grey.jpg").write_bytes(
        png_bytes(rng.integers(0, 256, (9, 9), dtype=np.uint8), fmt="JPEG")
    )
    (d / "deep.png").write_bytes(png_bytes((rng.random((12, 7)) * 65535).astype(np.uint16)))
    pal = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, format="GIF")
    (d / "pal.gif").write_bytes(buf.getvalue())
    s = load_folder(tmp_path / "t", "train", size=(16, 16), progress=False)
    assert s.images.shape == (4, 16, 16, 3)
    with pytest.raises(DataError, match="give an image size to resize them all"):
        load_folder(tmp_path / "t", "train", progress=False)


def test_sixteen_bit_is_scaled_not_clipped():
    a = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    img = decode(png_bytes(a))
    np.testing.assert_array_equal(img[..., 0], [[0, 255], [128, 4]])
    rgba = np.zeros((1, 1, 4), np.uint8)  # fully transparent black → white background
    assert decode(png_bytes(rgba)).tolist() == [[[255, 255, 255]]]


def test_corrupt_jpeg_is_named(tree):
    root, _ = tree
    bad = root / "train" / "dog" / "broken.jpg"
    good = png_bytes(np.zeros((8, 8, 3), np.uint8), fmt="JPEG")
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"broken\.jpg: corrupt or truncated image"):
        load_folder(root, "train", progress=False)
    bad.write_bytes(b"this is not a picture")
    with pytest.raises(DataError, match=r"broken\.jpg: not an image"):
        load_folder(root, "train", progress=False)


def test_empty_class_folder(tree, tmp_path):
    root, _ = tree
    (root / "train" / "bird").mkdir()
    with pytest.raises(DataError, match=r"class folder train/bird holds no images"):
        load_folder(root, "train", progress=False)
    arc = tar_dir(root, tmp_path / "t.tar.gz")
    with pytest.raises(DataError, match=r"class folder train/bird holds no images"):
        load_folder(arc, "train", progress=False)


def test_missing_split_and_source(tree, tmp_path):
    root, _ = tree
    with pytest.raises(DataError, match=r"no images under a val/<class>/ folder"):
        load_folder(root, "val", progress=False)
    with pytest.raises(DataError, match="no such file or directory"):
        load_folder(tmp_path / "nope", "train", progress=False)


def _tar_with(tmp_path, members):
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.mark.parametrize("name", ["../escape.png", "/etc/escape.png", "a/../../escape.png"])
def test_path_traversal_is_refused(tmp_path, name):
    data = png_bytes(np.zeros((2, 2, 3), np.uint8))
    info = tarfile.TarInfo(name)
    info.size = len(data)
    path = _tar_with(tmp_path, [(info, data)])
    with pytest.raises(DataError, match="points outside the archive"):
        list(archive.iter_files(path))
    assert not (tmp_path.parent / "escape.png").exists()


def test_links_are_refused(tmp_path):
    link = tarfile.TarInfo("x/train/a/link.png")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    path = _tar_with(tmp_path, [(link, None)])
    with pytest.raises(DataError, match="is a link"):
        load_folder(path, "train", progress=False)


def test_decompression_bomb_is_bounded(tmp_path):
    zeros = b"\0" * 200_000  # compresses to almost nothing
    info = tarfile.TarInfo("x/train/a/big.png")
    info.size = len(zeros)
    path = _tar_with(tmp_path, [(info, zeros)])
    assert path.stat().st_size < 5000
    with pytest.raises(DataError, match="decompression bomb"):
        list(archive.iter_files(path, max_total=100_000))
    with pytest.raises(DataError, match="limit 1000"):
        list(archive.iter_files(path, max_member=1000))


def test_shared_cifar_archive_layout():
    from tests.helpers import CIFAR_TRAIN, shared_file

    shared_file(CIFAR_TRAIN)
    names = []
    for rel, _ in archive.iter_files(CIFAR_TRAIN):
        names.append(rel)
        if len(names) == 3:
            break
    assert all(p.parts[-3] == "train" for p in names)
