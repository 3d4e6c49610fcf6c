"""Exceptions shared across vedere."""

from __future__ import annotations


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in
    scikit-learn)."""
