"""CIFAR-10's official formats, checksums, the restricted unpickler and the downloader."""

import http.server
import os
import pickle
import threading

import numpy as np
import pytest

from tests.helpers import cifar_batches, to_images, write_cifar_binary, write_cifar_python
from vedere.data import cifar10
from vedere.data.download import download, md5sum
from vedere.data.errors import DataError


@pytest.fixture(scope="module")
def batches():
    return cifar_batches()


def _expected(batches, split):
    names = cifar10.SPLIT_FILES[split]
    data = np.concatenate([batches[n][0] for n in names])
    labels = np.concatenate([batches[n][1] for n in names])
    return to_images(data), labels


@pytest.mark.parametrize(
    "writer", [write_cifar_python, write_cifar_binary], ids=["python", "binary"]
)
@pytest.mark.parametrize("packed", [True, False], ids=["archive", "extracted"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_reads_every_official_layout(tmp_path, batches, writer, packed, split):
    path = writer(tmp_path, batches, packed)
    got = cifar10.load_cifar10(path, split, verify=False)
    images, labels = _expected(batches, split)
    np.testing.assert_array_equal(got.images, images)
    np.testing.assert_array_equal(got.labels, labels)
    assert got.classes == cifar10.CLASSES


def test_extracted_batches_folder_itself(tmp_path, batches):
    root = write_cifar_python(tmp_path, batches, packed=False)
    got = cifar10.load_cifar10(root / "cifar-10-batches-py", "test", verify=False)
    assert len(got) == 6


def test_checksum_mismatch_is_refused(tmp_path, batches):
    path = write_cifar_python(tmp_path, batches)
    with pytest.raises(
        DataError,
        match=r"cifar-10-python\.tar\.gz:cifar-10-batches-py/data_batch_1: MD5 mismatch "
        r"\(expected c99cafc1",
    ):
        cifar10.load_cifar10(path, "train")
    root = write_cifar_python(tmp_path / "x", batches, packed=False)
    with pytest.raises(DataError, match=r"data_batch_1: MD5 mismatch"):
        cifar10.load_cifar10(root, "train")


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_cannot_run_code(tmp_path, batches):
    marker = tmp_path / "pwned"
    tampered = dict(batches)
    path = write_cifar_python(tmp_path / "a", tampered)
    # replace data_batch_1 with a pickle whose loading would run a shell command
    import io
    import tarfile

    evil = pickle.dumps({b"data": Evil(marker), b"labels": [0]}, protocol=2)
    out = tmp_path / "b" / "cifar-10-python.tar.gz"
    out.parent.mkdir()
    with tarfile.open(path) as src, tarfile.open(out, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith("data_batch_1"):
                data = evil
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(
        DataError, match=r"tampered or not a CIFAR-10 batch \(refused to load posix\.system\)"
    ):
        cifar10.load_cifar10(out, "train", verify=False)
    assert not marker.exists()
    # the same payload through plain pickle would have run (proving the test's payload is live)
    pickle.loads(evil)
    assert marker.exists()


def test_wrong_structures_are_refused():
    bad = pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(DataError, match=r"uint8 \(N, 3072\)"):
        cifar10.read_batch_pickle(bad, "x")
    with pytest.raises(DataError, match=r"not a CIFAR-10 batch \(pickle data was truncated\)"):
        cifar10.read_batch_pickle(bad[:20], "x")
    with pytest.raises(DataError, match="whole number of 3073-byte records"):
        cifar10.read_batch_binary(b"\x00" * 3000, "y")


def test_truncated_archive(tmp_path, batches):
    path = write_cifar_python(tmp_path, batches)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt archive"):
        cifar10.load_cifar10(path, "train", verify=False)


def test_missing_batch(tmp_path, batches):
    root = write_cifar_binary(tmp_path, batches, packed=False)
    (root / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_3\.bin"):
        cifar10.load_cifar10(root, "train")


class _Server:
    def __init__(self, root, truncate=False):
        handler = type("H", (http.server.SimpleHTTPRequestHandler,), {})
        if truncate:

            def copyfile(self, src, dst):
                dst.write(src.read(100))

            handler.copyfile = copyfile
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_checks_md5_and_is_atomic(tmp_path, batches):
    served = write_cifar_python(tmp_path / "srv", batches)
    good = md5sum(served)
    dest_dir = tmp_path / "dl"
    with _Server(served.parent) as url:
        path = download(f"{url}/{served.name}", dest_dir / served.name, md5=good, progress=False)
        assert path.read_bytes() == served.read_bytes()
        with pytest.raises(DataError, match="MD5 mismatch after download"):
            download(
                f"{url}/{served.name}", dest_dir / "other.tar.gz", md5="0" * 32, progress=False
            )
        with pytest.raises(DataError, match="download failed"):
            download(f"{url}/missing.tar.gz", dest_dir / "missing.tar.gz", progress=False)
    with _Server(served.parent, truncate=True) as url:
        with pytest.raises(DataError, match="download incomplete"):
            download(f"{url}/{served.name}", dest_dir / "short.tar.gz", progress=False)
    assert sorted(p.name for p in dest_dir.iterdir()) == [served.name]  # nothing half-written
