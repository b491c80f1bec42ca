"""Tensors made from nothing but a shape (zeros, ones, full, eye, arange), from random draws (randn, rand,
uniform: always from an explicit ``rng``, a seed or an ``np.random.Generator``) or from class indices
(one_hot). dtype defaults to float64, as NumPy's; ``nn`` parameters are float32 by their own choice.
:class:`tinygrad_rl.tensor.Tensor` inherits these as classmethods: ``Tensor.zeros(2, 3)``."""
from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from .ops.base import shape_arg

__all__ = ["Creation"]

T = TypeVar("T", bound="Creation")


class Creation:
    """Constructors of :class:`tinygrad_rl.tensor.Tensor`; each returns ``cls(array, requires_grad=...)``."""

    __slots__ = ()

    @classmethod
    def one_hot(cls: type[T], indices: Any, num_classes: int, dtype: Any = np.float64) -> T:
        """out[..., k] = 1 where indices[...] == k, else 0: shape indices.shape + (num_classes,); a constant."""
        indices = np.asarray(indices.data if isinstance(indices, Creation) else indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"one_hot: indices must be integers, got dtype {indices.dtype}")
        if not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
            raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
        if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
            raise ValueError(f"one_hot: indices must be in [0, {num_classes}), got values in "
                             f"[{indices.min()}, {indices.max()}]")
        return cls(np.eye(num_classes, dtype=dtype)[indices])

    @classmethod
    def zeros(cls: type[T], *shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> T:
        return cls(np.zeros(_creation_shape(shape, "zeros"), dtype=dtype), requires_grad=requires_grad)

    @classmethod
    def ones(cls: type[T], *shape: Any, dtype: Any = np.float64, requires_grad: bool = False) -> T:
        return cls(np.ones(_creation_shape(shape, "ones"), dtype=dtype), requires_grad=requires_grad)

    @classmethod
    def full(cls: type[T], shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> T:
        """``shape`` filled with ``fill_value``; dtype from the value when not given (as NumPy)."""
        shape = _creation_shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),), "full")
        return cls(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)

    @classmethod
    def arange(cls: type[T], start: Any, stop: Any = None, step: Any = 1, dtype: Any = None,
               requires_grad: bool = False) -> T:
        """NumPy's arange: ``arange(n)`` is 0..n-1; ints give an integer tensor unless dtype says."""
        if step == 0:
            raise ValueError("arange: step must not be 0")
        data = np.arange(start, step=step, dtype=dtype) if stop is None else np.arange(start, stop, step, dtype=dtype)
        return cls(data, requires_grad=requires_grad)

    @classmethod
    def eye(cls: type[T], n: int, m: int | None = None, dtype: Any = np.float64, requires_grad: bool = False) -> T:
        _creation_shape((n,) if m is None else (n, m), "eye")
        return cls(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)

    @classmethod
    def randn(cls: type[T], *shape: Any, rng: Any, dtype: Any = np.float64, requires_grad: bool = False) -> T:
        """Standard normal samples from ``rng`` (a seed or an ``np.random.Generator``), drawn in
        float64 and cast, so a seed gives the same values in every dtype up to rounding."""
        shape = _creation_shape(shape, "randn")
        return cls(_generator(rng, "randn").standard_normal(shape).astype(dtype), requires_grad=requires_grad)

    @classmethod
    def rand(cls: type[T], *shape: Any, rng: Any, dtype: Any = np.float64, requires_grad: bool = False) -> T:
        """Uniform samples on [0, 1) from ``rng`` (a seed or an ``np.random.Generator``)."""
        return cls.uniform(*shape, low=0.0, high=1.0, rng=rng, dtype=dtype, requires_grad=requires_grad)

    @classmethod
    def uniform(cls: type[T], *shape: Any, low: float = 0.0, high: float = 1.0, rng: Any, dtype: Any = np.float64,
                requires_grad: bool = False) -> T:
        """Uniform samples on [low, high) from ``rng`` (a seed or an ``np.random.Generator``)."""
        shape = _creation_shape(shape, "uniform")
        if not low < high:
            raise ValueError(f"uniform: need low < high, got low={low!r}, high={high!r}")
        return cls(_generator(rng, "uniform").uniform(low, high, shape).astype(dtype), requires_grad=requires_grad)


def _creation_shape(shape: tuple, op: str) -> tuple:
    shape = shape_arg(shape, op)
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: dimensions must be >= 0, got shape {shape}")
    return shape


def _generator(rng: Any, op: str) -> np.random.Generator:
    """A Generator from a seed or a Generator; None is refused, so every draw is reproducible."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{op}: rng must be a non-negative int seed or an np.random.Generator, got {rng!r}")
