"""What a Tensor answers from its array alone, recording nothing: shape, dtype, size, ``item()``, its
printed form, comparisons (boolean masks) and ``argmax``/``argmin`` (index arrays). None of these has a
gradient, so none is an op; :class:`tinygrad_rl.tensor.Tensor` inherits them."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .ops.base import broadcasting

__all__ = ["ArrayMethods"]


class ArrayMethods:
    """Read-only views of ``self.data`` (an ndarray) for :class:`tinygrad_rl.tensor.Tensor`."""

    __slots__ = ()
    data: np.ndarray
    requires_grad: bool

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad})"


    # ------------------------------------------------------------------ comparisons
    # Comparisons return plain boolean ndarrays (not Tensors): they have no gradient, and an ndarray is
    # already what a mask is used as: t[t > 0], where(t > 0, a, b), mask.mean(). Tensors keep hashing by
    # identity (as in PyTorch), so they stay usable in dicts and sets even though == is elementwise.

    __hash__ = object.__hash__

    def __lt__(self, other: Any) -> Any: return _compare("lt", np.less, self, other)
    def __le__(self, other: Any) -> Any: return _compare("le", np.less_equal, self, other)
    def __gt__(self, other: Any) -> Any: return _compare("gt", np.greater, self, other)
    def __ge__(self, other: Any) -> Any: return _compare("ge", np.greater_equal, self, other)
    def __eq__(self, other: Any) -> Any: return _compare("eq", np.equal, self, other)
    def __ne__(self, other: Any) -> Any: return _compare("ne", np.not_equal, self, other)

    def argmax(self, axis: int | None = None) -> np.ndarray:
        """Indices of the maxima (an ndarray: not differentiable)."""
        return np.argmax(self.data, axis=axis)

    def argmin(self, axis: int | None = None) -> np.ndarray:
        """Indices of the minima (an ndarray: not differentiable)."""
        return np.argmin(self.data, axis=axis)


def _compare(name: str, fn: Callable, a: "ArrayMethods", b: Any) -> Any:
    """An elementwise comparison as a boolean ndarray; NotImplemented for a non-numeric operand
    (so ``t == None`` is False and ``t < "x"`` a TypeError, as Python does for other objects)."""
    if isinstance(b, ArrayMethods):
        b = b.data
    elif not isinstance(b, (np.ndarray, np.generic, int, float, list, tuple)):
        return NotImplemented
    return broadcasting(name, fn, a.data, b)
