"""``optimizers``: SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam and AdamW — their paths on
2-D test surfaces (Rosenbrock, Beale, a saddle) drawn over the contours, and the same
training budget on CIFAR-10."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..nn import Parameter, optim
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path, finals, plot_runs
from .training import train

NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")

Surface = tuple[
    Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray], np.ndarray, tuple
]


def _rosenbrock() -> Surface:
    f = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2  # noqa: E731
    g = lambda p: np.array(  # noqa: E731
        [-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)]
    )
    return f, g, np.array([-1.5, 2.0]), (-2, 2, -1, 3)


def _beale() -> Surface:
    def f(p: np.ndarray) -> float:
        x, y = p
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def g(p: np.ndarray) -> np.ndarray:
        x, y = p
        a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        return np.array(
            [
                2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
                2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2,
            ]
        )

    return f, g, np.array([1.0, 1.4]), (-0.5, 4, -1.5, 2)


def _saddle() -> Surface:
    f = lambda p: p[0] ** 2 - p[1] ** 2  # noqa: E731
    g = lambda p: np.array([2 * p[0], -2 * p[1]])  # noqa: E731
    return f, g, np.array([-1.5, 1e-3]), (-2, 2, -2, 2)


#: the surfaces by key (results and tests use it), with their plain SGD rate; the titles
#: of the figure are in SURFACE_TITLES
SURFACES = {
    "rosenbrock": (_rosenbrock, 1e-3),
    "beale": (_beale, 1e-3),
    "saddle": (_saddle, 1e-2),
}
SURFACE_TITLES = {"rosenbrock": "Rosenbrock", "beale": "Beale", "saddle": "saddle x²−y²"}
ADAPTIVE_LR = {"adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05, "adamw": 0.05}


def trajectory(name: str, surface: Surface, lr: float, steps: int) -> np.ndarray:
    """The optimiser's path on a surface: (steps + 1, 2)."""
    _, g, start, _ = surface
    p = Parameter(start.astype(np.float64).copy(), "p")
    extra = {"momentum": 0.9} if name in ("momentum", "nesterov") else {}
    opt = optim.make_optimizer(name, [p], ADAPTIVE_LR.get(name, lr), **extra)
    path = [p.data.copy()]
    for _ in range(steps):
        opt.zero_grad()
        p.grad = g(p.data)
        opt.step()
        if not np.isfinite(p.data).all() or np.abs(p.data).max() > 1e6:
            break
        path.append(p.data.copy())
    return np.array(path)


def _cfg(name: str, epochs: int, lrs: dict[str, float]) -> dict[str, Any]:
    """The settings of the CIFAR-10 run with optimizer ``name``."""
    return dict(hidden=(256,), epochs=epochs, batch_size=64, optimizer=name, lr=lrs[name])


def _surfaces(ctx: Context, steps: int) -> tuple[Any, dict[str, dict[str, float]]]:
    """Every optimiser's path on each surface: the figure, and f at each path's end."""
    fig = new_figure(4.2 * len(SURFACES), 4.0)
    axes = fig.subplots(1, len(SURFACES))
    final: dict[str, dict[str, float]] = {}
    for ax, (sname, (make, lr)) in zip(axes, SURFACES.items(), strict=True):
        surface = make()
        f, _, start, (x0, x1, y0, y1) = surface
        gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        z = np.vectorize(lambda a, b, f=f: f(np.array([a, b])))(gx, gy)
        ax.contour(gx, gy, np.log1p(z - z.min()), levels=25, cmap="Greys", linewidths=0.6)
        final[sname] = {}
        for name in NAMES:
            path = trajectory(name, surface, lr, steps)
            final[sname][name] = float(f(path[-1]))
            ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
        ax.plot(*start, "ko", ms=4)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{SURFACE_TITLES[sname]} ({steps} steps)", fontsize=9)
    axes[0].legend(fontsize=7)
    return save_png(fig, figure_path(ctx, "surfaces")), final


def run(ctx: Context) -> dict[str, Any]:
    steps = 300 if ctx.quick else 2000
    p1, final = _surfaces(ctx, steps)

    data = ctx.cifar(n_train=600 if ctx.quick else 10000)
    epochs = 4 if ctx.quick else 15
    lrs = {
        "sgd": 0.05,
        "momentum": 0.01,
        "nesterov": 0.01,
        "adagrad": 0.01,
        "rmsprop": 1e-3,
        "adam": 1e-3,
        "adamw": 1e-3,
    }
    runs = ctx.cached_many(
        {
            name: (
                f"cifar-{name}",
                partial(train, data, seed=ctx.seed, **_cfg(name, epochs, lrs)),
                _cfg(name, epochs, lrs),
            )
            for name in NAMES
        }
    )
    p2 = plot_runs(ctx, "cifar", runs)
    rep = Report(
        ctx,
        "Optimisers on test surfaces and on CIFAR-10",
        f"Each optimiser from the same start on three surfaces ({steps} steps; lr 1e-3 "
        "(1e-2 on the saddle) for the SGD family, per-method rates for the adaptive ones), "
        "then MLP 3072-256-10 "
        f"on {data['source']} for {epochs} epochs with each.",
    )
    rep.table(
        [
            "optimiser",
            *(f"{SURFACE_TITLES[s]}: final f" for s in SURFACES),
            "CIFAR final loss",
            "CIFAR val. acc.",
        ],
        [
            [
                n,
                *(final[s][n] for s in SURFACES),
                runs[n]["final_train_loss"],
                runs[n]["final_val_acc"],
            ]
            for n in NAMES
        ],
    )
    rep.figure(p1, "paths on the surfaces")
    rep.figure(p2, "CIFAR-10 training")
    ros = final["rosenbrock"]
    best_cifar = min(runs, key=lambda n: runs[n]["final_train_loss"])
    rep.reading(
        f"On Rosenbrock's curved valley plain SGD is still at f = {ros['sgd']:.2g} after "
        f"{steps} steps while momentum reaches {ros['momentum']:.2g} and Nesterov "
        f"{ros['nesterov']:.2g}: velocity carries them along the valley. The adaptive methods "
        "rescale each coordinate, so the tiny gradient across the saddle still moves them "
        f"off it at once. On CIFAR-10, {best_cifar} ends with the lowest training loss."
    )
    rep.write()
    return {
        "surfaces": final,
        "cifar": finals(runs),
    }
