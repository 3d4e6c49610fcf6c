"""Sweep specifications: every bad key gets one line naming it (issue 15)."""

import os
from pathlib import Path

import pytest

from vedere.sweep import SpecError, load
from vedere.sweep.spec import parse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep-lr.toml"

GOOD = {
    "model": "mlp",
    "sampler": "random",
    "train": {"epochs": 2, "hidden": "16"},
    "search": {"lr": {"type": "log-uniform", "low": 1e-3, "high": 1.0}},
}


def with_(**changes):
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in GOOD.items()}
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


def test_the_example_spec_loads():
    spec = load(EXAMPLE)
    assert spec.model == "mlp" and set(spec.search) == {"lr", "l2"}
    settings = spec.settings({"lr": 0.1, "l2": 1e-4})
    assert settings["model"] == "mlp" and "batch_size" in settings and settings["lr"] == 0.1


@pytest.mark.parametrize(
    "doc, words",
    [
        (with_(colour="red"), "'colour' is not a key"),
        (with_(sampler="bayes"), "sampler must be one of grid, random, tpe"),
        (with_(pruner="hyperband"), "pruner must be one of none, median, successive-halving"),
        (with_(metric="loss"), "metric must be one of"),
        (with_(metric="roc_auc"), "roc_auc' needs model"),
        (with_(trials=0), "trials must be a whole number from 1"),
        (with_(trials=2.5), "trials must be a whole number"),
        (with_(train={"learning_rate": 1}), "train.learning_rate is not a vedere train setting"),
        (with_(train={"out": "x"}), "train.out is not a vedere train setting"),
        (with_(train={"seed": 1}), "train.seed: set by the sweep itself"),
        (with_(train={"epochs": 0}), "train.epochs = 0: expected a number >= 1"),
        (with_(train={"epochs": 2, "hidden": "a,b"}), "train.hidden = 'a,b'"),
        (with_(search={}), "search must be a table with at least one"),
        (with_(search={"lr": 0.1}), "search.lr must be a table"),
        (with_(search={"lr": {"type": "normal"}}), "search.lr.type must be one of"),
        (with_(search={"lr": {"type": "uniform", "low": 1}}), "search.lr needs 'low' and 'high'"),
        (with_(search={"lr": {"type": "uniform", "low": 1, "high": 1}}), "low (1) must be below"),
        (with_(search={"lr": {"type": "log-uniform", "low": 0, "high": 1}}), "must be positive"),
        (with_(search={"epochs": {"type": "integer", "low": 1.5, "high": 3}}), "whole number"),
        (with_(search={"lr": {"type": "choice", "values": []}}), "values must be a list"),
        (with_(search={"lr": {"type": "uniform", "low": 0.1, "high": 1, "step": 1}}), "step"),
        (with_(search={"lr": {"type": "uniform", "low": 0.1, "high": 1, "x": 1}}), "search.lr.x"),
        (with_(sampler="grid"), "grid sampler needs type 'choice' or 'integer'"),
        (
            with_(search={"batch_size": {"type": "integer", "low": -1, "high": 3}}),
            "search.batch_size = -1",
        ),
        (
            with_(train={"epochs": 2}, search={"epochs": {"type": "choice", "values": [1, 2]}}),
            "both fixed",
        ),
    ],
)
def test_bad_specs_name_the_key(doc, words):
    with pytest.raises(SpecError) as e:
        parse(doc)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_files_name_the_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("model = \n")
    with pytest.raises(SpecError, match=r"s\.toml: not valid TOML"):
        load(f)
    with pytest.raises(SpecError, match="not a file"):
        load(tmp_path)
    f.write_text('model = "mlp"\n[search.lr]\ntype = "uniform"\nlow = 2\nhigh = 1\n')
    with pytest.raises(SpecError, match=r"s\.toml: search\.lr: low \(2\) must be below"):
        load(f)


def test_hostile_spec_files_are_one_line_errors(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 200_000 + "]" * 200_000 + "\n")  # 400 KB, under the cap
    with pytest.raises(SpecError, match=r"deep\.toml: nested too deeply"):
        load(deep)
    big = tmp_path / "big.toml"
    big.write_text("trials = 99999999999999999999999999\n")
    with pytest.raises(SpecError, match="trials must be a whole number from 1 to 10000"):
        load(big)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(SpecError, match="larger than"):
        load(huge)
    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a file"):
        load(fifo)  # refused before it is opened (would block)


# -- settings, never argv (issue 27: flag injection from a sweep spec) ----------------------
def test_a_bool_on_a_text_setting_is_refused_not_turned_into_a_bare_flag(tmp_path):
    """``positive_class = true`` used to become a bare ``--positive-class``, so the next
    token was its value and ``--out=VICTIM`` an option: the trial trained into VICTIM."""
    victim = tmp_path / "victim_run"
    doc = with_(train={"epochs": 1, "positive_class": True, "arch": f"--out={victim}"})
    with pytest.raises(SpecError, match=r"train\.positive_class = True: expected a text"):
        parse(doc)
    assert not victim.exists()


def test_a_trial_runs_in_its_trial_directory_whatever_the_values(tmp_path):
    """Values that look like flags are plain values: a trial's RunConfig writes to the run
    directory the sweep gives it, and ``out`` is not a setting at all."""
    from vedere.classify.run_config import from_settings
    from vedere.classify.settings import SettingError

    victim = tmp_path / "victim_run"
    spec = parse(with_(model="logistic", train={"epochs": 1, "positive_class": f"--out={victim}"}))
    trial_dir = tmp_path / "sw" / "trials" / "0000"
    cfg = from_settings(spec.settings({"lr": 0.01}), str(trial_dir))
    assert cfg.out == str(trial_dir) and cfg.positive_class == f"--out={victim}"
    with pytest.raises(SettingError, match="out: not a setting"):
        from_settings({**spec.settings({"lr": 0.01}), "out": str(victim)}, str(trial_dir))


def test_trials_write_only_under_the_sweep_folder(tmp_path):
    """End to end: a sweep whose spec values look like flags trains each trial in
    DIR/trials/NNNN and nowhere else."""
    pytest.importorskip("optuna")
    from vedere.executor import InProcessExecutor
    from vedere.sweep import run_sweep

    victim = tmp_path / "victim_run"
    spec = parse(
        {
            "model": "logistic",
            "sampler": "grid",
            "train": {"epochs": 1, "limit": 60, "positive_class": f"--out={victim}"},
            "search": {"batch_size": {"type": "choice", "values": [16]}},
        }
    )
    result = run_sweep(spec, tmp_path / "sw", InProcessExecutor(), progress=False)
    assert not victim.exists()
    assert [r["run_dir"] for r in result.rows] == ["trials/0000"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sw"]
