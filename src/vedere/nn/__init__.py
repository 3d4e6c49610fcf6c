"""The learning engine: layers with explicit backpropagation, losses, optimisers, regularisation.

A training step reads like the course::

    logits = model.forward(x)                 # f(x; θ)
    loss = loss_fn.forward(logits, y)         # J(θ) = (1/N) Σ L(f(x_i; θ), y_i)
    model.backward(loss_fn.backward())        # dJ/dθ by the chain rule
    opt.step()                                # θ ← θ - α dJ/dθ
    opt.zero_grad()
"""

from . import functional, init, optim, regularizers, schedules
from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, activation
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
from .parameter import Parameter
from .regularizers import L1, L2, Regularized
from .sequential import Sequential, mlp

__all__ = [
    "L1",
    "L2",
    "MSE",
    "BCEWithLogits",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "Loss",
    "ModelFileError",
    "Module",
    "MulticlassHinge",
    "Parameter",
    "PerceptronCriterion",
    "ReLU",
    "Regularized",
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
