"""Anomaly mode: find the op where a NaN or an infinity was born, and the line of code that made it.

    with tinygrad_rl.detect_anomaly():
        loss = my_loss(batch)      # every op's output is checked as it is computed
        loss.backward()            # every gradient is checked as an op sends it back

The first non-finite value raises :class:`AnomalyError`, which names the op, the pass (forward or
backward), the shapes, and the file, line and source of the code outside ``tinygrad_rl`` that
created the op. A NaN usually travels far before anyone looks (a loss that is NaN says nothing of
where it came from); here it is stopped where it appears: an op whose inputs are finite and whose
output is not (``log`` of 0), or a backward that turns a finite upstream gradient into a
non-finite one (``sqrt`` at 0, whose slope is infinite).

Every infinity counts, including deliberate ones (a ``-inf`` logit used as a mask), and so do
ops under ``no_grad`` (a NaN target is an anomaly too). The creation site is captured only in
this mode: outside it the engine pays one ``is None`` test per op and per backward step, and
records nothing. Inside it every op pays an ``isfinite`` pass over its output and a short walk up
the call stack, so it is a mode for hunting a bug, not for training at speed.
"""
from __future__ import annotations

import linecache
import os
import sys
from typing import Any, Callable

import numpy as np

from .tensor import anomaly_checks, set_anomaly_checks

__all__ = ["detect_anomaly", "is_anomaly_enabled", "AnomalyError"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CALLERS_KEPT = 3   # frames above the creation site shown in the error


class AnomalyError(FloatingPointError):
    """A NaN or infinity appeared in an op's output (``phase == "forward"``) or in the gradient an
    op's backward sent to one of its inputs (``phase == "backward"``).

    Attributes: ``op`` (the op's name), ``phase``, ``input_shapes``, ``output_shape``, ``site``
    (``(filename, line, function)`` of the code that created the op, or None when it was created
    outside anomaly mode).
    """

    def __init__(self, message: str, *, op: str, phase: str, input_shapes: list, output_shape: tuple,
                 site: tuple | None):
        super().__init__(message)
        self.op, self.phase, self.site = op, phase, site
        self.input_shapes, self.output_shape = input_shapes, output_shape


class detect_anomaly:
    """Context manager (and decorator) under which every forward output and every gradient is
    checked for NaN and infinity; see the module docstring. Nests, and restores the previous
    state on exit."""

    def __enter__(self):
        self._previous = set_anomaly_checks(_CHECKS)
        return self

    def __exit__(self, *exc):
        set_anomaly_checks(self._previous)
        return False

    def __call__(self, fn: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            with detect_anomaly():
                return fn(*args, **kwargs)
        wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
        return wrapped


def is_anomaly_enabled() -> bool:
    return anomaly_checks() is not None


def _user_frames(frame: Any) -> tuple:
    """(file, line, function) of the first frame outside tinygrad_rl, then a few of its callers."""
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    frames = []
    while frame is not None and len(frames) <= _CALLERS_KEPT:
        frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return tuple(frames)


def _non_finite(a: Any) -> bool:
    a = np.asarray(a)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


def _describe_values(a: np.ndarray) -> tuple[str, str]:
    """('nan', 'inf', '-inf' or several joined), '<count> of <size> elements ..., the first at index ...'."""
    a = np.asarray(a)
    bad = ~np.isfinite(a)
    kinds = [name for name, mask in (("nan", np.isnan(a)), ("inf", np.isposinf(a)), ("-inf", np.isneginf(a)))
             if mask.any()]
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape)) if a.ndim else ()
    return " and ".join(kinds), f"{int(bad.sum())} of {a.size} elements non-finite, the first at index {first}"


def _where(frames: tuple | None) -> str:
    if not frames:
        return "\n  (the op was created outside detect_anomaly(), so its creation site is unknown)"
    filename, line, function = frames[0]
    source = linecache.getline(filename, line).strip()
    text = f"\n  created at {filename}:{line}, in {function}" + (f"\n      {source}" if source else "")
    for filename, line, function in frames[1:]:
        text += f"\n  called from {filename}:{line}, in {function}"
    return text


class _Checks:
    """The checker the engine calls while the mode is on (installed by ``tensor.set_anomaly_checks``)."""

    def forward(self, out: Any, parents: tuple) -> None:
        if _non_finite(out.data):
            self._forward_error(out, parents, _user_frames(sys._getframe(1)))
        if out._parents:  # recorded: remember who made it, for an error in the backward pass
            out._site = _user_frames(sys._getframe(1))

    def backward(self, node: Any, grads: tuple) -> None:
        for i, (parent, g) in enumerate(zip(node._parents, grads)):
            if g is not None and parent.requires_grad and _non_finite(g):
                self._backward_error(node, i, g)

    @staticmethod
    def _forward_error(out: Any, parents: tuple, frames: tuple) -> None:
        shapes = [p.shape for p in parents]
        kinds, where = _describe_values(out.data)
        bad_inputs = [i for i, p in enumerate(parents) if _non_finite(p.data)]
        if bad_inputs:
            cause = (f"input {bad_inputs[0]} (shape {parents[bad_inputs[0]].shape}) was already non-finite: it "
                     "came from data fed in, or from an op run outside detect_anomaly()")
        else:
            cause = f"its inputs (shapes {shapes}) are finite, so the value was born here"
        raise AnomalyError(
            f"{out.op!r} produced {kinds} in the forward pass: its output (shape {out.shape}) has {where}; "
            f"{cause}.{_where(frames)}",
            op=out.op, phase="forward", input_shapes=shapes, output_shape=out.shape,
            site=frames[0] if frames else None)

    @staticmethod
    def _backward_error(node: Any, i: int, g: np.ndarray) -> None:
        shapes = [p.shape for p in node._parents]
        frames = getattr(node, "_site", None)
        kinds, where = _describe_values(g)
        upstream = "a non-finite" if _non_finite(node.grad) else "a finite"
        raise AnomalyError(
            f"{node.op!r} produced {kinds} in the backward pass: the gradient it sent to its input {i} "
            f"(shape {shapes[i]}) has {where}, from {upstream} upstream gradient (output shape {node.shape}, "
            f"input shapes {shapes}).{_where(frames)}",
            op=node.op, phase="backward", input_shapes=shapes, output_shape=node.shape,
            site=frames[0] if frames else None)


_CHECKS = _Checks()
