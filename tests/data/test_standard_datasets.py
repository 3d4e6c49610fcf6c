"""MNIST / Fashion-MNIST (IDX), CIFAR-100 (python and binary) and SVHN (.mat), each built
here from generated arrays by its format's specification, read back through ``load_split``:
shapes, labels, classes, checksums; truncated, tampered and hostile files are one error."""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import scipy.io

from vedere.data import cifar100, idx, mnist, standard, svhn
from vedere.data.dataset import load_split
from vedere.data.errors import DataError


# -- writers, from the formats' specifications (not from vedere's readers) ----------------------
def idx_bytes(a: np.ndarray) -> bytes:
    """LeCun's IDX: 00 00 08 ndim, the sizes as big-endian uint32, the bytes row-major."""
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return head + np.ascontiguousarray(a, np.uint8).tobytes()


def mnist_arrays(n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, d in enumerate(labels):  # a bright bar whose row tells the digit: learnable
            images[i, 2 + 2 * d : 4 + 2 * d, 4:24] = 250
        out[split] = (images, labels.astype(np.uint8))
    return out


def write_mnist(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in arrays.items():
        for kind, a, d in (("images", images, 3), ("labels", labels, 1)):
            data = idx_bytes(a)
            name = f"{split}-{kind}-idx{d}-ubyte"
            if gz:
                data, name = gzip.compress(data, mtime=0), name + ".gz"
            (folder / name).write_bytes(data)
    return folder


def error_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


# -- MNIST ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_mnist_idx_files_read_as_greyscale_images(tmp_path, gz):
    arrays = mnist_arrays()
    folder = write_mnist(tmp_path / "mnist", arrays, gz)
    for split, key in (("train", "train"), ("test", "t10k")):
        data = load_split(folder, split, cache_dir="")
        images, labels = arrays[key]
        assert data.images.shape == (len(labels), 28, 28, 1)
        np.testing.assert_array_equal(data.images[..., 0], images)
        np.testing.assert_array_equal(data.labels, labels)
        assert data.classes == [str(d) for d in range(10)]


def test_any_file_names_work_the_content_decides(tmp_path):
    arrays = mnist_arrays()
    folder = tmp_path / "fashion"
    folder.mkdir()
    (folder / "train-imgs.bin").write_bytes(idx_bytes(arrays["train"][0]))
    (folder / "train-lbls.bin").write_bytes(idx_bytes(arrays["train"][1]))
    (folder / "test-a").write_bytes(idx_bytes(arrays["t10k"][1]))  # labels: 1 dimension
    (folder / "test-b").write_bytes(idx_bytes(arrays["t10k"][0]))
    (folder / "README").write_text("not idx")
    data = load_split(folder, "test", cache_dir="")
    np.testing.assert_array_equal(data.labels, arrays["t10k"][1])
    assert data.classes == mnist.FASHION  # "fashion" in the folder's name, no published sum


def test_a_file_of_a_published_size_must_have_its_md5(tmp_path, monkeypatch):
    folder = write_mnist(tmp_path / "m", mnist_arrays())
    f = folder / "train-labels-idx1-ubyte.gz"
    data = f.read_bytes()
    right = hashlib.md5(data).hexdigest()
    published = {"mnist": {**mnist.PUBLISHED["mnist"], f.name: (len(data), right)}}
    monkeypatch.setattr(mnist, "PUBLISHED", {**mnist.PUBLISHED, **published})
    assert mnist.load_mnist(folder, "train").meta["format"] == "mnist-idx"
    # the same size, other bytes (a flipped label): refused, unless --no-checksum
    raw = bytearray(gzip.decompress(data))
    raw[-1] ^= 1
    tampered = gzip.compress(bytes(raw), mtime=0)
    tampered = tampered[: len(data)] + b"\0" * (len(data) - len(tampered))
    assert len(tampered) == len(data)
    f.write_bytes(tampered)
    with pytest.raises(DataError, match="MD5 mismatch") as e:
        mnist.load_mnist(folder, "train")
    assert f.name in error_line(e)


def test_fashion_mnist_is_told_apart_by_its_published_md5(tmp_path, monkeypatch):
    folder = write_mnist(tmp_path / "digits", mnist_arrays())
    table = {}
    for name in mnist.PUBLISHED["fashion-mnist"]:
        data = (folder / name).read_bytes()
        table[name] = (len(data), hashlib.md5(data).hexdigest())
    monkeypatch.setattr(mnist, "PUBLISHED", {"mnist": {}, "fashion-mnist": table})
    assert mnist.load_mnist(folder, "train").classes == mnist.FASHION


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:-7], "truncated"),
        (lambda b: b + b"\0", "trailing"),
        (lambda b: b[:4] + struct.pack(">I", 10**9) + b[8:], "items"),
        (lambda b: b[:4] + struct.pack(">I", 41) + b[8:], "truncated"),
        (lambda b: b[:8] + struct.pack(">I", 100000) + b[12:], "sides"),
        (lambda b: b"\0\0\x0d\x03" + b[4:], "element type"),
    ],
    ids=["cut", "trailing", "huge-count", "count-too-big", "huge-side", "float-type"],
)
def test_damaged_idx_files_are_one_error_naming_the_file(tmp_path, damage, message):
    folder = write_mnist(tmp_path / "m", mnist_arrays(), gz=False)
    f = folder / "train-images-idx3-ubyte"
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(DataError, match=message) as e:
        mnist.load_mnist(folder, "train")
    assert str(f) in error_line(e)


