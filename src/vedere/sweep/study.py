"""Run a sweep: Optuna asks for settings, the executor trains them, Optuna is told the results.

The sweep's folder ``DIR`` holds

- ``spec.json``      the specification it was started with (a resumed sweep must match it);
- ``study.journal``  Optuna's journal storage: every trial's settings, state and values;
- ``trials/NNNN/``   one ordinary run directory per trial (model, history, figures);
- ``trials.csv``     one row per trial: trial, state, the metric, seconds, each parameter;
- ``best``           a link to the best trial's run directory (``vedere evaluate DIR/best``);
- ``report.md`` and its figures (written by :mod:`vedere.sweep.report`).

Up to ``executor.workers`` trials run at once. A trial whose worker died twice, whose run
diverged or whose settings were refused is a *failed* trial; the sweep goes on. A sweep
killed at any moment and restarted with ``resume=True`` keeps every finished trial and runs
again only those that were running when it was killed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import shutil
import stat
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VedereError
from ..escape import printable
from ..executor import Executor
from ..fileio import atomic_write_text
from .layout import JOURNAL, SPEC_JSON, TRIALS, trial_dir
from .spec import METRICS, Spec
from .storage import open_storage
from .trial import STUDY, make_pruner, run_trial

INTERRUPTED = "interrupted"
#: the largest study.journal a resumed sweep reads (Optuna holds all of it in memory)
MAX_JOURNAL_BYTES = 256 << 20


class SweepError(VedereError):
    """A sweep that cannot start or resume (the message names the folder)."""


@dataclass
class SweepResult:
    out: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _sampler(spec: Spec) -> Any:
    optuna = _optuna()
    if spec.sampler in ("grid", "random"):
        # a grid's points are enqueued one by one (run_sweep, from grid_points); Optuna's
        # GridSampler stops the study from inside its own optimize loop, which an
        # ask-and-tell loop has not
        return optuna.samplers.RandomSampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)


def _suggest(trial: Any, spec: Spec) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in spec.search.items():
        if spec.sampler == "grid":
            grid = p.grid()
            params[name] = (
                trial.suggest_categorical(name, grid)
                if p.type == "choice"
                else trial.suggest_int(name, min(grid), max(grid), step=p.step or 1)
            )
        elif p.type == "choice":
            params[name] = trial.suggest_categorical(name, p.values)
        elif p.type == "integer":
            params[name] = trial.suggest_int(name, int(p.low), int(p.high), step=p.step or 1)  # type: ignore[arg-type]
        else:
            params[name] = trial.suggest_float(
                name, float(p.low), float(p.high), log=p.type == "log-uniform"
            )  # type: ignore[arg-type]
    return params


def grid_points(spec: Spec) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order of the spec (last varies fastest)."""
    names = list(spec.search)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(spec.search[n].grid() for n in names))
    ]


