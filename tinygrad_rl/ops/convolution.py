"""Convolution and pooling (NCHW, PyTorch's semantics): the NumPy kernels, forward and backward in pairs, then
the shared helpers, then the op units ``Conv2d``, ``Conv1d``, ``MaxPool2d`` and ``AvgPool2d`` that call them.

Every ``*_forward`` kernel returns ``(output, ctx)``; the matching ``*_backward(grad_output, ctx)`` maps the
gradient of the loss with respect to the output to the gradients with respect to the inputs. ``ctx``
is a small named tuple holding what the backward needs (the patch matrix, the weight, the shapes); it
keeps a reference to the weight, not a copy, so update weights only after the backward. Inputs are
never modified; outputs and gradients keep the inputs' floating dtypes (float32 stays float32).

Sizes (Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285):
an input of size ``i`` with padding ``p``, kernel ``k``, dilation ``d`` and stride ``s`` gives

    o = floor((i + 2p - d(k - 1) - 1) / s) + 1

outputs along that axis. Convolution here is cross-correlation, as in every deep-learning library:

    Y[n, o, y, x] = b[o] + sum_{c, i, j} W[o, c, i, j] * Xpad[n, g(o)*Cg + c, y*s + i*d, x*s + j*d]

where ``Cg = C / groups`` input channels feed each group and ``g(o)`` is output channel ``o``'s group.

How it is computed (im2col): copy every receptive field ("patch") of the padded input into a column of
a matrix ``P_n`` of shape (Cg*kh*kw, OH*OW) per sample n and group; then the convolution is a matrix
product, ``Y_n = W P_n`` with ``W`` reshaped to (Og, Cg*kh*kw): ONE batched product (``np.matmul``
broadcasts W over the samples) whose result is already laid out as (N, O, OH, OW). The backward follows
from the chain rule on that product:

    dL/dW = sum_n dL/dY_n P_n^T   sum over samples and output positions of (upstream gradient) x (patch)
    dL/db = sum over n, y, x of dL/dY
    dL/dP_n = W^T dL/dY_n         the gradient of every copied patch entry
    dL/dX = col2im(dL/dP)     each input pixel was copied into several patches (overlapping windows),
                              so its gradient is the SUM of its copies' gradients; then the padding
                              is cropped away (padded zeros are constants, not inputs).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .base import Op

__all__ = [
    "Conv2d", "Conv1d", "MaxPool2d", "AvgPool2d",
    "conv2d_forward", "conv2d_backward", "conv1d_forward", "conv1d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "im2col", "col2im", "conv_output_size", "ConvContext", "PoolContext",
]


# ----------------------------------------------------------------------------- the kernels: conv2d

class ConvContext(NamedTuple):
    """What :func:`conv2d_backward` needs: the patch matrices (N, G, Cg*kh*kw, OH*OW), the weight,
    the input shape and dtypes, whether there was a bias, and the arguments."""
    cols: np.ndarray
    w: np.ndarray
    x_shape: tuple
    y_shape: tuple
    x_dtype: np.dtype
    b_dtype: np.dtype | None
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    op: str


def _check_conv(op, x, w, b, groups, ndim=4):
    if x.ndim != ndim or w.ndim != ndim:
        x_layout, kernel = ("N, C, H, W", "kh, kw") if ndim == 4 else ("N, C, L", "k")
        raise ValueError(f"{op}: expected input ({x_layout}) and weight (O, C/groups, {kernel}), "
                         f"got input of shape {x.shape} and weight of shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got {groups!r}")
    out_ch, in_per_group = w.shape[:2]
    if x.shape[1] % groups or out_ch % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({x.shape[1]}, input of shape "
                         f"{x.shape}) and the output channels ({out_ch}, weight of shape {w.shape})")
    if x.shape[1] != in_per_group * groups:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[1]} channels but weight of shape "
                         f"{w.shape} with groups={groups} expects {in_per_group * groups}")
    if b is not None and b.shape != (out_ch,):
        raise ValueError(f"{op}: bias must have shape ({out_ch},) for weight of shape {w.shape}, got {b.shape}")


def _conv_forward(op, x, w, b, stride, padding, dilation, groups):
    x, w = _floating(op, "input", x), _floating(op, "weight", w)
    b = None if b is None else _floating(op, "bias", b)
    _check_conv(op, x, w, b, groups)
    kernel = w.shape[2:]
    stride, padding = _pair(op, "stride", stride, 1), _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    _check_fits(op, x.shape, kernel, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    patches = im2col(x, kernel, stride, padding, dilation)                  # (N, C, OH, OW, kh, kw) view
    oh, ow = patches.shape[2:4]
    # (N, C, kh, kw, OH, OW): the one copy. The product then gives Y in NCHW order, contiguous, so the
    # layers after it (ReLU, flatten) need no copy: measured 1.3x faster at MinAtar sizes than one
    # (G, Og, N*OH*OW) product, whose result must be transposed.
    cols = np.ascontiguousarray(patches.transpose(0, 1, 4, 5, 2, 3)).reshape(n, groups, -1, oh * ow)
    y = np.matmul(w.reshape(groups, out_ch // groups, -1), cols)            # (N, G, Og, OH*OW)
    y = y.reshape(n, out_ch, oh, ow)
    if b is not None:
        y = y + b.reshape(1, out_ch, 1, 1)
    ctx = ConvContext(cols, w, x.shape, y.shape, x.dtype, None if b is None else b.dtype, stride, padding,
                      dilation, groups, op)
    return y, ctx


def _conv_backward(grad_y, ctx: ConvContext, need_x: bool = True, need_w: bool = True):
    if grad_y.shape != ctx.y_shape:
        raise ValueError(f"{ctx.op}: upstream gradient of shape {grad_y.shape} does not match the output "
                         f"{ctx.y_shape} of input {ctx.x_shape} and weight {ctx.w.shape}")
    g, (n, c, _, _), (out_ch, _, kh, kw), (oh, ow) = ctx.groups, ctx.x_shape, ctx.w.shape, ctx.y_shape[2:]
    dy = grad_y.reshape(n, g, out_ch // g, oh * ow)                                # (N, G, Og, OH*OW)
    grad_x = grad_w = None
    if need_w:
        # dL/dW = sum_n dL/dY_n P_n^T: for each weight, sum over samples and positions of upstream gradient
        # times the patch entry.
        grad_w = np.matmul(dy, ctx.cols.transpose(0, 1, 3, 2)).sum(axis=0)           # (G, Og, Cg*kh*kw)
        grad_w = grad_w.reshape(ctx.w.shape).astype(ctx.w.dtype, copy=False)
    if need_x:
        # dL/dP_n = W^T dL/dY_n, then col2im adds each patch entry's gradient back onto its pixel.
        grad_cols = np.matmul(ctx.w.reshape(g, out_ch // g, -1).transpose(0, 2, 1), dy)   # (N, G, Cg*kh*kw, OH*OW)
        grad_cols = grad_cols.reshape(n, c, kh, kw, oh, ow).transpose(0, 1, 4, 5, 2, 3)   # (N, C, OH, OW, kh, kw)
        grad_x = col2im(grad_cols, ctx.x_shape, ctx.stride, ctx.padding, ctx.dilation)
        grad_x = grad_x.astype(ctx.x_dtype, copy=False)
    grad_b = None if ctx.b_dtype is None else grad_y.sum(axis=(0, 2, 3)).astype(ctx.b_dtype, copy=False)
    return grad_x, grad_w, grad_b


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of ``x`` (N, C, H, W) with ``w`` (O, C/groups, kh, kw), plus
    ``b`` (O,) if given; ``stride``, ``padding`` (zeros), ``dilation``: an int or an (H, W) pair.

    Returns ``(y, ctx)``: ``y`` of shape (N, O, OH, OW) with ``OH = floor((H + 2p - d(kh - 1) - 1)/s) + 1``
    (module doc), computed as one matrix product per group of ``w`` with the im2col patch matrix.
    """
    return _conv_forward("conv2d", x, w, b, stride, padding, dilation, groups)


