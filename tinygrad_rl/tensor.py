"""A reverse-mode autodiff Tensor on NumPy arrays.

Every op computes its forward with NumPy and, right beside it, a ``backward(g)`` that maps
the gradient of the op's output ``g`` to the gradients of its inputs: the chain rule, one op
at a time (micrograd's ``engine.py``, on arrays). ``Tensor.backward`` walks the graph in
reverse topological order, sums the gradient of a tensor used more than once, reduces
broadcast gradients back to each input's shape, and frees the backward closures afterwards
(the op names and parents stay, so the graph can still be inspected: :mod:`tinygrad_rl.graph`).

dtype follows NumPy: a Python float gives float64, a float32 array stays float32, and Python
scalars mixed into an op take the Tensor's dtype (NumPy 2's weak-scalar rule).
"""
from __future__ import annotations

import functools
import itertools
from typing import Callable, Sequence

import numpy as np

__all__ = ["Tensor", "no_grad", "is_grad_enabled", "where", "concatenate", "stack", "einsum", "one_hot"]

_grad_enabled = True
# The anomaly checker while ``detect_anomaly()`` is active, else None: outside the mode the engine
# pays one ``is None`` test per op and per backward step (see :mod:`tinygrad_rl.anomaly`).
_anomaly = None
# The recorder/replayer of ``tinygrad_rl.jit`` while a jitted call runs, else None: outside one,
# every op pays one ``is None`` test more (see :func:`traceable`).
_tracer = None


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


def _unbroadcast(grad: np.ndarray, shape: tuple, op: str = "broadcast") -> np.ndarray:
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


def _normalise_axis(axis, ndim: int, op: str = "reduce") -> tuple | None:
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


def _single_axis(axis, ndim: int, op: str) -> int:
    """One axis of a tensor with at least one dimension, as a non-negative int."""
    if ndim == 0:
        raise ValueError(f"{op}: a 0-d tensor has no axis {axis!r}; reshape it to (1,) first")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    return _normalise_axis(axis, ndim, op)[0]


def _softmax_axes(axis, ndim: int, op: str) -> tuple:
    """The axes a softmax-like op normalises over, as a tuple (None: all of them)."""
    axes = _normalise_axis(axis, ndim, op)
    return tuple(range(ndim)) if axes is None else axes


