"""Reductions (sum, mean, max, min, prod, var, std), the running sum, and the softmax family.

``axis`` is None (every axis), an int or a tuple of ints, negative counting from the end; a 0-d
tensor takes axis 0 or -1 and reduces over nothing (as PyTorch). A reduction's backward first
gives ``g`` back the reduced axes (:func:`expand_reduced`) so it broadcasts against the input.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Op, expand_reduced, mean_of, normalise_axis, single_axis, softmax_axes

__all__ = ["Sum", "Mean", "Max", "Min", "Prod", "Var", "Std", "Cumsum", "Logsumexp", "LogSoftmax", "Softmax"]


class Sum(Op):
    name = "sum"

    def forward(self, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        self.axes, self.shape, self.keepdims = normalise_axis(axis, x.ndim, "sum"), x.shape, keepdims
        return np.sum(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dx_i sum_j x_j = 1: the gradient is broadcast back over the summed axes
        return (np.broadcast_to(expand_reduced(g, self.shape, self.axes, self.keepdims), self.shape),)


class Mean(Op):
    name = "mean"

    def forward(self, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        self.axes, self.shape, self.keepdims = normalise_axis(axis, x.ndim, "mean"), x.shape, keepdims
        self.count = x.size if self.axes is None else int(np.prod([x.shape[a] for a in self.axes]))
        return mean_of(x, self.axes, keepdims, self.count)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dx_i mean_j x_j = 1/N
        return (np.broadcast_to(expand_reduced(g, self.shape, self.axes, self.keepdims) / self.count, self.shape),)


class Max(Op):
    """Maximum along ``axis``. Subgradient: split equally among tied maxima (as PyTorch's amax)."""
    name, reduce = "max", staticmethod(np.max)

    def forward(self, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        self.axes, self.shape, self.keepdims = normalise_axis(axis, x.ndim, self.name), x.shape, keepdims
        out = self.reduce(x, axis=self.axes, keepdims=keepdims)
        winners = (x == expand_reduced(out, x.shape, self.axes, keepdims))
        self.share = winners / winners.sum(axis=self.axes, keepdims=True)
        return out

    def backward(self, g: np.ndarray) -> tuple:
        # d max_j x_j / d x_i = 1/k for each of the k tied extremes, 0 elsewhere
        return (expand_reduced(g, self.shape, self.axes, self.keepdims) * self.share,)


class Min(Max):
    """Minimum along ``axis``: Max's unit with np.min; tied minima share the gradient equally."""
    name, reduce = "min", staticmethod(np.min)


class Prod(Op):
    """Product over ``axis``, its gradient the product of the others (exact where some x_j are 0)."""
    name = "prod"

    def forward(self, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        self.x, self.axes, self.keepdims = x, normalise_axis(axis, x.ndim, "prod"), keepdims
        return np.prod(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dx_i prod_j x_j = prod_{j != i} x_j
        x = self.x
        return (expand_reduced(g, x.shape, self.axes, self.keepdims) * product_of_others(x, self.axes),)


class Var(Op):
    """sum_i (x_i - mean)^2 / (N - ddof) over ``axis`` (ddof=1: the unbiased estimate)."""
    name = "var"

    def forward(self, x: np.ndarray, axis: Any, ddof: int, keepdims: bool) -> np.ndarray:
        self.axes, self.centred, dof = centred(x, axis, ddof, "var")
        self.keepdims, self.dof = keepdims, dof
        return np.sum(self.centred * self.centred, axis=self.axes, keepdims=keepdims) / dof

    def backward(self, g: np.ndarray) -> tuple:
        # d var / d x_i = 2 (x_i - mean) / (N - ddof): the mean's own dependence drops out (deviations sum to 0)
        c = self.centred
        return (expand_reduced(g, c.shape, self.axes, self.keepdims) * c * (2 / self.dof),)


class Std(Op):
    """sqrt(var). Where all values are equal std = 0 has no derivative; the gradient there is 0,
    PyTorch's choice (its std_backward masks the 1/std factor to 0 where std = 0)."""
    name = "std"

    def forward(self, x: np.ndarray, axis: Any, ddof: int, keepdims: bool) -> np.ndarray:
        axes, self.centred, dof = centred(x, axis, ddof, "std")
        spread = np.sqrt(np.sum(self.centred * self.centred, axis=axes, keepdims=True) / dof)
        self.scale = np.divide(1, dof * spread, out=np.zeros_like(spread), where=spread > 0)
        self.axes, self.keepdims = axes, keepdims
        return spread if keepdims else (np.squeeze(spread, axis=axes) if axes is not None else spread.reshape(()))

    def backward(self, g: np.ndarray) -> tuple:
        # d std / d x_i = (x_i - mean) / ((N - ddof) std), 0 where std = 0
        c = self.centred
        return (expand_reduced(g, c.shape, self.axes, self.keepdims) * c * self.scale,)


class Cumsum(Op):
    """Running sums along ``axis`` (of the flattened tensor when None, as NumPy; a 0-d tensor takes axis
    0 or -1, as PyTorch). ``reverse=True`` sums from the end, out_t = sum_{k >= t} x_k: the return-to-go."""
    name = "cumsum"

    def forward(self, x: np.ndarray, axis: Any, reverse: bool) -> np.ndarray:
        self.shape, self.reverse = x.shape, reverse
        if axis is None or x.ndim == 0:
            normalise_axis(axis, x.ndim, "cumsum")  # refuses an axis a 0-d tensor lacks
            self.axis, self.along = 0, (-1,)
            out = cumsum_along(x.reshape(-1), 0, reverse)
            return out if axis is None else out.reshape(())
        self.axis, self.along = single_axis(axis, x.ndim, "cumsum"), x.shape
        return cumsum_along(x, self.axis, reverse)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dx_k of sum_t g_t out_t: the cumsum of g in the other direction
        return (cumsum_along(g.reshape(self.along), self.axis, not self.reverse).reshape(self.shape),)


class Logsumexp(Op):
    """log sum exp(x) = m + log sum exp(x - m), m = max x (finite even for huge or -inf entries)."""
    name = "logsumexp"

    def forward(self, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        self.axis, self.keepdims = softmax_axes(axis, x.ndim, "logsumexp"), keepdims
        m = np.max(x, axis=self.axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        lse = m + np.log(np.sum(np.exp(x - m), axis=self.axis, keepdims=True))
        self.probs = np.exp(x - lse)
        return lse if keepdims else np.squeeze(lse, axis=self.axis)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dx_i logsumexp(x) = softmax(x)_i
        return ((g if self.keepdims else np.expand_dims(g, self.axis)) * self.probs,)


class LogSoftmax(Op):
    """(x - m) - log sum exp(x - m), not x - logsumexp(x): at |x| ~ 1e4 in float32 the rounded
    logsumexp is off by ~1e-3, while x - m is exact."""
    name = "log_softmax"

    def forward(self, x: np.ndarray, axis: Any) -> np.ndarray:
        self.axis = softmax_axes(axis, x.ndim, "log_softmax")
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        self.out = shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        return self.out

    def backward(self, g: np.ndarray) -> tuple:
        # d out_j / d x_i = [i = j] - softmax(x)_i, so the gradient is g - softmax(x) sum(g)
        return (g - np.exp(self.out) * np.sum(g, axis=self.axis, keepdims=True),)


class Softmax(Op):
    """exp(x - max x) / sum exp(x - max x)."""
    name = "softmax"

    def forward(self, x: np.ndarray, axis: Any) -> np.ndarray:
        self.axis = softmax_axes(axis, x.ndim, "softmax")
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        self.out = e / np.sum(e, axis=self.axis, keepdims=True)
        return self.out

    def backward(self, g: np.ndarray) -> tuple:
        # d s_j / d x_i = s_j ([i = j] - s_i), so the gradient is s * (g - sum(g s))
        out = self.out
        return (out * (g - np.sum(g * out, axis=self.axis, keepdims=True)),)


def centred(x: np.ndarray, axis: Any, ddof: int, op: str) -> tuple:
    """(axes, x - mean over axes, N - ddof) for var and std; refuses N - ddof <= 0."""
    axes = normalise_axis(axis, x.ndim, op)
    n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    if n - ddof <= 0:
        raise ValueError(f"{op}: ddof={ddof} needs more than {ddof} elements per reduction, got {n} "
                         f"(shape {x.shape}, axis {axis!r})")
    return axes, x - np.mean(x, axis=axes, keepdims=True), n - ddof


def cumsum_along(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """np.cumsum along ``axis``, from the end when ``reverse``."""
    if not reverse:
        return np.cumsum(x, axis=axis)
    return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


def product_of_others(x: np.ndarray, axes: tuple | None) -> np.ndarray:
    """For every element, the product of the other elements of its reduction (along ``axes``):
    exclusive prefix products times exclusive suffix products, so zeros need no special case."""
    if x.size == 0:
        return np.zeros_like(x)
    axes = tuple(range(x.ndim)) if axes is None else axes
    order = [a for a in range(x.ndim) if a not in axes] + list(axes)
    moved = np.transpose(x, order)
    flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
    return np.transpose((before * after).reshape(moved.shape), np.argsort(order))
