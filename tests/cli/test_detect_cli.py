"""``vedere detect`` and ``vedere train-detector``."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.detect.photos import astronaut
from tests.helpers import FACES24 as FACES
from vedere.cli.main import cli
from vedere.detect.samples import load_windows

STOCK = "opencv:frontalface_default"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """The astronaut saved in several modes and bit depths."""
    from skimage import data

    d = tmp_path_factory.mktemp("photos")
    rgb = data.astronaut()
    Image.fromarray(rgb).save(d / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(astronaut()).save(d / "grey.png")
    Image.fromarray(astronaut().astype(np.uint16) * 257).save(d / "grey16.png")
    Image.fromarray(rgb).save(d / "photo.jpg", quality=95)
    Image.fromarray(astronaut()[:20, :30]).save(d / "tiny.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return d


def test_detect_json_equals_opencv_for_every_image_mode(photo_files):
    cv = cv2.CascadeClassifier(
        str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    )
    expect = sorted(map(tuple, np.asarray(cv.detectMultiScale(astronaut(), 1.1, 3)).tolist()))
    names = ["rgb.png", "rgba.png", "grey.png", "grey16.png"]
    r = run("detect", *[photo_files / n for n in names], "--cascade", STOCK, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [Path(o["image"]).name for o in out] == names
    for o in out:
        boxes = sorted((b["x"], b["y"], b["w"], b["h"]) for b in o["boxes"])
        assert boxes == expect, o["image"]
        assert (o["width"], o["height"]) == (512, 512)


def test_detect_text_output_and_annotated_png(photo_files, tmp_path):
    out = tmp_path / "annotated.png"
    r = run("detect", photo_files / "photo.jpg", "--cascade", STOCK, "--out", out)
    assert r.exit_code == 0, r.output
    assert "photo.jpg: 1 box (512x512)" in r.output
    assert "neighbors=" in r.output
    with Image.open(out) as im:
        assert im.size == (512, 512) and im.mode == "RGB"
    several = tmp_path / "several"
    r = run(
        "detect",
        photo_files / "rgb.png",
        photo_files / "grey.png",
        "--cascade",
        STOCK,
        "--out",
        several,
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in several.iterdir()) == ["grey.png", "rgb.png"]


def test_small_image_gives_no_boxes_and_bad_input_is_an_error(photo_files, tmp_path):
    r = run("detect", photo_files / "tiny.png", "--cascade", STOCK)
    assert r.exit_code == 0 and "0 boxes" in r.output
    r = run("detect", photo_files / "broken.png", "--cascade", STOCK)
    assert r.exit_code == 1 and "broken.png" in r.output
    r = run("detect", photo_files / "rgb.png", "--cascade", tmp_path / "nope.xml")
    assert r.exit_code == 1 and "nope.xml" in r.output
    r = run("detect", photo_files / "rgb.png", "--cascade", "opencv:no_such_thing")
    assert r.exit_code == 1 and "no_such_thing" in r.output
    r = run("detect", photo_files / "rgb.png", "--scale-factor", "1.0", "--cascade", STOCK)
    assert r.exit_code == 2


def test_nms_grouping_and_mirror_options(photo_files):
    r = run(
        "detect",
        photo_files / "grey.png",
        "--cascade",
        STOCK,
        "--grouping",
        "nms",
        "--mirror",
        "--min-size",
        "100",
        "--json",
    )
    assert r.exit_code == 0, r.output
    boxes = json.loads(r.output)[0]["boxes"]
    assert len(boxes) >= 1 and all(b["w"] >= 100 for b in boxes)


def test_train_detector_writes_a_cascade_opencv_can_run(tmp_path):
    faces = load_windows(FACES, "face")[:300]
    nonfaces = load_windows(FACES, "nonface")[:600]
    for name, arr in (("faces", faces), ("nonfaces", nonfaces)):
        (tmp_path / name).mkdir()
        for i, w in enumerate(arr):
            Image.fromarray(w).save(tmp_path / name / f"{i:04d}.png")
    from skimage import data

    (tmp_path / "bg").mkdir()
    Image.fromarray(data.brick()).save(tmp_path / "bg" / "brick.png")
    Image.fromarray(data.coffee()).save(tmp_path / "bg" / "coffee.jpg")
    out = tmp_path / "mine.xml"
    r = run(
        "train-detector",
        "--faces",
        tmp_path / "faces",
        "--nonfaces",
        tmp_path / "nonfaces",
        "--backgrounds",
        tmp_path / "bg",
        "--out",
        out,
        "--stages",
        "2",
        "--max-features",
        "2000",
    )
    assert r.exit_code == 0, r.output
    assert "stage  1:" in r.output and "stage  2:" in r.output
    assert not cv2.CascadeClassifier(str(out)).empty()
    assert (tmp_path / "mine_features.png").stat().st_size > 1000
    r = run("detect", tmp_path / "bg" / "coffee.jpg", "--cascade", out, "--json")
    assert r.exit_code == 0, r.output


def test_default_cascade_is_vedere_own_and_finds_the_astronaut(photo_files, tmp_path):
    r = run("detect", photo_files / "rgb.png", "--json")
    assert r.exit_code == 0, r.output
    boxes = json.loads(r.output)[0]["boxes"]
    assert len(boxes) == 1
    b = boxes[0]
    # the astronaut's face: inside the box OpenCV's stock cascade finds (177, 66, 95, 95)
    assert 170 <= b["x"] and b["x"] + b["w"] <= 280 and 60 <= b["y"] and b["y"] + b["h"] <= 170
    # the shipped cascade exported to OpenCV's format runs identically in OpenCV
    from vedere.detect.library import resolve_cascade

    xml = resolve_cascade("frontalface").save(tmp_path / "frontalface.xml")
    cv = cv2.CascadeClassifier(str(xml))
    got = np.asarray(cv.detectMultiScale(astronaut(), 1.1, 3)).reshape(-1, 4).tolist()
    assert got == [[b["x"], b["y"], b["w"], b["h"]]]
