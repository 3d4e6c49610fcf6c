"""``overfitting``: under-, well- and over-fitting on a 1-D polynomial toy and on a small
CIFAR-10 training subset, then L1, L2, dropout, early stopping and label smoothing compared —
validation accuracy, curves, weight sparsity under L1 and confidence under label smoothing."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import numpy as np

from ..viz.curves import epoch_axis
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import predict_proba, train

DEGREES = (1, 3, 15)


def polynomial(seed: int) -> dict[str, Any]:
    """Least-squares polynomials of degree 1, 3, 15 through 15 noisy samples of sin(2πx)."""
    rng = np.random.default_rng([seed, 3])
    x = np.sort(rng.uniform(0, 1, 15))
    y = np.sin(2 * np.pi * x) + rng.normal(0, 0.2, len(x))
    xt = np.linspace(0, 1, 200)
    yt = np.sin(2 * np.pi * xt)
    out: dict[str, Any] = {"x": x, "y": y, "xt": xt, "fits": {}}
    for d in DEGREES:
        # Chebyshev basis on [-1, 1]: well conditioned even at degree 15
        with warnings.catch_warnings():  # degree 15 through 15 points is meant to be ill-posed
            warnings.simplefilter("ignore")
            coef = np.polynomial.chebyshev.chebfit(2 * x - 1, y, d)
        pred = np.polynomial.chebyshev.chebval(2 * xt - 1, coef)
        train_err = float(np.mean((np.polynomial.chebyshev.chebval(2 * x - 1, coef) - y) ** 2))
        test_err = float(np.mean((pred - yt) ** 2))
        out["fits"][d] = {"curve": pred, "train_mse": train_err, "test_mse": test_err}
    return out


def _regularised(data: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """One regularised run, with the sparsity of its weights and its confidence."""
    r = train(data, **cfg, keep_model=True)
    net = r.pop("model")
    proba = predict_proba({"model": net, "scaler": r.pop("scaler")}, data["x_val"])
    weights = np.concatenate([p.data.ravel() for p in net.parameters() if p.decay])
    r["sparsity"] = float(np.mean(np.abs(weights) < 1e-3))
    r["confidence"] = proba.max(axis=1)
    r["best_val_acc"] = max(r["val_acc"])
    return r


def run(ctx: Context) -> dict[str, Any]:
    poly = polynomial(ctx.seed)
    fig = new_figure(10, 3.2)
    axes = fig.subplots(1, 3)
    for ax, d in zip(axes, DEGREES, strict=True):
        ax.plot(poly["xt"], np.sin(2 * np.pi * poly["xt"]), "g--", lw=1, label="truth")
        ax.plot(poly["xt"], poly["fits"][d]["curve"], "r", label=f"degree {d}")
        ax.scatter(poly["x"], poly["y"], s=12)
        ax.set_ylim(-1.8, 1.8)
        f = poly["fits"][d]
        ax.set_title(
            f"degree {d}: train {f['train_mse']:.3f}, test {f['test_mse']:.3f}", fontsize=8
        )
    p_poly = save_png(fig, figure_path(ctx, "polynomial"))

    data = ctx.cifar(n_train=300 if ctx.quick else 2000)
    epochs = 10 if ctx.quick else 60
    base = dict(seed=ctx.seed, batch_size=32, optimizer="momentum", lr=0.01)
    regimes = {
        "under-fit (64 units, 2 epochs)": dict(hidden=(64,), epochs=2),
        "well-fit (256 units, L2 1e-3, early stopping)": dict(
            hidden=(256,), epochs=epochs, l2=1e-3, early_stopping=5
        ),
        "over-fit (1024x2 units, no reg.)": dict(hidden=(1024, 1024), epochs=epochs),
    }
    fits = ctx.cached_many(
        {
            k: (f"regime-{i}-{sorted(v.items())}", partial(train, data, **base, **v), {**base, **v})
            for i, (k, v) in enumerate(regimes.items())
        }
    )
    fig = new_figure(4 * len(fits), 3.2)
    for ax, (k, r) in zip(fig.subplots(1, len(fits)), fits.items(), strict=True):
        ax.plot(r["epoch"], r["train_acc"], label="train")
        ax.plot(r["epoch"], r["val_acc"], label="validation")
        ax.set_title(k, fontsize=8)
        epoch_axis(ax)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    p_fit = save_png(fig, figure_path(ctx, "fitting_regimes"))

    big = dict(hidden=(256, 256) if ctx.quick else (512, 512), epochs=epochs)
    regs = {
        "none": {},
        "L1 1e-4": {"l1": 1e-4},
        "L2 1e-2": {"l2": 1e-2},
        "dropout 0.5": {"dropout": 0.5},
        "early stopping (patience 3)": {"early_stopping": 3},
        "label smoothing 0.2": {"label_smoothing": 0.2},
    }
    runs = ctx.cached_many(
        {
            k: (
                f"reg-{i}-{sorted(v.items())}",
                partial(_regularised, data, {**base, **big, **v}),
                {**base, **big, **v},
            )
            for i, (k, v) in enumerate(regs.items())
        }
    )
    fig = new_figure(10, 3.4)
    a1, a2 = fig.subplots(1, 2)
    for k, r in runs.items():
        a1.plot(r["epoch"], r["val_acc"], label=k)
    epoch_axis(a1)
    a1.set_ylabel("validation accuracy")
    a1.legend(fontsize=6)
    for k in ("none", "label smoothing 0.2"):
        a2.hist(runs[k]["confidence"], bins=20, range=(0, 1), alpha=0.6, label=k)
    a2.set_xlabel("confidence (max probability) on validation images")
    a2.legend(fontsize=7)
    p_reg = save_png(fig, figure_path(ctx, "regularisers"))

    rep = Report(
        ctx,
        "Over-fitting and regularisation",
        f"A polynomial toy (15 noisy samples of sin 2πx); MLPs on {len(data['y_train'])} "
        f"training images of {data['source']} (SGD with momentum, batch 32), then a "
        f"{big['hidden'][0]}×{big['hidden'][1]} MLP ({epochs} epochs) with each regulariser.",
    )
    rep.table(
        ["degree", "train MSE", "test MSE"],
        [[d, poly["fits"][d]["train_mse"], poly["fits"][d]["test_mse"]] for d in DEGREES],
    )
    rep.figure(p_poly, "polynomial fits")
    rep.table(
        ["regime", "final train acc.", "final val. acc."],
        [[k, r["train_acc"][-1], r["val_acc"][-1]] for k, r in fits.items()],
    )
    rep.figure(p_fit, "train and validation curves")
    rep.table(
        [
            "regulariser",
            "final val. acc.",
            "best val. acc.",
            "epochs run",
            "weights |w| < 1e-3",
            "mean confidence",
        ],
        [
            [
                k,
                r["val_acc"][-1],
                r["best_val_acc"],
                len(r["epoch"]),
                r["sparsity"],
                float(np.mean(r["confidence"])),
            ]
            for k, r in runs.items()
        ],
    )
    rep.figure(p_reg, "regularisers")
    over = fits["over-fit (1024x2 units, no reg.)"]
    rg = runs
    rep.reading(
        "Degree 15 passes through every noisy point (lowest training error) and misses the "
        f"curve between them; the big network reaches {over['train_acc'][-1]:.0%} training "
        f"accuracy while validation stays at {over['val_acc'][-1]:.0%}. L1 sets "
        f"{rg['L1 1e-4']['sparsity']:.0%} of the weights to (nearly) zero (none: "
        f"{rg['none']['sparsity']:.0%}), label smoothing lowers the mean confidence from "
        f"{np.mean(rg['none']['confidence']):.2f} to "
        f"{np.mean(rg['label smoothing 0.2']['confidence']):.2f}, and early stopping ends "
        f"after {len(rg['early stopping (patience 3)']['epoch'])} epochs."
    )
    rep.write()
    return {
        "polynomial": {
            d: {k: v for k, v in poly["fits"][d].items() if k != "curve"} for d in DEGREES
        },
        "regimes": {
            k: {"train_acc": r["train_acc"][-1], "val_acc": r["val_acc"][-1]}
            for k, r in fits.items()
        },
        "regularisers": {
            k: {
                "val_acc": r["val_acc"][-1],
                "sparsity": r["sparsity"],
                "confidence": float(np.mean(r["confidence"])),
                "epochs": len(r["epoch"]),
            }
            for k, r in runs.items()
        },
    }
