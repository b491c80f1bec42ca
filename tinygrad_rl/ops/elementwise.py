"""Elementwise ops: arithmetic with NumPy broadcasting, the unary functions, clip, maximum/minimum,
where and casts. A broadcast input's gradient is summed back to its shape by the engine
(:func:`tinygrad_rl.ops.base.unbroadcast`), so each backward here is the pointwise derivative."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Op, broadcasting, sigmoid_of
from .erf import INV_SQRT_2PI, SQRT_2_OVER_PI, SQRT_HALF, TWO_OVER_SQRT_PI, erf_of

__all__ = ["Binary", "Unary", "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sqrt", "Abs", "Tanh",
           "Sigmoid", "Relu", "Sign", "Sin", "Cos", "Erf", "Gelu", "Softplus", "Clip", "Maximum", "Minimum", "Where",
           "Cast"]


class Binary(Op):
    """An elementwise op of two arrays under NumPy broadcasting: ``fn(a, b)``, keeping a and b."""
    word, fn = "binary", None  # the op's name in a shape error, and its NumPy ufunc

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return broadcasting(self.word, self.fn, a, b)


class Add(Binary):
    name, word, fn = "+", "add", np.add

    def backward(self, g: np.ndarray) -> tuple:
        return g, g  # d(a+b)/da = 1 ;  d(a+b)/db = 1


class Sub(Binary):
    name, word, fn = "-", "sub", np.subtract

    def backward(self, g: np.ndarray) -> tuple:
        return g, -g  # d(a-b)/da = 1 ;  d(a-b)/db = -1


class Mul(Binary):
    name, word, fn = "*", "mul", np.multiply

    def backward(self, g: np.ndarray) -> tuple:
        return g * self.b, g * self.a  # d(ab)/da = b ;  d(ab)/db = a


class Div(Binary):
    name, word, fn = "/", "div", np.divide

    def backward(self, g: np.ndarray) -> tuple:
        a, b = self.a, self.b
        return g / b, -g * a / (b * b)  # d(a/b)/da = 1/b ;  d(a/b)/db = -a/b^2


class Neg(Op):
    name = "neg"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, g: np.ndarray) -> tuple:
        return (-g,)  # d(-x)/dx = -1


class Pow(Op):
    """a ** b. At a = 0 both derivatives multiply 0 by inf; PyTorch's conventions: d/da = 0 where b = 0 (a^0 is
    constant: the exponent b - 1 becomes 0 there, so b a^0 = 0) and d/db = 0 where a = 0, b >= 0 (0^b is constant)."""
    name = "**"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        self.out = broadcasting("pow", np.power, a, b)
        return self.out

    def backward(self, g: np.ndarray) -> tuple:
        # d(a^b)/da = b a^(b-1) ;  d(a^b)/db = a^b log a  (each only when its input needs it)
        a, b, ga, gb = self.a, self.b, None, None
        with np.errstate(divide="ignore"):  # inf is the true slope: 0^(b-1) for b < 1, log 0 for b < 0
            if self.inputs[0].requires_grad:
                ga = g * b * a ** np.where(b == 0, 0, b - 1)
            if self.inputs[1].requires_grad:
                base_zero = (a == 0) & (b >= 0)
                gb = g * np.where(base_zero, 0, self.out * np.log(np.where(base_zero, 1, a)))
        return ga, gb


class Unary(Op):
    """An elementwise function of one array: ``fn(x)``, keeping x and the output for the backward."""
    fn = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x, self.out = x, self.fn(x)
        return self.out


class Exp(Unary):
    name, fn = "exp", np.exp

    def backward(self, g: np.ndarray) -> tuple:
        return (g * self.out,)  # d/dx e^x = e^x, the output itself


class Log(Unary):
    name, fn = "log", np.log

    def backward(self, g: np.ndarray) -> tuple:
        return (g / self.x,)  # d/dx log x = 1/x


class Sqrt(Unary):
    name, fn = "sqrt", np.sqrt

    def backward(self, g: np.ndarray) -> tuple:
        return (g / (2 * self.out),)  # d/dx sqrt(x) = 1 / (2 sqrt(x))  (inf at 0: the true slope)


class Abs(Unary):
    name, fn = "abs", np.abs

    def backward(self, g: np.ndarray) -> tuple:
        return (g * np.sign(self.x),)  # d|x|/dx = sign(x); the subgradient at 0 is 0 (np.sign(0) == 0)


class Tanh(Unary):
    name, fn = "tanh", np.tanh

    def backward(self, g: np.ndarray) -> tuple:
        out = self.out
        return (g * (1 - out * out),)  # d/dx tanh x = 1 - tanh^2 x


class Sigmoid(Unary):
    """s(x) = 1 / (1 + e^-x), with exp of non-positive numbers only (no overflow)."""
    name, fn = "sigmoid", staticmethod(sigmoid_of)

    def backward(self, g: np.ndarray) -> tuple:
        out = self.out
        return (g * out * (1 - out),)  # d/dx s(x) = s(x) (1 - s(x))


class Relu(Op):
    name = "relu"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.maximum(x, 0)

    def backward(self, g: np.ndarray) -> tuple:
        return (g * (self.x > 0),)  # d/dx max(x, 0) = 1 where x > 0, else 0 (the subgradient at 0 is 0)


class Sign(Unary):
    """-1, 0 or 1. The derivative is 0 wherever it exists; at 0 it is taken as 0 (PyTorch)."""
    name, fn = "sign", np.sign

    def backward(self, g: np.ndarray) -> tuple:
        return (np.zeros_like(g),)  # d/dx sign(x) = 0 (taken as 0 at the jump too)


class Sin(Unary):
    name, fn = "sin", np.sin

    def backward(self, g: np.ndarray) -> tuple:
        return (g * np.cos(self.x),)  # d/dx sin x = cos x


class Cos(Unary):
    name, fn = "cos", np.cos

    def backward(self, g: np.ndarray) -> tuple:
        return (-g * np.sin(self.x),)  # d/dx cos x = -sin x


class Erf(Unary):
    """erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt, by Cody's approximations (:func:`erf_of`)."""
    name, fn = "erf", staticmethod(erf_of)

    def backward(self, g: np.ndarray) -> tuple:
        x = self.x
        return (g * (TWO_OVER_SQRT_PI * np.exp(-x * x)),)  # d/dx erf(x) = 2/sqrt(pi) e^(-x^2)