def conv2d_backward(grad_y, ctx: ConvContext, need_x: bool = True, need_w: bool = True):
    """Gradients ``(grad_x, grad_w, grad_b)`` of the loss for upstream ``grad_y`` (N, O, OH, OW);
    ``grad_b`` is None when the forward had no bias, ``grad_x`` (``grad_w``) None when ``need_x``
    (``need_w``) is False. Each has its input's shape and dtype.

    dL/dW = dL/dY P^T and dL/dX = col2im(W^T dL/dY) (the derivation is in the module doc).
    """
    return _conv_backward(np.asarray(grad_y), ctx, need_x, need_w)


# ----------------------------------------------------------------------------- conv1d

def conv1d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of ``x`` (N, C, L) with ``w`` (O, C/groups, k): :func:`conv2d_forward` on a height
    of 1. ``stride``, ``padding``, ``dilation`` are ints. Returns ``(y, ctx)``, ``y`` of shape (N, O, OL)."""
    x, w = np.asarray(x), np.asarray(w)
    _check_conv("conv1d", x, w, None if b is None else np.asarray(b), groups, ndim=3)
    for name, value, minimum in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"conv1d: {name} must be an int >= {minimum}, got {value!r}")
    _check_fits("conv1d", x.shape, w.shape[2:], (stride,), (padding,), (dilation,), axes="L")
    y, ctx = _conv_forward("conv1d", x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding),
                           (1, dilation), groups)
    return y[:, :, 0, :], ctx


def conv1d_backward(grad_y, ctx: ConvContext, need_x: bool = True, need_w: bool = True):
    """Gradients ``(grad_x, grad_w, grad_b)`` for upstream ``grad_y`` (N, O, OL); ``grad_b`` None without bias,
    ``grad_x`` (``grad_w``) None when ``need_x`` (``need_w``) is False."""
    grad_y = np.asarray(grad_y)
    if grad_y.ndim != 3:
        raise ValueError(f"conv1d: upstream gradient of shape {grad_y.shape} does not match the output "
                         f"{ctx.y_shape[:2] + ctx.y_shape[3:]}")
    grad_x, grad_w, grad_b = _conv_backward(grad_y[:, :, None, :], ctx, need_x, need_w)
    return (None if grad_x is None else grad_x[:, :, 0, :]), (None if grad_w is None else grad_w[:, :, 0, :]), grad_b


# ----------------------------------------------------------------------------- pooling

class PoolContext(NamedTuple):
    """What the pooling backwards need: the input shape and dtype, the window geometry, and for max
    pooling the flat index (0 .. kh*kw-1) of the chosen element in every window."""
    x_shape: tuple
    x_dtype: np.dtype
    kernel: tuple
    stride: tuple
    padding: tuple
    argmax: np.ndarray | None
    op: str


def _pool_windows(op, x, kernel_size, stride, padding, pad_value):
    x = _floating(op, "input", x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected input (N, C, H, W), got shape {x.shape}")
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel}")
    _check_fits(op, x.shape, kernel, stride, padding, (1, 1))
    return x, im2col(x, kernel, stride, padding, (1, 1), pad_value), kernel, stride, padding


def _check_pool_grad(grad_y, ctx, windows_shape):
    if grad_y.shape != windows_shape:
        raise ValueError(f"{ctx.op}: upstream gradient of shape {grad_y.shape} does not match the output "
                         f"shape {windows_shape} for input {ctx.x_shape}")


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Maximum over each ``kernel_size`` window of ``x`` (N, C, H, W); ``stride`` defaults to the kernel,
    padding counts as -inf (never chosen) and may be at most half the kernel, as in PyTorch.

    Returns ``(y, ctx)`` with ``y`` of shape (N, C, OH, OW). Ties: like PyTorch, the gradient goes to the
    FIRST maximal element of the window in row-major order (NumPy's ``argmax`` picks the first one).
    A NaN in a window is its maximum, as in PyTorch, and takes the gradient (the first NaN; PyTorch's CPU
    kernel picks the last: either way the loss is NaN).
    """
    x, windows, kernel, stride, padding = _pool_windows("max_pool2d", x, kernel_size, stride, padding, -np.inf)
    flat = windows.reshape(*windows.shape[:4], -1)                       # (N, C, OH, OW, kh*kw), a copy
    argmax = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return y, PoolContext(x.shape, x.dtype, kernel, stride, padding, argmax, "max_pool2d")


