"""Movement ops: they move, copy or drop values without arithmetic, so each backward moves the
gradient back (reshape, permute, flip, slice) or, where a value was copied, sums its copies."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Op, normalise_axis, shape_arg, single_axis, unbroadcast

__all__ = ["Reshape", "Transpose", "Squeeze", "ExpandDims", "BroadcastTo", "Repeat", "Tile", "Flip", "Pad",
           "Concatenate", "Stack"]


class Reshape(Op):
    name = "reshape"

    def forward(self, x: np.ndarray, shape: Any) -> np.ndarray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        self.old = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {x.shape} ({x.size} elements) into {shape}") from None

    def backward(self, g: np.ndarray) -> tuple:
        return (g.reshape(self.old),)  # a reshape moves no value: the gradient is reshaped back


class Transpose(Op):
    """Permute the axes (reverse them when none are given); negative axes count from the end."""
    name = "transpose"

    def forward(self, x: np.ndarray, axes: Any) -> np.ndarray:
        axes = permutation(axes, x.shape)
        self.inverse = tuple(int(i) for i in np.argsort(axes))
        return np.transpose(x, axes)

    def backward(self, g: np.ndarray) -> tuple:
        return (np.transpose(g, self.inverse),)  # a permutation moves values: the gradient is permuted back


class Squeeze(Op):
    name = "squeeze"

    def forward(self, x: np.ndarray, axis: Any) -> np.ndarray:
        self.old = x.shape
        try:
            return np.squeeze(x, axis=axis)
        except ValueError:
            raise ValueError(f"squeeze: axis {axis} of shape {x.shape} does not have size 1") from None

    def backward(self, g: np.ndarray) -> tuple:
        return (g.reshape(self.old),)  # the gradient is reshaped back


class ExpandDims(Op):
    name = "expand_dims"

    def forward(self, x: np.ndarray, axis: Any) -> np.ndarray:
        self.old = x.shape
        return np.expand_dims(x, axis)

    def backward(self, g: np.ndarray) -> tuple:
        return (g.reshape(self.old),)  # the gradient is reshaped back


class BroadcastTo(Op):
    """NumPy's broadcast_to (a read-only view)."""
    name = "broadcast_to"

    def forward(self, x: np.ndarray, shape: Any) -> np.ndarray:
        shape, self.old = shape_arg(shape, "broadcast_to"), x.shape
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None

    def backward(self, g: np.ndarray) -> tuple:
        # every copy of x_i sends its gradient to x_i: summed over the broadcast axes
        return (unbroadcast(g, self.old, "broadcast_to"),)


class Repeat(Op):
    """NumPy's repeat: each element ``repeats`` times in a row along ``axis`` (of the flattened tensor
    when None); ``repeats`` is an int or one int per element of that axis."""
    name = "repeat"

    def forward(self, x: np.ndarray, repeats: Any, axis: Any) -> np.ndarray:
        self.shape, self.dtype = x.shape, x.dtype
        flat = x if axis is not None else x.reshape(-1)
        ax = 0 if axis is None else single_axis(axis, x.ndim, "repeat")
        source = np.repeat(np.arange(flat.shape[ax]), repeat_counts(repeats, flat.shape[ax], axis, x.shape))
        self.where, self.flat_shape = (slice(None),) * ax + (source,), flat.shape  # input position of each output
        return flat[self.where]

    def backward(self, g: np.ndarray) -> tuple:
        # d out_k / d x_i = 1 for each copy k of x_i: scatter-add the gradient
        full = np.zeros(self.flat_shape, dtype=self.dtype)
        np.add.at(full, self.where, g)
        return (full.reshape(self.shape),)


class Tile(Op):
    """NumPy's and PyTorch's ``tile``: the whole tensor ``reps[i]`` times along axis i; fewer reps than
    dimensions are padded with leading 1s (PyTorch's ``repeat``, which refuses that, is ``tile`` otherwise)."""
    name = "tile"

    def forward(self, x: np.ndarray, reps: Any) -> np.ndarray:
        reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
        if not all(isinstance(r, (int, np.integer)) and r >= 0 for r in reps):
            raise ValueError(f"tile: reps must be non-negative ints, got {reps!r}")
        self.d, self.shape = max(len(reps), x.ndim), x.shape
        sizes = (1,) * (self.d - x.ndim) + x.shape
        counts = (1,) * (self.d - len(reps)) + tuple(int(r) for r in reps)
        self.interleaved = tuple(n for pair in zip(counts, sizes) for n in pair)
        return np.tile(x, reps)

    def backward(self, g: np.ndarray) -> tuple:
        # output axis i is reps[i] blocks of n_i: reshape to (..., reps[i], n_i, ...) and sum the reps axes
        return (g.reshape(self.interleaved).sum(axis=tuple(range(0, 2 * self.d, 2))).reshape(self.shape),)


