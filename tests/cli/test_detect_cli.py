"""``vedere detect`` and ``vedere train-detector``."""

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.detect.photos import astronaut
from tests.helpers import REPO, small_faces
from vedere.cli.main import cli
from vedere.detect.cascade import load_cascade

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
    assert r.exit_code == 2 and "1.01" in r.output


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
    faces, nonfaces = small_faces()
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
    # two photos are few backgrounds: the embedded CIFAR-10 sample is mined as well
    assert "2 background images + 12,000 from the embedded CIFAR-10 sample" in r.output
    assert "cascade false-positive rate" in r.output
    assert not cv2.CascadeClassifier(str(out)).empty()
    assert (tmp_path / "mine_features.png").stat().st_size > 1000
    r = run("detect", tmp_path / "bg" / "coffee.jpg", "--cascade", out, "--json")
    assert r.exit_code == 0, r.output
    # asked not to, and with a face-box map: JSON keeps the map, the XML export cannot
    r = run(
        "train-detector",
        *("--faces", tmp_path / "faces", "--backgrounds", tmp_path / "bg"),
        *("--out", tmp_path / "mine.json", "--stages", "1", "--max-features", "500"),
        *("--no-cifar-sample", "--face-box", "0.02,-0.08,1.5"),
    )
    assert r.exit_code == 0, r.output
    assert "CIFAR-10" not in r.output
    mine = load_cascade(tmp_path / "mine.json")
    assert (mine.face_box.dx, mine.face_box.dy, mine.face_box.scale) == (0.02, -0.08, 1.5)
    assert mine.meta["backgrounds"] == {"given": 2, "cifar_sample": 0}


def test_default_cascade_is_vedere_own_and_finds_the_astronaut(photo_files, tmp_path):
    r = run("detect", photo_files / "rgb.png", "--json", "--raw-window")
    assert r.exit_code == 0, r.output
    boxes = json.loads(r.output)[0]["boxes"]
    assert len(boxes) == 1
    b = boxes[0]
    # the astronaut's face: the raw window lies inside the box OpenCV's stock cascade finds
    # (177, 66, 95, 95)
    assert 170 <= b["x"] and b["x"] + b["w"] <= 280 and 60 <= b["y"] and b["y"] + b["h"] <= 170
    # the shipped cascade exported to OpenCV's format runs identically in OpenCV: --raw-window
    # gives exactly the windows OpenCV reports for it
    from vedere.detect.library import resolve_cascade

    xml = resolve_cascade("frontalface").save(tmp_path / "frontalface.xml")
    cv = cv2.CascadeClassifier(str(xml))
    got = np.asarray(cv.detectMultiScale(astronaut(), 1.1, 3)).reshape(-1, 4).tolist()
    assert got == [[b["x"], b["y"], b["w"], b["h"]]]
    # without --raw-window the box covers the whole face: IoU >= 0.5 with OpenCV's stock box
    # (the raw window alone does not reach it)
    r = run("detect", photo_files / "rgb.png", "--json")
    assert r.exit_code == 0, r.output
    (face,) = json.loads(r.output)[0]["boxes"]
    stock = [177, 66, 95, 95]
    assert _iou([face["x"], face["y"], face["w"], face["h"]], stock) >= 0.5
    assert _iou(got[0], stock) < 0.5
    assert face["neighbors"] == b["neighbors"]


def test_raw_window_text_output_and_opencv_cascades_are_unchanged(photo_files):
    # OpenCV's cascades map windows to themselves: the option changes nothing for them
    a = run("detect", photo_files / "grey.png", "--cascade", STOCK, "--json")
    b = run("detect", photo_files / "grey.png", "--cascade", STOCK, "--json", "--raw-window")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert a.output == b.output
    r = run("detect", photo_files / "grey.png", "--raw-window")
    assert r.exit_code == 0, r.output
    assert "1 box" in r.output


