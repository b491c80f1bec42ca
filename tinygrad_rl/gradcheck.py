"""Check ``backward()`` against central finite differences, element by element, in float64.

    dL/dx_i  ~=  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (error O(eps^2))

A non-scalar output L is reduced to the scalar sum(L * w) with a fixed random w, which checks
the vector-Jacobian product that backward computes.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .tensor import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when an analytic gradient differs from the numeric one; the message names where."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4) -> bool:
    """Compare ``backward()`` of ``fn(*inputs)`` with central differences for every element.

    ``inputs``: arrays or Tensors. Floating-point ones are differentiated (run in float64);
    integer ones (indices, actions) are passed through unchanged. A Tensor input is checked
    *in place* — its ``.data`` is cast to float64, perturbed and restored afterwards — so ``fn``
    may reach it some other way than its argument (e.g. through a Module's parameters).

    Returns True, or raises ``GradcheckError`` naming the input index, the element and the
    analytic and numeric values of the worst mismatch.
    """
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be > 0, got {eps!r}")
    tensors, originals = [], []
    for x in inputs:
        t = x if isinstance(x, Tensor) else Tensor(np.array(x))
        originals.append((t, t.data, t.grad, t.requires_grad))
        if np.issubdtype(t.dtype, np.floating):
            # A C-ordered float64 copy (the original array is untouched): C order so that
            # perturbing reshape(-1), a view only then, perturbs t.data itself.
            t.data = np.array(t.data, dtype=np.float64, order="C")
            t.requires_grad = True
        t.grad = None
        tensors.append(t)
    try:
        return _check(fn, tensors, eps, atol, rtol)
    finally:
        for t, data, grad, requires_grad in originals:
            t.data, t.grad, t.requires_grad = data, grad, requires_grad


def _scalar_output(fn, tensors, weights: list) -> Tensor:
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.size == 1:
        return out.sum()
    if not weights:  # fixed cotangent for a non-scalar output
        weights.append(np.random.default_rng(0).standard_normal(out.shape))
    return (out * weights[0]).sum()


def _check(fn, tensors: list[Tensor], eps: float, atol: float, rtol: float) -> bool:
    weights: list = []
    out = _scalar_output(fn, tensors, weights)
    if out.requires_grad:
        out.backward()
    differentiable = [(i, t) for i, t in enumerate(tensors) if t.requires_grad]
    if not differentiable:
        raise ValueError("gradcheck: no floating-point input to differentiate")
    for i, t in differentiable:
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad, dtype=np.float64)
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: perturbing it perturbs t.data
        with no_grad():
            for j in range(flat.size):
                saved = flat[j]
                flat[j] = saved + eps
                f_plus = _scalar_output(fn, tensors, weights).item()
                flat[j] = saved - eps
                f_minus = _scalar_output(fn, tensors, weights).item()
                flat[j] = saved
                numeric.flat[j] = (f_plus - f_minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if not np.all(np.isfinite(analytic)) or np.any(error > 0):
            bad = np.where(np.isfinite(analytic), error, np.inf)
            worst = tuple(int(k) for k in np.unravel_index(int(np.argmax(bad)), t.shape)) if t.ndim else ()
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {t.shape}) at element {worst}: "
                f"analytic {float(analytic[worst]):.8g} vs numeric {float(numeric[worst]):.8g} "
                f"(allowed |difference| <= atol + rtol*|numeric| = "
                f"{atol + rtol * abs(float(numeric[worst])):.3g}); "
                f"{int(np.sum(bad > 0))} of {t.size} elements fail")
    return True
