"""predict/detect over whole collections: one JSON line per image, streamed, resumable,
errors as lines, the same results on a Dask cluster as image by image (issue 15)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from vedere.batch import detect_chunk, expand_inputs, predict_chunk, run_batch
from vedere.classify import run
from vedere.detect import detector
from vedere.detect.library import resolve_cascade
from vedere.detect.samples import read_gray
from vedere.executor import DaskExecutor, InProcessExecutor
from vedere.fileio import OutputError


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> tuple[Path, list[str]]:
    """200 images in two nested folders, a corrupt one in the middle, a non-image file."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    head = np.zeros((96, 96, 3), dtype=np.uint8) + 120
    face = Image.fromarray(data.astronaut()[20:230, 130:330]).resize((80, 80))
    head[8:88, 8:88] = np.asarray(face)
    paths = []
    for i in range(200):
        sub = root / ("a" if i < 100 else "b")
        sub.mkdir(exist_ok=True)
        p = sub / f"{i:04d}.png"
        if i == 100:
            p.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        else:
            img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) if i % 10 else head
            Image.fromarray(img).save(p)
        paths.append(str(p))
    (root / "a" / "notes.txt").write_text("not an image")
    return root, paths


def lines(out: Path) -> list[dict]:
    return [json.loads(s) for s in out.read_text().splitlines()]


def test_inputs_expand_folders_globs_and_files(collection):
    root, paths = collection
    assert list(expand_inputs([str(root)])) == paths
    assert list(expand_inputs([str(root / "b" / "*.png")])) == paths[100:]
    assert list(expand_inputs([str(root / "**" / "000[0-4].png")])) == paths[:5]
    assert list(expand_inputs(["missing.png"])) == ["missing.png"]


@pytest.mark.slow  # a Dask cluster
def test_predict_over_200_images_on_two_workers_equals_image_by_image(
    collection, tmp_path, mlp_model
):
    root, paths = collection
    out = tmp_path / "preds.jsonl"
    with DaskExecutor(workers=2) as ex:
        stats = run_batch([str(root)], predict_chunk, (str(mlp_model), 3), out, ex, progress=False)
    assert (stats.written, stats.errors) == (200, 1)
    got = {r["image"]: r for r in lines(out)}
    assert sorted(got) == sorted(paths)
    bad = got[paths[100]]
    assert "error" in bad and "0100.png" in bad["error"] and "top" not in bad
    for p in paths[:5] + paths[195:]:
        (ref,) = run.predict(mlp_model, [p], 3)
        # the same classes; probabilities to float32 rounding (a batch of 32, not of 1)
        assert [t["class"] for t in got[p]["top"]] == [c for c, _ in ref["top"]]
        np.testing.assert_allclose(
            [t["probability"] for t in got[p]["top"]], [q for _, q in ref["top"]], rtol=1e-5
        )


def test_detect_over_200_images_equals_image_by_image_and_reruns_skip(collection, tmp_path):
    root, paths = collection
    out = tmp_path / "boxes.jsonl"
    opts = {"scale_factor": 1.1, "min_neighbors": 3}
    stats = run_batch(
        [str(root)], detect_chunk, ("frontalface", opts), out, InProcessExecutor(), progress=False
    )
    assert (stats.written, stats.errors) == (200, 1)
    got = {r["image"]: r for r in lines(out)}
    cascade = resolve_cascade("frontalface")
    for p in paths[:20]:
        ref = detector.detect(read_gray(p), cascade, **opts).to_list()
        assert got[p]["boxes"] == ref
    assert any(got[p]["boxes"] for p in paths[:100:10])  # the pasted heads are found
    # a killed writer leaves a cut line: it is dropped and that image done again
    text = out.read_text()
    out.write_text(text[: len(text) - 10])
    again = run_batch(
        [str(root)], detect_chunk, ("frontalface", opts), out, InProcessExecutor(), progress=False
    )
    assert (again.written, again.skipped) == (1, 199)
    assert sorted(r["image"] for r in lines(out)) == sorted(paths)


def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"out\.jsonl: not a regular file \(a FIFO"):
        run_batch([], detect_chunk, ("frontalface", {}), fifo, InProcessExecutor(), progress=False)


def test_predict_lists_a_folder_as_predict_out_does(tmp_path):
    """Issue 26: ``vedere predict DIR`` listed only the images directly in DIR while
    ``vedere predict DIR --out`` walked it recursively; both now name the same images."""
    from PIL import Image

    from vedere.batch import expand_inputs
    from vedere.classify.prediction import image_files

    rng = np.random.default_rng(0)
    for rel in ("b.png", "a/x.png", "a/deeper/y.png", "c/z.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / rel)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "loop").symlink_to(tmp_path)  # a folder link: not entered
    listed = image_files([str(tmp_path)])
    assert listed == list(expand_inputs([str(tmp_path)]))
    # each folder's own images, then its subfolders' in name order (os.walk's top-down)
    assert [os.path.relpath(p, tmp_path) for p in listed] == [
        "b.png",
        "a/x.png",
        "a/deeper/y.png",
        "c/z.png",
    ]
