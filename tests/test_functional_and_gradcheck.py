"""Losses and distributions: values, gradients, stability at huge logits; and gradcheck itself."""
import math

import numpy as np
import pytest

import tinygrad_rl.functional as F
from tinygrad_rl import GradcheckError, Tensor, custom_op, gradcheck

RNG = np.random.default_rng(7)


def test_losses_gradcheck():
    pred, target = RNG.standard_normal(6) * 3, RNG.standard_normal(6)
    assert gradcheck(F.mse_loss, [pred, target])
    assert gradcheck(lambda p, t: F.huber_loss(p, t, delta=1.0), [pred, target])
    assert gradcheck(lambda d: F.huber(d, delta=0.7), [pred])      # elementwise, both branches
    logits, labels = RNG.standard_normal((4, 3)), np.array([0, 2, 2, 1])
    assert gradcheck(F.cross_entropy, [logits, labels])
    assert gradcheck(F.categorical_log_prob, [logits, labels])
    assert gradcheck(F.categorical_entropy, [logits])
    assert gradcheck(F.log_softmax, [logits])
    assert gradcheck(F.softmax, [logits])
    assert gradcheck(F.logsumexp, [logits])
    mean, log_std, x = RNG.standard_normal((3, 2)), RNG.standard_normal(2) * 0.3, RNG.standard_normal((3, 2))
    assert gradcheck(F.normal_log_prob, [mean, log_std, x])
    assert gradcheck(F.normal_entropy, [log_std])
    W, b = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    assert gradcheck(F.linear, [RNG.standard_normal((5, 3)), W, b])
    assert gradcheck(F.linear, [RNG.standard_normal((2, 5, 3)), W, b])  # batched input


def test_loss_values():
    pred, target = np.array([0.0, 0.5, 3.0]), np.array([0.0, 0.0, 0.0])
    assert F.mse_loss(Tensor(pred), target).item() == pytest.approx((0.25 + 9) / 3)
    # Huber, delta 1: 0.5 d^2 inside, |d| - 0.5 outside.
    assert F.huber_loss(Tensor(pred), target).item() == pytest.approx((0 + 0.125 + 2.5) / 3)
    assert F.huber_loss(Tensor(pred), target, delta=2.0).item() == pytest.approx((0.125 + 2 * (3 - 1)) / 3)
    logits = np.log(np.array([[0.2, 0.3, 0.5]]))
    assert F.cross_entropy(Tensor(logits), np.array([2])).item() == pytest.approx(-math.log(0.5))
    entropy = -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5))
    assert F.categorical_entropy(Tensor(logits)).item() == pytest.approx(entropy)
    assert F.normal_log_prob(Tensor(0.0), Tensor(0.0), 1.0).item() == pytest.approx(-0.5 - 0.5 * math.log(2 * math.pi))
    assert F.normal_entropy(Tensor(math.log(2.0))).item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 4))


def test_loss_shape_mismatch_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match=r"mse_loss: prediction shape \(4,\) and target shape \(4, 1\)"):
        F.mse_loss(Tensor(np.zeros(4)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(Tensor(np.zeros(2)), np.zeros(2), delta=0)
    assert np.allclose(F.huber(Tensor(np.array([0.5, -3.0])), delta=2.0).data, [0.125, 2 * (3 - 1)])
    with pytest.raises(ValueError, match=r"actions must be in \[0, 3\)"):
        F.categorical_log_prob(Tensor(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(ValueError, match="actions must be integers"):
        F.categorical_log_prob(Tensor(np.zeros((2, 3))), np.array([0.0, 1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_logits_of_magnitude_1e4(dtype):
    logits = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 5e3]], dtype=dtype),
                    requires_grad=True)
    actions = np.array([1, 0, 2])
    outputs = {
        "log_softmax": F.log_softmax(logits), "softmax": F.softmax(logits),
        "logsumexp": F.logsumexp(logits), "entropy": F.categorical_entropy(logits),
        "log_prob": F.categorical_log_prob(logits, actions),
        "cross_entropy": F.cross_entropy(logits, actions),
    }
    for name, out in outputs.items():
        assert np.all(np.isfinite(out.data)), name
        logits.grad = None
        (out * 1.0).sum().backward()
        assert np.all(np.isfinite(logits.grad)), name
    np.testing.assert_allclose(F.softmax(logits).data.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(F.logsumexp(logits).data[1], -1e4 + math.log(3), rtol=1e-6)
    assert F.categorical_entropy(logits).data[1] == pytest.approx(math.log(3), rel=1e-5)
    big = Tensor(np.array([1e4, -1e4], dtype=dtype))
    assert np.all(np.isfinite(big.sigmoid().data)) and np.all(np.isfinite(big.softplus().data))


# ----------------------------------------------------------------------------- gradcheck itself

def _square_with_wrong_backward(x: Tensor) -> Tensor:
    """x^2 whose backward claims 3x instead of 2x."""
    data = x.data
    return custom_op("bad_square", data * data, (x,), lambda g: (g * 3 * data,))


def test_gradcheck_fails_loudly_on_a_wrong_backward():
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: _square_with_wrong_backward(t).sum(), [x])
    message = str(info.value)
    assert "input 0" in message and "element (1, 1)" in message  # worst: |3x - 2x| largest at x=-4
    assert "analytic -12" in message and "numeric -8" in message
    assert "4 of 4 elements fail" in message


def test_gradcheck_names_the_failing_input_and_restores_tensors():
    good = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(lambda a, b: (a * 2).sum() + _square_with_wrong_backward(b).sum(), [good, np.array([0.5])])
    assert good.dtype == np.float32 and good.grad is None  # restored after the check


def test_gradcheck_rejects_non_tensor_outputs_and_integer_only_inputs():
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda t: 1.0, [np.ones(2)])
    with pytest.raises(ValueError, match="no floating-point input"):
        gradcheck(lambda t: Tensor(np.ones(1)), [np.array([1, 2])])