def test_a_cut_gzip_stream_and_a_gzip_bomb_are_refused_before_inflating(tmp_path):
    folder = write_mnist(tmp_path / "m", mnist_arrays())
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"truncated|gzip"):
        mnist.load_mnist(folder, "train")
    # a header declaring 10 images followed by 64 MiB of zeros: inflation stops at the header's
    # size plus one byte, so this costs kilobytes, not a gigabyte
    head = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28)
    z = gzip.compress(head + b"\0" * (10 * 784) + b"\0" * (1 << 26), mtime=0)
    f.write_bytes(z)
    with pytest.raises(DataError, match="longer than its header"):
        mnist.load_mnist(folder, "train")


def test_images_and_labels_must_pair(tmp_path):
    arrays = mnist_arrays()
    arrays["train"] = (arrays["train"][0], arrays["train"][1][:-1])
    folder = write_mnist(tmp_path / "m", arrays)
    with pytest.raises(DataError, match="39 labels"):
        load_split(folder, "train", cache_dir="")


def test_idx_reader_refuses_fifos(tmp_path):
    folder = write_mnist(tmp_path / "m", mnist_arrays())
    os.mkfifo(folder / "x")
    with pytest.raises(DataError, match="regular"):
        idx.read_bytes(folder / "x")


# -- CIFAR-100 ----------------------------------------------------------------------------------
def cifar100_arrays(n=30, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split in ("train", "test"):
        fine = rng.integers(0, 100, n)
        out[split] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8), fine, fine // 5)
    return out


FINE = [f"fine{i}" for i in range(100)]
COARSE = [f"coarse{i}" for i in range(20)]


def write_cifar100(root, arrays, kind="python", packed=True):
    files = {}
    for split, (x, fine, coarse) in arrays.items():
        if kind == "python":
            files[split] = pickle.dumps(
                {
                    b"filenames": [f"{i}.png".encode() for i in range(len(x))],
                    b"batch_label": f"{split} batch".encode(),
                    b"fine_labels": [int(v) for v in fine],
                    b"coarse_labels": [int(v) for v in coarse],
                    b"data": x,
                },
                protocol=2,
            )
        else:
            rec = np.concatenate([coarse[:, None], fine[:, None], x], axis=1).astype(np.uint8)
            files[f"{split}.bin"] = rec.tobytes()
    if kind == "python":
        files["meta"] = pickle.dumps(
            {
                b"fine_label_names": [s.encode() for s in FINE],
                b"coarse_label_names": [s.encode() for s in COARSE],
            },
            protocol=2,
        )
    else:
        files["fine_label_names.txt"] = ("\n".join(FINE) + "\n").encode()
        files["coarse_label_names.txt"] = ("\n".join(COARSE) + "\n").encode()
    folder = f"cifar-100-{kind}"
    if not packed:
        (root / folder).mkdir(parents=True)
        for name, data in files.items():
            (root / folder / name).write_bytes(data)
        return root / folder
    path = root / f"cifar-100-{kind}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["python", "binary"])
