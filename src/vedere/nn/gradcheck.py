"""Gradient check: backpropagation against the derivative's definition.

The course defines ∂L/∂θ = lim_{h→0} (L(θ + h) - L(θ)) / h. Numerically we use the central
difference (L(θ + h) - L(θ - h)) / 2h, whose error is O(h²), for every coordinate (or a
seeded sample of them in large arrays), and compare with the analytic gradient.

The reported relative error of an array is ‖a - n‖₂ / max(‖a‖₂, ‖n‖₂, 1e-4): about 1e-10 to
1e-8 in float64 when backward is right, about 1 when it is wrong. The floor 1e-4 keeps
gradients that are tiny as a whole from being judged on the difference quotient's own
round-off (≈ 1e-16·|L| / h ≈ 1e-11): below it the error is, in effect, absolute. Check in float64
(``model.astype(np.float64)``): float32 round-off swamps the difference quotient.

Three uses:

- a layer:  ``gradcheck(layer, x)`` — objective Σ (layer(x) ⊙ G) for a fixed random G
- a loss:   ``gradcheck(loss, pred, target)`` — objective loss(pred, target)
- a model:  ``gradcheck(model, x, target, loss=loss)`` — objective loss(model(x), target);
            wrap the loss in :class:`~vedere.nn.regularizers.Regularized` to include L1/L2.

A model in training mode draws a fresh dropout mask on every forward pass, so the
objective would change between the evaluations of a difference quotient. gradcheck
therefore holds each active Dropout's mask fixed (the one its first pass drew) for the
whole check, restores the layers afterwards and says so under the table. A Dropout given a
``fixed_mask`` by the caller keeps it.

:func:`format_table` draws the one table both :class:`GradCheckReport` and
``vedere gradcheck`` print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .dropout import Dropout
from .losses import Loss
from .module import Module

REL_FLOOR = 1e-4


@dataclass
class ArrayCheck:
    """The comparison for one array: its name, size, and errors."""

    name: str
    shape: tuple[int, ...]
    n_checked: int
    rel_error: float
    max_abs_error: float


class TableRow(NamedTuple):
    """One line of a gradient-check table: an array, or a whole component of the suite."""

    name: str
    what: str  # the array's shape, or how many arrays a component has
    n_checked: int
    rel_error: float
    max_abs_error: float
    passed: bool


def format_table(
    rows: Sequence[TableRow], tol: float, notes: Sequence[str] = (), what: str = "shape"
) -> str:
    """The gradient-check table: one line per row, a PASS/FAIL verdict with the largest
    relative error and the tolerance, then any notes (e.g. that dropout masks were fixed).
    ``what`` heads the second column (an array's shape, or a component's arrays)."""
    width = max([24, *(len(r.name) + 1 for r in rows)])
    lines = [
        f"{'name':<{width}} {what:<14} {'checked':>8} {'rel. error':>11} {'max |a-n|':>11}  result"
    ]
    for r in rows:
        lines.append(
            f"{r.name:<{width}} {r.what:<14} {r.n_checked:>8} {r.rel_error:>11.2e} "
            f"{r.max_abs_error:>11.2e}  {'ok' if r.passed else 'FAIL'}"
        )
    worst = max((r.rel_error for r in rows), default=0.0)
    passed = bool(rows) and all(r.passed for r in rows)
    lines.append(
        f"{'PASS' if passed else 'FAIL'}: max relative error {worst:.2e} (tolerance {tol:g})"
    )
    lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines)


@dataclass
class GradCheckReport:
    """Per-array results; ``passed`` when every relative error is below ``tol``."""

    checks: list[ArrayCheck] = field(default_factory=list)
    tol: float = 1e-6
    notes: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over the checked arrays (0 when none was checked)."""
        return max((c.rel_error for c in self.checks), default=0.0)

    @property
    def passed(self) -> bool:
        """True when at least one array was checked and every relative error is below ``tol``."""
        return bool(self.checks) and self.max_rel_error < self.tol

    def __bool__(self) -> bool:
        return self.passed

    def rows(self) -> list[TableRow]:
        """One table row per checked array."""
        return [
            TableRow(
                c.name,
                str(c.shape),
                c.n_checked,
                c.rel_error,
                c.max_abs_error,
                c.rel_error < self.tol,
            )
            for c in self.checks
        ]

    def summary(self, name: str) -> TableRow:
        """The whole report as one table row named ``name`` (the suite's rows)."""
        n = len(self.checks)
        return TableRow(
            name,
            f"{n} array{'s' if n != 1 else ''}",
            sum(c.n_checked for c in self.checks),
            self.max_rel_error,
            max((c.max_abs_error for c in self.checks), default=0.0),
            self.passed,
        )

    def __str__(self) -> str:
        return format_table(self.rows(), self.tol, self.notes)


