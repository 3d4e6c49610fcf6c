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
    argv = spec.argv({"lr": 0.1, "l2": 1e-4}, "runs/x")
    assert argv[:2] == ["--model", "mlp"] and "--batch-size" in argv and "0.1" in argv


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
        (with_(train={"learning_rate": 1}), "train.learning_rate is not a vedere train flag"),
        (with_(train={"out": "x"}), "train.out: set by the sweep itself"),
        (with_(train={"epochs": 0}), "--epochs"),
        (with_(train={"epochs": 2, "hidden": "a,b"}), "--hidden"),
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
        (with_(search={"batch_size": {"type": "integer", "low": -1, "high": 3}}), "--batch-size"),
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
