"""The shape of the engine: every op one small unit (forward, backward, derivative comment) in
``tinygrad_rl.ops``, reached through one dispatch (``tinygrad_rl.apply``), nothing patched onto Tensor;
and the public way to define a new op works as the built-in ones do."""
import inspect

import numpy as np
import pytest

import tinygrad_rl
from tinygrad_rl import Tensor, apply, gradcheck, graph, no_grad, ops
from tinygrad_rl.ops import Op

OP_UNITS = [getattr(ops, name) for name in ops.__all__ if name != "Op"]


@pytest.mark.parametrize("unit", OP_UNITS, ids=lambda c: c.__name__)
def test_every_op_is_one_small_unit_with_its_forward_backward_and_derivative(unit):
    source = inspect.getsource(unit)
    assert len(source.rstrip().splitlines()) <= 21, f"{unit.__name__} is longer than an op unit should be"
    assert issubclass(unit, Op) and unit.name != Op.name
    assert "forward" in vars(unit) or "forward" in vars(unit.__mro__[1])
    assert "backward" in vars(unit) or "backward" in vars(unit.__mro__[1])
    family = "".join(inspect.getsource(c) for c in unit.__mro__ if c not in (Op, object))
    assert "d" in family and ("# " in family or "d/d" in family), f"{unit.__name__}: no derivative comment"


def test_nothing_is_patched_onto_tensor():
    """Every attribute of Tensor is defined in a class body: no wrapper, no assignment after the fact."""
    for cls in Tensor.__mro__[:-1]:
        for name, value in vars(cls).items():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if inspect.isfunction(fn):
                assert fn.__qualname__ == f"{cls.__name__}.{name}", f"{cls.__name__}.{name} is {fn.__qualname__}"
                assert fn.__module__ == cls.__module__


def test_the_op_names_the_graph_shows_come_from_the_units():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = (x * 2).sum(axis=0)
    assert (y.op, y.parents[0].op) == (ops.Sum.name, ops.Mul.name) == ("sum", "*")


class Softsign(Op):
    """x / (1 + |x|), as the ops package's docstring defines it."""
    name = "softsign"

    def forward(self, x):
        self.d = 1 + np.abs(x)
        return x / self.d

    def backward(self, g):
        return (g / (self.d * self.d),)  # d/dx x / (1 + |x|) = 1 / (1 + |x|)^2


def test_a_new_op_defined_as_the_built_in_ones_are():
    x = np.array([[-2.0, 0.5], [1.5, 3.0]])
    assert gradcheck(lambda t: apply(Softsign, (t,)), [x])
    t = Tensor(x, requires_grad=True)
    out = apply(Softsign, (t,)).sum()
    assert out.parents[0].op == "softsign" and "softsign" in graph.summary(out)
    with no_grad():
        assert apply(Softsign, (t,)).parents == ()


def test_the_public_names_stay_importable():
    for name in ["Tensor", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError", "where", "concatenate",
                 "stack", "einsum", "one_hot", "custom_op", "detect_anomaly", "is_anomaly_enabled", "AnomalyError",
                 "nn", "optim", "functional", "arrays", "graph", "apply", "ops"]:
        assert hasattr(tinygrad_rl, name), name
    assert Tensor.einsum is tinygrad_rl.einsum and Tensor.where is tinygrad_rl.where
    assert not hasattr(tinygrad_rl, "jit")
