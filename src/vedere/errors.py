"""Exceptions and warnings shared across vedere (scikit-learn's types when it is installed).

:class:`VedereError` is the root of the errors vedere raises for bad input — a file that
cannot be used, an argument out of range, a setting a model does not take: ``where`` names
the file or argument, ``problem`` says what is wrong, ``str(e)`` is ``"where: problem"``.
It is a ValueError (what scikit-learn's checks and older callers expect) and keeps its
attributes when pickled (Dask ships errors between processes).

Errors are caught only at the edges (the command's entry point, one record per image in a
batch job): :func:`expected` says which ones become one line there. Anything else — a NumPy
broadcast error, a bug — keeps its traceback.
"""

from __future__ import annotations

import ast
import functools
import os
import warnings
from functools import cache
from types import TracebackType
from typing import Any


class VedereError(ValueError):
    """Bad input: ``where`` (a file or an argument; may be empty) and ``problem``.

    ``VedereError(where, problem)`` or ``VedereError(message)``; subclasses add attributes
    of their own, which survive pickling whatever their constructor's signature."""

    def __init__(self, where: object, problem: str | None = None) -> None:
        if problem is None:
            where, problem = "", str(where)
        self.where = self.path = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An error of type ``cls`` with its message and attributes, without calling the
    subclass's ``__init__`` (whose arguments need not be its attributes)."""
    e = cls.__new__(cls)
    BaseException.__init__(e, *args)
    e.__dict__.update(state)
    return e


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=256)
def _raise_lines(filename: str) -> frozenset[int]:
    """The line numbers of ``filename`` covered by a ``raise`` statement."""
    try:
        with open(filename, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def _raised_by_a_check(tb: TracebackType | None) -> bool:
    """Whether the innermost frame of ``tb`` is a ``raise`` statement in vedere's source:
    a deliberate check, not NumPy or Python failing inside an expression."""
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
    if not filename.startswith(_PACKAGE + os.sep):
        return False
    return tb.tb_lineno in _raise_lines(filename)


def expected(e: BaseException) -> bool:
    """Whether ``e`` is bad input or a failing environment (one line for the user), not a
    bug (a traceback): a :class:`VedereError`, an OSError, or a ValueError that a ``raise``
    statement of vedere's own checks raised (``raise ValueError(...)``). A ValueError raised
    inside NumPy or by an expression (operands that do not broadcast) is a bug."""
    if isinstance(e, (VedereError, OSError)):
        return True
    return isinstance(e, ValueError) and _raised_by_a_check(e.__traceback__)


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in
    scikit-learn)."""


@cache
def _not_fitted_type() -> type[Exception]:
    try:  # let scikit-learn's own checks recognise the error
        from sklearn.exceptions import NotFittedError as SklearnNotFitted
    except ImportError:
        return NotFittedError
    return type("NotFittedError", (NotFittedError, SklearnNotFitted), {})


def not_fitted(message: str) -> Exception:
    """A NotFittedError (also scikit-learn's, when scikit-learn is installed)."""
    return _not_fitted_type()(message)


def warn_data_conversion(message: str) -> None:
    """Warn that input data was reshaped (scikit-learn's DataConversionWarning if available)."""
    try:
        from sklearn.exceptions import DataConversionWarning as category
    except ImportError:
        category = UserWarning  # type: ignore[assignment]
    warnings.warn(message, category, stacklevel=3)
