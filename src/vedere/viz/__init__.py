"""Figures (matplotlib, headless, saved atomically as PNG with no text cut off): training
curves (:mod:`.curves`), confusion matrices (:mod:`.confusion`), weight templates
(:mod:`.templates`), Haar features (:mod:`.haar_features`) and detections (:mod:`.boxes`).

viz takes plain arrays, lists and dicts and knows nothing of the packages that produce them
(classify, detect, experiments import viz, never the other way round)."""

from .confusion import plot_confusion
from .curves import plot_history
from .templates import plot_templates

__all__ = ["plot_confusion", "plot_history", "plot_templates"]
