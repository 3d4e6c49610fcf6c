"""The course's classifiers on the engine, a trainer, and metrics."""

from .cnn import CNNClassifier
from .estimators import (
    LinearSVM,
    LogisticRegression,
    MLPClassifier,
    Perceptron,
    SoftmaxClassifier,
    load_classifier,
)
from .trainer import Diverged, History, TrainConfig, Trainer

__all__ = [
    "CNNClassifier",
    "Diverged",
    "History",
    "LinearSVM",
    "LogisticRegression",
    "MLPClassifier",
    "Perceptron",
    "SoftmaxClassifier",
    "TrainConfig",
    "Trainer",
    "load_classifier",
]
