"""``gradient-check``: analytic gradients (backpropagation) against numeric ones from the
derivative's definition, (f(x+h) − f(x−h)) / 2h, for every layer and loss — and the lesson's
picture of why h = 1e-5 in float64: the relative error of the central difference against the
step h, in float32 and float64.

For f = exp (f = f' = f''') the central difference's relative error is about

    h² / 6  (truncation: the Taylor terms the difference leaves out, right of the minimum)
  + ε / h   (round-off: f(x ± h) are each off by ~ε·f, and their difference is divided by 2h)

with ε the unit round-off (2^-53 ≈ 1.1e-16 in float64, 2^-24 ≈ 6e-8 in float32), smallest
near h* = (3ε)^(1/3): about 7e-6 in float64 and 6e-3 in float32."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.gradcheck_suite import run_suite
from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path

#: the steps h of the figure, 1e-12 … 1 (8 per decade)
STEPS = np.logspace(-12, 0, 97)
#: the points x where exp'(x) is estimated (the error is their median)
POINTS = np.linspace(-1.0, 1.0, 17)


def step_errors(dtype: type[np.floating], steps: np.ndarray = STEPS) -> np.ndarray:
    """Relative error of the central difference (exp(x+h) − exp(x−h)) / 2h computed in
    ``dtype`` against exp'(x) = exp(x) (float64), the median over ``POINTS``; shape
    (len(steps),)."""
    x = POINTS.astype(dtype)[None, :]
    h = np.asarray(steps).astype(dtype)[:, None]
    numeric = (np.exp(x + h) - np.exp(x - h)) / (dtype(2) * h)
    exact = np.exp(x.astype(np.float64))
    return np.median(np.abs(numeric.astype(np.float64) - exact) / exact, axis=1)


def plot_step_errors(errors: dict[str, list[float]], path: Any) -> Any:
    """Log-log relative error against h, one line per float type, with the two error models
    h²/6 and ε/h dotted."""
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    for (name, err), colour in zip(errors.items(), ("C0", "C1"), strict=False):
        eps = float(np.finfo(name).eps) / 2
        ax.loglog(STEPS, err, marker=".", ms=3, color=colour, label=f"{name} (ε = {eps:.1g})")
        ax.loglog(STEPS, eps / STEPS, ":", color=colour, lw=1)
    ax.loglog(STEPS, STEPS**2 / 6, "k:", lw=1, label="h²/6 (truncation); ε/h (round-off)")
    ax.set_ylim(1e-13, 10)
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error of (f(x+h) − f(x−h)) / 2h")
    ax.set_title("central difference of exp: round-off (left) against truncation (right)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="major")
    return save_png(fig, path)


def run(ctx: Context) -> dict[str, Any]:
    rows = ctx.cached("suite", lambda: _suite(ctx.seed))["rows"]
    ok = all(r[2] for r in rows)
    errors = {name: step_errors(np.dtype(name).type).tolist() for name in ("float32", "float64")}
    best = {name: float(STEPS[int(np.argmin(e))]) for name, e in errors.items()}
    p_steps = plot_step_errors(errors, figure_path(ctx, "step_size"))
    rep = Report(
        ctx,
        "Backpropagation checked against the derivative's definition",
        "Each component's backward pass against central differences (h = 1e-5, float64); "
        "the relative error is |a − n| / max(|a|, |n|) over every entry.",
    )
    rep.table(
        ["component", "max relative error", "result"],
        [[n, f"{e:.2e}", "ok" if p else "FAIL"] for n, e, p in rows],
    )
    rep.figure(p_steps, "relative error of the central difference against the step h")
    rep.text(
        "Why h = 1e-5 in float64: the central difference's error is truncation (≈ h²/6, "
        "right) plus round-off (≈ ε/h, left); their sum is smallest near (3ε)^(1/3) — here at "
        f"h = {best['float64']:.1g} in float64 and h = {best['float32']:.1g} in float32, "
        "whose ε is 10^9 times larger (so float32 cannot check a gradient to better than "
        "about 1e-5)."
    )
    rep.reading(
        "Every relative error is many orders of magnitude below 1e-6: the chain rule as "
        "implemented agrees with the definition of the derivative."
        if ok
        else "Some component fails the check: its backward pass is wrong."
    )
    rep.write()
    return {
        "rows": rows,
        "passed": ok,
        "steps": STEPS.tolist(),
        "step_errors": errors,
        "best_step": best,
    }


def _suite(seed: int) -> dict[str, Any]:
    rows, _ = run_suite(seed)
    return {"rows": [[r.name, float(r.rel_error), bool(r.passed)] for r in rows]}