def _start(spec: Spec, out: Path, resume: bool) -> tuple[Any, Any]:
    """Create (or reopen, with ``resume``) the study in ``out``; the study and its storage."""
    optuna = _optuna()
    journal = out / JOURNAL
    saved = out / SPEC_JSON
    spec_json = json.dumps(spec.to_dict(), indent=1, sort_keys=True)
    if resume:
        if not journal.is_file() or not saved.is_file():
            raise SweepError(f"{out}: no sweep to resume here (no study.journal/spec.json)")
        _check_journal(journal)
        too_big = saved.stat().st_size > 2 * len(spec_json.encode()) + 1024
        if too_big or saved.read_text(errors="replace") != spec_json:
            raise SweepError(
                f"{out}: the sweep there was started with another specification; "
                "resume it with the same spec file, or use another --out"
            )
    elif journal.exists() or (out / TRIALS).exists():
        raise SweepError(f"{out}: already holds a sweep; add --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        atomic_write_text(saved, spec_json)
    try:
        storage = open_storage(journal)
        study = optuna.create_study(
            study_name=STUDY,
            storage=storage,
            sampler=_sampler(spec),
            pruner=make_pruner(spec.pruner),
            direction="maximize",
            load_if_exists=resume,
        )
    except Exception as e:  # a damaged or foreign journal: whatever Optuna makes of it
        why = " ".join(str(e).split())[:160] or type(e).__name__
        raise SweepError(f"{journal}: not a readable Optuna journal ({why})") from None
    return study, storage


def _check_journal(journal: Path) -> None:
    """A journal Optuna may read: a regular file of at most MAX_JOURNAL_BYTES."""
    st = journal.stat()
    if not stat.S_ISREG(st.st_mode):
        raise SweepError(f"{journal}: not a regular file")
    if st.st_size > MAX_JOURNAL_BYTES:
        raise SweepError(
            f"{journal}: {st.st_size:,} bytes; a sweep's journal is read whole, so at most "
            f"{MAX_JOURNAL_BYTES:,} are read"
        )


def _requeue_interrupted(study: Any, storage: Any, out: Path) -> int:
    """Trials left running by a killed sweep: mark them failed (interrupted), remove their
    partial run directories and queue their settings again. Returns how many.

    A trial's settings are the values it was enqueued with (a grid point: Optuna's
    ``fixed_params``) updated by those it recorded: a sweep killed after it took a queued
    trial but before the trial recorded its values would otherwise queue it with none, and
    the sampler would pick a grid point again that another trial already has."""
    optuna = _optuna()
    study_id = storage.get_study_id_from_name(STUDY)
    n = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(trial_id, "message", INTERRUPTED)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        shutil.rmtree(trial_dir(out, t.number), ignore_errors=True)
        params = {**t.system_attrs.get("fixed_params", {}), **t.params}
        study.enqueue_trial(params, skip_if_exists=False)
        n += 1
    return n


def _finished(study: Any) -> int:
    optuna = _optuna()
    states = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if t.user_attrs.get("message") != INTERRUPTED
    )


def rows(study: Any, spec: Spec, out: Path) -> list[dict[str, Any]]:
    """One row per trial (interrupted attempts left out): the columns of trials.csv."""
    out_rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("message") == INTERRUPTED or t.state.name in ("RUNNING", "WAITING"):
            continue
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}[t.state.name]
        row: dict[str, Any] = {
            "trial": t.number,
            "state": state,
            spec.metric: t.value if state == "complete" else None,
            "seconds": t.user_attrs.get("seconds"),
        }
        for name in spec.search:
            row[name] = t.params.get(name)
        row["message"] = t.user_attrs.get("message", "")
        row["run_dir"] = str(trial_dir(out, t.number).relative_to(out))
        out_rows.append(row)
    return out_rows


def write_table(out: Path, table: list[dict[str, Any]], spec: Spec) -> None:
    cols = ["trial", "state", spec.metric, "seconds", *spec.search, "message", "run_dir"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in table:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in cols})
    atomic_write_text(out / "trials.csv", buf.getvalue())


