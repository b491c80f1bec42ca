"""The recorded graph, made visible, and a public way to add an op to it.

Every op records two things on the tensor it returns: ``t.op``, its name, and ``t.parents``, the
tensors it was computed from (only when a gradient can flow: see :attr:`Tensor.parents`). That is
the whole graph; this module reads it::

    from tinygrad_rl import graph
    graph.nodes(loss)                       # every tensor loss depends on, inputs first, loss last
    print(graph.summary(loss, names=net))   # a table: op, shape, dtype, parameter name, gradient
    graph.to_dot(loss, names=net)           # Graphviz DOT text
    graph.draw(loss, "loss.png", names=net) # a drawing (matplotlib, no Graphviz needed)

``names`` labels tensors: a Module (its parameters by their dotted names, ``layers.0.weight``), a
dict of name -> Module / Tensor / ndarray (a dict of networks gives ``q_net.layers.0.weight``; an
ndarray names the constant tensor that wraps it, such as a batch's observations), or pairs
``(name, tensor)``. ``backward()`` frees the backward closures but keeps ``op`` and ``parents``,
so all of this works after a backward too, and ``grads=True`` then shows each tensor's gradient.

:func:`custom_op` defines a differentiable op from a forward value computed with NumPy, the parents,
and a backward closure; it reaches the engine through the same dispatch as every built-in op.
"""
from __future__ import annotations

import os
import secrets
from typing import Any, Callable

import numpy as np

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .graph_layout import render  # imports matplotlib only when it draws
from .ops import Op
from .tensor import Tensor, apply

__all__ = ["nodes", "summary", "to_dot", "draw", "custom_op", "named_tensors", "detect_anomaly",
           "is_anomaly_enabled", "AnomalyError", "CustomOp"]


# ----------------------------------------------------------------------------- custom ops


class CustomOp(Op):
    """The op unit behind :func:`custom_op`: its forward is the value the caller computed, its backward
    the caller's, checked to return one gradient per parent."""

    def forward(self, *arrays_and_op: Any) -> np.ndarray:
        *_, self.name, value, self.user_backward = arrays_and_op
        return value

    def backward(self, g: np.ndarray) -> tuple:
        grads, n = self.user_backward(g), len(self.inputs)
        if not isinstance(grads, (tuple, list)) or len(grads) != n:
            got = f"{type(grads).__name__} of length {len(grads)}" if isinstance(grads, (tuple, list)) \
                else type(grads).__name__
            raise TypeError(f"custom op {self.name!r}: backward must return a tuple of {n} gradient(s), one per "
                            f"parent (None for no gradient), got a {got}")
        return tuple(None if x is None else np.asarray(x) for x in grads)


