"""Deep RL algorithms as loss functions over the engine's Tensor.

Each loss is a pure function of a batch and the networks (any callables mapping an
observation Tensor to a Tensor) and returns ``(loss, terms)``: the scalar Tensor to
differentiate and a dict of its named scalar terms, so a trainer can say which term went
non-finite. Targets are built without a graph; only the online networks receive gradients.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, no_grad

from .buffers import Rollout, Transitions

__all__ = ["dqn_targets", "double_dqn_targets", "dqn_loss", "double_dqn_loss",
           "reinforce_loss", "a2c_loss", "standardize"]

Net = Callable[[Tensor], Tensor]
_TD_PENALTIES = ("huber", "mse")


def dqn_targets(batch: Transitions, target_net: Net, gamma: float) -> np.ndarray:
    """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a').

    Truncated transitions bootstrap (the state still had a future); terminated ones do not.
    """
    with no_grad():
        next_q = target_net(Tensor(batch.next_obs)).data
    return batch.rewards + gamma * (1.0 - batch.terminated) * next_q.max(axis=1)


def double_dqn_targets(batch: Transitions, q_net: Net, target_net: Net, gamma: float) -> np.ndarray:
    """y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_online(s', a')).

    The online network selects the action and the target network evaluates it, which
    removes the max operator's upward bias (van Hasselt et al. 2016, "Deep RL with Double
    Q-learning", eq. 4).
    """
    with no_grad():
        best = q_net(Tensor(batch.next_obs)).data.argmax(axis=1)
        next_q = target_net(Tensor(batch.next_obs)).data
    rows = np.arange(len(batch))
    return batch.rewards + gamma * (1.0 - batch.terminated) * next_q[rows, best]


def _td_loss(batch: Transitions, q_net: Net, targets: np.ndarray, penalty: str):
    if penalty not in _TD_PENALTIES:
        raise ValueError(f"TD penalty must be one of {_TD_PENALTIES}, got {penalty!r}")
    q = q_net(Tensor(batch.obs))
    q_taken = q[np.arange(len(batch)), batch.actions]
    targets = targets.astype(q.dtype, copy=False)
    loss = F.huber_loss(q_taken, targets) if penalty == "huber" else F.mse_loss(q_taken, targets)
    return loss, {"td": loss}


def dqn_loss(batch: Transitions, q_net: Net, target_net: Net, gamma: float, penalty: str = "huber"):
    """L(theta) = mean_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`dqn_targets`.

    rho is the Huber function (delta = 1) or the square. Mnih et al. (2015), "Human-level
    control through deep reinforcement learning", Algorithm 1.
    """
    return _td_loss(batch, q_net, dqn_targets(batch, target_net, gamma), penalty)


def double_dqn_loss(batch: Transitions, q_net: Net, target_net: Net, gamma: float,
                    penalty: str = "huber"):
    """L(theta) = mean_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`double_dqn_targets`."""
    return _td_loss(batch, q_net, double_dqn_targets(batch, q_net, target_net, gamma), penalty)


def standardize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(x - mean x) / (std x + eps); a batch of one is only centred (its std is 0)."""
    return (x - x.mean()) / (x.std() + eps)


def _value(value_net: Net, obs: np.ndarray) -> Tensor:
    return value_net(Tensor(obs)).reshape(-1)


def reinforce_loss(batch: Rollout, policy_net: Net, value_net: Net | None = None,
                   baseline: str = "learned", normalize_returns: bool = True, value_coef: float = 0.5):
    """REINFORCE with a baseline b(s) (Williams 1992; Sutton & Barto 2018, sec. 13.4):

        w_t = G_t - b(s_t)   with b = 0 ("none"), mean_t G_t ("mean") or V_phi(s_t) ("learned")
        L   = -mean_t[ log pi_theta(a_t | s_t) * w_t ] + value_coef * mean_t (V_phi(s_t) - G_t)^2

    ``batch.returns`` holds the Monte Carlo returns G_t (``batch.advantages`` is unused).
    With ``normalize_returns`` the weights w_t are standardised within the batch. The
    value term exists only for the learned baseline; w_t never carries gradient.
    """
    if baseline not in ("none", "mean", "learned"):
        raise ValueError(f"baseline must be 'none', 'mean' or 'learned', got {baseline!r}")
    if baseline == "learned" and value_net is None:
        raise ValueError("reinforce_loss: baseline='learned' needs a value_net")
    returns = np.asarray(batch.returns, dtype=np.float64)
    terms = {}
    if baseline == "learned":
        values = _value(value_net, batch.obs)
        weights = returns - values.data
        terms["value"] = F.mse_loss(values, returns.astype(values.dtype, copy=False))
    else:
        weights = returns - returns.mean() if baseline == "mean" else returns
    if normalize_returns:
        weights = standardize(weights)
    log_prob = F.categorical_log_prob(policy_net(Tensor(batch.obs)), batch.actions)
    terms["policy"] = -(log_prob * weights.astype(log_prob.dtype, copy=False)).mean()
    loss = terms["policy"] + value_coef * terms["value"] if "value" in terms else terms["policy"]
    return loss, terms


def a2c_loss(batch: Rollout, policy_net: Net, value_net: Net, value_coef: float = 0.5,
             entropy_coef: float = 0.01, normalize_advantages: bool = False):
    """Advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep RL", alg. S3):

        L = -mean_t[ log pi_theta(a_t | s_t) * A_t ]            (policy term)
            + value_coef   * mean_t (V_phi(s_t) - R_t)^2         (value term)
            - entropy_coef * mean_t H[pi_theta(. | s_t)]         (entropy bonus)

    A_t are GAE advantages and R_t = A_t + V(s_t) their value targets, both fixed arrays in
    ``batch``. With ``normalize_advantages`` A_t is standardised within the batch.
    """
    advantages = np.asarray(batch.advantages, dtype=np.float64)
    if normalize_advantages:
        advantages = standardize(advantages)
    logits = policy_net(Tensor(batch.obs))
    log_prob = F.categorical_log_prob(logits, batch.actions)
    values = _value(value_net, batch.obs)
    terms = {
        "policy": -(log_prob * advantages.astype(log_prob.dtype, copy=False)).mean(),
        "value": F.mse_loss(values, np.asarray(batch.returns).astype(values.dtype, copy=False)),
        "entropy": F.categorical_entropy(logits).mean(),
    }
    loss = terms["policy"] + value_coef * terms["value"] - entropy_coef * terms["entropy"]
    return loss, terms
