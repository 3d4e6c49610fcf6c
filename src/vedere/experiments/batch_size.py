"""``batch-size``: stochastic (1), mini-batches (32 … 1024) and full-batch gradient descent on
the same data and epochs — loss against epochs and against seconds."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import train


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=200 if ctx.quick else 10000)
    sizes = (1, 32, 128, 1024, 0)
    epochs = 3 if ctx.quick else 10
    runs = {}
    for bs in sizes:
        # the same lr for every size: the course's comparison (one step per batch)
        runs[bs] = ctx.cached(
            f"batch-{bs}",
            lambda bs=bs: train(
                data,
                hidden=(64,),
                seed=ctx.seed,
                epochs=epochs,
                batch_size=bs,
                optimizer="sgd",
                lr=0.005 if bs == 1 else 0.05,
            ),
        )
    fig = new_figure(10, 3.6)
    a1, a2 = fig.subplots(1, 2)
    for bs, r in runs.items():
        label = "full batch" if bs == 0 else ("stochastic (1)" if bs == 1 else f"batch {bs}")
        a1.plot(r["epoch"], r["train_loss"], marker="o", ms=3, label=label)
        a2.plot(np.cumsum(r["seconds_per_epoch"]), r["train_loss"], marker="o", ms=3, label=label)
    a1.set_xlabel("epoch")
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
    rep.reading(
        "Per epoch, small batches make many more (noisier) updates and lower the loss most; "
        "per second, mini-batches of 32–128 win, because single images waste the vectorised "
        "matrix products and the full batch updates only once per pass."
    )
    rep.write()
    return {
        str(bs): {k: r[k] for k in ("final_train_loss", "final_val_acc")}
        | {"seconds": sum(r["seconds_per_epoch"])}
        for bs, r in runs.items()
    }