class Flip(Op):
    """Reverse the order along ``axis`` (all axes when None)."""
    name = "flip"

    def forward(self, x: np.ndarray, axis: Any) -> np.ndarray:
        self.axes = normalise_axis(axis, x.ndim, "flip")
        return np.flip(x, self.axes)

    def backward(self, g: np.ndarray) -> tuple:
        return (np.flip(g, self.axes),)  # a reversal moves values: the gradient is flipped back


class Pad(Op):
    """Constant padding with NumPy's ``pad_width``: an int, one (before, after) pair for all axes, or one per axis."""
    name = "pad"

    def forward(self, x: np.ndarray, pad_width: Any, value: np.ndarray) -> np.ndarray:
        try:
            widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))
        except ValueError:
            raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape}") from None
        if not np.issubdtype(widths.dtype, np.integer) or np.any(widths < 0):
            raise ValueError(f"pad: pad_width must be non-negative ints, got {pad_width!r}")
        self.interior = tuple(slice(int(before), int(before) + n) for (before, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    def backward(self, g: np.ndarray) -> tuple:
        return (g[self.interior],)  # d out / d x = 1 on the interior, and the padding is constant


class Concatenate(Op):
    """Join arrays along an existing axis: ``forward(*arrays, axis)``."""
    name = "concatenate"

    def forward(self, *arrays_and_axis: Any) -> np.ndarray:
        *arrays, self.axis = arrays_and_axis
        if not arrays:
            raise ValueError("concatenate: need at least one tensor")
        try:
            out = np.concatenate(arrays, axis=self.axis)
        except ValueError as err:
            raise ValueError(f"concatenate: shapes {[a.shape for a in arrays]} along axis {self.axis}: {err}") from None
        self.splits = np.cumsum([a.shape[self.axis] for a in arrays])[:-1]
        return out

    def backward(self, g: np.ndarray) -> tuple:
        return tuple(np.split(g, self.splits, axis=self.axis))  # each input receives its own slice of g


class Stack(Op):
    """Join arrays of one shape along a new axis: ``forward(*arrays, axis)``."""
    name = "stack"

    def forward(self, *arrays_and_axis: Any) -> np.ndarray:
        *arrays, self.axis = arrays_and_axis
        if not arrays:
            raise ValueError("stack: need at least one tensor")
        if len({a.shape for a in arrays}) != 1:
            raise ValueError(f"stack: all tensors need the same shape, got {[a.shape for a in arrays]}")
        self.n = len(arrays)
        return np.stack(arrays, axis=self.axis)

    def backward(self, g: np.ndarray) -> tuple:
        # each input receives its own slice of the gradient along the new axis
        return tuple(np.squeeze(s, axis=self.axis) for s in np.split(g, self.n, axis=self.axis))


def permutation(axes: tuple, shape: tuple) -> tuple:
    """``transpose``'s axes as a permutation of non-negative axes (reversed when none are given)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    n = len(shape)
    if not axes:
        return tuple(reversed(range(n)))
    valid = (len(axes) == n and all(isinstance(a, (int, np.integer)) and -n <= a < n for a in axes))
    normalised = tuple(int(a) % n for a in axes) if valid else ()
    if not valid or sorted(normalised) != list(range(n)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of a "
                         f"{n}-d tensor of shape {shape}")
    return normalised


def repeat_counts(repeats: Any, n: int, axis: Any, shape: tuple) -> np.ndarray:
    """``repeat``'s counts: a non-negative int, or one per element of the axis (of size ``n``)."""
    counts = np.asarray(repeats)
    if (not np.issubdtype(counts.dtype, np.integer) or counts.ndim > 1 or np.any(counts < 0)
            or counts.ndim == 1 and counts.shape[0] != n):
        raise ValueError(f"repeat: repeats must be a non-negative int or {n} of them "
                         f"(axis {axis!r} of shape {shape}), got {repeats!r}")
    return counts