def custom_op(name: str, value: np.ndarray, parents: Any, backward: Callable) -> Tensor:
    """A new differentiable op from a value and a backward closure: its forward ``value`` (an ndarray
    computed from the parents' ``.data``), its ``parents`` (Tensors, or arrays taken as constants) and
    ``backward(g)``, which maps the gradient ``g`` of the output (an ndarray of the output's shape) to one
    gradient per parent (an ndarray of the parent's shape or broadcastable to it, or None for no gradient).

    For example, softsign(x) = x / (1 + |x|), whose derivative is 1 / (1 + |x|)^2::

        def softsign(x: Tensor) -> Tensor:
            d = 1 + np.abs(x.data)
            return custom_op("softsign", x.data / d, (x,), lambda g: (g / (d * d),))

    The backward must multiply by ``g`` (the chain rule) and return a tuple even for one parent.
    Check it with ``gradcheck``: a wrong derivative, or a forgotten ``g``, fails it. The built-in ops
    are written as :class:`tinygrad_rl.ops.Op` classes reached through :func:`tinygrad_rl.apply`; an op
    you mean to keep reads best that way too (see :mod:`tinygrad_rl.ops`).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"custom_op: name must be a non-empty string, got {name!r}")
    if isinstance(value, Tensor):
        raise TypeError(f"custom_op {name!r}: value must be the forward result as an ndarray (computed from the "
                        "parents' .data), not a Tensor, or the op would be recorded twice")
    if not callable(backward):
        raise TypeError(f"custom_op {name!r}: backward must be callable, got {backward!r}")
    parents = (parents,) if isinstance(parents, Tensor) else tuple(parents)
    if not parents:
        raise ValueError(f"custom_op {name!r}: needs at least one parent")
    parents = tuple(p if isinstance(p, Tensor) else Tensor(p) for p in parents)
    return apply(CustomOp, parents, name, np.asarray(value), backward)


# ----------------------------------------------------------------------------- walking the graph


def nodes(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` was computed from (through recorded ops) and ``root`` itself, each
    once, in the order the code computed them: ops by creation, each leaf (parameter, input,
    constant) just before the first op that reads it, parents always before their children, and
    ``root`` last.

    Iterative, so a graph thousands of ops deep is fine. Tensors computed under ``no_grad`` have
    no recorded parents and appear as leaves.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"nodes: root must be a Tensor, got {type(root).__name__}")
    ops, seen, stack = [], {id(root)}, [root]
    while stack:
        node = stack.pop()
        if node._parents:
            ops.append(node)
            for parent in node._parents:
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append(parent)
    if not ops:
        return [root]
    ops.sort(key=lambda t: t._seq)  # a node is always created after its parents
    order, emitted = [], set()
    for op in ops:
        for parent in op._parents:
            if not parent._parents and id(parent) not in emitted:
                emitted.add(id(parent))
                order.append(parent)
        order.append(op)
    return order


def named_tensors(names: Any) -> tuple[dict[int, str], dict[int, str]]:
    """``(by tensor id, by array id)``: the labels ``names`` gives (see the module docstring).

    A dict's values may be Modules (anything with ``named_parameters()``), Tensors or ndarrays;
    other values (an observation normaliser, None) are skipped. Later entries win.
    """
    tensors: dict[int, str] = {}
    arrays: dict[int, str] = {}
    if names is None:
        return tensors, arrays
    if hasattr(names, "named_parameters"):
        items = list(names.named_parameters())
    elif isinstance(names, dict):
        items = list(names.items())
    else:
        items = list(names)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(f"names: expected a Module, a dict or (name, tensor) pairs, got the item {item!r}")
        label, value = item
        if isinstance(value, Tensor):
            tensors[id(value)] = label
        elif isinstance(value, np.ndarray):
            arrays[id(value)] = label
        elif hasattr(value, "named_parameters"):
            for sub, param in value.named_parameters():
                tensors[id(param)] = f"{label}.{sub}"
    return tensors, arrays


def _label_of(t: Tensor, tensors: dict, arrays: dict) -> str:
    return tensors.get(id(t)) or ("" if t._parents else arrays.get(id(t.data), ""))


def _kind(t: Tensor) -> str:
    """'op', 'parameter' (a leaf that takes gradients) or 'constant' (no gradient flows into it)."""
    if t._parents:
        return "op"
    return "parameter" if t.requires_grad else "constant"


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _grad_norm(t: Tensor) -> float | None:
    return None if t.grad is None else float(np.linalg.norm(np.asarray(t.grad, dtype=np.float64)))


# ----------------------------------------------------------------------------- text


def summary(root: Tensor, names: Any = None) -> str:
    """A table of ``nodes(root)``, one row per tensor: its index, op (``leaf`` for a parameter,
    ``const`` for a constant), shape, dtype, name (from ``names``), the indices of its parents,
    and the norm of the gradient it holds (``-`` when it holds none).

    After a backward every tensor on a path from a parameter to ``root`` holds a gradient:
    leaves accumulate theirs; a non-leaf's is d root / d tensor from that backward.
    """
    graph = nodes(root)
    index = {id(t): i for i, t in enumerate(graph)}
    tensors, arrays = named_tensors(names)
    rows = [("#", "op", "shape", "dtype", "name", "inputs", "grad norm")]
    for i, t in enumerate(graph):
        kind = _kind(t)
        op = t.op if kind == "op" else ("leaf" if kind == "parameter" else "const")
        label = _label_of(t, tensors, arrays)
        if kind == "constant" and t.op:
            label = (label + " " if label else "") + f"(computed by {t.op!r} without a graph)"
        elif kind == "constant" and t.size == 1 and not label:
            label = f"= {_scalar_text(t)}"
        norm = _grad_norm(t)
        rows.append((str(i), op, _shape(t.shape), str(t.dtype), label,
                     " ".join(str(index[id(p)]) for p in t._parents), "-" if norm is None else f"{norm:.3e}"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    params = [t for t in graph if _kind(t) == "parameter"]
    lines.append(f"{len(graph)} tensors: {sum(_kind(t) == 'op' for t in graph)} ops, {len(params)} parameters "
                 f"({sum(t.size for t in params)} numbers), {sum(_kind(t) == 'constant' for t in graph)} constants")
    return "\n".join(lines)


_OP_WORDS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul"}
_OP_SYMBOLS = {"+": "+", "-": "−", "*": "×", "/": "÷", "**": "^"}
# What an op computes, in the names of its inputs: x for one input, a and b (left to right) for two.
_OP_FORMULAS = {
    "+": "a + b", "-": "a − b", "*": "a × b", "/": "a ÷ b", "**": "a ^ b", "@": "a @ b", "neg": "−x",
    "linear": "x W + b", "relu": "max(x, 0)", "tanh": "tanh(x)", "sigmoid": "1 / (1 + e^−x)", "exp": "e^x",
    "log": "log(x)", "sqrt": "√x", "abs": "|x|", "softplus": "log(1 + e^x)", "clip": "clip(x, lo, hi)",
    "getitem": "x[index]", "gather": "x[.., index, ..]", "where": "where(mask, a, b)", "mean": "mean(x)",
    "sum": "sum(x)", "max": "max(x)", "min": "min(x)", "maximum": "max(a, b)", "minimum": "min(a, b)",
    "log_softmax": "x − logsumexp(x)", "softmax": "e^x / Σ e^x", "logsumexp": "log Σ e^x",
}


def _folded(t: Tensor, tensors: dict, arrays: dict) -> bool:
    """An unnamed one-element constant (``0.5`` in ``0.5 * x``) is written into its op's label."""
    return _kind(t) == "constant" and t.size == 1 and not _label_of(t, tensors, arrays)


