"""``learning-rate``: too low, about right, too high — one MLP on CIFAR-10 trained with a
range of learning rates (the divergent run shown, not hidden), and a learning-rate range test
(the rate grows exponentially over one pass while the loss is recorded) that suggests one."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from ..data.transforms import Normalizer
from ..nn import SoftmaxCrossEntropy, mlp, optim
from ..viz.curves import epoch_axis, plot_curves
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import train

RATES = (1e-4, 1e-3, 1e-2, 1e-1, 3.0)


def range_test(data: dict, seed: int, steps: int, lo: float = 1e-5, hi: float = 10.0) -> dict:
    """Smith's range test: SGD with momentum, lr from lo to hi geometrically, one batch of
    64 per step; stops when the loss exceeds 4× its best. Suggests the rate where the
    smoothed loss falls fastest."""
    x, y = data["x_train"], np.asarray(data["y_train"])
    norm = Normalizer().fit(x)
    net = mlp([int(np.prod(x.shape[1:])), 256, int(y.max()) + 1], "relu", "he", rng=seed)
    loss = SoftmaxCrossEntropy()
    opt = optim.make_optimizer("momentum", net.parameters(), lo, momentum=0.9)
    rng = np.random.default_rng([seed, 5])
    lrs, losses = [], []
    best, smooth = math.inf, None
    for i in range(steps):
        lr = lo * (hi / lo) ** (i / max(steps - 1, 1))
        opt.lr = lr
        idx = rng.integers(0, len(y), 64)
        out = net.forward(norm(x[idx]))
        value = loss.forward(out, y[idx])
        if not math.isfinite(value):
            break
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if smooth > 4 * best:
            break
        opt.zero_grad()
        net.backward(loss.backward())
        opt.step()
    lg = np.log10(lrs)
    slope = np.gradient(np.array(losses), lg) if len(lrs) > 2 else np.zeros(len(lrs))
    k = int(np.argmin(slope[: max(1, int(np.argmin(losses)))])) if len(lrs) > 2 else 0
    return {"lr": lrs, "loss": losses, "suggested": lrs[k] if lrs else lo}


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=800 if ctx.quick else 10000)
    epochs = 5 if ctx.quick else 20
    jobs = {}
    for lr in RATES:
        cfg = dict(hidden=(256,), epochs=epochs, batch_size=64, optimizer="momentum", lr=lr)
        jobs[lr] = (f"lr-{lr:g}", partial(train, data, seed=ctx.seed, **cfg), cfg)
    runs = ctx.cached_many(jobs)
    steps = 150 if ctx.quick else 600
    rt = ctx.cached(
        "range-test", lambda: range_test(data, ctx.seed, steps), settings={"steps": steps}
    )
    fig = new_figure(10, 3.6)
    a1, a2 = fig.subplots(1, 2)
    plot_curves(
        a1,
        {f"lr {lr:g}": (r["epoch"], r["train_loss"]) for lr, r in runs.items()},
        diverged={f"lr {lr:g}" for lr, r in runs.items() if r["diverged"]},
        log=True,
        marker="o",
        ms=3,
    )
    epoch_axis(a1)
    a1.set_ylabel("training loss")
    a1.set_title("loss per epoch (× where a diverged run leaves the plot)", fontsize=9)
    a1.legend(fontsize=7)
    a2.semilogx(rt["lr"], rt["loss"])
    a2.axvline(rt["suggested"], color="red", ls="--", label=f"suggested {rt['suggested']:.2g}")
    a2.set_xlabel("learning rate")
    a2.set_ylabel("smoothed loss")
    a2.set_title("range test")
    a2.legend(fontsize=7)
    path = save_png(fig, figure_path(ctx, "learning_rates"))
    rep = Report(
        ctx,
        "Learning rate: too low, about right, too high",
        f"MLP 3072-256-10 on {data['source']} ({len(data['y_train'])} images), SGD with "
        f"momentum 0.9, batch 64, {epochs} epochs, one run per rate.",
    )
    rep.table(
        ["learning rate", "final training loss", "final val. accuracy", "diverged"],
        [
            [f"{lr:g}", r["final_train_loss"], r["final_val_acc"], r["diverged"]]
            for lr, r in runs.items()
        ],
    )
    rep.figure(path, "loss curves and range test")
    ok = {lr: r for lr, r in runs.items() if not r["diverged"]}
    best = max(ok, key=lambda lr: ok[lr]["final_val_acc"]) if ok else None
    gone = [f"{lr:g}" for lr, r in runs.items() if r["diverged"]]
    lowest = min(RATES)
    rep.reading(
        f"The lowest rate ({lowest:g}) ends with the highest loss of the stable runs "
        f"({runs[lowest]['final_train_loss']:.3g}): it is too slow; "
        + (f"{best:g} gives the best validation accuracy; " if best is not None else "")
        + (
            f"{' and '.join(gone)} overshoot: the loss grows far above its best (or to "
            "NaN/inf, where the divergence guard stops the run) and the run diverged. "
            if gone
            else "no rate diverged. "
        )
        + f"The range test suggests {rt['suggested']:.2g}, where the loss falls fastest."
    )
    rep.write()
    return {
        "runs": {
            f"{lr:g}": {k: r[k] for k in ("final_train_loss", "final_val_acc", "diverged")}
            for lr, r in runs.items()
        },
        "suggested": rt["suggested"],
    }
