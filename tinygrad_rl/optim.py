"""Optimisers: SGD (momentum), Adam, AdamW, RMSprop; gradient-norm clipping; a linear LR schedule.

Each optimiser moves its parameters into ONE contiguous buffer (each parameter's ``.data``
becomes a view into it), and gathers the gradients into a second one, so an update is a
handful of vectorised NumPy ops however many layers the network has. Parameters must
therefore be changed in place (``p.data[...] = x``); ``step`` checks that none was rebound.
A parameter whose ``.grad`` is None takes a zero gradient.

The gradient buffer is public in one way: :func:`gradient_slot` gives a parameter's view of it, so
code that writes a gradient there (the hand-written update of ``scripts/bench_engine.py`` does) spares
``step`` the copy.
"""
from __future__ import annotations

import math
import weakref
from itertools import repeat
from operator import attrgetter
from operator import is_ as _is
from typing import Iterable

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm_", "LinearLR", "gradient_slot"]

_grad_of, _data_of, _base_of = attrgetter("grad"), attrgetter("data"), attrgetter("base")
# id(parameter) -> the optimiser that holds it (it holds the parameter, so the id stays valid).
_holder = weakref.WeakValueDictionary()


class Optimizer:
    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a Tensor that requires grad")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in the list")
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise ValueError(f"{type(self).__name__}: parameters have mixed dtypes {sorted(map(str, dtypes))}")
        _check_positive(type(self).__name__, "lr", lr)
        self.lr = float(lr)
        self.step_count = 0

        dtype = dtypes.pop()
        sizes = [p.size for p in self.params]
        self._offsets = np.cumsum([0] + sizes)
        self.flat = np.empty(int(self._offsets[-1]), dtype=dtype)
        self.flat_grad = np.zeros_like(self.flat)
        for p, start, stop in zip(self.params, self._offsets[:-1], self._offsets[1:]):
            self.flat[start:stop] = p.data.ravel()
            # p.data becomes a view into the one flat buffer: Adam's update is then ~10 NumPy ops on
            # one vector instead of ~10 per layer (measured: see the README's engine section). The cost
            # is that a parameter must be changed in place from now on, never rebound.
            p.data = self.flat[start:stop].reshape(p.shape)
        # Each parameter's window into flat_grad: a gradient found there needs no copy in step().
        self._grad_slots = [self.flat_grad[start:stop].reshape(p.shape)
                            for p, start, stop in zip(self.params, self._offsets[:-1], self._offsets[1:])]
        self._slot_index = {id(p): i for i, p in enumerate(self.params)}
        for p in self.params:
            _holder[id(p)] = self

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _gather_grads(self) -> np.ndarray:
        params = self.params
        if all(map(_is, map(_grad_of, params), self._grad_slots)) and \
                all(map(_is, map(_base_of, map(_data_of, params)), repeat(self.flat, len(params)))):
            return self.flat_grad  # every gradient was written in place (see gradient_slot)
        for i, (p, slot, start, stop) in enumerate(zip(self.params, self._grad_slots, self._offsets[:-1],
                                                       self._offsets[1:])):
            if p.data.base is not self.flat:
                raise RuntimeError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) was rebound "
                                   "after the optimiser was built; update parameters in place (p.data[...] = x)")
            if p.grad is slot:
                continue  # written in place by the backward (see gradient_slot)
            if p.grad is None:
                self.flat_grad[start:stop] = 0
            else:
                self.flat_grad[start:stop] = p.grad.ravel()
        return self.flat_grad

    def _slot_of(self, param: Tensor) -> np.ndarray | None:
        i = self._slot_index.get(id(param))
        if i is None or self.params[i] is not param or param.data.base is not self.flat:
            return None
        return self._grad_slots[i]

    def step(self) -> None:
        """One update of every parameter from its ``.grad``. ``lr`` may be changed between steps (a
        schedule does); a value that is not a finite number >= 0 is refused here, before any parameter
        moves (0 is a schedule's end: the step then changes nothing)."""
        lr = self.lr
        if not (isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool) and math.isfinite(lr)
                and lr >= 0):
            raise ValueError(f"{type(self).__name__}.step: lr must be a finite number >= 0, got {lr!r}; "
                             "no parameter was changed")
        self.step_count += 1
        self._update(self.flat, self._gather_grads())

    def _update(self, theta: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Optimiser state as arrays (for checkpoints): step count, lr and moment buffers."""
        state = {"step_count": np.asarray(self.step_count), "lr": np.asarray(self.lr)}
        state.update({name: buf.copy() for name, buf in self._buffers().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], allow_nonfinite: bool = False) -> None:
        """Restore what :meth:`state_dict` returned; a non-finite buffer or lr is refused unless
        ``allow_nonfinite=True``. Nothing changes when anything is refused."""
        owner = f"{type(self).__name__}.load_state_dict"
        for key in ("step_count", "lr"):
            if key not in state or np.ndim(state[key]) != 0:
                raise ValueError(f"{owner}: {key!r} missing or not a scalar")
        step_count, lr = state["step_count"], float(state["lr"])
        if not (np.issubdtype(np.asarray(step_count).dtype, np.integer) and int(step_count) >= 0):
            raise ValueError(f"{owner}: step_count must be an int >= 0, got {step_count!r}")
        for name, buf in self._buffers().items():
            if name not in state or np.shape(state[name]) != buf.shape:
                raise ValueError(f"{owner}: buffer {name!r} missing or of wrong shape (expected {buf.shape})")
            if not allow_nonfinite and not np.isfinite(state[name]).all():
                raise ValueError(f"{owner}: buffer {name!r} holds non-finite values (NaN or inf)")
        if not allow_nonfinite and not math.isfinite(lr):
            raise ValueError(f"{owner}: lr is {lr}")
        for name, buf in self._buffers().items():
            buf[...] = state[name]
        self.step_count = int(step_count)
        self.lr = lr

    def _buffers(self) -> dict[str, np.ndarray]:
        return {}


def _check_positive(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")


def _check_non_negative(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")


def _check_unit_interval(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating)) and 0.0 <= value < 1.0):
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value!r}")


class SGD(Optimizer):
    """theta <- theta - lr * b,  b <- momentum * b + g  (b = g on the first step; PyTorch's form).

    With ``nesterov=True`` the step uses g + momentum * b. ``weight_decay`` adds wd * theta to g.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        super().__init__(params, lr)
        _check_unit_interval("SGD", "momentum", momentum)
        _check_non_negative("SGD", "weight_decay", weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.velocity = np.zeros_like(self.flat)

    def _update(self, theta: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * theta
        if self.momentum:
            if self.step_count == 1:
                self.velocity[...] = g
            else:
                self.velocity *= self.momentum
                self.velocity += g
            g = g + self.momentum * self.velocity if self.nesterov else self.velocity
        theta -= self.lr * g

    def _buffers(self):
        return {"velocity": self.velocity}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected:

        m <- b1 m + (1 - b1) g,    v <- b2 v + (1 - b2) g^2
        theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``weight_decay`` is the L2 form (g <- g + wd * theta), as in PyTorch's Adam.
    """

    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        name = type(self).__name__
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_unit_interval(name, "beta1", betas[0])
        _check_unit_interval(name, "beta2", betas[1])
        _check_positive(name, "eps", eps)
        _check_non_negative(name, "weight_decay", weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        # m and v are the two rows of one (2, n) array, so both decay in one array op and take
        # their new terms, (1 - b1) g and (1 - b2) g^2, in another: 10 array ops a step, not 12.
        self._moments = np.zeros((2, self.flat.size), dtype=self.flat.dtype)
        self.m, self.v = self._moments
        self._terms = np.empty_like(self._moments)
        self._betas = np.array([[self.beta1], [self.beta2]], dtype=self.flat.dtype)
        self._one_minus_betas = np.array([[1 - self.beta1], [1 - self.beta2]], dtype=self.flat.dtype)
        self._scratch = np.empty_like(self.flat)

    def _update(self, theta: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            if self.decoupled:  # AdamW: shrink the weights directly, outside the adaptive scaling
                theta *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * theta
        b1, b2, t = self.beta1, self.beta2, self.step_count
        self._moments *= self._betas                 # m <- b1 m ;  v <- b2 v
        np.copyto(self._terms[0], g)
        np.multiply(g, g, out=self._terms[1])
        self._terms *= self._one_minus_betas        # (1 - b1) g ;  (1 - b2) g^2
        self._moments += self._terms
        # Fold both bias corrections into the step size and eps (same maths, fewer array ops).
        correction2 = math.sqrt(1 - b2 ** t)
        step_size = self.lr * correction2 / (1 - b1 ** t)
        np.sqrt(self.v, out=self._scratch)
        self._scratch += self.eps * correction2
        np.divide(self.m, self._scratch, out=self._scratch)
        self._scratch *= step_size
        theta -= self._scratch

    def _buffers(self):
        return {"m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): theta <- theta (1 - lr wd) before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """v <- alpha v + (1 - alpha) g^2;  theta <- theta - lr g / (sqrt(v) + eps)  (Tieleman & Hinton 2012).

    ``centered=True`` also keeps the mean gradient m <- alpha m + (1 - alpha) g and divides by an estimate
    of the gradient's standard deviation instead: theta <- theta - lr g / (sqrt(v - m^2) + eps) (Graves 2013,
    "Generating Sequences With Recurrent Neural Networks", eq. 38-41; PyTorch's ``centered=True``).
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, centered: bool = False):
        super().__init__(params, lr)
        _check_unit_interval("RMSprop", "alpha", alpha)
        _check_positive("RMSprop", "eps", eps)
        _check_non_negative("RMSprop", "weight_decay", weight_decay)
        if not isinstance(centered, bool):
            raise ValueError(f"RMSprop: centered must be True or False, got {centered!r}")
        self.alpha, self.eps, self.weight_decay = float(alpha), float(eps), float(weight_decay)
        self.centered = centered
        self.v = np.zeros_like(self.flat)
        self.m = np.zeros_like(self.flat) if centered else None
        self._scratch = np.empty_like(self.flat)
        self._denominator = np.empty_like(self.flat)

    def _update(self, theta: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * theta
        s, d = self._scratch, self._denominator
        self.v *= self.alpha
        np.multiply(g, 1 - self.alpha, out=s)       # v += (1 - alpha) g g
        if self.centered:
            self.m *= self.alpha                    # m += (1 - alpha) g
            self.m += s
        s *= g
        self.v += s
        if self.centered:
            np.multiply(self.m, self.m, out=d)      # theta -= lr g / (sqrt(v - m m) + eps)
            np.subtract(self.v, d, out=d)
            np.sqrt(d, out=d)
        else:
            np.sqrt(self.v, out=d)                  # theta -= lr g / (sqrt(v) + eps)
        d += self.eps
        np.multiply(g, self.lr, out=s)
        s /= d
        theta -= s

    def _buffers(self):
        return {"v": self.v, "m": self.m} if self.centered else {"v": self.v}


def gradient_slot(param: Tensor) -> np.ndarray | None:
    """``param``'s window into the gradient buffer of the optimiser that holds it (None when no
    optimiser holds it, or it was rebound). Setting ``param.grad`` to this very array tells
    ``step`` the gradient is already in place; the array is rewritten every step."""
    optimizer = _holder.get(id(param))
    return None if optimizer is None else optimizer._slot_of(param)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients by min(1, max_norm / ||g||) with ||g|| the global L2 norm; return ||g||.

    The norm is returned as computed, so a caller can see (and stop on) a non-finite one.
    """
    _check_positive("clip_grad_norm_", "max_norm", max_norm)
    grads = [p for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in grads:
            if p.grad is gradient_slot(p):  # the optimiser's own slot: no other tensor shares it
                np.multiply(p.grad, scale, out=p.grad)
            else:
                p.grad = p.grad * scale  # rebind: a gradient array may be shared between tensors
    return total


class LinearLR:
    """lr_t = base_lr * (start + (end - start) * min(t / total_steps, 1)); call ``step()`` once per update."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0, end_factor: float = 0.0,
                 total_steps: int = 1):
        if not isinstance(total_steps, (int, np.integer)) or total_steps <= 0:
            raise ValueError(f"LinearLR: total_steps must be a positive int, got {total_steps!r}")
        _check_non_negative("LinearLR", "start_factor", start_factor)
        _check_non_negative("LinearLR", "end_factor", end_factor)
        self.optimizer, self.base_lr = optimizer, optimizer.lr
        self.start, self.end, self.total = float(start_factor), float(end_factor), int(total_steps)
        self.t = 0
        self._apply()

    def _apply(self) -> None:
        frac = min(self.t / self.total, 1.0)
        # An lr of exactly 0 at the end is allowed here (it is the schedule, not a setting).
        self.optimizer.lr = self.base_lr * (self.start + (self.end - self.start) * frac)

    def step(self) -> None:
        self.t += 1
        self._apply()