def best_row(table: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    done = [r for r in table if r["state"] == "complete"]
    return max(done, key=lambda r: (r[metric], -r["trial"])) if done else None


def link_best(out: Path, best: dict[str, Any] | None) -> None:
    """Point ``out/best`` at the best trial's run directory (atomically replaced)."""
    link = out / "best"
    if best is None:
        return
    tmp = out / ".best.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(best["run_dir"], tmp)
    os.replace(tmp, link)


def _submit(
    study: Any, spec: Spec, out: Path, executor: Executor
) -> tuple[Any, Any, dict[str, Any]]:
    """Ask the study for a trial and ship it to ``executor``: (future, trial, params). The
    trial's run directory is ``out/trials/NNNN`` (emptied first: a requeued trial)."""
    trial = study.ask()
    params = _suggest(trial, spec)
    run_dir = trial_dir(out, trial.number)
    shutil.rmtree(run_dir, ignore_errors=True)
    job = {
        "settings": spec.settings(params),
        "run_dir": str(run_dir),
        "metric": METRICS[spec.metric],
        "prune": spec.pruner,
        "storage": str(out / JOURNAL),
        "trial_number": trial.number,
    }
    return executor.submit(run_trial, job), trial, params


def _tell(study: Any, trial: Any, fut: Any) -> dict[str, Any]:
    """Tell the study how ``trial`` (its future ``fut``) ended; the trial's result."""
    optuna = _optuna()
    try:
        res: dict[str, Any] = fut.result()
    except Exception as e:  # the worker died twice (KilledWorker) or worse
        res = {
            "state": "failed",
            "value": None,
            "seconds": None,
            "message": f"{type(e).__name__}: {e}",
        }
    trial.set_user_attr("seconds", res["seconds"])
    trial.set_user_attr("message", res["message"])
    state = {
        "complete": optuna.trial.TrialState.COMPLETE,
        "pruned": optuna.trial.TrialState.PRUNED,
        "failed": optuna.trial.TrialState.FAIL,
    }[res["state"]]
    study.tell(trial, res["value"] if res["state"] == "complete" else None, state=state)
    return res


def _log(spec: Spec, trial: Any, params: dict[str, Any], res: dict[str, Any]) -> None:
    """One line per finished trial on stderr (when it is not a terminal, which has the bar)."""
    v = "" if res["value"] is None else f" {spec.metric} {res['value']:.4f}"
    line = f"trial {trial.number:4d} {res['state']}{v} {json.dumps(params)} {res['message']}"
    print(printable(line.rstrip()), file=sys.stderr, flush=True)


def _publish(study: Any, spec: Spec, out: Path) -> tuple[list[dict[str, Any]], Any]:
    """trials.csv and the ``best`` link from the study as it is: (the table, best row)."""
    table = rows(study, spec, out)
    write_table(out, table, spec)
    best = best_row(table, spec.metric)
    link_best(out, best)
    return table, best


def run_sweep(
    spec: Spec,
    out: str | os.PathLike[str],
    executor: Executor,
    trials: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Run ``trials`` (default: the spec's) trials of ``spec`` into ``out`` on ``executor``:
    keep ``executor.workers`` trials in flight, record each as it finishes, then write the
    report."""
    from tqdm import tqdm

    out = Path(out).resolve()
    study, storage = _start(spec, out, resume)
    if resume:
        _requeue_interrupted(study, storage, out)
    target = trials if trials is not None else spec.trials
    if spec.sampler == "grid":
        points = grid_points(spec)
        target = min(target, len(points))
        if not resume:
            for point in points[:target]:
                study.enqueue_trial(point)
    remaining = max(0, target - _finished(study))
    in_flight: dict[Any, tuple[Any, dict[str, Any]]] = {}
    bar = tqdm(
        total=target,
        initial=target - remaining,
        desc=printable(f"sweep ({executor.describe()})"),
        unit="trial",
        disable=not progress or not sys.stderr.isatty(),
        file=sys.stderr,
    )
    try:
        while remaining or in_flight:
            while remaining and len(in_flight) < executor.workers:
                fut, trial, params = _submit(study, spec, out, executor)
                in_flight[fut] = (trial, params)
                remaining -= 1
            for fut in executor.first_completed(list(in_flight)):
                trial, params = in_flight.pop(fut)
                res = _tell(study, trial, fut)
                _publish(study, spec, out)
                bar.update()
                if progress and not sys.stderr.isatty():
                    _log(spec, trial, params, res)
    finally:
        bar.close()
    table, best = _publish(study, spec, out)
    from .report import write_report

    t0 = time.perf_counter()
    write_report(study, spec, out, table, best)
    if progress:
        print(f"report written in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return SweepResult(out, table, best)
