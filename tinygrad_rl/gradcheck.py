"""Check ``backward()`` against central finite differences, element by element, in float64.

    dL/dx_i  ~=  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (error O(eps^2))

**Non-scalar outputs.** An output L of any shape is reduced to the scalar sum(L * w) with a fixed
random w of L's shape, so the check covers the whole vector-Jacobian product that backward
computes: with w = 1 (a plain ``.sum()``) a backward that returned the right numbers in the wrong
places (transposed, or rows swapped) could still pass. A one-element output is multiplied by a
fixed random scalar for the same reason: an op's backward that forgets to multiply by its upstream
gradient ``g`` is right whenever g = 1, and fails here even inside ``fn(x).sum()``.

**Stop-gradients fail a whole-loss check by design.** Finite differences see every way the output
depends on an input; backward sees only the recorded graph. A loss that uses an input through a
constant (``V(s).data`` as a REINFORCE baseline, a target network's values) depends on it in a
way backward deliberately ignores, so checking that loss with respect to that input fails. Check
each term against the inputs it trains instead (``tinygrad-rl gradcheck`` does that per term).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .tensor import Tensor, no_grad

__all__ = ["gradcheck", "gradcheck_report", "GradcheckError", "GradcheckResult"]


class GradcheckError(AssertionError):
    """Raised when an analytic gradient differs from the numeric one; the message names where.
    ``result`` is the :class:`GradcheckResult` of the failing input."""

    def __init__(self, message: str, result: "GradcheckResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class GradcheckResult:
    """The check of one input: its name, shape, the largest |analytic - numeric| over its
    elements, whether every element passed, and the worst element with both values."""
    name: str
    shape: tuple
    max_abs_error: float
    passed: bool
    worst: tuple
    analytic: float
    numeric: float
    failing: int            # elements outside the tolerance (a non-finite analytic value counts)
    allowed: float          # atol + rtol * |numeric| at the worst element

    def message(self) -> str:
        return (f"gradcheck failed for {self.name} (shape {self.shape}) at element {self.worst}: "
                f"analytic {self.analytic:.8g} vs numeric {self.numeric:.8g} "
                f"(allowed |difference| <= atol + rtol*|numeric| = {self.allowed:.3g}); "
                f"{self.failing} of {int(np.prod(self.shape, dtype=np.int64))} elements fail")


def _named_inputs(inputs: Any) -> list[tuple[str, object]]:
    """(name, input) pairs: a Module gives its parameters by dotted name, a dict its keys (a
    Module value is expanded with its key as prefix), pairs are kept; anything else is
    ``input i``."""
    if hasattr(inputs, "named_parameters"):
        return list(inputs.named_parameters())
    if isinstance(inputs, dict):
        pairs = []
        for key, value in inputs.items():
            if hasattr(value, "named_parameters"):
                pairs.extend((f"{key}.{sub}", p) for sub, p in value.named_parameters())
            else:
                pairs.append((str(key), value))
        return pairs
    items = list(inputs)
    if items and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in items):
        return items
    return [(f"input {i}", x) for i, x in enumerate(items)]


def gradcheck(fn: Callable[..., Tensor], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4) -> bool:
    """Compare ``backward()`` of ``fn(*inputs)`` with central differences for every element.

    ``inputs``: arrays or Tensors; or named ones, so a failure names the parameter
    (``q_net.layers.0.weight`` rather than ``input 0``): a Module (its parameters), a dict of
    name -> Tensor / array / Module (``{"q_net": q_net}``), or ``(name, tensor)`` pairs
    (``net.named_parameters()``). ``fn`` receives the inputs positionally, in that order.
    Floating-point inputs are differentiated (run in float64); integer ones (indices, actions)
    are passed through unchanged. A Tensor input is checked *in place* — its ``.data`` is cast
    to float64, perturbed and restored afterwards — so ``fn`` may reach it some other way than
    its argument (e.g. through a Module's parameters).

    A non-scalar output is checked through sum(out * w) with a fixed random w, and a scalar one
    times a fixed random constant (see the module docstring: why, and why a loss that uses an
    input through a stop-gradient fails by design).

    Returns True, or raises ``GradcheckError`` naming the input, the element and the analytic
    and numeric values of the worst mismatch.
    """
    for result in gradcheck_report(fn, inputs, eps, atol, rtol, stop_at_failure=True):
        if not result.passed:
            raise GradcheckError(result.message(), result)
    return True


def gradcheck_report(fn: Callable[..., Tensor], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
                     rtol: float = 1e-4, stop_at_failure: bool = False) -> list[GradcheckResult]:
    """The check of :func:`gradcheck`, one :class:`GradcheckResult` per floating-point input
    (integer inputs pass through unchecked), without raising on a mismatch."""
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be > 0, got {eps!r}")
    named = _named_inputs(inputs)
    tensors, names, originals = [], [], []
    for name, x in named:
        t = x if isinstance(x, Tensor) else Tensor(np.array(x))
        originals.append((t, t.data, t.grad, t.requires_grad))
        if np.issubdtype(t.dtype, np.floating):
            # A C-ordered float64 copy (the original array is untouched): C order so that
            # perturbing reshape(-1), a view only then, perturbs t.data itself.
            t.data = np.array(t.data, dtype=np.float64, order="C")
            t.requires_grad = True
        t.grad = None
        tensors.append(t)
        names.append(name)
    try:
        return _check(fn, tensors, names, eps, atol, rtol, stop_at_failure)
    finally:
        for t, data, grad, requires_grad in originals:
            t.data, t.grad, t.requires_grad = data, grad, requires_grad


def _scalar_output(fn: Callable, tensors: list, weights: list) -> Tensor:
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if not weights:  # a fixed cotangent, the same for every evaluation
        rng = np.random.default_rng(0)
        weights.append(rng.uniform(0.5, 1.5) if out.size == 1 else rng.standard_normal(out.shape))
    return (out * weights[0]).sum()


def compare(name: str, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> GradcheckResult:
    """One input's verdict: every element within atol + rtol*|numeric|, and a finite analytic value."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    bad = np.where(np.isfinite(analytic), error, np.inf)
    worst = tuple(int(k) for k in np.unravel_index(int(np.argmax(bad)), analytic.shape)) if analytic.ndim else ()
    failing = int(np.sum(bad > 0))
    abs_error = np.abs(analytic - numeric)
    return GradcheckResult(name, analytic.shape, float(abs_error.max()) if abs_error.size else 0.0, failing == 0,
                           worst, float(analytic[worst]) if analytic.size else 0.0,
                           float(numeric[worst]) if numeric.size else 0.0, failing,
                           atol + rtol * abs(float(numeric[worst])) if numeric.size else atol)


def _check(fn: Callable, tensors: list[Tensor], names: list[str], eps: float, atol: float, rtol: float,
           stop_at_failure: bool) -> list[GradcheckResult]:
    weights: list = []
    out = _scalar_output(fn, tensors, weights)
    if out.requires_grad:
        out.backward()
    differentiable = [(name, t) for name, t in zip(names, tensors) if t.requires_grad]
    if not differentiable:
        raise ValueError("gradcheck: no floating-point input to differentiate")
    results = []
    for name, t in differentiable:
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
        if np.ndim(weights[0]) == 0:  # report the gradient of fn itself, not of w * fn
            analytic, numeric = analytic / weights[0], numeric / weights[0]
        results.append(compare(name, analytic, numeric, atol, rtol))
        if stop_at_failure and not results[-1].passed:
            break
    return results
