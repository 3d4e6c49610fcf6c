"""``gradient-check``: analytic gradients (backpropagation) against numeric ones from the
derivative's definition, (f(x+h) − f(x−h)) / 2h, for every layer and loss."""

from __future__ import annotations

from typing import Any

from ..nn.gradcheck_suite import run_suite
from .base import Context, Report


def run(ctx: Context) -> dict[str, Any]:
    rows = ctx.cached("suite", lambda: _suite(ctx.seed))["rows"]
    ok = all(r[2] for r in rows)
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
    rep.reading(
        "Every relative error is many orders of magnitude below 1e-6: the chain rule as "
        "implemented agrees with the definition of the derivative."
        if ok
        else "Some component fails the check: its backward pass is wrong."
    )
    rep.write()
    return {"rows": rows, "passed": ok}


def _suite(seed: int) -> dict[str, Any]:
    rows, _ = run_suite(seed)
    return {"rows": [[n, float(e), bool(p)] for n, e, p in rows]}
