"""``batch-size``: stochastic (1), mini-batches (32 … 1024) and full-batch gradient descent on
the same data and epochs — loss against epochs and against seconds."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..viz.curves import epoch_axis
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import train


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=200 if ctx.quick else 10000)
    sizes = (1, 32, 128, 1024, 0)
    epochs = 3 if ctx.quick else 10
    jobs = {}
    for bs in sizes:
        # the same lr for every size: the course's comparison (one step per batch)
        cfg = dict(
            hidden=(64,),
            epochs=epochs,
            batch_size=bs,
            optimizer="sgd",
            lr=0.005 if bs == 1 else 0.05,
        )
        jobs[bs] = (f"batch-{bs}", partial(train, data, seed=ctx.seed, **cfg), cfg)
    runs = ctx.cached_many(jobs)
    fig = new_figure(10, 3.6)
    a1, a2 = fig.subplots(1, 2)
    for bs, r in runs.items():
        label = "full batch" if bs == 0 else ("stochastic (1)" if bs == 1 else f"batch {bs}")
        a1.plot(r["epoch"], r["train_loss"], marker="o", ms=3, label=label)
        a2.plot(np.cumsum(r["seconds_per_epoch"]), r["train_loss"], marker="o", ms=3, label=label)
    epoch_axis(a1)
    a2.set_xlabel("seconds")
    for a in (a1, a2):
        a.set_ylabel("training loss")
        a.legend(fontsize=7)
    path = save_png(fig, figure_path(ctx, "batch_sizes"))
    n = len(data["y_train"])
    rep = Report(
        ctx,
        "Stochastic, mini-batch and full-batch gradient descent",
        f"MLP 3072-64-10, plain SGD (lr 0.05; 0.005 for single images), {epochs} epochs over "
        f"the same {n} images of {data['source']}.",
    )
    rep.table(
        ["batch", "updates per epoch", "final training loss", "seconds", "final val. accuracy"],
        [
            [
                "full" if bs == 0 else bs,
                1 if bs == 0 else -(-n // bs),
                r["final_train_loss"],
                sum(r["seconds_per_epoch"]),
                r["final_val_acc"],
            ]
            for bs, r in runs.items()
        ],
    )
    rep.figure(path, "loss against epochs and seconds")

    def label(bs: int) -> str:
        return "the full batch" if bs == 0 else f"batch {bs}"

    best = min(runs, key=lambda bs: runs[bs]["final_train_loss"])
    target = runs[0]["final_train_loss"]  # where full-batch descent ends

    def time_to(bs: int) -> float:
        t = np.cumsum(runs[bs]["seconds_per_epoch"])
        hit = [s for s, loss in zip(t, runs[bs]["train_loss"], strict=True) if loss <= target]
        return hit[0] if hit else float("inf")

    fastest = min(runs, key=time_to)
    rep.reading(
        f"After {epochs} epochs {label(best)} has the lowest training loss "
        f"({runs[best]['final_train_loss']:.3g}); the full batch, one update per epoch, ends "
        f"at {target:.3g}. {label(fastest).capitalize()} reaches that loss soonest "
        f"({time_to(fastest):.1f} s): single images waste the vectorised matrix products "
        "and make noisy steps, the full batch updates only once per pass."
    )
    rep.write()
    return {
        str(bs): {k: r[k] for k in ("final_train_loss", "final_val_acc")}
        | {"seconds": sum(r["seconds_per_epoch"])}
        for bs, r in runs.items()
    }
