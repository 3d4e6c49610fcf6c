"""Figures: training curves, confusion matrices, weight templates (matplotlib, headless)."""

from .confusion import plot_confusion
from .curves import plot_history
from .templates import plot_templates

__all__ = ["plot_confusion", "plot_history", "plot_templates"]