@pytest.mark.parametrize("packed", [True, False], ids=["archive", "folder"])
@pytest.mark.parametrize("labels", ["fine", "coarse"])
def test_cifar100_both_versions_both_label_sets(tmp_path, kind, packed, labels):
    arrays = cifar100_arrays()
    src = write_cifar100(tmp_path, arrays, kind, packed)
    assert standard.detect(src) == "cifar100"
    data = load_split(src, "test", verify=False, labels=labels, cache_dir="")
    x, fine, coarse = arrays["test"]
    assert data.images.shape == (30, 32, 32, 3)
    # channel-major rows: the R plane first
    np.testing.assert_array_equal(data.images[:, :, :, 0].reshape(30, -1), x[:, :1024])
    np.testing.assert_array_equal(data.labels, fine if labels == "fine" else coarse)
    assert data.classes == (FINE if labels == "fine" else COARSE)


def test_cifar100_python_files_are_checked_against_the_published_md5(tmp_path):
    src = write_cifar100(tmp_path, cifar100_arrays(), "python", packed=False)
    with pytest.raises(DataError, match="MD5 mismatch") as e:
        load_split(src, "train", cache_dir="")
    assert "--no-checksum" in error_line(e)


def test_a_tampered_cifar100_pickle_never_runs_code(tmp_path):
    src = write_cifar100(tmp_path, cifar100_arrays(), "python", packed=False)

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (src / "train").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="refused"):
        cifar100.load_cifar100(src, "train", verify=False)
    assert not (tmp_path / "pwned").exists()


def test_cifar100_declared_sizes_and_file_sizes_are_capped(tmp_path, monkeypatch):
    with pytest.raises(pickle.UnpicklingError, match="declared shape"):
        cifar100._reconstruct(np.ndarray, (10**8, 3072), b"b")
    with pytest.raises(pickle.UnpicklingError, match="characters"):
        cifar100._latin1("x" * (cifar100.MAX_ELEMENTS + 1))
    with pytest.raises(pickle.UnpicklingError, match="encode"):
        cifar100._latin1("00", "hex")  # a codec that could expand a small file
    src = write_cifar100(tmp_path, cifar100_arrays(), "python", packed=False)
    monkeypatch.setattr(cifar100, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DataError, match="read up to"):
        cifar100.load_cifar100(src, "train", verify=False)


def test_cifar100_binary_truncated_is_one_error(tmp_path):
    src = write_cifar100(tmp_path, cifar100_arrays(), "binary", packed=False)
    f = src / "train.bin"
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(DataError, match="records") as e:
        load_split(src, "train", verify=False, cache_dir="")
    assert "train.bin" in error_line(e)


def test_labels_coarse_on_another_dataset_is_refused(tmp_path):
    folder = write_mnist(tmp_path / "m", mnist_arrays())
    with pytest.raises(ValueError, match="CIFAR-100 only"):
        load_split(folder, "train", labels="coarse", cache_dir="")


# -- SVHN -------------------------------------------------------------------------------------
def svhn_arrays(n=25, seed=0):
    rng = np.random.default_rng(seed)
    return {
        s: (
            rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
            rng.integers(1, 11, (n, 1)).astype(np.uint8),
        )
        for s in ("train", "test")
    }


def write_svhn(folder, arrays, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in arrays.items():
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y}, **kw)
    return folder


def test_svhn_mat_files_read_with_label_10_as_0(tmp_path):
    arrays = svhn_arrays()
    folder = write_svhn(tmp_path / "svhn", arrays)
    assert standard.detect(folder) == "svhn"
    data = load_split(folder, "train", cache_dir="")
    x, y = arrays["train"]
    assert data.images.shape == (25, 32, 32, 3)
    np.testing.assert_array_equal(data.images, x.transpose(3, 0, 1, 2))
    np.testing.assert_array_equal(data.labels, np.where(y[:, 0] == 10, 0, y[:, 0]))
    assert data.classes == [str(d) for d in range(10)]