def _scalar_text(t: Tensor) -> str:
    return f"{t.data.item():.4g}"


def _display(graph: list, names: Any, grads: bool) -> tuple[list, list]:
    """(drawn nodes, edges) shared by DOT and the drawing: nodes as dicts (kind, label lines),
    edges as (parent index, child index, shape text) between drawn nodes."""
    tensors, arrays = named_tensors(names)
    drawn, position = [], {}
    for t in graph:
        if _folded(t, tensors, arrays):
            continue
        position[id(t)] = len(drawn)
        kind = _kind(t)
        label = _label_of(t, tensors, arrays)
        if kind == "op":
            word = _OP_WORDS.get(t.op, t.op)
            lines = [word]
            folded = [(i, p) for i, p in enumerate(t._parents) if _folded(p, tensors, arrays)]
            if folded and t.op in _OP_SYMBOLS and len(t._parents) == 2:
                i, p = folded[0]
                symbol = _OP_SYMBOLS[t.op]
                lines.append(f"{_scalar_text(p)} {symbol} x" if i == 0 else f"x {symbol} {_scalar_text(p)}")
            elif folded:
                lines.append("with " + ", ".join(_scalar_text(p) for _, p in folded))
            elif t.op in _OP_FORMULAS and not (t.op == "linear" and len(t._parents) == 2):
                lines.append(_OP_FORMULAS[t.op])
            elif t.op == "linear":
                lines.append("x W")
            if label:
                lines.insert(0, label)
            if t is graph[-1] and not label:
                lines.append(_shape(t.shape))
        else:
            lines = [label or ("constant" if kind == "constant" else "leaf"), _shape(t.shape)]
            if kind == "constant" and not label and t.op:
                lines[0] = f"constant ({t.op})"
        if grads:
            norm = _grad_norm(t)
            if norm is not None:
                lines.append(f"‖grad‖ {norm:.2e}")
        drawn.append({"kind": "root" if t is graph[-1] else ("term" if label and kind == "op" else kind),
                      "lines": lines, "tensor": t})
    edges = []
    for t in graph:
        if id(t) not in position:
            continue
        for p in t._parents:
            if id(p) in position:
                edges.append((position[id(p)], position[id(t)], _shape(p.shape)))
    return drawn, edges


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_DOT_STYLE = {
    "parameter": 'shape=box, style="rounded,filled", fillcolor="#c7e9c0", color="#31a354"',
    "constant": 'shape=box, style="rounded,filled", fillcolor="#f0f0f0", color="#969696"',
    "op": 'shape=ellipse, style=filled, fillcolor="#deebf7", color="#3182bd"',
    "term": 'shape=ellipse, style=filled, fillcolor="#efedf5", color="#756bb1"',
    "root": 'shape=ellipse, style=filled, fillcolor="#fdd0a2", color="#e6550d", penwidth=2',
}


