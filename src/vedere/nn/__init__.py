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
``losses``         :class:`MSE`, :class:`SoftmaxCrossEntropy`, :class:`BCEWithLogits`,
                   :class:`MulticlassHinge`, :class:`PerceptronCriterion` (batch means)
``init``           weight schemes: zeros, small, lecun (alias xavier), he, glorot
``optim``          SGD (momentum, Nesterov), AdaGrad, RMSProp, Adam, AdamW, gradient clipping
``schedules``      learning-rate schedules: constant, step, exponential, cosine, warm-up
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

from . import divergence, functional, init, optim, regularizers, schedules
from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, activation
from .dropout import Dropout
from .flatten import Flatten
from .gradcheck import GradCheckReport, gradcheck
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
    "GradCheckReport",
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