def _shape_arg(shape: tuple, op: str) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))`` as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"{op}: shape must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


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

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_seq", "_site")
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

    # ------------------------------------------------------------------ the recorded graph

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
        (only the backward closures are freed), so a graph can be drawn after its backward."""
        return self._parents

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
        if _anomaly is not None:
            _anomaly.forward(out, parents)
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
        The graph is walked iteratively (no recursion limit). Afterwards every non-leaf tensor
        of the graph holds in ``.grad`` the gradient of ``self`` with respect to it (from this
        backward only, possibly a read-only view: copy it before changing it), leaves have
        accumulated theirs, and the backward closures (with the arrays they saved) are freed:
        a second backward through the same graph raises. ``op`` and ``parents`` stay.
        """
        if _tracer is not None:  # inside a jitted call: the jit runs its recorded backward, or this one
            return _tracer.backward(self, grad)
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
        checks = _anomaly
        for node in nodes:
            if node._backward is _freed_graph:
                _freed_graph(None)
            grads = node._backward(node.grad)
            if checks is not None:
                checks.backward(node, grads)
            for parent, g in zip(node._parents, grads):
                if g is None or not parent.requires_grad:
                    continue
                data = parent.data
                if g.shape != data.shape:
                    g = _unbroadcast(g, data.shape, node._op)
                if g.dtype != data.dtype:
                    g = g.astype(data.dtype)
                if parent.grad is not None:
                    # Never accumulate in place: g may be shared with a sibling's gradient.
                    parent.grad = parent.grad + g
                elif parent._backward is None and not g.flags.writeable:
                    parent.grad = g.copy()  # a leaf keeps a gradient it owns (not a broadcast view)
                else:
                    parent.grad = g
            node._backward = _freed_graph  # frees the closure and the arrays it saved

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
        # d(a+b)/da = 1 ;  d(a+b)/db = 1
        return Tensor._result(_broadcasting("add", np.add, self.data, other.data), (self, other),
                              lambda g: (g, g), "+")

    def __sub__(self, other):
        other = self._lift(other)
        # d(a-b)/da = 1 ;  d(a-b)/db = -1
        return Tensor._result(_broadcasting("sub", np.subtract, self.data, other.data), (self, other),
                              lambda g: (g, -g), "-")

    def __mul__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        # d(ab)/da = b ;  d(ab)/db = a
        return Tensor._result(_broadcasting("mul", np.multiply, a, b), (self, other),
                              lambda g: (g * b, g * a), "*")

    def __truediv__(self, other):
        other = self._lift(other)
        a, b = self.data, other.data
        # d(a/b)/da = 1/b ;  d(a/b)/db = -a/b^2
        return Tensor._result(_broadcasting("div", np.divide, a, b), (self, other),
                              lambda g: (g / b, -g * a / (b * b)), "/")

    def __neg__(self):
        # d(-a)/da = -1
        return Tensor._result(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        exponent = self._lift(exponent)
        a, b = self.data, exponent.data
        out = _broadcasting("pow", np.power, a, b)

        def backward(g):
            # d(a^b)/da = b a^(b-1) ;  d(a^b)/db = a^b log a  (only computed when needed).
            # At a = 0 both formulas multiply 0 by inf. PyTorch's conventions: d/da = 0 where b = 0
            # (a^0 = 1 is constant; the exponent b - 1 becomes 0 there, so the factor is b a^0 = 0
            # for every a), and d/db = 0 where a = 0 and b >= 0 (0^b is constant there).
            ga = gb = None
            with np.errstate(divide="ignore"):  # inf is the true slope: 0^(b-1) for b < 1, log 0 for b < 0
                if self.requires_grad:
                    ga = g * b * a ** np.where(b == 0, 0, b - 1)
                if exponent.requires_grad:
                    base_zero = (a == 0) & (b >= 0)
                    gb = g * np.where(base_zero, 0, out * np.log(np.where(base_zero, 1, a)))
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

    # ------------------------------------------------------------------ comparisons
    # Comparisons return plain boolean ndarrays (not Tensors): they have no gradient, and an
    # ndarray is already what a mask is used as: t[t > 0], where(t > 0, a, b), mask.mean().
    # Tensors keep hashing by identity (as in PyTorch), so they stay usable in dicts and sets
    # even though == is elementwise.

    __hash__ = object.__hash__

    def __lt__(self, other):
        return _compare("lt", np.less, self, other)

    def __le__(self, other):
        return _compare("le", np.less_equal, self, other)

    def __gt__(self, other):
        return _compare("gt", np.greater, self, other)

    def __ge__(self, other):
        return _compare("ge", np.greater_equal, self, other)

    def __eq__(self, other):
        return _compare("eq", np.equal, self, other)

    def __ne__(self, other):
        return _compare("ne", np.not_equal, self, other)

    # ------------------------------------------------------------------ elementwise functions

    def exp(self):
        out = np.exp(self.data)
        # d/dx e^x = e^x, the output itself
        return Tensor._result(out, (self,), lambda g: (g * out,), "exp")

    def log(self):
        x = self.data
        # d/dx log x = 1/x
        return Tensor._result(np.log(x), (self,), lambda g: (g / x,), "log")

    def sqrt(self):
        out = np.sqrt(self.data)
        # d/dx sqrt(x) = 1 / (2 sqrt(x))  (inf at 0: the true slope)
        return Tensor._result(out, (self,), lambda g: (g / (2 * out),), "sqrt")

    def abs(self):
        x = self.data
        # d|x|/dx = sign(x); the subgradient at 0 is 0 (np.sign(0) == 0).
        return Tensor._result(np.abs(x), (self,), lambda g: (g * np.sign(x),), "abs")

    def tanh(self):
        out = np.tanh(self.data)
        # d/dx tanh x = 1 - tanh^2 x
        return Tensor._result(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def sigmoid(self):
        out = _sigmoid(self.data)
        # d/dx s(x) = s(x) (1 - s(x))
        return Tensor._result(out, (self,), lambda g: (g * out * (1 - out),), "sigmoid")

    def relu(self):
        x = self.data
        out = np.maximum(x, 0)
        # d/dx max(x, 0) = 1 where x > 0, else 0 (the subgradient at 0 is 0)
        return Tensor._result(out, (self,), lambda g: (g * (x > 0),), "relu")

    def sign(self):
        """-1, 0 or 1. The derivative is 0 wherever it exists; at 0 it is taken as 0 (PyTorch)."""
        x = self.data
        # d/dx sign(x) = 0 (taken as 0 at the jump too)
        return Tensor._result(np.sign(x), (self,), lambda g: (np.zeros_like(g),), "sign")

    def sin(self):
        x = self.data
        # d/dx sin x = cos x
        return Tensor._result(np.sin(x), (self,), lambda g: (g * np.cos(x),), "sin")

    def cos(self):
        x = self.data
        # d/dx cos x = -sin x
        return Tensor._result(np.cos(x), (self,), lambda g: (-g * np.sin(x),), "cos")

    def erf(self):
        """erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt;  d/dx = 2/sqrt(pi) exp(-x^2).

        The forward is W. J. Cody's rational Chebyshev approximations (``_erf``), accurate to
        float64 rounding, so the core needs no SciPy.
        """
        x = self.data
        # d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
        return Tensor._result(_erf(x), (self,), lambda g: (g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)),), "erf")

    def gelu(self, approximate: str = "none"):
        """GELU(x) = x Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel 2016).

        Exact: Phi(x) = (1 + erf(x / sqrt 2)) / 2, and d/dx = Phi(x) + x phi(x), phi the normal pdf.
        ``approximate="tanh"``: x (1 + tanh u) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3), and
        d/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2.
        Both match PyTorch's ``gelu(approximate=...)``.
        """
        x = self.data
        if approximate == "none":
            cdf = 0.5 * (1 + _erf(x * _SQRT_HALF))
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
            # d/dx x Phi(x) = Phi(x) + x phi(x)
            return Tensor._result(x * cdf, (self,), lambda g: (g * (cdf + x * pdf),), "gelu")
        if approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            # d/dx x (1 + tanh u) / 2: the slope above
            return Tensor._result(0.5 * x * (1 + t), (self,), lambda g: (g * slope,), "gelu")
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")

    def softplus(self):
        x = self.data
        out = np.logaddexp(0, x)  # log(1 + e^x) without overflow
        return Tensor._result(out, (self,), lambda g: (g * _sigmoid(x),), "softplus")  # d/dx = sigmoid(x)

    def clip(self, low=None, high=None):
        """Clamp to [low, high]; the gradient passes where low <= x <= high (PyTorch's clamp)."""
        if low is None and high is None:
            raise ValueError("clip: at least one of low and high must be given, got clip(None, None)")
        x = self.data
        out = np.clip(x, low, high)
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        # d/dx clip(x) = 1 where low <= x <= high, else 0
        return Tensor._result(out, (self,), lambda g: (g * inside,), "clip")

    def maximum(self, other):
        return _select_extreme(self, other, np.maximum, "maximum")

    def minimum(self, other):
        return _select_extreme(self, other, np.minimum, "minimum")

    # ------------------------------------------------------------------ reductions

    def sum(self, axis=None, keepdims: bool = False):
        axes = _normalise_axis(axis, self.ndim, "sum")
        shape = self.shape
        out = np.sum(self.data, axis=axes, keepdims=keepdims)
        # d/dx_i sum_j x_j = 1: the gradient is broadcast back over the summed axes
        return Tensor._result(out, (self,),
                              lambda g: (np.broadcast_to(_expand_reduced(g, shape, axes, keepdims), shape),),
                              "sum")

    def mean(self, axis=None, keepdims: bool = False):
        axes = _normalise_axis(axis, self.ndim, "mean")
        shape = self.shape
        count = self.size if axes is None else int(np.prod([shape[a] for a in axes]))
        out = _mean(self.data, axes, keepdims, count)
        # d/dx_i mean_j x_j = 1/N
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

    def argmin(self, axis=None) -> np.ndarray:
        """Indices of the minima (an ndarray: not differentiable)."""
        return np.argmin(self.data, axis=axis)

    def prod(self, axis=None, keepdims: bool = False):
        """Product over ``axis``.  d/dx_i prod_j x_j = prod_{j != i} x_j, computed as exclusive prefix
        times exclusive suffix products: no division, so exact where some x_j are 0 (PyTorch agrees)."""
        axes = _normalise_axis(axis, self.ndim, "prod")
        x = self.data
        out = np.prod(x, axis=axes, keepdims=keepdims)
        # d/dx_i prod_j x_j = prod_{j != i} x_j
        return Tensor._result(out, (self,),
                              lambda g: (_expand_reduced(g, x.shape, axes, keepdims) * _product_of_others(x, axes),),
                              "prod")

    def var(self, axis=None, ddof: int = 0, keepdims: bool = False):
        """sum_i (x_i - mean)^2 / (N - ddof) over ``axis`` (ddof=1: the unbiased estimate).

        Backward: d var / d x_i = 2 (x_i - mean) / (N - ddof) (the mean's own dependence on x_i
        drops out because the deviations sum to zero).
        """
        axes, centred, dof = _centred(self, axis, ddof, "var")
        out = np.sum(centred * centred, axis=axes, keepdims=keepdims) / dof
        # d var / d x_i = 2 (x_i - mean) / (N - ddof)
        return Tensor._result(out, (self,),
                              lambda g: (_expand_reduced(g, centred.shape, axes, keepdims) * centred * (2 / dof),),
                              "var")

    def std(self, axis=None, ddof: int = 0, keepdims: bool = False):
        """sqrt(var):  d std / d x_i = (x_i - mean) / ((N - ddof) std).

        Where all values are equal, std = 0 has no derivative; the gradient there is 0, PyTorch's
        choice (its std_backward masks the 1/std factor to 0 where std = 0).
        """
        axes, centred, dof = _centred(self, axis, ddof, "std")
        spread = np.sqrt(np.sum(centred * centred, axis=axes, keepdims=True) / dof)
        scale = np.divide(1, dof * spread, out=np.zeros_like(spread), where=spread > 0)
        out = spread if keepdims else (np.squeeze(spread, axis=axes) if axes is not None else spread.reshape(()))
        # d std / d x_i = (x_i - mean) / ((N - ddof) std), 0 where std = 0
        return Tensor._result(out, (self,),
                              lambda g: (_expand_reduced(g, centred.shape, axes, keepdims) * centred * scale,),
                              "std")

    def cumsum(self, axis=None, reverse: bool = False):
        """Running sums along ``axis`` (of the flattened tensor when None, as NumPy).

        ``reverse=True`` sums from the end, out_t = sum_{k >= t} x_k: the return-to-go of
        undiscounted rewards. Backward: the adjoint of a cumsum is the cumsum in the other direction,
        d/dx_k sum_t g_t out_t = sum_{t >= k} g_t (forward) or sum_{t <= k} g_t (reverse).
        """
        x = self.data if axis is not None else self.data.reshape(-1)
        ax = 0 if axis is None else _single_axis(axis, self.ndim, "cumsum")
        shape = self.shape
        # d/dx_k of sum_t g_t out_t: the cumsum of g in the other direction
        return Tensor._result(_cumsum(x, ax, reverse), (self,),
                              lambda g: (_cumsum(g, ax, not reverse).reshape(shape),), "cumsum")

    def logsumexp(self, axis=-1, keepdims: bool = False):
        """log sum exp(x) = m + log sum exp(x - m), m = max x; d/dx = softmax(x)."""
        x, axis = self.data, _softmax_axes(axis, self.ndim, "logsumexp")
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        lse = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        probs = np.exp(x - lse)
        out = lse if keepdims else np.squeeze(lse, axis=axis)

        def backward(g):
            # d/dx_i logsumexp(x) = softmax(x)_i
            return ((g if keepdims else np.expand_dims(g, axis)) * probs,)
        return Tensor._result(out, (self,), backward, "logsumexp")

    def log_softmax(self, axis=-1):
        """x - logsumexp(x); backward: g - softmax(x) * sum(g).

        Computed as (x - m) - log sum exp(x - m), not x - logsumexp(x): at |x| ~ 1e4 in float32
        the rounded logsumexp is off by ~1e-3, while x - m is exact. softmax below likewise
        normalises exp(x - m) by its sum instead of using exp(x - logsumexp(x)).
        """
        x, axis = self.data, _softmax_axes(axis, self.ndim, "log_softmax")
        m = np.max(x, axis=axis, keepdims=True)
        shifted = x - m
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

        def backward(g):
            # d out_j / d x_i = [i = j] - softmax(x)_i, so the gradient is g - softmax(x) sum(g)
            return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)
        return Tensor._result(out, (self,), backward, "log_softmax")

    def softmax(self, axis=-1):
        """exp(x - max x) / sum exp(x - max x); backward: s * (g - sum(g * s))."""
        x, axis = self.data, _softmax_axes(axis, self.ndim, "softmax")
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)

        def backward(g):
            # d s_j / d x_i = s_j ([i = j] - s_i), so the gradient is s * (g - sum(g s))
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
        # a reshape moves no value: the gradient is reshaped back
        return Tensor._result(out, (self,), lambda g: (g.reshape(old),), "reshape")

    def transpose(self, *axes):
        """Permute the axes (reverse them when none are given); negative axes count from the end.
        Backward: the inverse permutation, taken of the normalised (non-negative) axes."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        n = self.ndim
        if not axes:
            axes = tuple(reversed(range(n)))
        else:
            valid = (len(axes) == n and all(isinstance(a, (int, np.integer)) and -n <= a < n for a in axes))
            normalised = tuple(int(a) % n for a in axes) if valid else ()
            if not valid or sorted(normalised) != list(range(n)):
                raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of a "
                                 f"{n}-d tensor of shape {self.shape}")
            axes = normalised
        inverse = tuple(int(i) for i in np.argsort(axes))
        # a permutation moves values: the gradient is permuted back
        return Tensor._result(np.transpose(self.data, axes), (self,),
                              lambda g: (np.transpose(g, inverse),), "transpose")

    def squeeze(self, axis=None):
        old = self.shape
        try:
            out = np.squeeze(self.data, axis=axis)
        except ValueError:
            raise ValueError(f"squeeze: axis {axis} of shape {old} does not have size 1") from None
        # the gradient is reshaped back
        return Tensor._result(out, (self,), lambda g: (g.reshape(old),), "squeeze")

    def expand_dims(self, axis):
        old = self.shape
        # the gradient is reshaped back
        return Tensor._result(np.expand_dims(self.data, axis), (self,),
                              lambda g: (g.reshape(old),), "expand_dims")

    def broadcast_to(self, *shape):
        """NumPy's broadcast_to (a read-only view); backward sums the gradient over the copies."""
        shape, old = _shape_arg(shape, "broadcast_to"), self.shape
        try:
            out = np.broadcast_to(self.data, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {old} to {shape}") from None
        # every copy of x_i sends its gradient to x_i: summed over the broadcast axes
        return Tensor._result(out, (self,), lambda g: (_unbroadcast(g, old, "broadcast_to"),), "broadcast_to")

    def expand(self, *shape):
        """PyTorch's expand: ``broadcast_to`` where -1 keeps the size of that (existing) dimension."""
        shape = _shape_arg(shape, "expand")
        lead = len(shape) - self.ndim
        if lead < 0 or any(n == -1 for n in shape[:lead]):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
        return self.broadcast_to(tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape)))

    def repeat(self, repeats, axis=None):
        """NumPy's repeat: each element ``repeats`` times in a row along ``axis`` (of the flattened
        tensor when None). ``repeats`` is an int or one int per element of that axis. (PyTorch's
        ``Tensor.repeat`` is ``tile``.) Backward: each element collects the sum over its copies."""
        x = self.data if axis is not None else self.data.reshape(-1)
        ax = 0 if axis is None else _single_axis(axis, self.ndim, "repeat")
        counts = np.asarray(repeats)
        if (not np.issubdtype(counts.dtype, np.integer) or counts.ndim > 1 or np.any(counts < 0)
                or counts.ndim == 1 and counts.shape[0] != x.shape[ax]):
            raise ValueError(f"repeat: repeats must be a non-negative int or {x.shape[ax]} of them "
                             f"(axis {axis!r} of shape {self.shape}), got {repeats!r}")
        source = np.repeat(np.arange(x.shape[ax]), counts)  # input position of every output position
        where = (slice(None),) * ax + (source,)
        shape, flat_shape, dtype = self.shape, x.shape, self.dtype

        def backward(g):
            # d out_k / d x_i = 1 for each copy k of x_i: scatter-add the gradient
            full = np.zeros(flat_shape, dtype=dtype)
            np.add.at(full, where, g)
            return (full.reshape(shape),)
        return Tensor._result(x[where], (self,), backward, "repeat")

    def tile(self, reps):
        """NumPy's tile (PyTorch's ``repeat``): the whole tensor ``reps[i]`` times along axis i.

        Backward: the output axis i is reps[i] blocks of the input's size n_i, so the gradient is
        reshaped to (..., reps[i], n_i, ...) and summed over the reps axes.
        """
        reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
        if not all(isinstance(r, (int, np.integer)) and r >= 0 for r in reps):
            raise ValueError(f"tile: reps must be non-negative ints, got {reps!r}")
        d = max(len(reps), self.ndim)
        sizes = (1,) * (d - self.ndim) + self.shape
        counts = (1,) * (d - len(reps)) + tuple(int(r) for r in reps)
        shape = self.shape
        interleaved = tuple(n for pair in zip(counts, sizes) for n in pair)
        # each input element collects the sum of the gradients of its copies
        return Tensor._result(np.tile(self.data, reps), (self,),
                              lambda g: (g.reshape(interleaved).sum(axis=tuple(range(0, 2 * d, 2))).reshape(shape),),
                              "tile")

    def split(self, sizes, axis: int = 0) -> list:
        """Pieces along ``axis`` (PyTorch's split): an int is the size of every piece (the last
        may be smaller), a list gives each piece's size. Each piece is a slice, with its backward."""
        ax = _single_axis(axis, self.ndim, "split")
        n = self.shape[ax]
        if isinstance(sizes, (int, np.integer)):
            if sizes <= 0:
                raise ValueError(f"split: piece size must be positive, got {sizes}")
            sizes = [min(sizes, n - start) for start in range(0, n, int(sizes))] or [0]
        elif sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {list(sizes)} do not add up to {n}, the size of axis {axis} "
                             f"of shape {self.shape}")
        bounds = np.cumsum([0, *sizes])
        lead = (slice(None),) * ax
        return [self[lead + (slice(int(a), int(b)),)] for a, b in zip(bounds[:-1], bounds[1:])]

    def chunk(self, chunks: int, axis: int = 0) -> list:
        """``chunks`` pieces of size ceil(n / chunks) along ``axis`` (PyTorch's chunk: the last may
        be smaller, and there may be fewer than ``chunks`` pieces)."""
        if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        n = self.shape[_single_axis(axis, self.ndim, "chunk")]
        return self.split(max(-(-n // int(chunks)), 1), axis)

    def flip(self, axis=None):
        """Reverse the order along ``axis`` (all axes when None); the backward flips back."""
        axes = _normalise_axis(axis, self.ndim, "flip")
        # a reversal moves values: the gradient is flipped back
        return Tensor._result(np.flip(self.data, axes), (self,), lambda g: (np.flip(g, axes),), "flip")

    def pad(self, pad_width, value: float = 0.0):
        """Constant padding with NumPy's ``pad_width``: an int, one (before, after) pair for every
        axis, or a pair per axis. Backward: the gradient of the interior (the padding is constant)."""
        try:
            widths = np.broadcast_to(np.asarray(pad_width), (self.ndim, 2))
        except ValueError:
            raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {self.shape}") from None
        if not np.issubdtype(widths.dtype, np.integer) or np.any(widths < 0):
            raise ValueError(f"pad: pad_width must be non-negative ints, got {pad_width!r}")
        interior = tuple(slice(int(before), int(before) + n) for (before, _), n in zip(widths, self.shape))
        out = np.pad(self.data, widths, mode="constant", constant_values=value)
        # d out / d x = 1 on the interior, and the padding is constant: the interior of g
        return Tensor._result(out, (self,), lambda g: (g[interior],), "pad")

    def astype(self, dtype):
        """A cast. Between floating dtypes it is differentiable (the gradient is cast back to the
        input's dtype); a cast to an integer or boolean dtype carries no gradient."""
        dtype = np.dtype(dtype)
        out = self.data.astype(dtype)
        if not np.issubdtype(dtype, np.floating):
            return Tensor(out)
        source = self.dtype
        # d/dx x = 1, in the input's dtype
        return Tensor._result(out, (self,), lambda g: (g.astype(source),), "astype")

    def float(self):
        """``astype(np.float32)`` (PyTorch's float)."""
        return self.astype(np.float32)

    def double(self):
        """``astype(np.float64)``."""
        return self.astype(np.float64)

    def __getitem__(self, index):
        """NumPy indexing: ints, slices (with steps), None, ..., integer arrays, lists, tuples, masks.

        Backward: the gradient is scattered into zeros at the indexed positions. A basic index
        (ints, slices, None, ...) never repeats a position, so plain assignment does; any other
        index may (``x[[1, 1]]``), so its gradient is scatter-added, accumulating repeats.
        """
        index, basic = _index_parts(index)
        shape, dtype = self.shape, self.dtype
        try:
            out = self.data[index]
        except IndexError as err:
            raise IndexError(f"getitem: {err} (tensor shape {shape}, index {_describe_index(index)})") from None

        def backward(g):
            # d x[index] / d x = 1 at the selected positions, 0 elsewhere
            full = np.zeros(shape, dtype=dtype)
            if basic:
                full[index] = g
            else:
                np.add.at(full, index, g)  # repeated indices accumulate
            return (full,)
        return Tensor._result(out, (self,), backward, "getitem")

    def gather(self, axis: int, index) -> "Tensor":
        """PyTorch's gather: out[i][j][k] = x[i][index[i][j][k]][k] for axis=1, any rank and axis.

        ``index`` has the tensor's number of dimensions and index.shape[d] <= x.shape[d] on every
        axis d other than ``axis``; the output has index's shape. Values lie in [0, x.shape[axis])
        (as in PyTorch, negative values are refused rather than counted from the end). The backward
        scatter-adds, so repeated indices accumulate their gradients.
        """
        index = np.asarray(index.data if isinstance(index, Tensor) else index)
        if not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"gather: index must be integers, got dtype {index.dtype}")
        if index.ndim != self.ndim or self.ndim == 0:
            raise ValueError(f"gather: index of shape {index.shape} needs as many dimensions (at least 1) as "
                             f"the tensor of shape {self.shape}")
        axis = _single_axis(axis, self.ndim, "gather")
        if any(i > n for d, (i, n) in enumerate(zip(index.shape, self.shape)) if d != axis):
            raise ValueError(f"gather: index shape {index.shape} is larger than tensor shape {self.shape} "
                             f"on an axis other than {axis}")
        n = self.shape[axis]
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"gather: index values must be in [0, {n}) for axis {axis} of shape "
                             f"{self.shape}, got values in [{index.min()}, {index.max()}]")
        grids = list(np.indices(index.shape, sparse=True))
        grids[axis] = index
        where = tuple(grids)
        shape, dtype = self.shape, self.dtype

        def backward(g):
            # d out / d x = 1 at the gathered positions: scatter-add (repeats accumulate)
            full = np.zeros(shape, dtype=dtype)
            np.add.at(full, where, g)
            return (full,)
        return Tensor._result(self.data[where], (self,), backward, "gather")

    # ------------------------------------------------------------------ creation
    # dtype defaults to float64, as NumPy's; nn parameters are float32 by their own choice.

    @staticmethod
    def zeros(*shape, dtype=np.float64, requires_grad: bool = False) -> "Tensor":
        return Tensor(np.zeros(_creation_shape(shape, "zeros"), dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def ones(*shape, dtype=np.float64, requires_grad: bool = False) -> "Tensor":
        return Tensor(np.ones(_creation_shape(shape, "ones"), dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> "Tensor":
        """``shape`` filled with ``fill_value``; dtype from the value when not given (as NumPy)."""
        shape = _creation_shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),), "full")
        return Tensor(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def arange(start, stop=None, step=1, dtype=None, requires_grad: bool = False) -> "Tensor":
        """NumPy's arange: ``arange(n)`` is 0..n-1; ints give an integer tensor unless dtype says."""
        if step == 0:
            raise ValueError("arange: step must not be 0")
        data = np.arange(start, step=step, dtype=dtype) if stop is None else np.arange(start, stop, step, dtype=dtype)
        return Tensor(data, requires_grad=requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype=np.float64, requires_grad: bool = False) -> "Tensor":
        _creation_shape((n,) if m is None else (n, m), "eye")
        return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)

    @staticmethod
    def randn(*shape, rng, dtype=np.float64, requires_grad: bool = False) -> "Tensor":
        """Standard normal samples from ``rng`` (a seed or an ``np.random.Generator``), drawn in
        float64 and cast, so a seed gives the same values in every dtype up to rounding."""
        shape = _creation_shape(shape, "randn")
        return Tensor(_generator(rng, "randn").standard_normal(shape).astype(dtype), requires_grad=requires_grad)

    @staticmethod
    def rand(*shape, rng, dtype=np.float64, requires_grad: bool = False) -> "Tensor":
        """Uniform samples on [0, 1) from ``rng`` (a seed or an ``np.random.Generator``)."""
        return Tensor.uniform(*shape, low=0.0, high=1.0, rng=rng, dtype=dtype, requires_grad=requires_grad)

    @staticmethod
    def uniform(*shape, low: float = 0.0, high: float = 1.0, rng, dtype=np.float64,
                requires_grad: bool = False) -> "Tensor":
        """Uniform samples on [low, high) from ``rng`` (a seed or an ``np.random.Generator``)."""
        shape = _creation_shape(shape, "uniform")
        if not low < high:
            raise ValueError(f"uniform: need low < high, got low={low!r}, high={high!r}")
        data = _generator(rng, "uniform").uniform(low, high, shape).astype(dtype)
        return Tensor(data, requires_grad=requires_grad)


def _creation_shape(shape: tuple, op: str) -> tuple:
    shape = _shape_arg(shape, op)
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: dimensions must be >= 0, got shape {shape}")
    return shape


def _generator(rng, op: str) -> np.random.Generator:
    """A Generator from a seed or a Generator; None is refused, so every draw is reproducible."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{op}: rng must be a non-negative int seed or an np.random.Generator, got {rng!r}")


def _compare(name: str, fn, a: "Tensor", b):
    """An elementwise comparison as a boolean ndarray; NotImplemented for a non-numeric operand
    (so ``t == None`` is False and ``t < "x"`` a TypeError, as Python does for other objects)."""
    if isinstance(b, Tensor):
        b = b.data
    elif not isinstance(b, (np.ndarray, np.generic, int, float, list, tuple)):
        return NotImplemented
    return _broadcasting(name, fn, a.data, b)


_TWO_OVER_SQRT_PI = 1.1283791670955126  # 2 / sqrt(pi)
_INV_SQRT_PI = 0.5641895835477563       # 1 / sqrt(pi)
_INV_SQRT_2PI = 0.3989422804014327      # 1 / sqrt(2 pi)
_SQRT_HALF = 0.7071067811865476         # 1 / sqrt(2)
_SQRT_2_OVER_PI = 0.7978845608028654    # sqrt(2 / pi)


def _polyval(coefficients, x):
    """sum_k c_k x^(n-k) by Horner's rule; Python-float coefficients keep x's dtype."""
    result = coefficients[0]
    for c in coefficients[1:]:
        result = result * x + c
    return result


# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969)
# 631-638; the coefficients of his SPECFUN routine CALERF (highest degree first). Three ranges of
# y = |x|: erf itself on [0, 0.46875], erfc(y) e^{y^2} on (0.46875, 4], and the asymptotic form
# erfc(y) e^{y^2} y = 1/sqrt(pi) - P(1/y^2)/Q(1/y^2) / y^2 beyond 4. Relative error ~1e-16 (tested
# against scipy.special.erf).
_ERF_A = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
          3.77485237685302021e02, 3.20937758913846947e03)
_ERF_B = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERFC_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
           6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
           1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_ERFC_D = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
           1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERFC_Q = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, elementwise, by Cody's three rational approximations (see the coefficients above)."""
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    y = np.abs(x)
    out = np.empty_like(x)
    near = y <= 0.46875
    middle = (y > 0.46875) & (y <= 4.0)
    far = ~(near | middle)  # also NaN, which stays NaN
    z = x[near] * x[near]
    out[near] = x[near] * _polyval(_ERF_A, z) / _polyval(_ERF_B, z)
    for mask, tail in ((middle, False), (far, True)):
        if not mask.any():
            continue
        ym = np.minimum(y[mask], 27.0)  # erfc(27) underflows: erf is +-1 from there on (and inf stays finite)
        if tail:
            w = 1 / (ym * ym)
            scaled = (_INV_SQRT_PI - w * _polyval(_ERFC_P, w) / _polyval(_ERFC_Q, w)) / ym
        else:
            scaled = _polyval(_ERFC_C, ym) / _polyval(_ERFC_D, ym)
        # exp(-y^2) as exp(-r^2) exp(-(y - r)(y + r)), r = y rounded down to 1/16: y^2 is not
        # exact in floating point, and its rounding error would be amplified by exp.
        r = np.trunc(16 * ym) / 16
        erfc = np.exp(-r * r) * np.exp(-(ym - r) * (ym + r)) * scaled
        out[mask] = np.copysign(1 - erfc, x[mask])
    return out


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


_BASIC_INDEX_TYPES = (int, np.integer, slice, type(None), type(Ellipsis))


def _index_parts(index):
    """``(index, basic)``: the index with Tensors and sequences (lists, tuples inside the index
    tuple) as arrays, as NumPy reads them; ``basic`` when every part is an int, slice, None or ...
    (no part can repeat a position). Indices are never differentiated."""
    top_tuple = type(index) is tuple
    parts = index if top_tuple else (index,)
    basic = True
    converted = []
    for p in parts:
        if isinstance(p, Tensor):
            p = p.data
        elif isinstance(p, (list, tuple)):
            p = np.asarray(p)
            if p.size == 0:
                p = p.astype(np.intp)  # x[[]] selects nothing, as in NumPy
        if basic and (type(p) is bool or not isinstance(p, _BASIC_INDEX_TYPES)):
            basic = False  # arrays, masks and the scalar booleans (which add an axis)
        converted.append(p)
    return (tuple(converted) if top_tuple else converted[0]), basic


def _describe_index(index) -> str:
    """An index for an error message, with arrays shown by dtype and shape."""
    parts = index if type(index) is tuple else (index,)
    shown = [f"{p.dtype} array {p.shape}" if isinstance(p, np.ndarray) else repr(p) for p in parts]
    return "(" + ", ".join(shown) + ")" if type(index) is tuple else shown[0]


def _centred(t: "Tensor", axis, ddof: int, op: str):
    """(axes, x - mean over axes, N - ddof) for var and std; refuses N - ddof <= 0."""
    axes = _normalise_axis(axis, t.ndim, op)
    x = t.data
    n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    if n - ddof <= 0:
        raise ValueError(f"{op}: ddof={ddof} needs more than {ddof} elements per reduction, got {n} "
                         f"(shape {t.shape}, axis {axis!r})")
    return axes, x - np.mean(x, axis=axes, keepdims=True), n - ddof


def _mean(x: np.ndarray, axes: tuple | None, keepdims: bool, count: int):
    """np.mean: for floating x, the sum divided by the count (the same bits as np.mean, which divides
    in float64 and rounds back: that double rounding is exact for a quotient), without np.mean's
    Python overhead."""
    if x.dtype.kind == "f" and count:
        return np.add.reduce(x, axis=axes, keepdims=keepdims) / count
    return np.mean(x, axis=axes, keepdims=keepdims)


def _cumsum(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    if not reverse:
        return np.cumsum(x, axis=axis)
    return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


def _product_of_others(x: np.ndarray, axes: tuple | None) -> np.ndarray:
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


def _select_extreme(a: Tensor, b, pick, name: str) -> Tensor:
    """Elementwise maximum/minimum; on ties the gradient is split half and half."""
    b = a._lift(b)
    x, y = a.data, b.data
    out = _broadcasting(name, pick, x, y)
    x_wins = (x == out).astype(out.dtype)
    y_wins = (y == out).astype(out.dtype)
    share = x_wins + y_wins  # 2 on ties

    def backward(g):
        # d max(x, y)/dx = 1 where x wins, 0 where y wins, 1/2 each on a tie
        return g * x_wins / share, g * y_wins / share
    return Tensor._result(out, (a, b), backward, name)


def _reduce_extreme(t: Tensor, axis, keepdims: bool, reduce, name: str) -> Tensor:
    axes = _normalise_axis(axis, t.ndim, name)
    x = t.data
    out = reduce(x, axis=axes, keepdims=keepdims)
    out_full = _expand_reduced(out, x.shape, axes, keepdims)
    winners = (x == out_full)
    share = winners / winners.sum(axis=axes, keepdims=True)

    def backward(g):
        # d max_j x_j / d x_i = 1/k for each of the k tied extremes, 0 elsewhere
        return (_expand_reduced(g, x.shape, axes, keepdims) * share,)
    return Tensor._result(out, (t,), backward, name)


def where(condition, a, b) -> Tensor:
    """Elementwise ``a if condition else b``; the gradient goes to the branch that was chosen."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    if not isinstance(a, Tensor):
        a = b._lift(a) if isinstance(b, Tensor) else Tensor(a)
    b = a._lift(b)
    out = _broadcasting("where", np.where, cond, a.data, b.data)
    # d/da = cond ;  d/db = not cond
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
    # each input receives its own slice of the gradient
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
    # each input receives its own slice of the gradient along the new axis
    return Tensor._result(out, tuple(tensors),
                          lambda g: tuple(np.squeeze(s, axis=axis) for s in np.split(g, n, axis=axis)),
                          "stack")


Tensor.concatenate = staticmethod(concatenate)
Tensor.stack = staticmethod(stack)


def einsum(subscripts: str, *operands) -> Tensor:
    """NumPy's einsum for one or two operands: ``"ij,jk->ik"`` (matmul), ``"bij,bjk->bik"``,
    ``"i,i->"``, ``"bi,bi->b"``, ``"i,j->ij"``, ``"ij->ji"``, ``"ij->j"``; implicit output too.

    Backward: the gradient of an operand is the same contraction with that operand's subscripts
    as the output, e.g. for C = einsum("ij,jk->ik", A, B):  dA = einsum("ik,jk->ij", G, B). An index
    that only that operand has (summed in the forward) is broadcast back. Not supported, with an
    error saying so: "...", an index repeated within one operand (diagonals, traces), three or more
    operands, and size-1 broadcasting of an index.
    """
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in operands]
    spec = subscripts.replace(" ", "")
    shapes = [t.shape for t in tensors]
    if "." in spec:
        raise ValueError(f"einsum: '...' is not supported, got {subscripts!r}")
    inputs, arrow, output = spec.partition("->")
    in_subs = inputs.split(",")
    if len(tensors) not in (1, 2) or len(in_subs) != len(tensors):
        raise ValueError(f"einsum: {subscripts!r} with {len(tensors)} operands of shapes {shapes}: "
                         f"one or two operands, one subscript string each, are supported")
    letters = "".join(in_subs)
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    sizes: dict = {}
    for sub, t in zip(in_subs, tensors):
        if not sub.isalpha() and sub != "" or len(set(sub)) != len(sub) or len(sub) != t.ndim:
            raise ValueError(f"einsum: subscripts {sub!r} do not name each of the {t.ndim} axes of shape "
                             f"{t.shape} once (repeated indices, diagonals and traces are not supported)")
        for c, n in zip(sub, t.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: index {c!r} has sizes {sizes[c]} and {n} in {subscripts!r} "
                                 f"with shapes {shapes}")
    if len(set(output)) != len(output) or any(c not in sizes for c in output):
        raise ValueError(f"einsum: output {output!r} must name distinct indices of the inputs {inputs!r}")
    out = np.einsum(f"{inputs}->{output}", *(t.data for t in tensors))

    def backward(g):
        # d/dA of einsum("ij,jk->ik", A, B) is einsum("ik,jk->ij", G, B): the output takes A's place
        grads = []
        for i, (sub, t) in enumerate(zip(in_subs, tensors)):
            if not t.requires_grad:
                grads.append(None)
                continue
            others = [(in_subs[j], tensors[j].data) for j in range(len(tensors)) if j != i]
            kept = "".join(c for c in sub if c in output or any(c in o for o, _ in others))
            grad = np.einsum(",".join([output] + [o for o, _ in others]) + "->" + kept,
                             g, *(d for _, d in others))
            if kept != sub:  # indices summed over this operand alone: every element got g
                grad = np.broadcast_to(grad.reshape([n if c in kept else 1 for c, n in zip(sub, t.shape)]),
                                       t.shape)
            grads.append(grad)
        return tuple(grads)
    return Tensor._result(out, tuple(tensors), backward, "einsum")


def one_hot(indices, num_classes: int, dtype=np.float64) -> Tensor:
    """out[..., k] = 1 where indices[...] == k, else 0: shape indices.shape + (num_classes,).
    A constant (indices are not differentiable)."""
    indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"one_hot: indices must be integers, got dtype {indices.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"one_hot: indices must be in [0, {num_classes}), got values in "
                         f"[{indices.min()}, {indices.max()}]")
    return Tensor(np.eye(num_classes, dtype=dtype)[indices])


Tensor.einsum = staticmethod(einsum)
Tensor.one_hot = staticmethod(one_hot)


# ----------------------------------------------------------------------------- recording for the jit


def traceable(fn=None, *, block: bool = False):
    """Mark ``fn`` as a primitive op that :mod:`tinygrad_rl.jit` records and replays.

    Outside a jitted call the wrapper calls ``fn`` after one ``is None`` test. Inside one, the
    jit's tracer receives the call: while recording it runs ``fn`` and notes the op and its
    arguments; while replaying it checks the call against the recording and computes the result
    into a preallocated buffer (or runs ``fn`` itself, for ops without a replay kernel).
    Composite ops (``__radd__``, ``expand``, ``split``, ``float``, ...) are not marked: they reach
    the tracer through the primitives they call.

    ``block=True`` marks a function made of ops (``nn.Sequential.forward``) that the jit may
    record as one fused op when it has a kernel for it, and otherwise op by op.
    """
    if fn is None:
        return functools.partial(traceable, block=block)

    if block:
        def op(*args, **kwargs):
            if _tracer is None:
                return fn(*args, **kwargs)
            return _tracer.call_block(fn, args, kwargs)
    else:
        def op(*args, **kwargs):
            if _tracer is None:
                return fn(*args, **kwargs)
            return _tracer.call(fn, args, kwargs)
    functools.update_wrapper(op, fn)
    return op


_PRIMITIVES = (
    "__add__", "__sub__", "__mul__", "__truediv__", "__neg__", "__pow__", "__matmul__",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sign", "sin", "cos", "erf", "gelu", "softplus",
    "clip", "maximum", "minimum", "sum", "mean", "max", "min", "prod", "var", "std", "cumsum", "logsumexp",
    "log_softmax", "softmax", "reshape", "transpose", "squeeze", "expand_dims", "broadcast_to", "repeat", "tile",
    "flip", "pad", "astype", "__getitem__", "gather",
)
for _name in _PRIMITIVES:
    setattr(Tensor, _name, traceable(getattr(Tensor, _name)))
where, concatenate, stack, einsum = (traceable(f) for f in (where, concatenate, stack, einsum))
Tensor.where, Tensor.concatenate, Tensor.stack, Tensor.einsum = (
    staticmethod(f) for f in (where, concatenate, stack, einsum))
