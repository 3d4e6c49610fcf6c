"""A sweep's report: ``report.md`` with the best trial's command line, the table of trials and
the figures — optimisation history, parameter importance, the metric against each parameter
(Optuna's own matplotlib plots) and every trial's validation curve on one plot."""

from __future__ import annotations

import json
import shlex
import warnings
from pathlib import Path
from typing import Any

from ..classify.settings import command_line as command_line_args
from ..fileio import atomic_write_text
from .layout import trial_dir
from .spec import Spec


def _save(ax_or_axes: Any, path: Path) -> bool:
    import matplotlib.pyplot as plt

    ax = ax_or_axes.flat[0] if hasattr(ax_or_axes, "flat") else ax_or_axes
    fig = ax.figure
    n = len(fig.axes)  # Optuna's slice plot: one panel per parameter, and a colour bar
    fig.set_size_inches(
        max(fig.get_size_inches()[0], 3.2 * n + 1), max(fig.get_size_inches()[1], 4.0)
    )
    # no tight_layout: it squeezes Optuna's colour bar onto the last panel
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def _figures(study: Any, spec: Spec, out: Path, table: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    made: list[str] = []
    complete = [r for r in table if r["state"] == "complete"]
    plots = [("optimization_history.png", lambda: ovm.plot_optimization_history(study))]
    if len(complete) >= 2 and len(spec.search) >= 2:
        plots.append(("param_importances.png", lambda: ovm.plot_param_importances(study)))
    if complete:
        plots.append(("slice.png", lambda: ovm.plot_slice(study)))
    # Optuna's plots call plt.style.use(): keep that from leaking into vedere's other figures
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")
        for name, plot in plots:
            try:
                _save(plot(), out / name)
                made.append(name)
            except (ValueError, RuntimeError, ZeroDivisionError):
                plt.close("all")  # e.g. importances of constant values: leave it out
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    for r in table:
        try:
            hist = json.loads((out / r["run_dir"] / "history.json").read_text())["epochs"]
        except (OSError, ValueError, KeyError):
            continue
        acc = [row.get("val_acc") for row in hist]
        if not acc or all(a is None for a in acc):
            continue
        ax.plot(
            range(1, len(acc) + 1),
            [float("nan") if a is None else a for a in acc],
            marker=".",
            alpha=0.8,
            label=f"trial {r['trial']} ({r['state']})",
            linestyle="-" if r["state"] == "complete" else ":",
        )
        drawn += 1
    if drawn:
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title("every trial's validation accuracy")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if drawn <= 12:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "curves.png", dpi=100)
        made.append("curves.png")
    plt.close(fig)
    return made


def command_line(spec: Spec, row: dict[str, Any], out: Path) -> str:
    """The ``vedere train`` command that repeats the trial of ``row`` (into its run
    directory), every value as ``--flag=value``."""
    params = {k: row[k] for k in spec.search}
    args = command_line_args(spec.settings(params))
    return "vedere train " + shlex.join([*args, f"--out={trial_dir(out, row['trial'])}"])


def write_report(
    study: Any, spec: Spec, out: Path, table: list[dict[str, Any]], best: dict[str, Any] | None
) -> None:
    """Write ``out/report.md`` and its figures."""
    figures = _figures(study, spec, out, table)
    counts = {s: sum(r["state"] == s for r in table) for s in ("complete", "pruned", "failed")}
    lines = [
        "# Sweep report",
        "",
        f"Model `{spec.model}` on `{spec.data}`; sampler `{spec.sampler}`, pruner "
        f"`{spec.pruner}`, metric `{spec.metric}` (higher is better).",
        f"{len(table)} trials: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed.",
        "",
    ]
    if best is not None:
        lines += [
            f"## Best: trial {best['trial']}, {spec.metric} = {best[spec.metric]:.4f}",
            "",
            "```",
            command_line(spec, best, out),
            "```",
            "",
            f"Its run directory: `{best['run_dir']}` (also `best`).",
            "",
        ]
    cols = ["trial", "state", spec.metric, "seconds", *spec.search]
    lines += ["## Trials", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

    def fmt(v: Any) -> str:
        if v is None:
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    ranked = sorted(
        table, key=lambda r: (r["state"] != "complete", -(r[spec.metric] or 0), r["trial"])
    )
    for r in ranked:
        lines.append("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    lines.append("")
    failed = [r for r in table if r["state"] == "failed" and r.get("message")]
    if failed:
        lines += ["## Failed trials", ""]
        lines += [f"- trial {r['trial']}: {r['message']}" for r in failed]
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{name[:-4].replace('_', ' ')}]({name})" for name in figures]
        lines.append("")
    atomic_write_text(out / "report.md", "\n".join(lines))
