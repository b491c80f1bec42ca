"""Action distributions over a network's outputs, and their log-probabilities and entropies.

- :class:`Categorical`: pi(a | s) = softmax(logits)[a] over a Discrete action space; sampling by the
  Gumbel-max trick (:func:`sample_categorical`).
- :class:`DiagGaussian`: a diagonal Gaussian with a state-independent log standard deviation, over Box actions.
- The tanh-squashed Gaussian of SAC (Haarnoja et al. 2018, appendix C):
  log pi(a | s) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2), a = tanh(u)
  (:func:`squashed_normal_log_prob`, :func:`log_one_minus_tanh_squared`).
"""
from __future__ import annotations

import math

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor

__all__ = ["sample_categorical", "Categorical", "DiagGaussian", "log_one_minus_tanh_squared",
           "squashed_normal_log_prob"]

_LOG_2 = math.log(2.0)


def sample_categorical(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row drawn from softmax(logits) with the Gumbel-max trick.

    argmax(logits + G), G ~ Gumbel(0, 1) i.i.d., is distributed as softmax(logits)
    (Gumbel 1954; Maddison et al. 2014) and needs no normalisation, so it is exact even for
    logits of very different magnitudes.
    """
    logits = np.asarray(logits)
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=-1)


class Categorical:
    """pi(a | s) = softmax(logits)[a] over a Discrete action space."""

    def log_prob(self, logits: Tensor, actions) -> Tensor:
        return F.categorical_log_prob(logits, np.asarray(actions, dtype=np.int64))

    def entropy(self, logits: Tensor) -> Tensor:
        return F.categorical_entropy(logits)

    def sample(self, logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return sample_categorical(logits, rng)

    def mode(self, logits: np.ndarray) -> np.ndarray:
        return np.argmax(logits, axis=-1)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return actions


class DiagGaussian:
    """pi(a | s) = N(a; mu(s), diag sigma^2) with a state-independent log sigma parameter.

    log pi(a | s) = sum_i log N(a_i; mu_i, sigma_i^2); H = sum_i (1/2 + log(2 pi)/2 + log sigma_i).
    The env receives the sample clipped to the action bounds; the log-prob is of the unclipped
    sample (the one the policy drew), as in Stable-Baselines3 and CleanRL.
    """

    def __init__(self, log_std: Tensor, low: np.ndarray, high: np.ndarray):
        self.log_std, self.low, self.high = log_std, low, high

    def log_prob(self, mean: Tensor, actions) -> Tensor:
        actions = np.asarray(actions, dtype=mean.dtype)
        if actions.shape != mean.shape:
            raise ValueError(f"DiagGaussian.log_prob: actions shape {actions.shape} != mean shape {mean.shape}")
        return F.normal_log_prob(mean, self.log_std, actions).sum(axis=-1)

    def entropy(self, mean: Tensor) -> Tensor:
        """The entropy, the same for every state (sigma does not depend on s): a 0-d Tensor."""
        return F.normal_entropy(self.log_std).sum()

    def sample(self, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return mean + np.exp(self.log_std.data) * rng.standard_normal(mean.shape)

    def mode(self, mean: np.ndarray) -> np.ndarray:
        return mean

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return np.clip(actions, self.low, self.high)


def log_one_minus_tanh_squared(u: Tensor) -> Tensor:
    """log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), elementwise.

    The identity: 1 - tanh(u)^2 = sech(u)^2 = 4 / (e^u + e^-u)^2, and
    log(e^u + e^-u) = u + log(1 + e^-2u) = u + softplus(-2u). The right-hand side is finite for
    every u, where the left-hand side's 1 - tanh(u)^2 rounds to 0 (log -> -inf) once |u| > ~9 in
    float32 (Haarnoja et al. 2018b, appendix C, for why it is needed; this form as in TF-Agents).
    """
    return 2.0 * (_LOG_2 - u - (-2.0 * u).softplus())


def squashed_normal_log_prob(mean: Tensor, log_std: Tensor, u: Tensor) -> Tensor:
    """log pi(a | s) of a = tanh(u), u ~ N(mean, diag exp(log_std)^2), summed over the action dims:

        log pi(a | s) = sum_i [ log N(u_i; mean_i, sigma_i^2) - log(1 - tanh(u_i)^2) ]

    the change of variables through tanh (Haarnoja et al. 2018, "Soft Actor-Critic", appendix C,
    eq. 21: the density of a is that of u divided by |det da/du| = prod_i (1 - tanh(u_i)^2)).
    """
    return (F.normal_log_prob(mean, log_std, u) - log_one_minus_tanh_squared(u)).sum(axis=-1)

