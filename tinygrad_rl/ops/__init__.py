"""Every differentiable op of the engine, one small class each, grouped by kind.

=================  ===========================================================================
``elementwise``    ``+ - * / ** neg``, exp, log, sqrt, abs, tanh, sigmoid, relu, sign, sin, cos,
                   erf, gelu, softplus, clip, maximum, minimum, where, astype
``reduce``         sum, mean, max, min, prod, var, std, cumsum, logsumexp, log_softmax, softmax
``movement``       reshape, transpose, squeeze, expand_dims, broadcast_to, repeat, tile, flip,
                   pad, concatenate, stack
``indexing``       ``x[index]``, gather
``matmul``         ``@``, linear (``x W + b`` as one op), einsum
``convolution``    conv2d, conv1d (im2col and one matrix product), max_pool2d, avg_pool2d
=================  ===========================================================================

The shape of an op (:class:`Op`): ``forward`` computes the value with NumPy from the inputs' arrays
and keeps what the derivative needs; ``backward(g)`` returns one gradient per input, the upstream
gradient times the local derivative, written in a comment beside it::

    class Softsign(Op):
        name = "softsign"                   # x / (1 + |x|)

        def forward(self, x: np.ndarray) -> np.ndarray:
            self.d = 1 + np.abs(x)
            return x / self.d

        def backward(self, g: np.ndarray) -> tuple:
            return (g / (self.d * self.d),)   # d/dx x / (1 + |x|) = 1 / (1 + |x|)^2

    y = apply(Softsign, (x,))               # tinygrad_rl.apply: the one dispatch every Tensor method uses

Settings that are not tensors (an axis, a dtype) follow the inputs: ``apply(Sum, (x,), axis, keepdims)``
calls ``Sum().forward(x.data, axis, keepdims)``. ``gradcheck`` tests a new op against finite differences.
"""
from .base import Op
from .convolution import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .elementwise import (
                          Abs,
                          Add,
                          Cast,
                          Clip,
                          Cos,
                          Div,
                          Erf,
                          Exp,
                          Gelu,
                          Log,
                          Maximum,
                          Minimum,
                          Mul,
                          Neg,
                          Pow,
                          Relu,
                          Sigmoid,
                          Sign,
                          Sin,
                          Softplus,
                          Sqrt,
                          Sub,
                          Tanh,
                          Where,
)
from .indexing import Gather, GetItem
from .matmul import Einsum, Linear, Matmul
from .movement import BroadcastTo, Concatenate, ExpandDims, Flip, Pad, Repeat, Reshape, Squeeze, Stack, Tile, Transpose
from .reduce import Cumsum, LogSoftmax, Logsumexp, Max, Mean, Min, Prod, Softmax, Std, Sum, Var

__all__ = ["Op", "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sqrt", "Abs", "Tanh", "Sigmoid", "Relu",
           "Sign", "Sin", "Cos", "Erf", "Gelu", "Softplus", "Clip", "Maximum", "Minimum", "Where", "Cast", "Sum",
           "Mean", "Max", "Min", "Prod", "Var", "Std", "Cumsum", "Logsumexp", "LogSoftmax", "Softmax", "Reshape",
           "Transpose", "Squeeze", "ExpandDims", "BroadcastTo", "Repeat", "Tile", "Flip", "Pad", "Concatenate",
           "Stack", "GetItem", "Gather", "Matmul", "Linear", "Einsum", "Conv2d", "Conv1d", "MaxPool2d",
           "AvgPool2d"]
