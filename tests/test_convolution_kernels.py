"""Convolution and pooling kernels (plain NumPy forward/backward pairs) against direct loops, SciPy,
and central finite differences with a random upstream gradient."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

from tinygrad_rl.ops.convolution import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    col2im,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    im2col,
    max_pool2d_backward,
    max_pool2d_forward,
)

# ----------------------------------------------------------------------------- references (direct loops)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_loop(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Y[n,o,y,x] = b[o] + sum_{c,i,j} W[o,c,i,j] Xpad[n, g*Cg + c, y*sh + i*dh, x*sw + j*dw], one loop per index."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for yi in range(oh):
                for xi in range(ow):
                    total = 0.0 if b is None else b[oi]
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += w[oi, ci, i, j] * xp[ni, g * cg + ci, yi * sh + i * dh, xi * sw + j * dw]
                    y[ni, oi, yi, xi] = total
    return y


def pool2d_loop(x, kernel_size, stride=None, padding=0, reduce="max"):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = (kh, kw) if stride is None else _pair(stride)
    (ph, pw) = _pair(padding)
    n, c, h, wd = x.shape
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for yi in range(oh):
        for xi in range(ow):
            window = xp[:, :, yi * sh: yi * sh + kh, xi * sw: xi * sw + kw]
            y[:, :, yi, xi] = window.max(axis=(2, 3)) if reduce == "max" else window.sum(axis=(2, 3)) / (kh * kw)
    return y


def numeric_gradient(f, arrays, index, upstream, eps=1e-6):
    """Central differences of sum(f(*arrays) * upstream) with respect to arrays[index], element by element."""
    arrays = [a.copy() for a in arrays]
    a = arrays[index]
    grad = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        old = a[k]
        a[k] = old + eps
        plus = np.sum(f(*arrays) * upstream)
        a[k] = old - eps
        minus = np.sum(f(*arrays) * upstream)
        a[k] = old
        grad[k] = (plus - minus) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------- conv2d

# (N, C, H, W, O, kernel, stride, padding, dilation, groups, bias)
CONV2D_CASES = [
    (2, 3, 6, 6, 4, 3, 1, 0, 1, 1, True),             # plain
    (1, 2, 7, 5, 3, 3, 2, 1, 1, 1, True),             # batch 1, odd sizes, stride 2, padding 1
    (2, 4, 9, 8, 6, 3, 1, 2, 2, 2, False),            # dilation 2, groups 2, no bias
    (2, 3, 7, 7, 3, 2, (2, 1), (1, 0), (1, 2), 3, True),  # depthwise, per-axis stride/padding/dilation
    (3, 2, 5, 6, 4, (3, 1), 3, (1, 2), 1, 1, True),   # rectangular kernel, stride larger than kernel
    (1, 4, 10, 10, 4, 3, 1, 1, 1, 4, False),          # groups == channels, 'same' padding
    (2, 1, 4, 4, 2, 4, 1, 0, 1, 1, True),             # kernel as large as the input: 1x1 output
]


def _conv_inputs(case, rng):
    n, c, h, wd, o, k, stride, padding, dilation, groups, bias = case
    kh, kw = _pair(k)
    x = rng.standard_normal((n, c, h, wd))
    w = rng.standard_normal((o, c // groups, kh, kw))
    b = rng.standard_normal(o) if bias else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_forward_matches_direct_loop(case):
    x, w, b, kw = _conv_inputs(case, np.random.default_rng(0))
    y, _ = conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(y, conv2d_loop(x, w, b, **kw), rtol=1e-12, atol=1e-12)


def test_conv2d_forward_matches_scipy_correlate():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 8, 7)), rng.standard_normal((5, 3, 3, 2))
    y, _ = conv2d_forward(x, w)
    # Cross-correlation over (C, H, W) in 'valid' mode sums over channels too: one output map per (n, o).
    expected = np.stack([np.stack([correlate(x[n], w[o], mode="valid")[0] for o in range(5)]) for n in range(2)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_backward_matches_finite_differences(case):
    rng = np.random.default_rng(2)
    x, w, b, kw = _conv_inputs(case, rng)
    inputs = [x, w] if b is None else [x, w, b]
    saved = [a.copy() for a in inputs]
    y, ctx = conv2d_forward(*inputs, **kw)
    upstream = rng.standard_normal(y.shape)
    grads = conv2d_backward(upstream, ctx)
    assert (grads[2] is None) == (b is None)
    for i, a in enumerate(inputs):
        np.testing.assert_array_equal(a, saved[i], err_msg=f"conv2d modified input {i}")
        numeric = numeric_gradient(lambda *arrs: conv2d_forward(*arrs, **kw)[0], inputs, i, upstream)
        assert grads[i].shape == a.shape
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-7, err_msg=f"conv2d gradient {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_keeps_the_dtype(dtype):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(2, 4, 10, 10), (16, 4, 3, 3), (16,)])
    y, ctx = conv2d_forward(x, w, b, padding=1)
    grads = conv2d_backward(rng.standard_normal(y.shape).astype(dtype), ctx)
    assert y.dtype == dtype and all(g.dtype == dtype for g in grads)
    np.testing.assert_allclose(y, conv2d_loop(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                              padding=1), rtol=1e-4, atol=1e-4)


def test_minatar_sized_conv2d_matches_loop_and_gradient_of_a_linear_loss():
    """Batch 32, 10x10x7 frames, 16 filters 3x3 (the MinAtar network's first layer). The loss sum(Y * G) is
    linear in W, so dL/dW is exactly sum over positions of G x patch: checked against the loop formula."""
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((32, 7, 10, 10)), rng.standard_normal((16, 7, 3, 3)), rng.standard_normal(16)
    y, ctx = conv2d_forward(x, w, b)
    assert y.shape == (32, 16, 8, 8)
    upstream = rng.standard_normal(y.shape)
    _, grad_w, grad_b = conv2d_backward(upstream, ctx)
    expected = np.zeros_like(w)
    for i in range(3):
        for j in range(3):
            expected[:, :, i, j] = np.einsum("nohw,nchw->oc", upstream, x[:, :, i:i + 8, j:j + 8])
    np.testing.assert_allclose(grad_w, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_b, upstream.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), C> == <x, col2im(C)> for every x and C: col2im is exactly the transpose (the backward)."""
    rng = np.random.default_rng(5)
    args = dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))
    x = rng.standard_normal((2, 3, 7, 6))
    cols = im2col(x, (3, 2), args["stride"], args["padding"], args["dilation"])
    c = rng.standard_normal(cols.shape)
    back = col2im(c, x.shape, args["stride"], args["padding"], args["dilation"])
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


