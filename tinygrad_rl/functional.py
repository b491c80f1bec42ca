"""Losses and distributions over Tensors, numerically stable for logits of any magnitude.

Everything is built from ``Tensor`` ops (so ``gradcheck`` covers it); ``linear`` is one op of its own
(:class:`tinygrad_rl.ops.Linear`, forward and backward fused) because it is the hot path of every network;
so are the convolutions and poolings (:mod:`tinygrad_rl.ops.convolution`), each one op over an im2col product.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .ops import AvgPool2d, Conv1d, Conv2d, Linear, MaxPool2d
from .tensor import Tensor, apply, one_hot, where

__all__ = [
    "linear", "conv2d", "conv1d", "max_pool2d", "avg_pool2d",
    "relu", "tanh", "sigmoid", "gelu", "one_hot", "logsumexp", "log_softmax", "softmax",
    "mse_loss", "huber", "huber_loss", "cross_entropy", "categorical_log_prob", "categorical_entropy",
    "normal_log_prob", "normal_entropy",
]

_LOG_2PI = math.log(2 * math.pi)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W + b for x (..., in), W (in, out), b (out,), as one op (:class:`tinygrad_rl.ops.Linear`)."""
    return apply(Linear, (_as_tensor(x), weight) if bias is None else (_as_tensor(x), weight, bias))


IntOrPair = int | tuple[int, int]


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1, padding: IntOrPair = 0,
           dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation as PyTorch's: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) -> (N, O, OH, OW)
    with OH = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1 (:class:`tinygrad_rl.ops.Conv2d`)."""
    if bias is None:
        return apply(Conv2d, (_as_tensor(x), weight), None, stride, padding, dilation, groups)
    return apply(Conv2d, (_as_tensor(x), weight, bias), stride, padding, dilation, groups)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding: int = 0,
           dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation as PyTorch's: x (N, C, L), weight (O, C/groups, k), bias (O,) -> (N, O, OL)."""
    if bias is None:
        return apply(Conv1d, (_as_tensor(x), weight), None, stride, padding, dilation, groups)
    return apply(Conv1d, (_as_tensor(x), weight, bias), stride, padding, dilation, groups)


def max_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Maximum over each window of x (N, C, H, W); ``stride`` defaults to ``kernel_size``; padding is -inf.
    A tie sends the gradient to the first maximum in row-major order, as PyTorch."""
    return apply(MaxPool2d, (_as_tensor(x),), kernel_size, stride, padding)


def avg_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Mean over each window of x (N, C, H, W); padded zeros count in the mean (PyTorch's default)."""
    return apply(AvgPool2d, (_as_tensor(x),), kernel_size, stride, padding)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return _as_tensor(x).gelu(approximate)


def logsumexp(x: Tensor, axis: int = -1, keepdims: bool = False) -> Tensor:
    return _as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def log_softmax(logits: Tensor, axis: int = -1) -> Tensor:
    """log softmax(z)_i = z_i - log sum_j exp(z_j), via the max-shifted log-sum-exp."""
    return _as_tensor(logits).log_softmax(axis=axis)


def softmax(logits: Tensor, axis: int = -1) -> Tensor:
    return _as_tensor(logits).softmax(axis=axis)


def _check_same_shape(name: str, pred: Tensor, target: Tensor) -> None:
    # A (64,) prediction against a (64, 1) target would silently broadcast to (64, 64).
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {pred.shape} and target shape {target.shape} differ")


def mse_loss(pred: Tensor, target: Any) -> Tensor:
    """L = mean((pred - target)^2)."""
    target = _as_tensor(target)
    _check_same_shape("mse_loss", pred, target)
    diff = pred - target
    return (diff * diff).mean()


def huber(d: Tensor, delta: float = 1.0) -> Tensor:
    """The Huber penalty of each element (no reduction):

        rho(d) = 0.5 d^2                if |d| <= delta
                 delta (|d| - delta/2)  otherwise

    Quadratic near zero, linear in the tails, so one large error cannot blow up the gradient
    (Huber 1964; the TD penalty of Mnih et al. 2015). :func:`huber_loss` is its mean over
    ``pred - target``; a weighted TD loss weights it per row first.
    """
    if not delta > 0:
        raise ValueError(f"huber: delta must be > 0, got {delta!r}")
    abs_d = d.abs()
    return where(abs_d.data <= delta, 0.5 * d * d, delta * (abs_d - 0.5 * delta))


def huber_loss(pred: Tensor, target: Any, delta: float = 1.0) -> Tensor:
    """L = mean(rho(pred - target)), rho the elementwise :func:`huber` penalty with ``delta``."""
    target = _as_tensor(target)
    _check_same_shape("huber_loss", pred, target)
    return huber(pred - target, delta).mean()


def categorical_log_prob(logits: Tensor, actions: Any) -> Tensor:
    """log pi(a | s) = log_softmax(logits)[..., a] for logits (..., A) and integer actions (...)."""
    actions = np.asarray(actions.data if isinstance(actions, Tensor) else actions)
    if not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"categorical_log_prob: actions must be integers, got dtype {actions.dtype}")
    if actions.shape != logits.shape[:-1]:
        raise ValueError(f"categorical_log_prob: actions shape {actions.shape} does not match "
                         f"logits batch shape {logits.shape[:-1]}")
    if actions.size and (actions.min() < 0 or actions.max() >= logits.shape[-1]):
        raise ValueError(f"categorical_log_prob: actions must be in [0, {logits.shape[-1]}), "
                         f"got values in [{actions.min()}, {actions.max()}]")
    log_probs = log_softmax(logits, axis=-1)
    return log_probs.gather(-1, actions[..., None]).squeeze(-1)


def cross_entropy(logits: Tensor, targets: Any) -> Tensor:
    """L = -mean_i log softmax(logits_i)[y_i] for integer class targets."""
    return -categorical_log_prob(logits, targets).mean()


def categorical_entropy(logits: Tensor) -> Tensor:
    """H(pi) = -sum_a pi(a) log pi(a), per row; finite even when some pi(a) underflow to 0."""
    log_probs = log_softmax(logits, axis=-1)
    return -(log_probs.exp() * log_probs).sum(axis=-1)


def normal_log_prob(mean: Tensor, log_std: Tensor, x: Any) -> Tensor:
    """log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi)/2, elementwise.

    Parameterised by log sigma so sigma stays positive; sum over the action dimension for a
    diagonal Gaussian policy.
    """
    mean, log_std, x = _as_tensor(mean), _as_tensor(log_std), _as_tensor(x)
    z = (x - mean) * (-log_std).exp()
    return -0.5 * z * z - log_std - 0.5 * _LOG_2PI


def normal_entropy(log_std: Tensor) -> Tensor:
    """H(N(mu, sigma^2)) = 1/2 + log(2 pi)/2 + log sigma, elementwise."""
    return _as_tensor(log_std) + 0.5 * (1.0 + _LOG_2PI)
