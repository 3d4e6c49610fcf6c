"""Sweeps on a real Dask LocalCluster of two worker processes (issue 15): a grid sweep equals
the same runs made one after another, a worker killed mid-trial, a sweep killed and resumed,
pruning, failures."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("optuna")

from threadpoolctl import threadpool_limits

from vedere.classify import run
from vedere.classify.run_config import from_settings
from vedere.executor import DaskExecutor, InProcessExecutor, make_executor
from vedere.sweep import SweepError, run_sweep
from vedere.sweep.spec import parse

pytestmark = pytest.mark.slow  # Dask clusters, killed workers and sweeps

REPO = Path(__file__).resolve().parents[2]
TINY = {"epochs": 2, "hidden": "16", "limit": 300, "batch_size": 32}


def spec_of(**kw):
    doc = {"model": "mlp", "sampler": "grid", "train": dict(TINY)}
    doc.update(kw)
    return parse(doc)


def read_rows(out: Path) -> list[dict]:
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cluster():
    ex = DaskExecutor(workers=2)
    yield ex
    ex.close()


def test_grid_sweep_equals_the_same_runs_made_one_after_another(tmp_path, cluster):
    spec = spec_of(
        search={
            "lr": {"type": "choice", "values": [0.01, 0.05]},
            "l2": {"type": "choice", "values": [0.0, 0.001]},
        }
    )
    result = run_sweep(spec, tmp_path / "sw", cluster, progress=False)
    assert [r["state"] for r in result.rows] == ["complete"] * 4
    assert {(r["lr"], r["l2"]) for r in result.rows} == {
        (a, b) for a in (0.01, 0.05) for b in (0.0, 0.001)
    }
    # the same vedere train runs, one after another, with the workers' BLAS thread count
    for r in result.rows:
        settings = spec.settings({"lr": r["lr"], "l2": r["l2"]})
        with threadpool_limits(1):
            seq = run.train(
                from_settings(settings, tmp_path / "seq" / str(r["trial"])), progress=False
            )
        assert seq.report["accuracy"] == r["val_accuracy"]
        hist = json.loads((tmp_path / "sw" / r["run_dir"] / "history.json").read_text())
        ref = json.loads((tmp_path / "seq" / str(r["trial"]) / "history.json").read_text())
        assert [e["train_loss"] for e in hist["epochs"]] == [e["train_loss"] for e in ref["epochs"]]
    table = read_rows(tmp_path / "sw")
    assert list(table[0])[:4] == ["trial", "state", "val_accuracy", "seconds"]
    assert {"lr", "l2"} <= set(table[0])
    best = max(result.rows, key=lambda r: r["val_accuracy"])
    assert os.readlink(tmp_path / "sw" / "best") == best["run_dir"]
    assert (tmp_path / "sw" / "best" / "model.safetensors").is_file()
    report = (tmp_path / "sw" / "report.md").read_text()
    assert "vedere train --model=mlp" in report and "optimization_history.png" in report
    assert (tmp_path / "sw" / "curves.png").is_file()


def test_a_worker_killed_mid_trial_is_retried_on_another(tmp_path, cluster):
    spec = spec_of(train={**TINY, "epochs": 6}, search={"lr": {"type": "choice", "values": [0.01]}})
    out = tmp_path / "sw"
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            busy = {w: ks for w, ks in cluster.client.processing().items() if ks}
            if busy and (out / "trials" / "0000" / "history.json").exists():
                pids = cluster.client.run(os.getpid, workers=list(busy))
                for pid in pids.values():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    result = run_sweep(spec, out, cluster, progress=False)
    t.join()
    assert killed, "the trial finished before a worker could be killed"
    assert [r["state"] for r in result.rows] == ["complete"]
    assert len(json.loads((out / "trials/0000/history.json").read_text())["epochs"]) == 6
    cluster.client.wait_for_workers(2, timeout=60)


def _suicide() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_call_whose_worker_dies_twice_fails_with_killed_worker(cluster):
    from distributed import KilledWorker

    fut = cluster.submit(_suicide)
    with pytest.raises(KilledWorker):
        fut.result(timeout=120)
    cluster.client.wait_for_workers(2, timeout=60)


class _Broken:
    workers = 2

    def submit(self, fn, job):
        return self

    def result(self):
        raise RuntimeError("worker lost")

    def first_completed(self, futures):
        return list(futures)

    def describe(self):
        return "broken"


def test_failed_and_diverged_trials_do_not_stop_the_sweep(tmp_path):
    spec = spec_of(search={"lr": {"type": "choice", "values": [0.01, 1e6]}})
    result = run_sweep(spec, tmp_path / "a", InProcessExecutor(), progress=False)
    by_lr = {r["lr"]: r for r in result.rows}
    assert by_lr[0.01]["state"] == "complete"
    assert by_lr[1e6]["state"] == "failed" and "diverge" in by_lr[1e6]["message"]
    spec = spec_of(search={"lr": {"type": "choice", "values": [0.01]}})
    result = run_sweep(spec, tmp_path / "b", _Broken(), progress=False)
    assert result.rows[0]["state"] == "failed" and "worker lost" in result.rows[0]["message"]
    assert result.best is None


def test_median_pruner_stops_hopeless_trials(tmp_path):
    spec = spec_of(
        pruner="median",
        train={**TINY, "epochs": 4, "limit": 600},
        search={"lr": {"type": "choice", "values": [0.05, 0.04, 1e-7]}},
    )
    result = run_sweep(spec, tmp_path / "sw", InProcessExecutor(), progress=False)
    pruned = [r for r in result.rows if r["state"] == "pruned"]
    assert pruned, result.rows
    for r in pruned:
        assert r["lr"] == 1e-7
        hist = json.loads((tmp_path / "sw" / r["run_dir"] / "history.json").read_text())
        assert len(hist["epochs"]) < 4


def test_a_sweep_killed_at_any_moment_resumes_without_redoing_finished_trials(tmp_path):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        'model = "mlp"\nsampler = "grid"\n[train]\nepochs = 3\nhidden = "16"\nlimit = 300\n'
        '[search.lr]\ntype = "choice"\nvalues = [0.01, 0.02, 0.03, 0.04]\n'
    )
    out = tmp_path / "sw"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    main = "from vedere.cli.main import main; main()"
    cmd = [sys.executable, "-c", main, "sweep", str(spec_file), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2"], env=env, start_new_session=True, stderr=subprocess.PIPE
    )
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if (out / "trials.csv").exists() and len(read_rows(out)) >= 1:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = read_rows(out)
    assert 1 <= len(first) < 4, "the sweep finished before it could be killed"
    stamps = {
        r["trial"]: (out / r["run_dir"] / "model.safetensors").stat().st_mtime_ns for r in first
    }
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "add --resume" in again.stderr
    again = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = read_rows(out)
    assert sorted(float(r["lr"]) for r in rows) == [0.01, 0.02, 0.03, 0.04]
    assert all(r["state"] == "complete" for r in rows)
    for r in first:  # finished trials were kept, not rerun
        assert (out / r["run_dir"] / "model.safetensors").stat().st_mtime_ns == stamps[r["trial"]]


def test_resume_needs_the_same_spec_and_a_sweep(tmp_path):
    spec = spec_of(search={"lr": {"type": "choice", "values": [0.01]}})
    with pytest.raises(SweepError, match="no sweep to resume"):
        run_sweep(spec, tmp_path / "none", InProcessExecutor(), resume=True, progress=False)
    run_sweep(spec, tmp_path / "sw", InProcessExecutor(), progress=False)
    other = spec_of(search={"lr": {"type": "choice", "values": [0.02]}})
    with pytest.raises(SweepError, match="another specification"):
        run_sweep(other, tmp_path / "sw", InProcessExecutor(), resume=True, progress=False)


def test_bad_executor_arguments():
    with pytest.raises(ValueError, match="--scheduler must be an address"):
        make_executor(scheduler="localhost:8786")
    with pytest.raises(ValueError, match=r"--scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        DaskExecutor(scheduler="tcp://127.0.0.1:9", connect_timeout=1)
    assert isinstance(make_executor(1), InProcessExecutor)


def test_a_trial_killed_before_it_recorded_its_grid_point_is_requeued_with_it(tmp_path):
    """The race behind a resumed grid sweep that ran one point twice and another never: a
    sweep killed after Optuna handed out a queued trial but before the trial recorded its
    value. Resuming must queue the trial's grid point again, not an empty trial."""
    from vedere.sweep import study as study_mod

    spec = spec_of(search={"lr": {"type": "choice", "values": [0.01, 0.02, 0.03]}})
    out = tmp_path / "sw"
    study, _ = study_mod._start(spec, out, resume=False)
    for point in study_mod.grid_points(spec):
        study.enqueue_trial(point)
    first = study.ask()  # taken from the queue, killed before it suggested its lr
    assert first.params == {}
    del study
    study, storage = study_mod._start(spec, out, resume=True)
    assert study_mod._requeue_interrupted(study, storage, out) == 1
    queued = [
        t.system_attrs["fixed_params"]["lr"]
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "WAITING"
    ]
    assert sorted(queued) == [0.01, 0.02, 0.03]  # the interrupted 0.01 again, none twice
