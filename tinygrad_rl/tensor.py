"""A reverse-mode autodiff Tensor on NumPy arrays.

Every op computes its forward with NumPy and, right beside it, a ``backward(g)`` that maps
the gradient of the op's output ``g`` to the gradients of its inputs: the chain rule, one op
at a time (micrograd's ``engine.py``, on arrays). ``Tensor.backward`` walks the graph in
reverse topological order, sums the gradient of a tensor used more than once, reduces
broadcast gradients back to each input's shape, and frees the graph afterwards.

dtype follows NumPy: a Python float gives float64, a float32 array stays float32, and Python
scalars mixed into an op take the Tensor's dtype (NumPy 2's weak-scalar rule).
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np

__all__ = ["Tensor", "no_grad", "is_grad_enabled", "where", "concatenate", "stack"]

_grad_enabled = True


class no_grad:
    """Context manager (and decorator) under which ops record no graph.

    Acting in an environment runs the network under ``no_grad``: each op is then a plain
    NumPy call plus one small object, with no closure kept and nothing to free.
    """

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
        return wrapped


def is_grad_enabled() -> bool:
    return _grad_enabled


_next_creation_number = itertools.count().__next__


def _creation_number(node: "Tensor") -> int:
    return node._seq


def _freed_graph(g):
    raise RuntimeError("backward through a graph that was already freed: each backward() frees "
                       "the graph it walked; recompute the forward pass to differentiate again")


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` back to ``shape``: the adjoint of NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    kept = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if kept:
        grad = grad.sum(axis=kept, keepdims=True)
    return grad.reshape(shape)


def _normalise_axis(axis, ndim: int) -> tuple | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    return tuple(out)


def _expand_reduced(g: np.ndarray, shape: tuple, axis: tuple | None, keepdims: bool) -> np.ndarray:
    """Reshape the gradient of a reduction so it broadcasts against the input's shape."""
    if axis is None:
        return np.reshape(g, (1,) * len(shape)) if not keepdims else g
    if not keepdims:
        g = np.expand_dims(g, axis)
    return g


