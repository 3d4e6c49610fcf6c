"""Training with few backgrounds: the embedded CIFAR-10 sample as extra negatives, and the
per-stage false-positive report that shows when backgrounds run out."""

import tarfile

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.helpers import small_faces
from vedere.data.dataset import sample_path
from vedere.detect.samples import FEW_BACKGROUNDS, to_gray, with_sample_backgrounds
from vedere.detect.training import TrainParams, train_cascade


def _sample_in_grey() -> list[np.ndarray]:
    """The sample archive's images, decoded here with Pillow's own "L" conversion."""
    out = []
    with tarfile.open(sample_path()) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")),
            key=lambda m: m.name,
        )
        for m in members:
            with Image.open(tar.extractfile(m)) as im:
                out.append(np.asarray(im.convert("L")))
    return out


def test_few_backgrounds_get_the_embedded_cifar_sample():
    photo = to_gray(data.brick())
    got, added = with_sample_backgrounds([photo])
    expect = _sample_in_grey()
    assert len(expect) == 1500 and added == 8 * 1500
    assert len(got) == 1 + added and got[0] is photo
    # the same images, in the archive's order (BT.601 grey levels, ±1 for rounding), in the
    # eight orientations of the square, one orientation after the other
    turned = [
        lambda g: g,
        lambda g: g.T[::-1],  # 90° counter-clockwise
        lambda g: g[::-1, ::-1],
        lambda g: g.T[:, ::-1],  # 270°
        lambda g: g[:, ::-1],
        lambda g: g.T[::-1][:, ::-1],
        lambda g: g[::-1],
        lambda g: g.T,
    ]
    for k, turn in enumerate(turned):
        block = got[1 + 1500 * k : 1 + 1500 * (k + 1)]
        for a, b in zip(block, expect, strict=True):
            assert a.shape == (32, 32) and a.dtype == np.uint8
            assert np.abs(a.astype(int) - turn(b)).max() <= 1, k
    # enough backgrounds, or asked not to: nothing added; asked to: added anyway
    many = [photo] * FEW_BACKGROUNDS
    assert with_sample_backgrounds(many)[1] == 0
    assert with_sample_backgrounds([photo], use_sample=False) == ([photo], 0)
    assert with_sample_backgrounds(many, use_sample=True)[1] == 12000


def _positions(side: int, window: int = 24, factor: float = 1.25) -> int:
    """Window positions over the pyramid of a side×side image, counted here (step 1)."""
    total, f = 0, 1.0
    while side / f >= window:
        s = max(window, round(side / f))
        total += (s - window + 1) ** 2
        f *= factor
    return total


def test_each_stage_reports_its_false_positive_rate_and_running_out_of_backgrounds():
    faces, _ = small_faces()
    tiny = [to_gray(data.brick())[:64, :64].copy()]  # five pyramid levels, 8 windows each
    lines: list[str] = []
    p = TrainParams(stages=2, max_features=300, negatives=50, validation_negatives=20)
    _, reports = train_cascade(faces, None, tiny, p, log=lines.append)
    first = reports[0]
    # stage 1 mines the whole pyramid (every window is accepted before any stage exists) and
    # finds 5 × 8 = 40 of the 70 negatives it wants
    assert first.background_windows == _positions(64) == 41**2 + 28**2 + 18**2 + 10**2 + 3**2
    assert first.backgrounds_exhausted
    assert first.cascade_false_positive_rate == first.false_positive_rate
    assert any(
        line.startswith("warning: backgrounds running out: stage 1 found 40 of 70")
        for line in lines
    ), lines
    stage_lines = [line for line in lines if line.startswith("stage ")]
    assert len(stage_lines) == len(reports)
    assert (
        f"mined from {first.background_windows:,} background windows, exhausted" in (stage_lines[0])
    )
    assert f"cascade false-positive rate {first.cascade_false_positive_rate:.2e}" in stage_lines[0]
    for r in reports[1:]:
        # the estimate only falls: each stage multiplies it by the stage's own rate
        assert r.cascade_false_positive_rate <= first.cascade_false_positive_rate


@pytest.mark.parametrize("bad", ["1,2", "a,b,c", "0,0,100", "0,nan,1"])
def test_bad_face_box_option_is_one_error_line(bad, tmp_path):
    from click.testing import CliRunner

    from vedere.cli.main import cli

    (tmp_path / "f").mkdir()
    r = CliRunner().invoke(
        cli,
        [
            *("train-detector", "--faces", str(tmp_path / "f")),
            *("--backgrounds", str(tmp_path / "f"), "--out", str(tmp_path / "c.json")),
            *("--face-box", bad),
        ],
    )
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith("error: --face-box: ")