def _iou(a, b):
    """Intersection over union of two (x, y, w, h) boxes, written out."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# --- hostile input and limits ----------------------------------------------------------------


def vedere(*args, timeout=120):
    """``vedere ARGS`` in a fresh process (a crash there cannot take the tests with it)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [sys.executable, "-m", "vedere.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def one_error_line(stderr: str, *needles: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def tiny_cascade(rect: list) -> dict:
    return {
        "format": "vedere-cascade",
        "version": 1,
        "window": [24, 24],
        "features": [[rect, [0, 0, 24, 24, 1.0]]],
        "stages": [{"threshold": -1.0, "stumps": [[0, 0.0, 1.0, 1.0]]}],
    }


def test_a_cascade_whose_rectangle_wraps_in_int32_is_refused_not_a_crash(photo_files, tmp_path):
    # x + w = 2^31 wraps to a negative int32: today's window check passes and the compiled
    # scan reads far outside the image (SIGSEGV)
    ovf = tmp_path / "ovf.json"
    ovf.write_text(json.dumps(tiny_cascade([2147483647, 0, 1, 24, -1.0])))
    r = vedere("detect", photo_files / "grey.png", "--cascade", ovf)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    one_error_line(r.stderr, "ovf.json", "x must be in [0, 23]")
    from vedere.detect.opencv_xml import dict_to_xml

    xml = tmp_path / "ovf.xml"
    xml.write_bytes(dict_to_xml(tiny_cascade([0, 2147483647, 24, 1, -1.0])))
    r = vedere("detect", photo_files / "grey.png", "--cascade", xml)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    one_error_line(r.stderr, "ovf.xml", "y must be in [0, 23]")


def test_huge_numbers_in_cascades_are_one_line_errors(photo_files, tmp_path):
    from vedere.detect.opencv_xml import dict_to_xml

    good = dict_to_xml(tiny_cascade([0, 0, 12, 24, -1.0])).decode()
    files = {
        "stagenum.xml": good.replace("<stageNum>1</stageNum>", "<stageNum>1e400</stageNum>"),
        "feature.xml": good.replace("0 -1 0 ", "0 -1 1e300 "),
        "rect.json": json.dumps(tiny_cascade([0, 0, 2**40, 24, -1.0])),
        "index.json": json.dumps(tiny_cascade([0, 0, 12, 24, -1.0])).replace(
            "[[0, 0.0,", "[[1e300, 0.0,"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        r = run("detect", photo_files / "tiny.png", "--cascade", tmp_path / name)
        assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (name, r.exception)
        one_error_line(r.stderr, name)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height grey pixels (its data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [30000, 65500])
def test_decompression_bombs_are_one_line_errors(tmp_path, side):
    bomb = tmp_path / f"bomb{side}.png"
    bomb.write_bytes(png_declaring(side, side))
    r = run("detect", bomb, "--cascade", STOCK)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    one_error_line(r.stderr, f"bomb{side}.png", "refused")


def test_max_pixels_scans_large_images_shrunk_and_scales_boxes_back(photo_files):
    r = run("detect", photo_files / "rgb.png", "--cascade", STOCK, "--max-pixels", 65536, "--json")
    assert r.exit_code == 0, r.output
    (o,) = json.loads(r.stdout)
    assert (o["width"], o["height"]) == (512, 512) and o["scanned"] == [256, 256]
    # OpenCV on the photo shrunk by Pillow's bilinear filter, boxes doubled
    small = Image.fromarray(astronaut()).resize((256, 256), Image.Resampling.BILINEAR)
    cv = cv2.CascadeClassifier(
        str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    )
    expect = np.asarray(cv.detectMultiScale(np.asarray(small), 1.1, 3)).reshape(-1, 4)
    assert len(expect) >= 1
    got = sorted((b["x"], b["y"], b["w"], b["h"]) for b in o["boxes"])
    assert got == sorted(map(tuple, (2 * expect).tolist()))
    # the default (4 megapixels) leaves a 512x512 photo as it is
    r = run("detect", photo_files / "rgb.png", "--cascade", STOCK, "--json")
    assert json.loads(r.stdout)[0]["scanned"] == [512, 512]


def test_default_pixel_cap_applies_to_large_images(tmp_path):
    from vedere.detect.limits import DEFAULT_MAX_PIXELS

    big = tmp_path / "big.png"
    img = np.random.default_rng(0).integers(0, 256, (1500, 3000), dtype=np.uint8)
    Image.fromarray(img).save(big)
    r = run("detect", big, "--json")
    assert r.exit_code == 0, r.output
    (o,) = json.loads(r.stdout)
    w, h = o["scanned"]
    assert w * h <= DEFAULT_MAX_PIXELS and abs(w / h - 2) < 0.01
    assert w * h > 0.99 * DEFAULT_MAX_PIXELS


def test_a_scale_factor_too_close_to_one_is_refused_at_once(photo_files):
    r = vedere("detect", photo_files / "tiny.png", "--scale-factor", "1.0000001", timeout=60)
    assert r.returncode == 2 and "1.01" in r.stderr, r.stderr[-2000:]


def test_annotated_png_keeps_the_original_colours(photo_files, tmp_path):
    from skimage import data

    out = tmp_path / "boxes.png"
    r = run("detect", photo_files / "rgb.png", "--cascade", STOCK, "--out", out)
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        drawn = np.asarray(im.convert("RGB"))
    rgb = data.astronaut()
    # away from the one box (177, 66, 95, 95) every pixel is the photo's own colour
    np.testing.assert_array_equal(drawn[300:, :], rgb[300:, :])
    np.testing.assert_array_equal(drawn[:, :150], rgb[:, :150])
    assert (drawn[66, 177:272] == (0, 255, 0)).all()  # the box's top edge in green


def test_train_detector_help_has_no_raw_markup():
    r = run("train-detector", "--help")
    assert r.exit_code == 0
    assert "``" not in r.output and "--faces and --nonfaces" in r.output