class Tensor:
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff.

    ``Tensor(data, requires_grad=False)`` takes a Python scalar, a (nested) list or an ndarray.
    Only floating-point tensors may require gradients.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_seq")
    # Make ``ndarray + Tensor`` hand over to ``Tensor.__radd__`` instead of broadcasting
    # the Tensor as an object array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data, dtype=dtype)
        if requires_grad and not np.issubdtype(data.dtype, np.floating):
            raise ValueError(f"only floating-point tensors can require grad, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self._op = ""

    # ------------------------------------------------------------------ graph plumbing

    @staticmethod
    def _result(data: np.ndarray, parents: tuple, backward: Callable, op: str) -> "Tensor":
        """A new node; it keeps its parents and backward only when a gradient can flow."""
        out = Tensor.__new__(Tensor)
        # NumPy returns scalars (np.float64), not 0-d arrays, from ufuncs on 0-d inputs and from
        # full reductions; a Tensor always holds an ndarray.
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad = None
        out._op = op
        out.requires_grad = False
        out._parents = ()
        out._backward = None
        if _grad_enabled:
            for p in parents:
                if p.requires_grad:
                    out._seq = _next_creation_number()
                    out.requires_grad = True
                    out._parents = parents
                    out._backward = backward
                    break
        return out

    def _lift(self, other) -> "Tensor":
        """Python scalars take this tensor's dtype (NumPy's weak scalars); arrays keep theirs."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float, np.number)) and not isinstance(other, np.ndarray):
            return Tensor(np.asarray(other, dtype=np.result_type(self.data.dtype, other)))
        return Tensor(other)

    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        A scalar needs no ``grad``; a non-scalar needs the upstream gradient of its shape.
        The graph is walked iteratively (no recursion limit) and freed afterwards.
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

        # Collect the graph iteratively (no recursion limit). A node is always created after
        # its parents, so decreasing creation number is a valid reverse topological order:
        # every consumer of a tensor has sent its gradient before the tensor sends its own.
        nodes, seen, stack = [], {id(self)}, [self]
        while stack:
            node = stack.pop()
            if node._backward is not None:
                nodes.append(node)
                for parent in node._parents:
                    if parent.requires_grad and id(parent) not in seen:
                        seen.add(id(parent))
                        stack.append(parent)
        nodes.sort(key=_creation_number, reverse=True)

        self.grad = grad if self.grad is None else self.grad + grad
        for node in nodes:
            if node._backward is _freed_graph:
                _freed_graph(None)
            for parent, g in zip(node._parents, node._backward(node.grad)):
                if g is None or not parent.requires_grad:
                    continue
                data = parent.data
                if g.shape != data.shape:
                    g = _unbroadcast(g, data.shape)
                if g.dtype != data.dtype:
                    g = g.astype(data.dtype)
                if parent.grad is not None:
                    # Never accumulate in place: g may be shared with a sibling's gradient.
                    parent.grad = parent.grad + g
                elif parent._backward is None and not g.flags.writeable:
                    parent.grad = g.copy()  # a leaf keeps a gradient it owns (not a broadcast view)
                else:
                    parent.grad = g
            node._parents = ()
            node._backward = _freed_graph

    # ------------------------------------------------------------------ properties

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other):
        other = self._lift(other)
        return Tensor._result(_broadcasting("add", np.add, self.data, other.data), (self, other),
                              lambda g: (g, g), "+")

    def __sub__(self, other):
        other = self._lift(other)
        return Tensor._result(_broadcasting("sub", np.subtract, self.data, other.data), (self, other),
                              lambda g: (g, -g), "-")

    def __mul__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        return Tensor._result(_broadcasting("mul", np.multiply, a, b), (self, other),
                              lambda g: (g * b, g * a), "*")

    def __truediv__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        # d(a/b)/da = 1/b ;  d(a/b)/db = -a/b^2
        return Tensor._result(_broadcasting("div", np.divide, a, b), (self, other),
                              lambda g: (g / b, -g * a / (b * b)), "/")

    def __neg__(self):
        return Tensor._result(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        exponent = self._lift(exponent)
        a, b = self.data, exponent.data
        out = _broadcasting("pow", np.power, a, b)

        def backward(g):
            # d(a^b)/da = b a^(b-1) ;  d(a^b)/db = a^b log a  (only computed when needed)
            ga = g * b * a ** (b - 1)
            gb = g * out * np.log(a) if exponent.requires_grad else None
            return ga, gb
        return Tensor._result(out, (self, exponent), backward, "**")

    def __radd__(self, other):
        return self._lift(other) + self

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rmul__(self, other):
        return self._lift(other) * self

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def __rpow__(self, other):
        return self._lift(other) ** self

    def __matmul__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: scalars are not allowed, got shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
        try:
            out = a @ b
        except ValueError as err:  # batch dimensions that do not broadcast
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not broadcast: {err}") from None

        def backward(g):
            # Treat vectors as matrices: a (n,) is a row (1, n), b (n,) a column (n, 1).
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g_shape = list(np.shape(g))
            if b.ndim == 1:
                g_shape.append(1)
            if a.ndim == 1:
                g_shape.insert(len(g_shape) - 1, 1)
            g2 = np.reshape(g, g_shape)
            # C = A B  =>  dA = G B^T ,  dB = A^T G
            ga = gb = None
            if self.requires_grad:
                ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            if other.requires_grad:
                gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb
        return Tensor._result(out, (self, other), backward, "@")

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    # ------------------------------------------------------------------ elementwise functions

    def exp(self):
        out = np.exp(self.data)
        return Tensor._result(out, (self,), lambda g: (g * out,), "exp")

    def log(self):
        x = self.data
        return Tensor._result(np.log(x), (self,), lambda g: (g / x,), "log")

    def sqrt(self):
        out = np.sqrt(self.data)
        return Tensor._result(out, (self,), lambda g: (g / (2 * out),), "sqrt")

    def abs(self):
        x = self.data
        # Subgradient at 0 is 0 (np.sign(0) == 0).
        return Tensor._result(np.abs(x), (self,), lambda g: (g * np.sign(x),), "abs")

    def tanh(self):
        out = np.tanh(self.data)
        return Tensor._result(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def sigmoid(self):
        out = _sigmoid(self.data)
        return Tensor._result(out, (self,), lambda g: (g * out * (1 - out),), "sigmoid")

    def relu(self):
        x = self.data
        out = np.maximum(x, 0)
        # Subgradient at 0 is 0.
        return Tensor._result(out, (self,), lambda g: (g * (x > 0),), "relu")

    def softplus(self):
        x = self.data
        out = np.logaddexp(0, x)  # log(1 + e^x) without overflow
        return Tensor._result(out, (self,), lambda g: (g * _sigmoid(x),), "softplus")  # d/dx = sigmoid(x)

    def clip(self, low=None, high=None):
        """Clamp to [low, high]; the gradient passes where low <= x <= high (PyTorch's clamp)."""
        x = self.data
        out = np.clip(x, low, high)
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        return Tensor._result(out, (self,), lambda g: (g * inside,), "clip")

    def maximum(self, other):
        return _select_extreme(self, other, np.maximum, "maximum")

    def minimum(self, other):
        return _select_extreme(self, other, np.minimum, "minimum")

    # ------------------------------------------------------------------ reductions

    def sum(self, axis=None, keepdims: bool = False):
        axes = _normalise_axis(axis, self.ndim)
        shape = self.shape
        out = np.sum(self.data, axis=axes, keepdims=keepdims)
        return Tensor._result(out, (self,),
                              lambda g: (np.broadcast_to(_expand_reduced(g, shape, axes, keepdims), shape),),
                              "sum")

    def mean(self, axis=None, keepdims: bool = False):
        axes = _normalise_axis(axis, self.ndim)
        shape = self.shape
        count = self.size if axes is None else int(np.prod([shape[a] for a in axes]))
        out = np.mean(self.data, axis=axes, keepdims=keepdims)
        return Tensor._result(out, (self,),
                              lambda g: (np.broadcast_to(_expand_reduced(g, shape, axes, keepdims) / count, shape),),
                              "mean")

    def max(self, axis=None, keepdims: bool = False):
        """Maximum along ``axis``. Subgradient: split equally among tied maxima (as PyTorch's amax)."""
        return _reduce_extreme(self, axis, keepdims, np.max, "max")

    def min(self, axis=None, keepdims: bool = False):
        """Minimum along ``axis``. Subgradient: split equally among tied minima."""
        return _reduce_extreme(self, axis, keepdims, np.min, "min")

    def argmax(self, axis=None) -> np.ndarray:
        """Indices of the maxima (an ndarray: not differentiable)."""
        return np.argmax(self.data, axis=axis)

    def logsumexp(self, axis=-1, keepdims: bool = False):
        """log sum exp(x) = m + log sum exp(x - m), m = max x; d/dx = softmax(x)."""
        x = self.data
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        lse = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        probs = np.exp(x - lse)
        out = lse if keepdims else np.squeeze(lse, axis=axis)

        def backward(g):
            return ((g if keepdims else np.expand_dims(g, axis)) * probs,)
        return Tensor._result(out, (self,), backward, "logsumexp")

    def log_softmax(self, axis=-1):
        """x - logsumexp(x); backward: g - softmax(x) * sum(g).

        Computed as (x - m) - log sum exp(x - m), not x - logsumexp(x): at |x| ~ 1e4 in float32
        the rounded logsumexp is off by ~1e-3, while x - m is exact. softmax below likewise
        normalises exp(x - m) by its sum instead of using exp(x - logsumexp(x)).
        """
        x = self.data
        m = np.max(x, axis=axis, keepdims=True)
        shifted = x - m
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

        def backward(g):
            return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)
        return Tensor._result(out, (self,), backward, "log_softmax")

    def softmax(self, axis=-1):
        """exp(x - max x) / sum exp(x - max x); backward: s * (g - sum(g * s))."""
        x = self.data
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)

        def backward(g):
            return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)
        return Tensor._result(out, (self,), backward, "softmax")

    # ------------------------------------------------------------------ shape ops

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.shape
        try:
            out = self.data.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {old} ({self.size} elements) into {shape}") from None
        return Tensor._result(out, (self,), lambda g: (g.reshape(old),), "reshape")

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        axes = axes or tuple(reversed(range(self.ndim)))
        if sorted(a % max(self.ndim, 1) for a in axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of a {self.ndim}-d tensor's axes")
        inverse = tuple(np.argsort(axes))
        return Tensor._result(np.transpose(self.data, axes), (self,),
                              lambda g: (np.transpose(g, inverse),), "transpose")

    def squeeze(self, axis=None):
        old = self.shape
        try:
            out = np.squeeze(self.data, axis=axis)
        except ValueError:
            raise ValueError(f"squeeze: axis {axis} of shape {old} does not have size 1") from None
        return Tensor._result(out, (self,), lambda g: (g.reshape(old),), "squeeze")

    def expand_dims(self, axis):
        old = self.shape
        return Tensor._result(np.expand_dims(self.data, axis), (self,),
                              lambda g: (g.reshape(old),), "expand_dims")

    def __getitem__(self, index):
        index = _index_arrays(index)
        shape, dtype = self.shape, self.dtype
        try:
            out = self.data[index]
        except IndexError as err:
            raise IndexError(f"getitem: {err} (tensor shape {shape})") from None
        advanced = _is_advanced_index(index)

        def backward(g):
            full = np.zeros(shape, dtype=dtype)
            if advanced:
                np.add.at(full, index, g)  # repeated indices accumulate
            else:
                full[index] = g
            return (full,)
        return Tensor._result(out, (self,), backward, "getitem")

    def gather(self, axis: int, index) -> "Tensor":
        """out[i][j] = x[i][index[i][j]] for axis=1 (PyTorch's gather), any rank.

        ``index`` has the same number of dimensions as the tensor. The backward scatters-adds,
        so repeated indices accumulate their gradients.
        """
        index = np.asarray(index.data if isinstance(index, Tensor) else index)
        if not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"gather: index must be integers, got dtype {index.dtype}")
        if index.ndim != self.ndim:
            raise ValueError(f"gather: index has {index.ndim} dims but tensor {self.shape} has {self.ndim}")
        axis = _normalise_axis(axis, self.ndim)[0]
        shape, dtype = self.shape, self.dtype
        out = np.take_along_axis(self.data, index, axis=axis)

        def backward(g):
            full = np.zeros(shape, dtype=dtype)
            grids = list(np.indices(index.shape, sparse=True))
            grids[axis] = index
            np.add.at(full, tuple(grids), g)
            return (full,)
        return Tensor._result(out, (self,), backward, "gather")


