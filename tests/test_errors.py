"""One error root (issue 26): every error vedere raises for bad input is a VedereError that
pickles with its attributes, and only such errors become one ``error:`` line at the edges —
a programming error (here a NumPy broadcast error) keeps its traceback."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from vedere.classify.rundir import RunDirError
from vedere.classify.settings import NotApplicable, SettingError
from vedere.classify.stops import Diverged
from vedere.data.errors import DataError
from vedere.detect.cascade import CascadeFileError
from vedere.detect.video_file import VideoError
from vedere.errors import VedereError, expected
from vedere.nn.io import ModelFileError
from vedere.safejson import JSONError
from vedere.sweep.spec import SpecError
from vedere.sweep.study import SweepError
from vedere.web.params import ParamError

ERRORS = [
    DataError("a.png", "not an image"),
    ModelFileError("m.safetensors", "truncated"),
    CascadeFileError("c.xml", "no stages"),
    VideoError("v.mp4", "cannot decode", frame=7),
    RunDirError("runs/x", "locked"),
    SettingError("--lr", "-1: expected a number > 0"),
    NotApplicable(["--hidden"], "cnn"),
    SpecError("s.toml: bad key"),
    SweepError("out: no sweep"),
    JSONError("too deep"),
    ParamError("lr", "must be positive"),
    Diverged("diverged", user_lr=5.0, epoch=2, step=3, reason="nan", where="in epoch 2"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_is_a_vedere_error_that_pickles_with_its_attributes(error):
    assert isinstance(error, VedereError) and isinstance(error, ValueError)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    state = {k: v for k, v in vars(error).items() if k != "history"}
    assert {k: v for k, v in vars(back).items() if k != "history"} == state
    assert expected(back)


def test_the_file_and_the_problem_are_attributes():
    e = VideoError("v.mp4", "cannot decode", frame=7)
    assert (e.where, e.path, e.problem, e.frame) == ("v.mp4", "v.mp4", "cannot decode", 7)
    assert str(e) == "v.mp4: cannot decode at frame 7"


def _broadcast_bug(*args, **kwargs):
    return np.ones(2) + np.ones(3)  # ValueError: operands could not be broadcast together


def test_a_broadcast_error_is_not_expected_but_a_check_is():
    with pytest.raises(ValueError) as bug:
        _broadcast_bug()
    assert not expected(bug.value)
    from vedere.data.images import check_image_size

    with pytest.raises(ValueError) as check:  # a deliberate `raise ValueError(...)` of vedere
        check_image_size(0)
    assert expected(check.value)


def test_the_command_keeps_the_traceback_of_a_programming_error(monkeypatch, tmp_path):
    """It printed ``error: operands could not be broadcast …`` and exited 1."""
    from vedere.classify import prediction
    from vedere.cli.main import cli

    monkeypatch.setattr(prediction, "predict", _broadcast_bug)
    r = CliRunner().invoke(cli, ["predict", str(tmp_path), str(tmp_path)])
    assert isinstance(r.exception, ValueError) and "broadcast" in str(r.exception)
    assert "error:" not in r.output
    assert r.exc_info is not None and r.exc_info[2] is not None  # the traceback is kept


def test_the_command_prints_one_line_for_bad_input(tmp_path):
    from vedere.cli.main import cli

    junk = tmp_path / "m.safetensors"
    junk.write_bytes(b"not a model")
    r = CliRunner().invoke(cli, ["predict", str(junk), str(tmp_path)])
    assert r.exit_code == 1 and r.output.count("error:") == 1 and str(junk) in r.output


def test_a_batch_job_records_bad_images_but_stops_on_a_bug(monkeypatch, tmp_path):
    """``predict_chunk`` turned every ValueError into a per-image error record."""
    from vedere import batch
    from vedere.classify import SoftmaxClassifier

    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    model = tmp_path / "m.safetensors"
    SoftmaxClassifier(epochs=1).fit(x, ["a", "b"] * 3).save(model)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    records = batch.predict_chunk([str(bad)], str(model), None)
    assert records[0]["image"] == str(bad) and "error" in records[0]
    import vedere.data.images as images

    monkeypatch.setattr(images, "decode", _broadcast_bug)
    with pytest.raises(ValueError, match="broadcast"):
        batch.predict_chunk([str(bad)], str(model), None)
