"""Classification metrics: accuracy, confusion matrix, per-class precision and recall, ROC-AUC."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the truth."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape}, y_pred has shape {y_pred.shape}")
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j; (K, K) int64."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision C[k,k] / Σ_i C[i,k] and recall C[k,k] / Σ_j C[k,j] (0 if undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve for binary labels (1 = positive) and real scores.

    Equal to the probability that a random positive scores above a random negative (ties
    count ½): the Mann-Whitney U statistic over n₊·n₋, from average ranks.
    """
    y_true = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs at least one positive and one negative sample")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    r = ((ends - counts + 1 + ends) / 2)[inverse]  # average rank of each tie group
    u = r[y_true].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, confusion matrix and per-class precision/recall as a JSON-ready dict."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    precision, recall = precision_recall(cm)
    return {
        "n": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "classes": list(classes),
        "precision": [round(float(v), 6) for v in precision],
        "recall": [round(float(v), 6) for v in recall],
        "confusion_matrix": cm.tolist(),
    }
