"""Value-based losses: DQN and Double DQN, a TD error between Q(s, a) and a target built without a graph."""
from __future__ import annotations

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, nn, no_grad

from ..buffers import Transitions, bootstrap_discounts
from ..configs import OffPolicyConfig

__all__ = ["TD_ERROR", "dqn_targets", "double_dqn_targets", "td_loss", "dqn_loss", "double_dqn_loss"]

_TD_PENALTIES = ("huber", "mse")

#: Name under which the TD losses return their per-row TD errors (a NumPy array, not a logged
#: term); the off-policy loop pops it from the terms and sends |TD error| back as priorities.
TD_ERROR = "td_error"


def dqn_targets(batch: Transitions, target_net: nn.Module, gamma: float) -> np.ndarray:
    """y = R + d * max_a' Q_target(s', a'), with R the (n-step) reward and d the row's discount.

    One-step rows: d = gamma * (1 - terminated). n-step rows carry d = gamma^n, 0 after a
    termination (``batch.discounts``). Truncated rows bootstrap (the state still had a future);
    terminated ones do not.
    """
    with no_grad():
        next_q = target_net(Tensor(batch.next_obs)).data
    return batch.rewards + bootstrap_discounts(batch, gamma) * next_q.max(axis=1)


def double_dqn_targets(batch: Transitions, q_net: nn.Module, target_net: nn.Module, gamma: float) -> np.ndarray:
    """y = R + d * Q_target(s', argmax_a' Q_online(s', a')), R and d as in :func:`dqn_targets`.

    The online network selects the action and the target network evaluates it, which
    removes the max operator's upward bias (van Hasselt et al. 2016, "Deep RL with Double
    Q-learning", eq. 4).
    """
    with no_grad():
        best = q_net(Tensor(batch.next_obs)).data.argmax(axis=1)
        next_q = target_net(Tensor(batch.next_obs)).data
    rows = np.arange(len(batch))
    return batch.rewards + bootstrap_discounts(batch, gamma) * next_q[rows, best]


def td_loss(batch: Transitions, q_net: nn.Module, targets: np.ndarray,
            penalty: str = "huber") -> tuple[Tensor, dict[str, Tensor | np.ndarray]]:
    """The weighted TD loss every DQN-family algorithm shares:

        L = (1/B) sum_i w_i rho(Q(s_i, a_i) - y_i)

    rho is the Huber function (delta = 1) or the square; w_i are the importance-sampling weights
    of prioritized replay (``batch.weights``; all 1 for uniform replay, when L is the plain mean).
    Besides the logged term ``td`` (= L) the terms hold ``td_error``: the per-row TD errors
    y_i - Q(s_i, a_i) as a new NumPy array on every call (no graph, not logged), which the
    off-policy loop turns into new priorities |td_error| + eps.
    """
    if penalty not in _TD_PENALTIES:
        raise ValueError(f"TD penalty must be one of {_TD_PENALTIES}, got {penalty!r}")
    q = q_net(Tensor(batch.obs))
    q_taken = q[np.arange(len(batch)), batch.actions]
    targets = np.asarray(targets).astype(q.dtype, copy=False)
    if targets.shape != q_taken.shape:
        raise ValueError(f"td_loss: targets shape {targets.shape} != Q(s, a) shape {q_taken.shape}")
    d = q_taken - targets
    per_row = F.huber(d) if penalty == "huber" else d * d
    if batch.weights is not None:
        weights = np.asarray(batch.weights).astype(q.dtype, copy=False)
        if weights.shape != per_row.shape:
            raise ValueError(f"td_loss: weights shape {weights.shape} != batch shape {per_row.shape}")
        per_row = per_row * weights
    loss = per_row.mean()
    return loss, {"td": loss, TD_ERROR: targets - q_taken.data}


def dqn_loss(batch: Transitions, nets: dict, config: OffPolicyConfig) -> tuple[Tensor, dict[str, Tensor | np.ndarray]]:
    """L(theta) = (1/B) sum_i w_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`dqn_targets`.

    rho is the Huber function (delta = 1) or the square (``config.loss``). Mnih et al. (2015),
    "Human-level control through deep reinforcement learning", Algorithm 1; with n-step rows
    and prioritized weights from the batch it is the loss of the Rainbow components (Hessel et
    al. 2018). Returns the terms of :func:`td_loss` (``td``, and the ``td_error`` array).
    """
    targets = dqn_targets(batch, nets["q_net_target"], config.gamma)
    return td_loss(batch, nets["q_net"], targets, config.loss)


def double_dqn_loss(batch: Transitions, nets: dict,
                    config: OffPolicyConfig) -> tuple[Tensor, dict[str, Tensor | np.ndarray]]:
    """L(theta) = (1/B) sum_i w_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`double_dqn_targets`."""
    targets = double_dqn_targets(batch, nets["q_net"], nets["q_net_target"], config.gamma)
    return td_loss(batch, nets["q_net"], targets, config.loss)
