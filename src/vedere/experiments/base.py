"""What every experiment shares: where it writes, how runs are resumed, and its report.

An experiment is a function ``run(ctx) -> dict`` in its own module. It asks ``ctx`` for data,
trains through :meth:`Context.cached` (each finished run is stored as JSON under
``OUT/runs/`` with the fingerprint of everything it depends on — settings, seed, data source,
vedere version — so an interrupted experiment resumes without redoing finished runs, and a
re-run with other inputs into the same folder runs them again), draws PNG
figures under ``OUT/`` and fills a :class:`Report`, written as ``OUT/report.md``: what was
run, the table of results, the figures, and a two-line reading. The returned dict holds the
numbers the tests check against what the course says.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..executor import Executor
from ..fileio import atomic_write_text


@dataclass
class Context:
    """``out``: the output folder; ``quick``: the small version (under a minute);
    ``data``: a CIFAR-10 source (None: the embedded sample); every random choice flows
    from ``seed``; ``options``: the experiment's own options (e.g. viola-jones's image)."""

    name: str
    out: Path
    quick: bool = False
    seed: int = 0
    data: str | None = None
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr))
    options: dict[str, Any] = field(default_factory=dict)
    #: where runs of :meth:`cached_many` train (None: here); see :mod:`vedere.executor`
    executor: Executor | None = None

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        (self.out / "runs").mkdir(parents=True, exist_ok=True)
        self._subset: dict[str, Any] = {}

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def fingerprint(self, key: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything a run's result depends on: the experiment, the run's key and settings,
        quick mode, the seed, the data source's identity (:func:`source_identity`) and the
        subset drawn from it, the experiment's options and vedere's version."""
        from .. import __version__

        return _plain(
            {
                "experiment": self.name,
                "key": key,
                "settings": dict(settings or {}),
                "quick": self.quick,
                "seed": self.seed,
                "data": source_identity(self.data),
                "subset": self._subset,
                "options": {k: _option_identity(v) for k, v in sorted(self.options.items())},
                "vedere": __version__,
            }
        )

    def _run_path(self, key: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        return self.out / "runs" / f"{safe}.json"

    def _stored(self, key: str, settings: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The stored result of run ``key`` if it has this run's fingerprint, else None."""
        from ..safejson import JSONError, read

        path = self._run_path(key)
        if path.exists():
            try:
                stored = read(path, max_bytes=MAX_RUN_BYTES)
                if isinstance(stored, dict) and stored.get("fingerprint") == self.fingerprint(
                    key, settings
                ):
                    self.log(f"[{self.name}] {key}: done earlier (resumed)")
                    return stored["result"]
                self.log(f"[{self.name}] {key}: stored run has other inputs, running again")
            except (JSONError, OSError, KeyError):
                pass  # unreadable: run again
        return None

    def _store(self, key: str, settings: Mapping[str, Any] | None, result: Any) -> dict[str, Any]:
        result = _plain(result)
        atomic_write_text(
            self._run_path(key),
            json.dumps({"fingerprint": self.fingerprint(key, settings), "result": result}),
        )
        return result

    def cached(
        self,
        key: str,
        fn: Callable[[], dict[str, Any]],
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The result of run ``key``: read from ``runs/key.json`` if an earlier (possibly
        interrupted) invocation finished the same run — same :meth:`fingerprint`, so another
        seed, data source, setting or vedere version runs again — else computed now and
        stored atomically (replacing a stale one)."""
        hit = self._stored(key, settings)
        if hit is not None:
            return hit
        self.log(f"[{self.name}] {key} ...")
        return self._store(key, settings, fn())

    def cached_many(
        self, jobs: Mapping[Any, tuple[str, Callable[[], dict[str, Any]], Mapping[str, Any] | None]]
    ) -> dict[Any, dict[str, Any]]:
        """:meth:`cached` for several independent runs, ``{name: (key, fn, settings)}`` →
        ``{name: result}`` in the order given. The runs not stored yet go to ``executor``
        together, so with ``--workers K`` / ``--scheduler`` they train in parallel on Dask
        workers; each is stored as soon as it finishes (an interrupted experiment keeps
        them). Without an executor (or with one worker) they run here, one after another."""
        results: dict[Any, dict[str, Any]] = {}
        todo = {}
        for name, (key, fn, settings) in jobs.items():
            hit = self._stored(key, settings)
            if hit is not None:
                results[name] = hit
            else:
                todo[name] = (key, fn, settings)
        ex = self.executor
        if ex is None or ex.workers <= 1:
            for name, (key, fn, settings) in todo.items():
                self.log(f"[{self.name}] {key} ...")
                results[name] = self._store(key, settings, fn())
        else:
            futures = {}
            for name, (key, fn, _) in todo.items():
                self.log(f"[{self.name}] {key} → {ex.describe()}")
                futures[ex.submit(fn)] = name
            for fut in ex.as_completed(list(futures)):
                name = futures[fut]
                key, _, settings = todo[name]
                results[name] = self._store(key, settings, fut.result())
                self.log(f"[{self.name}] {key}: done")
        return {name: results[name] for name in jobs}

    def cifar(self, n_train: int | None = None, n_val: int | None = None) -> dict[str, Any]:
        """CIFAR-10 (the embedded sample unless ``data`` was given), split stratified into
        training and validation images with this experiment's seed."""
        from ..data.dataset import load_split
        from ..data.split import stratified_split

        self._subset = {"n_train": n_train, "n_val": n_val}
        data = load_split(self.data, "train", progress=False)
        labels = np.asarray(data.labels)
        n_val = n_val or (120 if self.data is None else 5000)
        tr, va = stratified_split(labels, n_val, seed=self.seed)
        if n_train is not None and n_train < len(tr):
            tr = tr[self.rng(7).permutation(len(tr))[:n_train]]
        images = np.asarray(data.images)
        return {
            "x_train": images[tr],
            "y_train": labels[tr],
            "x_val": images[va],
            "y_val": labels[va],
            "classes": list(data.classes),
            "source": "embedded CIFAR-10 sample" if self.data is None else str(self.data),
        }


#: cap on a stored run's JSON (histories and a few weight matrices)
MAX_RUN_BYTES = 64 * 1024 * 1024
#: at most this many files of a data folder enter its identity
MAX_IDENTITY_FILES = 10_000


def _stat_identity(p: Path) -> list[Any]:
    st = p.stat()
    return [st.st_size, st.st_mtime_ns]


def source_identity(data: str | os.PathLike[str] | None) -> dict[str, Any]:
    """What identifies a data source without reading it: the embedded sample (vedere's
    version then identifies it), or the resolved path with its size and modification time;
    for a folder, a SHA-256 over the relative path, size and mtime of its files (the first
    ``MAX_IDENTITY_FILES`` in sorted order, and their count)."""
    if data is None:
        return {"source": "embedded CIFAR-10 sample"}
    p = Path(data).resolve()
    ident: dict[str, Any] = {"path": str(p)}
    try:
        ident["stat"] = _stat_identity(p)
        if p.is_dir():
            h = hashlib.sha256()
            count = 0
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    count += 1
                    if count <= MAX_IDENTITY_FILES:
                        q = Path(root) / f
                        h.update(repr((str(q.relative_to(p)), *_stat_identity(q))).encode())
            ident["files"] = count
            ident["tree"] = h.hexdigest()
    except OSError as e:
        ident["error"] = type(e).__name__
    return ident


def _option_identity(value: Any) -> Any:
    """An option that names an existing file stands for the file: path, size, mtime."""
    if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
        return source_identity(value)
    return value


def _plain(obj: Any) -> Any:
    """JSON-ready copy: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else (1e308 if obj > 0 else -1e308)
    return obj


class Report:
    """The Markdown report of one experiment."""

    def __init__(self, ctx: Context, title: str, what: str) -> None:
        self.ctx, self.title = ctx, title
        mode = " --quick" if ctx.quick else ""
        data = f" --data-dir {ctx.data}" if ctx.data else ""
        self.parts = [
            f"# {title}",
            "",
            f"Command: `vedere experiment {ctx.name}{mode}{data} --seed {ctx.seed} "
            f"--out {ctx.out}`",
            "",
            what,
            "",
        ]

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.4g}"
            return str(v)

        self.parts.append("| " + " | ".join(headers) + " |")
        self.parts.append("|" + "---|" * len(headers))
        for r in rows:
            self.parts.append("| " + " | ".join(cell(v) for v in r) + " |")
        self.parts.append("")

    def figure(self, path: Path, caption: str) -> None:
        self.parts.append(f"![{caption}]({Path(path).name})")
        self.parts.append("")

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.parts.append("")

    def reading(self, s: str) -> None:
        self.parts.append("**Reading.** " + s)
        self.parts.append("")

    def write(self) -> Path:
        return atomic_write_text(self.ctx.out / "report.md", "\n".join(self.parts))


def figure_path(ctx: Context, name: str) -> Path:
    return ctx.out / f"{name}.png"


def plot_runs(ctx: Context, name: str, runs: dict[str, dict[str, Any]]) -> Path:
    """Training loss and validation accuracy against epochs, one line per run (diverged
    runs clipped and marked, see :func:`vedere.viz.curves.plot_curves`)."""
    from ..viz.curves import epoch_axis, plot_curves
    from ..viz.figure import new_figure, save_png

    fig = new_figure(10, 3.6)
    left, right = fig.subplots(1, 2)
    gone = {label for label, r in runs.items() if r.get("diverged")}
    plot_curves(left, {k: (r["epoch"], r["train_loss"]) for k, r in runs.items()}, gone)
    plot_curves(right, {k: (r["epoch"], r["val_acc"]) for k, r in runs.items()})
    left.set_ylabel("training loss")
    right.set_ylabel("validation accuracy")
    for ax in (left, right):
        epoch_axis(ax)
        ax.grid(alpha=0.3)
    left.legend(fontsize=7)
    return save_png(fig, figure_path(ctx, name))


def finals(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each run's final training loss and validation accuracy."""
    return {k: {m: r[m] for m in ("final_train_loss", "final_val_acc")} for k, r in runs.items()}
