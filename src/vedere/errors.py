"""Exceptions and warnings shared across vedere (scikit-learn's types when it is installed)."""

from __future__ import annotations

import warnings
from functools import cache


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
