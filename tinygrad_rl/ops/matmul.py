"""Products that contract an axis: ``a @ b``, the fused affine layer ``x W + b``, and ``einsum``.
For C = A B the chain rule gives dA = G B^T and dB = A^T G; each op below is that rule on its shapes."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Op, unbroadcast

__all__ = ["Matmul", "Linear", "Einsum", "einsum_spec", "einsum_grad", "as_matrices", "checked_matmul"]


class Matmul(Op):
    """NumPy's matmul on 1-d, 2-d and batched operands (a vector is a row on the left, a column on the right)."""
    name = "@"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return checked_matmul(a, b)

    def backward(self, g: np.ndarray) -> tuple:
        a, b, ga, gb = self.a, self.b, None, None
        a2, b2, g2 = as_matrices(a, b, g)
        # C = A B  =>  dA = G B^T ,  dB = A^T G  (summed over broadcast batch axes)
        if self.inputs[0].requires_grad:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.inputs[1].requires_grad:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Op):
    """y = x W + b for x (..., in), W (in, out), b (out,): the affine layer as one op (the bias optional)."""
    name = "linear"

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if x.shape[-1] != w.shape[0]:
            raise ValueError(f"linear: input shape {x.shape} does not match weight shape {w.shape} (in, out)")
        self.x, self.w, self.bias = x, w, b is not None
        out = x @ w
        if b is not None:
            out += b
        return out

    def backward(self, G: np.ndarray) -> tuple:
        # dL/dx = G W^T ,  dL/dW = x^T G (summed over batch dims) ,  dL/db = sum over batch of G
        X, W = self.x, self.w
        gx = G @ W.T if self.inputs[0].requires_grad else None
        X2, G2 = (X, G) if X.ndim == 2 else (X.reshape(-1, X.shape[-1]), G.reshape(-1, G.shape[-1]))
        gW = X2.T @ G2 if self.inputs[1].requires_grad else None
        return (gx, gW, G2.sum(axis=0)) if self.bias else (gx, gW)


class Einsum(Op):
    """NumPy's einsum for one or two operands, ``forward(*arrays, subscripts)``."""
    name = "einsum"

    def forward(self, *operands_and_spec: Any) -> np.ndarray:
        *self.arrays, subscripts = operands_and_spec
        self.subs, self.output = einsum_spec(subscripts, [a.shape for a in self.arrays])
        return np.einsum(",".join(self.subs) + "->" + self.output, *self.arrays)

    def backward(self, g: np.ndarray) -> tuple:
        # d/dA of einsum("ij,jk->ik", A, B) is einsum("ik,jk->ij", G, B): the output takes A's place
        return tuple(einsum_grad(self.subs, self.arrays, self.output, i, g) if t.requires_grad else None
                     for i, t in enumerate(self.inputs))


def einsum_grad(subs: list, arrays: list, output: str, i: int, g: np.ndarray) -> np.ndarray:
    """The gradient of operand ``i``: the contraction of ``g`` (subscripts ``output``) with the other operands,
    to operand i's subscripts; an index only operand i has (summed in the forward) is broadcast back."""
    others = [(s, a) for j, (s, a) in enumerate(zip(subs, arrays)) if j != i]
    kept = "".join(c for c in subs[i] if c in output or any(c in o for o, _ in others))
    grad = np.einsum(",".join([output] + [o for o, _ in others]) + "->" + kept, g, *(a for _, a in others))
    if kept == subs[i]:
        return grad
    shape = arrays[i].shape  # indices summed over this operand alone: every element got g
    return np.broadcast_to(grad.reshape([n if c in kept else 1 for c, n in zip(subs[i], shape)]), shape)


def as_matrices(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple:
    """``a``, ``b`` and the upstream ``g`` of ``a @ b`` with vectors as matrices: a (n,) on the left is a
    row (1, n), a (n,) on the right a column (n, 1), and ``g`` gains the axes they lost."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g_shape = list(np.shape(g)) + ([1] if b.ndim == 1 else [])
    if a.ndim == 1:
        g_shape.insert(len(g_shape) - 1, 1)
    return a2, b2, np.reshape(g, g_shape)


def checked_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with errors that name both shapes."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: scalars are not allowed, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2]):
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    try:
        return a @ b
    except ValueError as err:  # batch dimensions that do not broadcast
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not broadcast: {err}") from None


def einsum_spec(subscripts: str, shapes: list) -> tuple[list, str]:
    """(input subscripts, output subscripts) of ``subscripts`` for operands of ``shapes``, checked.
    Refused with an error saying so: "...", an index repeated within one operand (diagonals, traces),
    three or more operands, and size-1 broadcasting of an index."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum: '...' is not supported, got {subscripts!r}")
    inputs, arrow, output = spec.partition("->")
    in_subs = inputs.split(",")
    if len(shapes) not in (1, 2) or len(in_subs) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} with {len(shapes)} operands of shapes {shapes}: "
                         f"one or two operands, one subscript string each, are supported")
    letters = "".join(in_subs)
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    sizes: dict = {}
    for sub, shape in zip(in_subs, shapes):
        if not sub.isalpha() and sub != "" or len(set(sub)) != len(sub) or len(sub) != len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not name each of the {len(shape)} axes of shape "
                             f"{shape} once (repeated indices, diagonals and traces are not supported)")
        for c, n in zip(sub, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: index {c!r} has sizes {sizes[c]} and {n} in {subscripts!r} "
                                 f"with shapes {shapes}")
    if len(set(output)) != len(output) or any(c not in sizes for c in output):
        raise ValueError(f"einsum: output {output!r} must name distinct indices of the inputs {inputs!r}")
    return in_subs, output
