"""One way to test an op, as a mature engine's own op suite does.

``check_op(op, reference, shapes)`` draws float64 inputs of the given shapes and checks

1. the forward value and shape against ``reference`` (NumPy, or another float64 reference);
2. the backward with a *random upstream gradient* G (not ``.sum()``, whose all-ones upstream
   hides gradients that are right only up to a permutation or a sum): the gradient of every
   input against central finite differences of  sum(op(x) * G),  element by element;
3. that the op leaves its inputs untouched and that float32 inputs give NumPy's result dtype
   forward and float32 gradients backward.

Samplers keep inputs where the op is smooth (away from kinks, ties and poles); the conventions
at those points are tested separately and explicitly.
"""
from __future__ import annotations

import numpy as np

from tinygrad_rl import Tensor, no_grad

# ----------------------------------------------------------------------------- samplers

def uniform(rng, shape):
    return rng.uniform(-2.0, 2.0, size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(rng, shape):
    """|x| in [0.25, 2]: kinks at 0 (abs, relu, sign) are never within eps of a sample."""
    return rng.uniform(0.25, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def distinct(rng, shape):
    """Values at least 0.1 apart (a shuffled grid): no ties for max, min, maximum, minimum."""
    n = int(np.prod(shape, dtype=int))
    return (rng.permutation(n) * 0.1 - 0.05 * n + 0.05).reshape(shape) + rng.uniform(-0.01, 0.01, size=shape)


# ----------------------------------------------------------------------------- the check

def check_op(op, reference, shapes, sample=uniform, seed=0, eps=1e-6, atol=1e-6, rtol=1e-5,
             forward_rtol=1e-10, float32=True):
    """Check ``op(*tensors)`` against ``reference(*arrays)`` and finite differences; see the module doc.

    ``sample`` is one sampler for every input or a list with one per input.
    """
    rng = np.random.default_rng(seed)
    samplers = sample if isinstance(sample, (list, tuple)) else [sample] * len(shapes)
    arrays = [np.asarray(s(rng, shape), dtype=np.float64) for s, shape in zip(samplers, shapes)]
    saved = [a.copy() for a in arrays]

    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*tensors)
    expected = np.asarray(reference(*[a.copy() for a in arrays]))
    assert isinstance(out, Tensor), f"op returned {type(out).__name__}, not a Tensor"
    assert type(out.data) is np.ndarray, f"op returned a Tensor holding {type(out.data).__name__}"
    assert out.shape == expected.shape, f"forward shape {out.shape}, reference {expected.shape}"
    np.testing.assert_allclose(out.data, expected, rtol=forward_rtol, atol=1e-12, err_msg="forward value")

    upstream = rng.standard_normal(out.shape)
    if out.requires_grad:
        out.backward(upstream)
    for i, (t, a) in enumerate(zip(tensors, arrays)):
        np.testing.assert_array_equal(a, saved[i], err_msg=f"op modified input {i}")
        analytic = np.zeros(a.shape) if t.grad is None else t.grad
        assert analytic.shape == a.shape, f"input {i}: gradient shape {analytic.shape}, input {a.shape}"
        assert analytic.dtype == np.float64, f"input {i}: gradient dtype {analytic.dtype}"
        numeric = _numeric_gradient(op, arrays, i, upstream, eps)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} (shape {a.shape})")

    if float32:
        _check_float32(op, reference, arrays, rng)
    return True


def _value(op, arrays, upstream) -> float:
    with no_grad():
        return float(np.sum(op(*[Tensor(a) for a in arrays]).data * upstream))


def _numeric_gradient(op, arrays, i, upstream, eps) -> np.ndarray:
    """Central differences of sum(op(x) * upstream) in input i (error O(eps^2))."""
    perturbed = [a.copy() for a in arrays]
    flat = perturbed[i].reshape(-1)  # a view into perturbed[i]
    numeric = np.zeros(flat.size)
    for j in range(flat.size):
        saved = flat[j]
        flat[j] = saved + eps
        f_plus = _value(op, perturbed, upstream)
        flat[j] = saved - eps
        f_minus = _value(op, perturbed, upstream)
        flat[j] = saved
        numeric[j] = (f_plus - f_minus) / (2 * eps)
    return numeric.reshape(arrays[i].shape)


def _check_float32(op, reference, arrays, rng):
    """float32 in: NumPy's result dtype out (what the reference gives), float32 gradients back."""
    arrays32 = [a.astype(np.float32) for a in arrays]
    tensors = [Tensor(a, requires_grad=True) for a in arrays32]
    out = op(*tensors)
    expected_dtype = np.asarray(reference(*[a.copy() for a in arrays32])).dtype
    assert out.dtype == expected_dtype, f"float32 inputs: output dtype {out.dtype}, NumPy gives {expected_dtype}"
    if out.requires_grad:
        out.backward(rng.standard_normal(out.shape).astype(out.dtype))
        for i, t in enumerate(tensors):
            if t.grad is not None:
                assert t.grad.dtype == np.float32, f"float32 input {i}: gradient dtype {t.grad.dtype}"
