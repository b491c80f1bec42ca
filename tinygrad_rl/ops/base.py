"""The shape of an op, and the array helpers op units share.

An op is one small class: ``forward`` computes the output from NumPy arrays (and plain settings
such as an axis) and keeps on ``self`` what the derivative needs; ``backward(g)`` maps the
gradient ``g`` of the output to one gradient per input, the chain rule written out beside its
derivative comment. Nothing here knows about ``Tensor``: :func:`tinygrad_rl.tensor.apply` calls
``forward`` with the inputs' ``.data``, records the op on the result, and the engine's
``Tensor.backward`` calls ``backward`` later.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Op", "unbroadcast", "normalise_axis", "single_axis", "softmax_axes", "shape_arg", "expand_reduced",
           "broadcasting", "mean_of", "sigmoid_of"]


class Op:
    """One differentiable op. A subclass sets ``name`` (shown by ``Tensor.op`` and the graph) and defines

    - ``forward(self, *arrays, *settings) -> ndarray``: the value, saving on ``self`` what backward needs;
    - ``backward(self, g) -> tuple``: one gradient per input (an array of the input's shape or one that
      broadcasts to it, or None for no gradient), each the upstream ``g`` times that input's derivative.

    ``self.inputs`` holds the input Tensors once the op is recorded (``self.inputs[i].requires_grad``
    lets a backward skip a gradient nobody needs). Reach it with ``apply(MyOp, (x, y), *settings)``.
    """

    name = "op"
    inputs: tuple = ()

    def forward(self, *args) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def backward(self, g: np.ndarray) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} must define backward()")


def unbroadcast(grad: np.ndarray, shape: tuple, op: str = "broadcast") -> np.ndarray:
    """Sum ``grad`` back to ``shape``: the adjoint of NumPy broadcasting.

    Only broadcasting is undone (leading axes summed away, size-1 axes summed with keepdims). A
    gradient of any other shape means an op's backward is wrong, and it raises rather than
    reshaping a (say) transposed gradient into place.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    if grad.ndim == len(shape):
        kept = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if kept:
            grad = grad.sum(axis=kept, keepdims=True)
    if grad.shape != shape:
        raise RuntimeError(f"{op}: backward produced a gradient of shape {grad.shape} that does not "
                           f"broadcast to its input's shape {shape} (a bug in that op's backward)")
    return grad


def normalise_axis(axis: Any, ndim: int, op: str = "reduce") -> tuple | None:
    """``axis`` (None, an int or a tuple of ints; negative counts from the end) as a tuple of
    non-negative axes. A 0-d tensor accepts axis 0 and -1 (as PyTorch) and reduces over nothing."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    bound = max(ndim, 1)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -bound <= a < bound:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % bound)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis (tensor with {ndim} dimensions)")
    return tuple(out) if ndim else ()


def single_axis(axis: Any, ndim: int, op: str) -> int:
    """One axis of a tensor with at least one dimension, as a non-negative int."""
    if ndim == 0:
        raise ValueError(f"{op}: a 0-d tensor has no axis {axis!r}; reshape it to (1,) first")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    return normalise_axis(axis, ndim, op)[0]


def softmax_axes(axis: Any, ndim: int, op: str) -> tuple:
    """The axes a softmax-like op normalises over, as a tuple (None: all of them)."""
    axes = normalise_axis(axis, ndim, op)
    return tuple(range(ndim)) if axes is None else axes


def shape_arg(shape: tuple, op: str) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))`` as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"{op}: shape must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def expand_reduced(g: np.ndarray, shape: tuple, axis: tuple | None, keepdims: bool) -> np.ndarray:
    """Reshape the gradient of a reduction so it broadcasts against the input's shape."""
    if axis is None:
        return np.reshape(g, (1,) * len(shape)) if not keepdims else g
    if not keepdims:
        g = np.expand_dims(g, axis)
    return g


def broadcasting(op: str, fn: Any, *arrays: Any) -> np.ndarray:
    """``fn(*arrays)``, with a shape error that names the op and every shape."""
    try:
        return fn(*arrays)
    except ValueError:
        shapes = " and ".join(str(np.shape(x)) for x in arrays)
        raise ValueError(f"{op}: shapes {shapes} do not broadcast") from None


def mean_of(x: np.ndarray, axes: tuple | None, keepdims: bool, count: int) -> np.ndarray:
    """np.mean: for floating x, the sum divided by the count (the same bits as np.mean, which divides
    in float64 and rounds back: that double rounding is exact for a quotient), without np.mean's
    Python overhead."""
    if x.dtype.kind == "f" and count:
        return np.add.reduce(x, axis=axes, keepdims=keepdims) / count
    return np.mean(x, axis=axes, keepdims=keepdims)


def sigmoid_of(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^{-x}) computed with exp of non-positive numbers only (no overflow)."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