def max_pool2d_backward(grad_y, ctx: PoolContext):
    """``grad_x``: each output's upstream gradient goes to the one input it was taken from (the first
    maximum); inputs chosen by several overlapping windows add their gradients (col2im)."""
    grad_y = np.asarray(grad_y)
    _check_pool_grad(grad_y, ctx, ctx.argmax.shape)
    kh, kw = ctx.kernel
    grad_cols = np.zeros((*grad_y.shape, kh * kw), dtype=grad_y.dtype)
    np.put_along_axis(grad_cols, ctx.argmax[..., None], grad_y[..., None], axis=-1)
    grad_cols = grad_cols.reshape(*grad_y.shape, kh, kw)
    return col2im(grad_cols, ctx.x_shape, ctx.stride, ctx.padding, (1, 1)).astype(ctx.x_dtype, copy=False)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each ``kernel_size`` window of ``x`` (N, C, H, W); ``stride`` defaults to the kernel;
    padded zeros count in the mean (PyTorch's default ``count_include_pad=True``): y = sum(window)/(kh*kw).

    Returns ``(y, ctx)`` with ``y`` of shape (N, C, OH, OW).
    """
    x, windows, kernel, stride, padding = _pool_windows("avg_pool2d", x, kernel_size, stride, padding, 0.0)
    y = windows.mean(axis=(4, 5), dtype=x.dtype)
    return y, PoolContext(x.shape, x.dtype, kernel, stride, padding, None, "avg_pool2d")


def avg_pool2d_backward(grad_y, ctx: PoolContext):
    """``grad_x``: dy/dx = 1/(kh*kw) for every element of the window, so each window spreads its upstream
    gradient evenly over its elements; overlapping windows add (col2im)."""
    grad_y = np.asarray(grad_y)
    (n, c, _, _), (kh, kw) = ctx.x_shape, ctx.kernel
    oh, ow = (conv_output_size(s, k, st, p, 1) for s, k, st, p in zip(ctx.x_shape[2:], ctx.kernel,
                                                                          ctx.stride, ctx.padding))
    _check_pool_grad(grad_y, ctx, (n, c, oh, ow))
    grad_cols = np.broadcast_to((grad_y / (kh * kw))[..., None, None], (n, c, oh, ow, kh, kw))
    return col2im(grad_cols, ctx.x_shape, ctx.stride, ctx.padding, (1, 1)).astype(ctx.x_dtype, copy=False)


# ----------------------------------------------------------------------------- shared helpers

def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (each >= ``minimum``) as a pair; a clear error naming the op otherwise."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
                                 for v in pair):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _floating(op: str, name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be a floating-point array, got dtype {a.dtype} (shape {a.shape})")
    return a


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """``floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`` (Dumoulin & Visin 2016)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_fits(op: str, x_shape, kernel, stride, padding, dilation, axes="HW") -> None:
    for axis, size, k, s, p, d in zip(axes, x_shape[2:], kernel, stride, padding, dilation):
        if conv_output_size(size, k, s, p, d) < 1:
            raise ValueError(f"{op}: input of shape {tuple(x_shape)} is too small along {axis}: size {size} "
                             f"with padding {p} is less than the dilated kernel {d * (k - 1) + 1} "
                             f"(kernel {k}, dilation {d})")


def im2col(x: np.ndarray, kernel, stride, padding, dilation, pad_value=0.0) -> np.ndarray:
    """Every receptive field of ``x`` (N, C, H, W): a strided VIEW of shape (N, C, OH, OW, kh, kw).

    ``[n, c, y, x, i, j]`` is ``Xpad[n, c, y*sh + i*dh, x*sw + j*dw]``; pads with ``pad_value``
    (0 for convolution and average pooling, -inf for max pooling). No copy beyond the padding.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, sh, 0, dh), conv_output_size(w, kw, sw, 0, dw)
    # The formula above as memory strides: a step in y moves sh rows, a step in i moves dh rows (so for x, j).
    row, col = x.strides[2:]
    return as_strided(x, (n, c, oh, ow, kh, kw), (*x.strides[:2], row * sh, col * sw, row * dh, col * dw),
                      writeable=False)


def col2im(cols: np.ndarray, x_shape, stride, padding, dilation) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every patch entry of ``cols`` (N, C, OH, OW, kh, kw) back onto
    the pixel it was copied from, then crop the padding. Returns an array of shape ``x_shape``."""
    n, c, h, w = x_shape
    _, _, oh, ow, kh, kw = cols.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    grad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):               # a kh*kw loop of whole-array adds: overlaps accumulate
        for j in range(kw):
            grad[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw] += \
                cols[:, :, :, :, i, j]
    return grad[:, :, ph: ph + h, pw: pw + w]