def test_svhn_labels_stored_as_doubles_read_too(tmp_path):
    x, y = svhn_arrays()["test"]
    folder = write_svhn(tmp_path / "s", {"test": (x, y.astype(np.float64))})
    np.testing.assert_array_equal(load_split(folder, "test", cache_dir="").labels, y[:, 0] % 10)


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((2, 1)), "z": 1}, "exactly X"),
        ({"X": np.zeros((32, 32, 3, 2), np.float64), "y": np.ones((2, 1))}, "uint8"),
        ({"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))}, "32, 32, 3"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))}, "labels"),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.full((2, 1), 11)}, "1-10"),
    ],
    ids=["extra-variable", "float-images", "wrong-size", "label-count", "label-range"],
)
def test_unexpected_mat_contents_are_one_error(tmp_path, variables, message):
    (tmp_path / "s").mkdir()
    f = tmp_path / "s" / "train_32x32.mat"
    scipy.io.savemat(f, variables)
    with pytest.raises(DataError, match=message) as e:
        svhn.load_svhn(tmp_path / "s", "train")
    assert str(f) in error_line(e)


def test_compressed_truncated_and_oversized_mat_files_are_refused(tmp_path, monkeypatch):
    arrays = {"train": svhn_arrays()["train"]}
    folder = write_svhn(tmp_path / "c", arrays, do_compression=True)
    with pytest.raises(DataError, match="compressed"):
        svhn.load_svhn(folder, "train")
    folder = write_svhn(tmp_path / "t", arrays)
    f = folder / "train_32x32.mat"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        svhn.load_svhn(folder, "train")
    monkeypatch.setattr(svhn, "MAX_FILE_BYTES", 1000)
    folder = write_svhn(tmp_path / "o", arrays)
    with pytest.raises(DataError, match="read up to"):
        svhn.load_svhn(folder, "train")


def test_a_mat_file_of_the_published_size_must_have_its_md5(tmp_path, monkeypatch):
    folder = write_svhn(tmp_path / "s", {"train": svhn_arrays()["train"]})
    f = folder / "train_32x32.mat"
    monkeypatch.setattr(svhn, "PUBLISHED", {"train_32x32.mat": (f.stat().st_size, "0" * 32)})
    with pytest.raises(DataError, match="MD5 mismatch"):
        svhn.load_svhn(folder, "train")
    assert len(svhn.load_svhn(folder, "train", verify=False)) == 25


# -- downloads, from local files only -----------------------------------------------------------
def test_download_of_a_named_dataset_is_atomic_and_checked(tmp_path, monkeypatch):
    src = write_mnist(tmp_path / "published", mnist_arrays())
    table = {
        name: ((src / name).stat().st_size, hashlib.md5((src / name).read_bytes()).hexdigest())
        for name in mnist.PUBLISHED["mnist"]
    }
    monkeypatch.setattr(mnist, "PUBLISHED", {**mnist.PUBLISHED, "mnist": table})
    monkeypatch.setattr(mnist, "URLS", {"mnist": src.as_uri() + "/"})
    root = tmp_path / "cache"
    path = standard.fetch("mnist", root, progress=False)
    assert standard.is_fetched("mnist", root)
    assert len(load_split(path, "train", cache_dir="")) == 40
    assert sorted(p.name for p in path.iterdir()) == sorted(table)  # no .part files left
    # a file whose bytes do not have the published MD5 is never kept
    bad = {**table, "t10k-labels-idx1-ubyte.gz": (1, "0" * 32)}
    monkeypatch.setattr(mnist, "PUBLISHED", {**mnist.PUBLISHED, "mnist": bad})
    (path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="MD5 mismatch after download"):
        standard.fetch("mnist", root, progress=False)
    assert not (path / "t10k-labels-idx1-ubyte.gz").exists()
    assert not [p for p in path.iterdir() if p.name.startswith(".")]


def test_fetch_svhn_and_cifar100_from_local_urls(tmp_path, monkeypatch):
    src = write_svhn(tmp_path / "published", svhn_arrays())
    table = {n: (0, hashlib.md5((src / n).read_bytes()).hexdigest()) for n in svhn.PUBLISHED}
    monkeypatch.setattr(svhn, "PUBLISHED", table)
    monkeypatch.setattr(svhn, "URL", src.as_uri() + "/")
    path = standard.fetch("svhn", tmp_path / "cache", progress=False)
    assert len(load_split(path, "test", cache_dir="")) == 25
    archive = write_cifar100(tmp_path, cifar100_arrays(), "python")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cifar100, "URLS", {"python": archive.as_uri()})
    monkeypatch.setattr(cifar100, "ARCHIVE_MD5", {"cifar-100-python.tar.gz": md5})
    got = standard.fetch("cifar100", tmp_path / "cache", progress=False)
    assert got == standard.fetched_path("cifar100", tmp_path / "cache") and got.is_file()