# ----------------------------------------------------------------------------- conv1d

@pytest.mark.parametrize("n, c, length, o, k, stride, padding, dilation, groups, bias", [
    (2, 3, 9, 4, 3, 1, 0, 1, 1, True),
    (1, 4, 11, 6, 3, 2, 1, 2, 2, False),
    (3, 2, 5, 2, 5, 1, 2, 1, 2, True),
])
def test_conv1d_matches_conv2d_loop_and_finite_differences(n, c, length, o, k, stride, padding, dilation, groups,
                                                           bias):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((n, c, length)), rng.standard_normal((o, c // groups, k))
    b = rng.standard_normal(o) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y, ctx = conv1d_forward(x, w, b, **kw)
    expected = conv2d_loop(x[:, :, None, :], w[:, :, None, :], b, stride=(1, stride), padding=(0, padding),
                           dilation=(1, dilation), groups=groups)[:, :, 0, :]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(y.shape)
    grads = conv1d_backward(upstream, ctx)
    inputs = [x, w] if b is None else [x, w, b]
    for i, a in enumerate(inputs):
        numeric = numeric_gradient(lambda *arrs: conv1d_forward(*arrs, **kw)[0], inputs, i, upstream)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-7, err_msg=f"conv1d gradient {i}")


def test_conv1d_keeps_float32():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 8)).astype(np.float32), rng.standard_normal((4, 3, 3)).astype(np.float32)
    y, ctx = conv1d_forward(x, w)
    gx, gw, gb = conv1d_backward(np.ones(y.shape, np.float32), ctx)
    assert (y.dtype, gx.dtype, gw.dtype, gb) == (np.float32, np.float32, np.float32, None)
    assert y.shape == (2, 4, 6) and gx.shape == x.shape and gw.shape == w.shape


