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


def _epoch_reporter(storage_path: str, trial_number: int, run_dir: Path, pruner: str) -> Any:
    """A training callback that, at the first update of each epoch, reports the finished
    epoch's validation accuracy (from the run's history.json) to the study's storage and
    asks the pruner (Optuna's public storage and pruner interfaces)."""
    import optuna

    from .storage import open_storage

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = open_storage(storage_path)
    prune = make_pruner(pruner)
    study = optuna.load_study(study_name=STUDY, storage=storage, pruner=prune)
    study_id = storage.get_study_id_from_name(STUDY)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
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
        # the finished epoch is number `epoch` (1-based)
        storage.set_trial_intermediate_value(trial_id, epoch, float(value))
        if prune.prune(study, storage.get_trial(trial_id)):
            raise _Pruned(f"pruned after epoch {epoch} (val accuracy {value:.4f})")

    return callback


def run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """Train one trial. ``job`` holds ``settings`` (:mod:`vedere.classify.settings`: never
    command-line text), ``run_dir`` (the only directory the trial writes: the sweep's
    ``DIR/trials/NNNN``), ``metric`` (key of metrics.json), ``prune`` (the pruner's name)
    and, when pruning, ``storage`` and ``trial_number``.

    Returns ``{"state": "complete"|"pruned"|"failed", "value", "seconds", "message"}``;
    a run that diverges or has bad settings is a failed trial with its message, not an error.
    """
    from ..classify import run
    from ..classify.run_config import from_settings
    from ..classify.stops import Diverged

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
        cfg = from_settings(job["settings"], str(run_dir))
        callback = (
            _epoch_reporter(job["storage"], job["trial_number"], run_dir, job["prune"])
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
    value = result.report.get(job["metric"])
    if value is None or not math.isfinite(value):
        return done("failed", message=f"the run reported no {job['metric']}")
    return done("complete", float(value), result.message)