def to_dot(root: Tensor, names: Any = None, grads: bool = False) -> str:
    """Graphviz DOT text of the graph of ``root`` (render with ``dot -Tpng``): parameters as green
    boxes labelled by name and shape, constants grey, ops as ellipses labelled by kind (a scalar
    constant is written into its op's label), ``root`` orange; each edge carries the shape of the
    tensor it carries. ``grads=True`` adds each tensor's gradient norm."""
    drawn, edges = _display(nodes(root), names, grads)
    lines = ["digraph graph_of_loss {", '  rankdir=TB;',
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=8];']
    for i, node in enumerate(drawn):
        label = "\\n".join(_dot_escape(line) for line in node["lines"])
        lines.append(f'  n{i} [label="{label}", {_DOT_STYLE[node["kind"]]}];')
    for parent, child, shape in edges:
        lines.append(f'  n{parent} -> n{child} [label="{shape}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- drawing


MAX_DRAWN = 400  # boxes; beyond that a drawing is neither readable nor cheap to lay out


def draw(root: Tensor, path: Any, names: Any = None, grads: bool = False, title: str | None = None) -> str:
    """Draw the graph of ``root`` to ``path`` (``.png``, ``.svg`` or ``.pdf``) with matplotlib,
    inputs at the top and ``root`` at the bottom: parameters (green) labelled by their names in
    ``names``, constants (grey; no gradient flows into them, e.g. a TD target), ops (blue)
    labelled by kind, ``root`` (orange), the shape of every tensor on the edge that carries it.

    ``grads=True`` (after ``root.backward()``) writes the norm of each tensor's gradient in its
    box. The file is written to a temporary name and renamed into place. Returns the path.
    """
    drawn, edges = _display(nodes(root), names, grads)
    if len(drawn) > MAX_DRAWN:
        raise ValueError(f"draw: the graph has {len(drawn)} tensors to draw; a drawing stays readable up to "
                         f"{MAX_DRAWN}: use summary() or to_dot() (Graphviz) for larger graphs")
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise ValueError(f"draw: path must end in .png, .svg or .pdf, got {path!r}")
    # A temporary file beside ``path``, renamed into place: a reader never sees half a drawing.
    # os.open with 0o666 (filtered by the umask) gives it the permissions a plain open() would.
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            render(drawn, edges, f, suffix[1:], title=title)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