# ----------------------------------------------------------------------------- pooling

POOL_CASES = [  # (shape, kernel_size, stride, padding)
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 2, 7, 5), 3, 2, 1),          # batch 1, odd sizes, overlapping windows, padding
    ((2, 2, 5, 8), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 4, 4), 3, 1, 0),          # overlapping windows: inputs shared by several outputs
]


def _distinct(rng, shape):
    """Values at least 0.1 apart: no ties within 1e-6, so the finite differences see a smooth max."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1).reshape(shape) + rng.uniform(-0.01, 0.01, size=shape)


@pytest.mark.parametrize("reduce", ["max", "avg"])
@pytest.mark.parametrize("shape, kernel_size, stride, padding", POOL_CASES)
def test_pooling_forward_and_backward(reduce, shape, kernel_size, stride, padding):
    rng = np.random.default_rng(8)
    forward, backward = ((max_pool2d_forward, max_pool2d_backward) if reduce == "max"
                         else (avg_pool2d_forward, avg_pool2d_backward))
    x = _distinct(rng, shape)
    saved = x.copy()
    y, ctx = forward(x, kernel_size, stride, padding)
    np.testing.assert_allclose(y, pool2d_loop(x, kernel_size, stride, padding, reduce), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(y.shape)
    grad = backward(upstream, ctx)
    np.testing.assert_array_equal(x, saved)
    numeric = numeric_gradient(lambda a: forward(a, kernel_size, stride, padding)[0], [x], 0, upstream)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_pytorch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[5.0, 5.0], [5.0, 1.0]]
    y, ctx = max_pool2d_forward(x, 2)
    grad = max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), ctx)
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 2], expected[2, 0], expected[2, 2] = 1.0, 2.0, 3.0, 4.0   # first in row-major order
    np.testing.assert_array_equal(y[0, 0], [[0.0, 0.0], [0.0, 5.0]])
    np.testing.assert_array_equal(grad[0, 0], expected)


def test_max_pool_propagates_nan_like_pytorch():
    x = np.array([[[[1.0, np.nan, 7.0, 2.0], [3.0, np.nan, 0.0, 5.0]]]])
    y, ctx = max_pool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == 7.0
    np.testing.assert_array_equal(max_pool2d_backward(np.ones_like(y), ctx)[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0]])


def test_max_pool_overlapping_windows_add_their_gradients_and_padding_is_never_chosen():
    x = -np.ones((1, 1, 3, 3))
    x[0, 0, 1, 1] = 2.0                      # the maximum of all four overlapping 2x2 windows
    y, ctx = max_pool2d_forward(x, 2, stride=1)
    grad = max_pool2d_backward(np.ones_like(y), ctx)
    assert grad[0, 0, 1, 1] == 4.0 and grad.sum() == 4.0
    y, ctx = max_pool2d_forward(-np.ones((1, 1, 2, 2)), 2, stride=2, padding=1)   # windows mostly padding
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(max_pool2d_backward(np.ones((1, 1, 2, 2)), ctx), np.ones((1, 1, 2, 2)))


def test_avg_pool_counts_padding_in_the_mean_like_pytorch():
    y, ctx = avg_pool2d_forward(np.ones((1, 1, 2, 2)), 2, stride=2, padding=1)
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 0.25))
    np.testing.assert_allclose(avg_pool2d_backward(np.ones((1, 1, 2, 2)), ctx), np.full((1, 1, 2, 2), 0.25))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("forward, backward", [(max_pool2d_forward, max_pool2d_backward),
                                               (avg_pool2d_forward, avg_pool2d_backward)])
def test_pooling_keeps_the_dtype(dtype, forward, backward):
    x = np.random.default_rng(9).standard_normal((2, 3, 5, 5)).astype(dtype)
    y, ctx = forward(x, 2, 1, 1)
    grad = backward(np.ones(y.shape, dtype), ctx)
    assert y.dtype == dtype and grad.dtype == dtype and grad.shape == x.shape


# ----------------------------------------------------------------------------- errors name the op and the shapes

@pytest.mark.parametrize("call, message", [
    (lambda: conv2d_forward(np.zeros((2, 3, 5, 5)), np.zeros((4, 2, 3, 3))),
     r"conv2d: input of shape \(2, 3, 5, 5\) has 3 channels but weight of shape \(4, 2, 3, 3\)"),
    (lambda: conv2d_forward(np.zeros((3, 5, 5)), np.zeros((4, 3, 3, 3))), r"conv2d: .*\(3, 5, 5\)"),
    (lambda: conv2d_forward(np.zeros((1, 3, 2, 5)), np.zeros((4, 3, 3, 3))),
     r"conv2d: input of shape \(1, 3, 2, 5\) is too small along H"),
    (lambda: conv2d_forward(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2),
     r"conv2d: groups=2 must divide .*\(3, 2, 3, 3\)"),
    (lambda: conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(3)),
     r"conv2d: bias must have shape \(4,\) .* got \(3,\)"),
    (lambda: conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), stride=0), r"conv2d: stride"),
    (lambda: conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), padding=(1, 2, 3)), r"conv2d: padding"),
    (lambda: conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), dilation=1.5), r"conv2d: dilation"),
    (lambda: conv2d_forward(np.zeros((1, 3, 5, 5), bool), np.zeros((4, 3, 3, 3))),
     r"conv2d: input must be a floating-point array, got dtype bool"),
    (lambda: conv1d_forward(np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3))), r"conv1d: .*\(2, 3, 5, 5\)"),
    (lambda: conv1d_forward(np.zeros((2, 3, 5)), np.zeros((4, 2, 3))),
     r"conv1d: input of shape \(2, 3, 5\) has 3 channels but weight of shape \(4, 2, 3\)"),
    (lambda: conv1d_forward(np.zeros((2, 3, 5)), np.zeros((4, 3, 3)), dilation=3),
     r"conv1d: input of shape \(2, 3, 5\) is too small along L: size 5 with padding 0 is less than the dilated "
     r"kernel 7"),
    (lambda: max_pool2d_forward(np.zeros((2, 3, 5)), 2), r"max_pool2d: .*\(2, 3, 5\)"),
    (lambda: max_pool2d_forward(np.zeros((1, 1, 5, 5)), 2, padding=2), r"max_pool2d: padding \(2, 2\) must be"),
    (lambda: avg_pool2d_forward(np.zeros((1, 1, 1, 5)), 2), r"avg_pool2d: input of shape \(1, 1, 1, 5\) is too"),
    (lambda: avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 0), r"avg_pool2d: kernel_size"),
])
def test_bad_arguments_raise_naming_the_op_and_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_backward_rejects_an_upstream_gradient_of_the_wrong_shape():
    y, ctx = conv2d_forward(np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: upstream gradient of shape \(2, 4, 2, 3\) .*\(2, 4, 3, 3\)"):
        conv2d_backward(np.zeros((2, 4, 2, 3)), ctx)
    y, ctx = max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"max_pool2d: upstream gradient of shape \(1, 1, 3, 3\)"):
        max_pool2d_backward(np.zeros((1, 1, 3, 3)), ctx)
