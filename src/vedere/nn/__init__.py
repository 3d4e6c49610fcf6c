"""The learning engine: layers with explicit backpropagation, losses, optimisers, regularisation.

A training step reads like the course::

    logits = model.forward(x)                 # f(x; θ)
    loss = loss_fn.forward(logits, y)         # J(θ) = (1/N) Σ L(f(x_i; θ), y_i)
    model.backward(loss_fn.backward())        # dJ/dθ by the chain rule
    opt.step()                                # θ ← θ - α dJ/dθ
    opt.zero_grad()
"""

from . import functional, init, optim, regularizers, schedules
from .activations import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, activation
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .gradcheck import gradcheck
from .io import ModelFileError, load, load_weights, load_with_extra, save
from .linear import Linear
from .losses import (
    MSE,
    BCEWithLogits,
    Loss,
    MulticlassHinge,
    PerceptronCriterion,
    SoftmaxCrossEntropy,
)
from .module import Module
from .parameter import Buffer, Parameter
from .pooling import AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d
from .regularizers import L1, L2, Regularized
from .residual import Residual
from .sequential import Sequential, mlp

__all__ = [
    "GELU",
    "L1",
    "L2",
    "MSE",
    "AvgPool2d",
    "BCEWithLogits",
    "BatchNorm1d",
    "BatchNorm2d",
    "Buffer",
    "Conv2d",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2d",
    "GlobalMaxPool2d",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MaxPool2d",
    "ModelFileError",
    "Module",
    "MulticlassHinge",
    "Parameter",
    "PerceptronCriterion",
    "ReLU",
    "Regularized",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "activation",
    "functional",
    "gradcheck",
    "init",
    "load",
    "load_weights",
    "load_with_extra",
    "mlp",
    "optim",
    "regularizers",
    "save",
    "schedules",
]
