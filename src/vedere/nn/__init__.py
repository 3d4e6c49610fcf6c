"""The learning engine: layers with explicit backpropagation, losses, optimisers, regularisation.

A training step reads like the course::

    logits = model(x)                         # f(x; θ)  (model(x) is model.forward(x))
    loss = loss_fn(logits, y)                 # J(θ) = (1/N) Σ L(f(x_i; θ), y_i)
    model.backward(loss_fn.backward())        # dJ/dθ by the chain rule
    opt.step()                                # θ ← θ - α dJ/dθ
    opt.zero_grad()

=================  ==============================================================================
module             holds
=================  ==============================================================================
``module``         :class:`Module`: ``forward`` caches, ``backward`` applies the chain rule
``linear`` …       :class:`Linear`, activations (:class:`ReLU`, :class:`Tanh`, …),
                   :class:`Dropout`, :class:`Flatten`, :class:`Sequential` and :func:`mlp`
``conv`` …         :class:`Conv2d`, pooling (:class:`MaxPool2d`, …), :class:`BatchNorm2d`,
                   :class:`BatchNorm1d`, :class:`Residual`; NCHW images, channels-last memory
``losses``         :class:`MSE`, :class:`SoftmaxCrossEntropy`, :class:`BCEWithLogits`,
                   :class:`MulticlassHinge`, :class:`PerceptronCriterion` (batch means)
``init``           weight schemes: zeros, small, lecun (alias xavier), he, glorot; dirac and
                   patch whitening (airbench94)
``optim``          SGD (momentum, Nesterov), AdaGrad, RMSProp, Adam, AdamW, gradient clipping;
                   parameter groups (rate multipliers, decay, epochs), frozen parameters
``schedules``      learning-rate schedules: constant, step, exponential, cosine, warm-up,
                   piecewise-linear per update
``averaging``      weight averages with buffers: lookahead (airbench94), EMA
``regularizers``   :class:`L1`, :class:`L2` penalties and :class:`Regularized`
``divergence``     the one rule that says a training run diverged
``gradcheck``      backpropagation against central differences, as a table
``io``             :func:`save` / :func:`load`: safetensors + JSON, checked before allocating
``functional``     softmax, log-softmax, sigmoid and the activations' derivatives
``blas``           in-place vector updates through NumPy's own BLAS (used by ``optim``)
=================  ==============================================================================

Randomness: every layer that draws (``Linear``, ``Dropout``, :func:`mlp`) takes ``rng=``, an
int seed or a ``numpy.random.Generator`` (reproducible), or None (fresh entropy).
"""

from . import averaging, divergence, functional, init, optim, regularizers, schedules
from .activations import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, activation
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .gradcheck import GradCheckReport, gradcheck
from .io import load, load_weights, load_with_extra, save
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
from .scale import Scale
from .sequential import Sequential, mlp
from .tensor_file import ModelFileError

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
    "GradCheckReport",
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
    "Scale",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "activation",
    "averaging",
    "divergence",
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
