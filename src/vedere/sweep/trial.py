"""One sweep trial: a normal ``vedere train`` run in its own run directory, on whichever worker
the executor picked.

:func:`run_trial` is what the executor ships to a worker (a plain top-level function of plain
arguments, so Dask can send it to another process or machine). With a pruner, the trial
reports the validation accuracy of every finished epoch to the study (Optuna storage in the
sweep's folder, which the worker must be able to reach) and stops when the pruner says so.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

STUDY = "vedere-sweep"


def make_pruner(kind: str) -> Any:
    """Optuna's pruner for a spec's ``pruner`` (none, median, successive-halving).

    Pruners are not kept in Optuna's storage: the sweep and every trial build the same one.
    """
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if kind == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    return optuna.pruners.NopPruner()


class _Pruned(Exception):
    """Raised inside training when the pruner stops a trial."""


def _epoch_reporter(storage_path: str, trial_id: int, run_dir: Path, pruner: str) -> Any:
    """A training callback that, at the first update of each epoch, reports the finished
    epoch's validation accuracy (from the run's history.json) and asks the pruner."""
    import optuna

    from .storage import open_storage

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    study = optuna.load_study(
        study_name=STUDY, storage=open_storage(storage_path), pruner=make_pruner(pruner)
    )
    trial = optuna.trial.Trial(study, trial_id)
    reported = {"epoch": 0}

    def callback(epoch: int, step: int) -> None:
        if epoch <= reported["epoch"]:
            return
        reported["epoch"] = epoch
        try:
            rows = json.loads((run_dir / "history.json").read_text())["epochs"]
        except (OSError, ValueError, KeyError):
            return
        value = rows[-1].get("val_acc") if rows else None
        if value is None or not math.isfinite(value):
            return
        trial.report(float(value), epoch)  # the finished epoch is number `epoch` (1-based)
        if trial.should_prune():
            raise _Pruned(f"pruned after epoch {epoch} (val accuracy {value:.4f})")

    return callback


def run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """Train one trial. ``job`` holds ``argv`` (vedere train's arguments, with ``--out``),
    ``run_dir``, ``metric`` (key of metrics.json), ``prune`` (the pruner's name) and, when pruning,
    ``storage`` and ``trial_id``.

    Returns ``{"state": "complete"|"pruned"|"failed", "value", "seconds", "message"}``;
    a run that diverges or has bad settings is a failed trial with its message, not an error.
    """
    from ..classify import run
    from ..classify.stops import Diverged
    from ..cli.train import config_from_argv

    t0 = time.perf_counter()
    run_dir = Path(job["run_dir"])

    def done(state: str, value: float | None = None, message: str = "") -> dict[str, Any]:
        return {
            "state": state,
            "value": value,
            "seconds": round(time.perf_counter() - t0, 3),
            "message": message,
        }

    try:
        cfg = config_from_argv(job["argv"])
        callback = (
            _epoch_reporter(job["storage"], job["trial_id"], run_dir, job["prune"])
            if job.get("prune", "none") != "none"
            else None
        )
        # overwrite: a retry on another worker (the first one died) replaces the partial run
        result = run.train(cfg, progress=False, callback=callback, overwrite=True)
    except _Pruned as e:
        return done("pruned", message=str(e))
    except Diverged as e:
        return done("failed", message=str(e))
    except (ValueError, OSError) as e:
        return done("failed", message=str(e))
    except Exception as e:  # a bug in one trial must not stop the sweep: report it
        return done("failed", message=f"{type(e).__name__}: {e}")
    if result.stopped == "diverged":
        return done("failed", message=result.message)
    value = result.report.get(job["metric"])
    if value is None or not math.isfinite(value):
        return done("failed", message=f"the run reported no {job['metric']}")
    return done("complete", float(value), result.message)
