"""Indexing ops: NumPy's ``x[index]`` and PyTorch's ``gather``. Indices are never differentiated; the
backward scatters the gradient into zeros at the selected positions."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Op, single_axis

__all__ = ["GetItem", "Gather", "index_parts"]


class GetItem(Op):
    """NumPy indexing (ints, slices, None, ..., integer arrays, lists, masks). A basic index never repeats a
    position, so its gradient is assigned back; any other may (``x[[1, 1]]``), so its gradient is scatter-added."""
    name = "getitem"

    def forward(self, x: np.ndarray, index: Any) -> np.ndarray:
        (self.index, self.basic), self.shape, self.dtype = index_parts(index), x.shape, x.dtype
        try:
            return x[self.index]
        except IndexError as err:
            raise IndexError(f"getitem: {err} (tensor shape {x.shape}, index {describe_index(self.index)})") from None

    def backward(self, g: np.ndarray) -> tuple:
        # d x[index] / d x = 1 at the selected positions, 0 elsewhere
        full = np.zeros(self.shape, dtype=self.dtype)
        if self.basic:
            full[self.index] = g
        else:
            np.add.at(full, self.index, g)  # repeated indices accumulate
        return (full,)


class Gather(Op):
    """PyTorch's gather: ``out[i][j][k] = x[i][index[i][j][k]][k]`` for axis=1, any rank and axis; the output
    has index's shape, and ``index.shape[d] <= x.shape[d]`` on every other axis d."""
    name = "gather"

    def forward(self, x: np.ndarray, axis: Any, index: Any) -> np.ndarray:
        self.where = gather_positions(x.shape, axis, index)
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.where]

    def backward(self, g: np.ndarray) -> tuple:
        # d out / d x = 1 at the gathered positions: scatter-add (repeats accumulate)
        full = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(full, self.where, g)
        return (full,)


_BASIC_INDEX_TYPES = (int, np.integer, slice, type(None), type(Ellipsis))
_PLAIN_INDEX_TYPES = _BASIC_INDEX_TYPES + (np.ndarray,)  # parts NumPy reads as they are


def index_parts(index: Any) -> tuple:
    """``(index, basic)``: the index with arrays for sequences (lists, tuples inside the index tuple)
    and for anything with ``.data`` (a Tensor), as NumPy reads them; ``basic`` when every part is an
    int, slice, None or ... (no part can repeat a position)."""
    top_tuple = type(index) is tuple
    parts = index if top_tuple else (index,)
    basic = True
    converted = []
    for p in parts:
        if isinstance(p, _PLAIN_INDEX_TYPES):
            pass
        elif isinstance(getattr(p, "data", None), np.ndarray):
            p = p.data  # a Tensor used as an index
        elif isinstance(p, (list, tuple)):
            p = np.asarray(p)
            if p.size == 0:
                p = p.astype(np.intp)  # x[[]] selects nothing, as in NumPy
        if basic and (type(p) is bool or not isinstance(p, _BASIC_INDEX_TYPES)):
            basic = False  # arrays, masks and the scalar booleans (which add an axis)
        converted.append(p)
    return (tuple(converted) if top_tuple else converted[0]), basic


def describe_index(index: Any) -> str:
    """An index for an error message, with arrays shown by dtype and shape."""
    parts = index if type(index) is tuple else (index,)
    shown = [f"{p.dtype} array {p.shape}" if isinstance(p, np.ndarray) else repr(p) for p in parts]
    return "(" + ", ".join(shown) + ")" if type(index) is tuple else shown[0]


def gather_positions(shape: tuple, axis: Any, index: np.ndarray) -> tuple:
    """The NumPy index of every gathered element, after checking ``index`` as PyTorch does
    (integers, as many dimensions as the tensor, values in [0, n): negatives are refused)."""
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"gather: index must be integers, got dtype {index.dtype}")
    if index.ndim != len(shape) or not shape:
        raise ValueError(f"gather: index of shape {index.shape} needs as many dimensions (at least 1) as "
                         f"the tensor of shape {shape}")
    axis = single_axis(axis, len(shape), "gather")
    if any(i > n for d, (i, n) in enumerate(zip(index.shape, shape)) if d != axis):
        raise ValueError(f"gather: index shape {index.shape} is larger than tensor shape {shape} "
                         f"on an axis other than {axis}")
    n = shape[axis]
    if index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError(f"gather: index values must be in [0, {n}) for axis {axis} of shape "
                         f"{shape}, got values in [{index.min()}, {index.max()}]")
    grids = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)