def numeric_gradient(
    f: Callable[[], float],
    a: np.ndarray,
    index: np.ndarray | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Central differences (f(a + h e_i) - f(a - h e_i)) / 2h, perturbing ``a`` in place.

    ``index``: flat indices to evaluate (default all); other entries of the result are 0.
    ``a`` is restored exactly after each perturbation.
    """
    flat = a.reshape(-1)  # a view: perturbing it perturbs ``a``
    if not np.shares_memory(flat, a):
        raise ValueError("numeric_gradient needs a contiguous array it can perturb in place")
    grad = np.zeros(a.size, dtype=np.float64)
    for i in range(a.size) if index is None else index:
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad.reshape(a.shape)


def _compare(
    name: str,
    analytic: np.ndarray,
    f: Callable[[], float],
    a: np.ndarray,
    h: float,
    max_checks: int,
    rng: np.random.Generator,
) -> ArrayCheck:
    idx = None if a.size <= max_checks else np.sort(rng.choice(a.size, max_checks, replace=False))
    num = numeric_gradient(f, a, idx, h)
    ana = analytic.astype(np.float64).reshape(-1)
    num = num.reshape(-1)
    if idx is not None:
        ana, num = ana[idx], num[idx]
    diff = np.abs(ana - num)
    denom = max(float(np.linalg.norm(ana)), float(np.linalg.norm(num)), REL_FLOOR)
    rel = float(np.linalg.norm(ana - num) / denom)
    return ArrayCheck(name, a.shape, ana.size, rel, float(diff.max(initial=0.0)))


def gradcheck(
    target: Module | Loss,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    loss: Loss | None = None,
    h: float = 1e-5,
    tol: float = 1e-6,
    max_checks: int = 400,
    check_input: bool = True,
    seed: int = 0,
) -> GradCheckReport:
    """Compare analytic and central-difference gradients; see the module docstring.

    ``x``: the input (or the predictions, for a loss), ``y``: the target for a loss or
    ``loss``. At most ``max_checks`` coordinates per array are perturbed (a seeded sample).
    Returns a :class:`GradCheckReport` (truthy when it passes ``tol``).
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, copy=True)  # perturbed in place: never the caller's array
    if isinstance(target, Module) and target.dtype is not None and x.dtype.kind == "f":
        x = x.astype(target.dtype)  # float32 data into a float64 model: check in float64
    report = GradCheckReport(tol=tol)

    if isinstance(target, Loss):
        if y is None:
            raise ValueError("gradcheck of a loss needs the target y")
        target.forward(x, y)
        dx = target.backward().copy()
        report.checks.append(
            _compare("pred", dx, lambda: target.forward(x, y), x, h, max_checks, rng)
        )
        return report

    if not isinstance(target, Module):
        raise ValueError(f"gradcheck needs a vedere Module or Loss, got {type(target).__name__}")
    model = target
    model.zero_grad()
    out = model.forward(x)  # draws the dropout masks that are then held fixed
    fixed = [
        m
        for m in model.modules()
        if isinstance(m, Dropout) and m.training and m.fixed_mask is None and m._scale is not None
    ]
    for m in fixed:
        m.fixed_mask = (m._scale != 0).astype(out.dtype)
    if fixed:
        report.notes.append(
            f"{len(fixed)} dropout mask{'s' if len(fixed) > 1 else ''} held fixed for the check "
            "(the model is in training mode)"
        )
    try:
        _check_model(model, x, y, loss, out, report, h, max_checks, check_input, rng)
    finally:
        for m in fixed:
            m.fixed_mask = None
    return report


def _check_model(
    model: Module,
    x: np.ndarray,
    y: np.ndarray | None,
    loss: Loss | None,
    out: np.ndarray,
    report: GradCheckReport,
    h: float,
    max_checks: int,
    check_input: bool,
    rng: np.random.Generator,
) -> None:
    if loss is None:
        g = rng.standard_normal(out.shape).astype(out.dtype)

        def objective() -> float:
            return float(np.sum(model.forward(x) * g))

    else:
        if y is None:
            raise ValueError("gradcheck with a loss needs the target y")
        loss.forward(out, y)
        g = loss.backward()

        def objective() -> float:
            return loss.forward(model.forward(x), y)

    dx = model.backward(g, need_input_grad=check_input)
    grads = {n: p.grad.copy() for n, p in model.named_parameters()}

    if check_input and dx is not None:
        report.checks.append(_compare("input", dx, objective, x, h, max_checks, rng))
    for n, p in model.named_parameters():
        report.checks.append(_compare(n, grads[n], objective, p.data, h, max_checks, rng))