class Gelu(Op):
    """GELU(x) = x Phi(x), Phi the normal CDF (Hendrycks & Gimpel 2016), as PyTorch's gelu(approximate=...):
    exact, Phi(x) = (1 + erf(x / sqrt 2)) / 2; or "tanh", x (1 + tanh u) / 2, u = sqrt(2/pi) (x + 0.044715 x^3)."""
    name = "gelu"

    def forward(self, x: np.ndarray, approximate: str) -> np.ndarray:
        if approximate == "none":
            cdf = 0.5 * (1 + erf_of(x * SQRT_HALF))
            self.slope = cdf + x * (INV_SQRT_2PI * np.exp(-0.5 * x * x))  # d/dx x Phi(x) = Phi(x) + x phi(x)
            return x * cdf
        if approximate == "tanh":
            t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
            # d/dx x (1 + tanh u) / 2 = (1 + tanh u) / 2 + x (1 - tanh^2 u) u' / 2
            self.slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return 0.5 * x * (1 + t)
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")

    def backward(self, g: np.ndarray) -> tuple:
        return (g * self.slope,)


class Softplus(Op):
    name = "softplus"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.logaddexp(0, x)  # log(1 + e^x) without overflow

    def backward(self, g: np.ndarray) -> tuple:
        return (g * sigmoid_of(self.x),)  # d/dx log(1 + e^x) = sigmoid(x)


class Clip(Op):
    """Clamp to [low, high]; the gradient passes where low <= x <= high (PyTorch's clamp)."""
    name = "clip"

    def forward(self, x: np.ndarray, low: Any, high: Any) -> np.ndarray:
        if low is None and high is None:
            raise ValueError("clip: at least one of low and high must be given, got clip(None, None)")
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        self.inside = inside
        return np.clip(x, low, high)

    def backward(self, g: np.ndarray) -> tuple:
        return (g * self.inside,)  # d/dx clip(x) = 1 where low <= x <= high, else 0


class Maximum(Op):
    """Elementwise max(a, b); on ties the gradient is split half and half."""
    name, pick = "maximum", np.maximum

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = broadcasting(self.name, self.pick, a, b)
        self.a_wins = (a == out).astype(out.dtype)
        self.b_wins = (b == out).astype(out.dtype)
        self.share = self.a_wins + self.b_wins  # 2 on ties
        return out

    def backward(self, g: np.ndarray) -> tuple:
        # d max(a, b)/da = 1 where a wins, 0 where b wins, 1/2 each on a tie
        return g * self.a_wins / self.share, g * self.b_wins / self.share


class Minimum(Maximum):
    """Elementwise min(a, b): Maximum's unit with np.minimum picking the winner."""
    name, pick = "minimum", np.minimum


class Where(Op):
    """``a if condition else b``; the gradient goes to the branch that was chosen."""
    name = "where"

    def forward(self, a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> np.ndarray:
        self.condition = condition
        return broadcasting("where", np.where, condition, a, b)

    def backward(self, g: np.ndarray) -> tuple:
        return g * self.condition, g * ~self.condition  # d/da = cond ;  d/db = not cond


class Cast(Op):
    """A cast between floating dtypes; the gradient is cast back to the input's dtype."""
    name = "astype"

    def forward(self, x: np.ndarray, dtype: Any) -> np.ndarray:
        self.source = x.dtype
        return x.astype(dtype)

    def backward(self, g: np.ndarray) -> tuple:
        return (g.astype(self.source),)  # d/dx x = 1, in the input's dtype
