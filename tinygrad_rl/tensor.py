"""A reverse-mode autodiff Tensor on NumPy arrays.

Every Tensor method that computes reaches its op through one function, :func:`apply`: it runs the
op's ``forward`` on the inputs' arrays and, when a gradient can flow, records the op on the result.
The ops themselves, each a forward beside its backward (the chain rule, one op at a time: micrograd's
``engine.py`` on arrays), live in :mod:`tinygrad_rl.ops`. ``Tensor.backward`` walks the recorded graph
in reverse creation order, sums the gradient of a tensor used more than once, reduces broadcast
gradients back to each input's shape, and frees the recorded ops afterwards (the op names and parents
stay, so the graph can still be inspected: :mod:`tinygrad_rl.graph`).

dtype follows NumPy: a Python float gives float64, a float32 array stays float32, and Python
scalars mixed into an op take the Tensor's dtype (NumPy 2's weak-scalar rule).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from . import ops
from .array_methods import ArrayMethods
from .creation import Creation
from .ops import Op
from .ops.base import shape_arg, single_axis, unbroadcast

Axis = int | tuple[int, ...] | None  # one axis, several, or all of them

__all__ = ["Tensor", "apply", "no_grad", "is_grad_enabled", "where", "concatenate", "stack", "einsum", "one_hot",
           "set_anomaly_checks", "anomaly_checks"]

_grad_enabled = True
# The checker of ``detect_anomaly()`` while it is on, else None: outside the mode the engine pays
# one ``is None`` test per op and per backward step (see :mod:`tinygrad_rl.anomaly`).
_anomaly = None
_next_creation_number = itertools.count().__next__


class no_grad:
    """Context manager (and decorator) under which ops record no graph.

    Acting in an environment runs the network under ``no_grad``: each op is then a plain
    NumPy call plus two small objects, with nothing kept for a backward and nothing to free.
    """

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc) -> bool:
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, fn: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
        return wrapped


def is_grad_enabled() -> bool:
    return _grad_enabled


def set_anomaly_checks(checks: Any) -> Any:
    """Install ``checks`` (``forward(out, inputs)``, ``backward(node, grads)``) or None; returns the previous."""
    global _anomaly
    previous, _anomaly = _anomaly, checks
    return previous


def anomaly_checks() -> Any:
    """The installed anomaly checks, or None."""
    return _anomaly


def apply(op: type[Op], inputs: tuple, *settings) -> Tensor:
    """The one dispatch: ``op().forward(*arrays of inputs, *settings)``, recorded on the result.

    ``inputs`` are the Tensors the op differentiates; ``settings`` (an axis, a dtype, ...) follow them
    into ``forward``. The op instance is kept, with ``op.inputs``, only when a gradient can flow (grad
    mode on and some input requires grad); under ``no_grad`` nothing is kept. Anomaly mode hooks here.
    """
    fn = op()
    if len(inputs) == 1:
        data = fn.forward(inputs[0].data, *settings) if settings else fn.forward(inputs[0].data)
    elif len(inputs) == 2 and not settings:
        data = fn.forward(inputs[0].data, inputs[1].data)
    else:
        data = fn.forward(*[t.data for t in inputs], *settings)
    out = Tensor.__new__(Tensor)
    # NumPy returns scalars (np.float64), not 0-d arrays, from ufuncs on 0-d inputs and from full
    # reductions; a Tensor always holds an ndarray.
    out.data = data if type(data) is np.ndarray else np.asarray(data)
    out.grad = None
    out._requires_grad = False
    out._op = fn.name
    out._parents = ()
    out._ctx = None
    if _grad_enabled:
        for t in inputs:
            if t._requires_grad:
                out._seq = _next_creation_number()
                out._requires_grad = True
                out._parents = fn.inputs = inputs
                out._ctx = fn
                break
    if _anomaly is not None:
        _anomaly.forward(out, inputs)
    return out


class _Freed(Op):
    """Stands in for an op whose backward has run: its saved arrays are gone."""

    def backward(self, g: np.ndarray) -> tuple:
        raise RuntimeError("backward through a graph that was already freed: each backward() frees "
                           "the graph it walked; recompute the forward pass to differentiate again")


_FREED = _Freed()


def _creation_number(node: Tensor) -> int:
    return node._seq


class Tensor(ArrayMethods, Creation):
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff.

    ``Tensor(data, requires_grad=False)`` takes a Python scalar, a (nested) list or an ndarray.
    Only floating-point tensors may require gradients.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_parents", "_ctx", "_op", "_seq", "_site")
    # Make ``ndarray + Tensor`` hand over to ``Tensor.__radd__`` instead of broadcasting
    # the Tensor as an object array.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data, dtype=dtype)
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()
        self._ctx = None
        self._op = ""

    @property
    def requires_grad(self) -> bool:
        """Whether backward() computes a gradient for this tensor (only a floating-point one can)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not np.issubdtype(self.data.dtype, np.floating):  # an integer gradient is meaningless
            raise ValueError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._requires_grad = bool(value)

    @property
    def op(self) -> str:
        """The name of the op that computed this tensor (``"linear"``, ``"+"``, ``"relu"``...);
        ``""`` for a tensor built from data (a parameter, an input, a constant)."""
        return self._op

    @property
    def parents(self) -> tuple:
        """The tensors this one was computed from, in the op's argument order. Recorded only
        when a gradient can flow through the op: empty for leaves, for results computed from
        constants only and for anything computed under ``no_grad``. Kept after ``backward()``
        (only the recorded ops are freed), so a graph can be drawn after its backward."""
        return self._parents

    def _lift(self, other: Any) -> Tensor:
        """Python scalars take this tensor's dtype (NumPy's weak scalars); arrays keep theirs."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float, np.number)) and not isinstance(other, np.ndarray):
            return Tensor(np.asarray(other, dtype=np.result_type(self.data.dtype, other)))
        return Tensor(other)

    def backward(self, grad: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        A scalar needs no ``grad``; a non-scalar needs the upstream gradient of its shape.
        The graph is walked iteratively (no recursion limit). Afterwards every non-leaf tensor
        of the graph holds in ``.grad`` the gradient of ``self`` with respect to it (from this
        backward only, possibly a read-only view: copy it before changing it), leaves have
        accumulated theirs, and the recorded ops (with the arrays they saved) are freed:
        a second backward through the same graph raises. ``op`` and ``parents`` stay.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input required grad, or it was computed under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: grad must be given for a non-scalar tensor of shape {self.shape}")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: grad shape {grad.shape} does not match tensor shape {self.shape}")

        # A node is always created after its parents, so decreasing creation number is a valid
        # reverse topological order: every consumer of a tensor has sent its gradient before it sends its own.
        nodes, seen, stack = [], {id(self)}, [self]
        while stack:
            node = stack.pop()
            if node._ctx is not None:
                nodes.append(node)
                for parent in node._parents:
                    if parent._requires_grad and id(parent) not in seen:
                        seen.add(id(parent))
                        stack.append(parent)
        nodes.sort(key=_creation_number, reverse=True)

        self.grad = grad if self.grad is None else self.grad + grad
        checks = _anomaly
        for node in nodes:
            grads = node._ctx.backward(node.grad)
            if checks is not None:
                checks.backward(node, grads)
            for parent, g in zip(node._parents, grads):
                if g is None or not parent._requires_grad:
                    continue
                data = parent.data
                if g.shape != data.shape:
                    g = unbroadcast(g, data.shape, node._op)
                if g.dtype != data.dtype:
                    g = g.astype(data.dtype)
                if parent.grad is not None:
                    # Never accumulate in place: g may be shared with a sibling's gradient.
                    parent.grad = parent.grad + g
                elif parent._ctx is None and not g.flags.writeable:
                    parent.grad = g.copy()  # a leaf keeps a gradient it owns (not a broadcast view)
                else:
                    parent.grad = g
            node._ctx = _FREED  # frees the op and the arrays it saved

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    # ------------------------------------------------------------------ ops: one dispatch each
    # Each method below is one row: the op unit it applies (tinygrad_rl.ops.<kind>.<Op>) and the settings
    # it passes on. The maths of each, forward beside backward, is in that class.

    # elementwise
    def __add__(self, other: Any) -> Tensor: return apply(ops.Add, (self, self._lift(other)))
    def __sub__(self, other: Any) -> Tensor: return apply(ops.Sub, (self, self._lift(other)))
    def __mul__(self, other: Any) -> Tensor: return apply(ops.Mul, (self, self._lift(other)))
    def __truediv__(self, other: Any) -> Tensor: return apply(ops.Div, (self, self._lift(other)))
    def __pow__(self, exponent: Any) -> Tensor: return apply(ops.Pow, (self, self._lift(exponent)))
    def __neg__(self) -> Tensor: return apply(ops.Neg, (self,))
    def __radd__(self, other: Any) -> Tensor: return self._lift(other) + self
    def __rsub__(self, other: Any) -> Tensor: return self._lift(other) - self
    def __rmul__(self, other: Any) -> Tensor: return self._lift(other) * self
    def __rtruediv__(self, other: Any) -> Tensor: return self._lift(other) / self
    def __rpow__(self, other: Any) -> Tensor: return self._lift(other) ** self
    def exp(self) -> Tensor: return apply(ops.Exp, (self,))
    def log(self) -> Tensor: return apply(ops.Log, (self,))
    def sqrt(self) -> Tensor: return apply(ops.Sqrt, (self,))
    def abs(self) -> Tensor: return apply(ops.Abs, (self,))
    def tanh(self) -> Tensor: return apply(ops.Tanh, (self,))
    def sigmoid(self) -> Tensor: return apply(ops.Sigmoid, (self,))
    def relu(self) -> Tensor: return apply(ops.Relu, (self,))
    def sign(self) -> Tensor: return apply(ops.Sign, (self,))
    def sin(self) -> Tensor: return apply(ops.Sin, (self,))
    def cos(self) -> Tensor: return apply(ops.Cos, (self,))
    def erf(self) -> Tensor: return apply(ops.Erf, (self,))
    def gelu(self, approximate: str = "none") -> Tensor: return apply(ops.Gelu, (self,), approximate)
    def softplus(self) -> Tensor: return apply(ops.Softplus, (self,))
    def clip(self, low: Any = None, high: Any = None) -> Tensor: return apply(ops.Clip, (self,), low, high)
    def maximum(self, other: Any) -> Tensor: return apply(ops.Maximum, (self, self._lift(other)))
    def minimum(self, other: Any) -> Tensor: return apply(ops.Minimum, (self, self._lift(other)))

    # reduce
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return apply(ops.Sum, (self,), axis, keepdims)
    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return apply(ops.Mean, (self,), axis, keepdims)
    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return apply(ops.Max, (self,), axis, keepdims)
    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return apply(ops.Min, (self,), axis, keepdims)
    def prod(self, axis: Axis = None, keepdims: bool = False) -> Tensor: return apply(ops.Prod, (self,), axis, keepdims)

    def var(self, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        return apply(ops.Var, (self,), axis, ddof, keepdims)

    def std(self, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        return apply(ops.Std, (self,), axis, ddof, keepdims)

    def cumsum(self, axis: int | None = None, reverse: bool = False) -> Tensor:
        return apply(ops.Cumsum, (self,), axis, reverse)

    def logsumexp(self, axis: Axis = -1, keepdims: bool = False) -> Tensor:
        return apply(ops.Logsumexp, (self,), axis, keepdims)

    def log_softmax(self, axis: Axis = -1) -> Tensor: return apply(ops.LogSoftmax, (self,), axis)
    def softmax(self, axis: Axis = -1) -> Tensor: return apply(ops.Softmax, (self,), axis)

    # movement
    def reshape(self, *shape: Any) -> Tensor: return apply(ops.Reshape, (self,), shape)
    def transpose(self, *axes: Any) -> Tensor: return apply(ops.Transpose, (self,), axes)
    def squeeze(self, axis: Axis = None) -> Tensor: return apply(ops.Squeeze, (self,), axis)
    def expand_dims(self, axis: Axis) -> Tensor: return apply(ops.ExpandDims, (self,), axis)
    def broadcast_to(self, *shape: Any) -> Tensor: return apply(ops.BroadcastTo, (self,), shape)
    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor: return apply(ops.Repeat, (self,), repeats, axis)
    def tile(self, reps: Any) -> Tensor: return apply(ops.Tile, (self,), reps)
    def flip(self, axis: Axis = None) -> Tensor: return apply(ops.Flip, (self,), axis)
    def pad(self, pad_width: Any, value: float = 0.0) -> Tensor: return apply(ops.Pad, (self,), pad_width, value)

    # indexing and matmul
    def __getitem__(self, index: Any) -> Tensor: return apply(ops.GetItem, (self,), index)
    def __matmul__(self, other: Any) -> Tensor: return apply(ops.Matmul, (self, self._lift(other)))
    def __rmatmul__(self, other: Any) -> Tensor: return self._lift(other) @ self

    def gather(self, axis: int, index: Any) -> Tensor:
        return apply(ops.Gather, (self,), axis, np.asarray(index.data if isinstance(index, Tensor) else index))

    def astype(self, dtype: Any) -> Tensor:
        """A cast: differentiable between floating dtypes; to an integer or boolean dtype, a constant."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            return Tensor(self.data.astype(dtype))
        return apply(ops.Cast, (self,), dtype)

    # ------------------------------------------------------------------ made of the ops above

    def float(self) -> Tensor:
        """``astype(np.float32)`` (PyTorch's float)."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def expand(self, *shape: Any) -> Tensor:
        """PyTorch's expand: ``broadcast_to`` where -1 keeps the size of that (existing) dimension."""
        shape = shape_arg(shape, "expand")
        lead = len(shape) - self.ndim
        if lead < 0 or any(n == -1 for n in shape[:lead]):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
        return self.broadcast_to(tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape)))

    def split(self, sizes: Any, axis: int = 0) -> list:
        """Pieces along ``axis`` (PyTorch's split): an int is the size of every piece (the last
        may be smaller), a list gives each piece's size. Each piece is a slice, with its backward."""
        ax = single_axis(axis, self.ndim, "split")
        n = self.shape[ax]
        if isinstance(sizes, (int, np.integer)):
            if sizes <= 0:
                raise ValueError(f"split: piece size must be positive, got {sizes}")
            sizes = [min(sizes, n - start) for start in range(0, n, int(sizes))] or [0]
        elif sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {list(sizes)} do not add up to {n}, the size of axis {axis} "
                             f"of shape {self.shape}")
        bounds = np.cumsum([0, *sizes])
        return [self[(slice(None),) * ax + (slice(int(a), int(b)),)] for a, b in zip(bounds[:-1], bounds[1:])]

    def chunk(self, chunks: int, axis: int = 0) -> list:
        """``chunks`` pieces of size ceil(n / chunks) along ``axis`` (PyTorch's chunk: the last may
        be smaller, and there may be fewer than ``chunks`` pieces)."""
        if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        n = self.shape[single_axis(axis, self.ndim, "chunk")]
        return self.split(max(-(-n // int(chunks)), 1), axis)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Tensor:
        """Elementwise ``a if condition else b``; the gradient goes to the branch that was chosen."""
        cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
        if not isinstance(a, Tensor):
            a = b._lift(a) if isinstance(b, Tensor) else Tensor(a)
        return apply(ops.Where, (a, a._lift(b)), cond)

    @staticmethod
    def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
        """Join tensors along an existing axis; the gradient is split back by their sizes."""
        return apply(ops.Concatenate, tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors), axis)

    @staticmethod
    def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
        """Join tensors of one shape along a new axis."""
        return apply(ops.Stack, tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors), axis)

    @staticmethod
    def einsum(subscripts: str, *operands: Any) -> Tensor:
        """NumPy's einsum for one or two operands (``"ij,jk->ik"``, ``"bi,bi->b"``, ``"ij->j"``, implicit output)."""
        return apply(ops.Einsum, tuple(t if isinstance(t, Tensor) else Tensor(t) for t in operands), subscripts)


where, concatenate, stack, einsum = Tensor.where, Tensor.concatenate, Tensor.stack, Tensor.einsum
one_hot = Tensor.one_hot