# ----------------------------------------------------------------------------- the op units

class Conv2d(Op):
    """Y = W (*) X + b over x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None (then a setting)."""
    name = "conv2d"
    forward_kernel, backward_kernel = staticmethod(conv2d_forward), staticmethod(conv2d_backward)

    def forward(self, x, w, b, stride, padding, dilation, groups) -> np.ndarray:
        y, self.ctx = self.forward_kernel(x, w, b, stride, padding, dilation, groups)
        return y

    def backward(self, g: np.ndarray) -> tuple:
        # Y_n = W P_n (P_n the im2col patches)  =>  dW = sum_n dY_n P_n^T ,  dX = col2im(W^T dY) ,  db = sum of dY
        need_x, need_w = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        gx, gw, gb = self.backward_kernel(g, self.ctx, need_x, need_w)
        return (gx, gw) if gb is None else (gx, gw, gb)


class Conv1d(Conv2d):
    """Y = W (*) X + b over x (N, C, L), w (O, C/groups, k): Conv2d on a height of 1, the same derivative."""
    name = "conv1d"
    forward_kernel, backward_kernel = staticmethod(conv1d_forward), staticmethod(conv1d_backward)


class MaxPool2d(Op):
    """y = max over each window of x (N, C, H, W); padding is -inf, never chosen."""
    name = "max_pool2d"
    forward_kernel, backward_kernel = staticmethod(max_pool2d_forward), staticmethod(max_pool2d_backward)

    def forward(self, x, kernel_size, stride, padding) -> np.ndarray:
        y, self.ctx = self.forward_kernel(x, kernel_size, stride, padding)
        return y

    def backward(self, g: np.ndarray) -> tuple:
        # d max(window)/dx_i = 1 for the (first) maximal x_i, 0 for the others; overlapping windows add
        return (self.backward_kernel(g, self.ctx),)


class AvgPool2d(MaxPool2d):
    """y = mean over each window of x (N, C, H, W), padded zeros counted: d mean(window)/dx_i = 1/(kh kw) for
    every x_i of the window (overlapping windows add), MaxPool2d's unit on the averaging kernels."""
    name = "avg_pool2d"
    forward_kernel, backward_kernel = staticmethod(avg_pool2d_forward), staticmethod(avg_pool2d_backward)
