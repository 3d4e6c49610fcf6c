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


#: the fitting regimes and the regularisers, keyed by what they are (the results and the
#: tests use the keys; the labels are for figures and tables only)
REGIMES = {
    "underfit": "under-fit (64 units, 2 epochs)",
    "wellfit": "well-fit (256 units, L2 1e-3, early stopping)",
    "overfit": "over-fit (1024x2 units, no reg.)",
}
REGULARISERS: dict[str, tuple[str, dict[str, Any]]] = {
    "none": ("none", {}),
    "l1": ("L1 1e-4", {"l1": 1e-4}),
    "l2": ("L2 1e-2", {"l2": 1e-2}),
    "dropout": ("dropout 0.5", {"dropout": 0.5}),
    "early_stopping": ("early stopping (patience 3)", {"early_stopping": 3}),
    "label_smoothing": ("label smoothing 0.2", {"label_smoothing": 0.2}),
}


def _polynomial_figure(ctx: Context, poly: dict[str, Any]) -> Any:
    fig = new_figure(10, 3.2)
    for ax, d in zip(fig.subplots(1, 3), DEGREES, strict=True):
        ax.plot(poly["xt"], np.sin(2 * np.pi * poly["xt"]), "g--", lw=1, label="truth")
        ax.plot(poly["xt"], poly["fits"][d]["curve"], "r", label=f"degree {d}")
        ax.scatter(poly["x"], poly["y"], s=12)
        ax.set_ylim(-1.8, 1.8)
        f = poly["fits"][d]
        ax.set_title(
            f"degree {d}: train {f['train_mse']:.3f}, test {f['test_mse']:.3f}", fontsize=8
        )
    return save_png(fig, figure_path(ctx, "polynomial"))


def _regimes(ctx: Context, data: dict[str, Any], base: dict[str, Any], epochs: int) -> Any:
    """Under-, well- and over-fitting MLPs, by key of :data:`REGIMES`."""
    configs = {
        "underfit": dict(hidden=(64,), epochs=2),
        "wellfit": dict(hidden=(256,), epochs=epochs, l2=1e-3, early_stopping=5),
        "overfit": dict(hidden=(1024, 1024), epochs=epochs),
    }
    return ctx.cached_many(
        {
            k: (f"regime-{i}-{sorted(v.items())}", partial(train, data, **base, **v), {**base, **v})
            for i, (k, v) in enumerate(configs.items())
        }
    )


def _regimes_figure(ctx: Context, fits: dict[str, Any]) -> Any:
    fig = new_figure(4 * len(fits), 3.2)
    for ax, (k, r) in zip(fig.subplots(1, len(fits)), fits.items(), strict=True):
        ax.plot(r["epoch"], r["train_acc"], label="train")
        ax.plot(r["epoch"], r["val_acc"], label="validation")
        ax.set_title(REGIMES[k], fontsize=8)
        epoch_axis(ax)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
    return save_png(fig, figure_path(ctx, "fitting_regimes"))


def _regularisers(ctx: Context, data: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """One run of ``cfg`` per regulariser, by key of :data:`REGULARISERS`."""
    return ctx.cached_many(
        {
            k: (
                f"reg-{i}-{sorted(v.items())}",
                partial(_regularised, data, {**cfg, **v}),
                {**cfg, **v},
            )
            for i, (k, (_, v)) in enumerate(REGULARISERS.items())
        }
    )


def _regularisers_figure(ctx: Context, runs: dict[str, Any]) -> Any:
    fig = new_figure(10, 3.4)
    a1, a2 = fig.subplots(1, 2)
    for k, r in runs.items():
        a1.plot(r["epoch"], r["val_acc"], label=REGULARISERS[k][0])
    epoch_axis(a1)
    a1.set_ylabel("validation accuracy")
    a1.legend(fontsize=6)
    for k in ("none", "label_smoothing"):
        a2.hist(runs[k]["confidence"], bins=20, range=(0, 1), alpha=0.6, label=REGULARISERS[k][0])
    a2.set_xlabel("confidence (max probability) on validation images")
    a2.legend(fontsize=7)
    return save_png(fig, figure_path(ctx, "regularisers"))


def run(ctx: Context) -> dict[str, Any]:
    poly = polynomial(ctx.seed)
    p_poly = _polynomial_figure(ctx, poly)
    data = ctx.cifar(n_train=300 if ctx.quick else 2000)
    epochs = 10 if ctx.quick else 60
    base = dict(seed=ctx.seed, batch_size=32, optimizer="momentum", lr=0.01)
    fits = _regimes(ctx, data, base, epochs)
    p_fit = _regimes_figure(ctx, fits)
    big = dict(hidden=(256, 256) if ctx.quick else (512, 512), epochs=epochs)
    runs = _regularisers(ctx, data, {**base, **big})
    p_reg = _regularisers_figure(ctx, runs)
    rep = Report(
        ctx,
        "Over-fitting and regularisation",
        f"A polynomial toy (15 noisy samples of sin 2πx); MLPs on {len(data['y_train'])} "
        f"training images of {data['source']} (SGD with momentum, batch 32), then a "
        f"{big['hidden'][0]}×{big['hidden'][1]} MLP ({epochs} epochs) with each regulariser.",
    )
    _report(rep, poly, fits, runs, (p_poly, p_fit, p_reg))
    rep.write()
    return _results(poly, fits, runs)


def _report(
    rep: Report, poly: dict[str, Any], fits: Any, runs: Any, figures: tuple[Any, Any, Any]
) -> None:
    p_poly, p_fit, p_reg = figures
    rep.table(
        ["degree", "train MSE", "test MSE"],
        [[d, poly["fits"][d]["train_mse"], poly["fits"][d]["test_mse"]] for d in DEGREES],
    )
    rep.figure(p_poly, "polynomial fits")
    rep.table(
        ["regime", "final train acc.", "final val. acc."],
        [[REGIMES[k], r["train_acc"][-1], r["val_acc"][-1]] for k, r in fits.items()],
    )
    rep.figure(p_fit, "train and validation curves")
    columns = ["regulariser", "final val. acc.", "best val. acc.", "epochs run"]
    rep.table(
        [*columns, "weights |w| < 1e-3", "mean confidence"],
        [
            [
                REGULARISERS[k][0],
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
    over, rg = fits["overfit"], runs
    rep.reading(
        "Degree 15 passes through every noisy point (lowest training error) and misses the "
        f"curve between them; the big network reaches {over['train_acc'][-1]:.0%} training "
        f"accuracy while validation stays at {over['val_acc'][-1]:.0%}. L1 sets "
        f"{rg['l1']['sparsity']:.0%} of the weights to (nearly) zero (none: "
        f"{rg['none']['sparsity']:.0%}), label smoothing lowers the mean confidence from "
        f"{np.mean(rg['none']['confidence']):.2f} to "
        f"{np.mean(rg['label_smoothing']['confidence']):.2f}, and early stopping ends "
        f"after {len(rg['early_stopping']['epoch'])} epochs."
    )


def _results(poly: dict[str, Any], fits: Any, runs: Any) -> dict[str, Any]:
    """The experiment's numbers, keyed by data (degree, regime, regulariser keys)."""
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
