"""Neural-network building blocks: Module, Linear, Conv2d, Flatten, Sequential, MLP, activations, initialisers,
and the two target-network updates (hard copy and Polyak averaging).

Parameters are float32 Tensors with ``requires_grad=True``. Weights are stored (in, out) so a
layer is ``x @ W + b`` with no transpose. Parameters are always updated *in place*
(``p.data[...] = ...``), never rebound, because optimisers keep them as views of one buffer.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .arrays import make_rng
from .functional import conv2d, linear
from .tensor import Tensor

__all__ = ["Module", "Linear", "Conv2d", "Flatten", "Sequential", "MLP", "ReLU", "Tanh", "Identity", "activation",
           "copy_params", "polyak_update", "init_weight"]


class Module:
    """Base class: finds parameters in attributes, recursively and in definition order."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name, value in vars(self).items():
            for sub_name, param in _named_params_of(value, f"{prefix}{name}"):
                yield sub_name, param

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's array, keyed by its dotted name (e.g. ``layers.0.weight``)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray], allow_nonfinite: bool = False) -> None:
        """Copy arrays into the parameters in place; names and shapes must match exactly.

        A NaN or infinite value is refused (a diverged run's weights would otherwise act
        silently) unless ``allow_nonfinite=True``; nothing is copied when anything is refused.
        """
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape} in the state dict "
                                 f"but {p.shape} in the module")
            if not allow_nonfinite and not np.isfinite(value).all():
                bad = int(value.size - np.isfinite(value).sum())
                raise ValueError(f"load_state_dict: {name} holds {bad} non-finite value(s) (NaN or inf); "
                                 "pass allow_nonfinite=True to load them anyway")
        for name, p in params.items():
            p.data[...] = state[name]

    def to_dtype(self, dtype: Any) -> "Module":
        """Cast every parameter (e.g. to float64 for a gradcheck). Do it before building an optimiser."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        return self

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())


def _named_params_of(value: Any, name: str) -> Iterator[tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(prefix=f"{name}.")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _named_params_of(item, f"{name}.{i}")


def init_weight(fan_in: int, fan_out: int, init: str, gain: float, rng: np.random.Generator) -> np.ndarray:
    """A (fan_in, fan_out) float64 weight matrix.

    - ``default``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` default
      (kaiming_uniform with a = sqrt(5)); ``gain`` scales it.
    - ``xavier``: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
    - ``orthogonal``: gain * Q from the QR of a Gaussian matrix, signs fixed so Q is uniform
      (Saxe et al. 2014), the usual choice for policy and value heads.
    """
    if init == "default":
        bound = gain / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    if init == "xavier":
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    if init == "orthogonal":
        rows, cols = max(fan_in, fan_out), min(fan_in, fan_out)
        q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
        q *= np.sign(np.diag(r))
        return gain * (q if fan_in >= fan_out else q.T)
    raise ValueError(f"init must be 'default', 'xavier' or 'orthogonal', got {init!r}")


class Linear(Module):
    """y = x W + b with W of shape (in_features, out_features).

    ``init`` picks the weight initialiser (see ``init_weight``); the bias is
    U(-1/sqrt(in), 1/sqrt(in)) for ``default`` (as PyTorch) and zero otherwise.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "default",
                 gain: float = 1.0, rng: np.random.Generator | int | None = None, dtype: Any = np.float32):
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {n!r}")
        rng = make_rng(rng)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Tensor(init_weight(in_features, out_features, init, gain, rng).astype(dtype),
                             requires_grad=True)
        self.bias = None
        if bias:
            if init == "default":
                bound = 1.0 / math.sqrt(in_features)
                b = rng.uniform(-bound, bound, size=out_features)
            else:
                b = np.zeros(out_features)
            self.bias = Tensor(b.astype(dtype), requires_grad=True)

    def forward(self, x: Any) -> Tensor:
        return linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Conv2d(Module):
    """y = conv2d(x, W) + b for x (N, in_channels, H, W): W of shape (out_channels, in_channels/groups, kh, kw).

    PyTorch's default init (``kaiming_uniform_(a=sqrt(5))``): W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = in_channels/groups * kh * kw. ``stride``, ``padding``, ``dilation``: an int or an (H, W) pair.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 rng: np.random.Generator | int | None = None, dtype: Any = np.float32):
        for name, n in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {n!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        kh, kw = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 for k in (kh, kw)):
            raise ValueError(f"Conv2d: kernel_size must be a positive int or a pair of them, got {kernel_size!r}")
        rng = make_rng(rng)
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), (int(kh), int(kw))
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, int(groups)
        bound = 1.0 / math.sqrt(in_channels // groups * kh * kw)
        shape = (out_channels, in_channels // groups, kh, kw)
        self.weight = Tensor(rng.uniform(-bound, bound, size=shape).astype(dtype), requires_grad=True)
        self.bias = Tensor(rng.uniform(-bound, bound, size=out_channels).astype(dtype), requires_grad=True) \
            if bias else None

    def forward(self, x: Any) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...): every axis after the batch axis in one."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)

    def __repr__(self) -> str:
        return "Flatten()"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()

    def __repr__(self) -> str:
        return "Tanh()"


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x

    def __repr__(self) -> str:
        return "Identity()"


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "identity": Identity}


def activation(name: str) -> Module:
    """A new activation module by name: ``"relu"``, ``"tanh"`` or ``"identity"``."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


class Sequential(Module):
    """Apply modules (or callables) one after another."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Any:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


class MLP(Sequential):
    """Linear layers of the given ``sizes`` with an activation between them (none at the end).

    ``MLP([4, 128, 128, 2])`` is 4 -> 128 -> ReLU -> 128 -> ReLU -> 2. ``output_gain`` sets the
    last layer's init gain separately (e.g. 0.01 for a policy head with orthogonal init).
    """

    def __init__(self, sizes: Any, activation: str = "relu", init: str = "default", gain: float = 1.0,
                 output_gain: float | None = None, rng: np.random.Generator | int | None = None,
                 dtype: Any = np.float32):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        rng = make_rng(rng)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layer_gain = output_gain if (last and output_gain is not None) else gain
            layers.append(Linear(n_in, n_out, init=init, gain=layer_gain, rng=rng, dtype=dtype))
            if not last:
                layers.append(_ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.sizes = sizes


def _paired_params(dst: Module, src: Module):
    dst_params, src_params = dict(dst.named_parameters()), dict(src.named_parameters())
    if dst_params.keys() != src_params.keys():
        raise ValueError(f"networks differ: {sorted(dst_params)} vs {sorted(src_params)}")
    for name, d in dst_params.items():
        s = src_params[name]
        if d.shape != s.shape:
            raise ValueError(f"parameter {name}: shape {d.shape} vs {s.shape}")
        yield d, s


def copy_params(dst: Module, src: Module) -> None:
    """Hard target update: theta_target <- theta (in place)."""
    for d, s in _paired_params(dst, src):
        d.data[...] = s.data


def polyak_update(dst: Module, src: Module, tau: float) -> None:
    """Soft target update: theta_target <- (1 - tau) theta_target + tau theta (Lillicrap et al. 2016)."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"polyak_update: tau must be in (0, 1], got {tau!r}")
    for d, s in _paired_params(dst, src):
        d.data *= 1.0 - tau
        d.data += tau * s.data