def _broadcasting(op: str, fn, *arrays) -> np.ndarray:
    """``fn(*arrays)``, with a shape error that names the op and every shape."""
    try:
        return fn(*arrays)
    except ValueError:
        shapes = " and ".join(str(np.shape(x)) for x in arrays)
        raise ValueError(f"{op}: shapes {shapes} do not broadcast") from None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^{-x}) computed with exp of non-positive numbers only (no overflow)."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


def _index_arrays(index):
    """Tensors used as indices become their arrays (indices are never differentiated)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_advanced_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


def _select_extreme(a: Tensor, b, pick, name: str) -> Tensor:
    """Elementwise maximum/minimum; on ties the gradient is split half and half."""
    b = a._lift(b)
    x, y = a.data, b.data
    out = _broadcasting(name, pick, x, y)
    x_wins = (x == out).astype(out.dtype)
    y_wins = (y == out).astype(out.dtype)
    share = x_wins + y_wins  # 2 on ties

    def backward(g):
        return g * x_wins / share, g * y_wins / share
    return Tensor._result(out, (a, b), backward, name)


def _reduce_extreme(t: Tensor, axis, keepdims: bool, reduce, name: str) -> Tensor:
    axes = _normalise_axis(axis, t.ndim)
    x = t.data
    out = reduce(x, axis=axes, keepdims=keepdims)
    out_full = _expand_reduced(out, x.shape, axes, keepdims)
    winners = (x == out_full)
    share = winners / winners.sum(axis=axes, keepdims=True)

    def backward(g):
        return (_expand_reduced(g, x.shape, axes, keepdims) * share,)
    return Tensor._result(out, (t,), backward, name)


def where(condition, a, b) -> Tensor:
    """Elementwise ``a if condition else b``; the gradient goes to the branch that was chosen."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    if not isinstance(a, Tensor):
        a = b._lift(a) if isinstance(b, Tensor) else Tensor(a)
    b = a._lift(b)
    out = _broadcasting("where", np.where, cond, a.data, b.data)
    return Tensor._result(out, (a, b), lambda g: (g * cond, g * ~cond), "where")


Tensor.where = staticmethod(where)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; the gradient is split back by their sizes."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    try:
        out = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as err:
        raise ValueError(f"concatenate: shapes {[t.shape for t in tensors]} along axis {axis}: {err}") from None
    splits = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return Tensor._result(out, tuple(tensors),
                          lambda g: tuple(np.split(g, splits, axis=axis)), "concatenate")


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
    out = np.stack([t.data for t in tensors], axis=axis)
    n = len(tensors)
    return Tensor._result(out, tuple(tensors),
                          lambda g: tuple(np.squeeze(s, axis=axis) for s in np.split(g, n, axis=axis)),
                          "stack")


Tensor.concatenate = staticmethod(concatenate)
Tensor.stack = staticmethod(stack)
