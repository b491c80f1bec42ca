"""Off-policy actor-critic losses for Box actions: TD3 (and DDPG, its special case) and SAC.

Actions are in the actors' [-1, 1]^|A| scale (see :mod:`algorithms.networks`); every target is computed
under no_grad, and each term is named after the optimiser that applies it.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, no_grad

from ..buffers import ContinuousTransitions
from ..configs import SACConfig, TD3Config
from .batch_arrays import constant_like

__all__ = ["td3_targets", "td3_loss", "sac_targets", "sac_loss"]


def _minimum(values: list):
    """The elementwise minimum of a list of Tensors (or arrays): min_i Q_i."""
    return reduce(lambda a, b: a.minimum(b) if isinstance(a, Tensor) else np.minimum(a, b), values)


def td3_targets(batch: ContinuousTransitions, nets: dict, config: TD3Config) -> np.ndarray:
    """y = r + gamma (1 - terminated) min_i Q_target_i(s', a~'),
    a~' = clip(mu_target(s') + clip(sigma eps', -c, c), -1, 1)  (sigma = 0: a~' = mu_target(s')).

    eps' is ``batch.next_noise``, sigma ``config.target_noise``, c ``config.target_noise_clip``
    (Fujimoto et al. 2018, eq. 10 for the clipped double Q and sec. 5.3 for the smoothing)."""
    with no_grad():
        next_obs = Tensor(batch.next_obs)
        next_actions = nets["actor_target"](next_obs).data
        if config.target_noise > 0:
            c = config.target_noise_clip
            next_actions = np.clip(next_actions + np.clip(config.target_noise * batch.next_noise, -c, c), -1.0, 1.0)
        next_q = _minimum([q.data for q in nets["critic_target"](next_obs, next_actions.astype(next_obs.dtype))])
    return batch.rewards + config.gamma * (1.0 - batch.terminated) * next_q


def td3_loss(batch: ContinuousTransitions, nets: dict, config: TD3Config) -> tuple[Tensor, dict[str, Tensor]]:
    """TD3 (Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic
    Methods", Algorithm 1), two terms with their own optimisers:

        critic = sum_i mean_j (Q_i(s_j, a_j) - y_j)^2       y from :func:`td3_targets` (no gradient)
        actor  = -mean_j Q_1(s_j, mu(s_j))                  the deterministic policy gradient (eq. 1)

    The actor term is there only when ``batch.update_actor`` (delayed policy updates, sec. 5.2:
    the loop sets it on every ``policy_delay``-th critic update). DDPG (Lillicrap et al. 2016,
    Algorithm 1) is this loss with one critic, no target smoothing and a delay of 1
    (:class:`~algorithms.configs.DDPGConfig`). Also returned: ``q``, the mean of Q_1(s, a) (logged).
    """
    obs = Tensor(batch.obs)
    q = nets["critic"](obs, batch.actions)
    y = constant_like(td3_targets(batch, nets, config), q[0])
    terms = {"critic": reduce(lambda a, b: a + b, [F.mse_loss(q_i, y) for q_i in q])}
    if batch.update_actor:
        terms["actor"] = -nets["critic"].first(obs, nets["actor"](obs)).mean()
    loss = terms["critic"] + terms["actor"] if "actor" in terms else terms["critic"]
    terms["q"] = Tensor(q[0].data.mean())
    return loss, terms


def sac_targets(batch: ContinuousTransitions, nets: dict, alpha: float, gamma: float) -> np.ndarray:
    """y = r + gamma (1 - terminated) ( min_i Q_target_i(s', a') - alpha log pi(a' | s') ),
    a' = tanh(mu(s') + sigma(s') eps') drawn from the current policy with eps' = ``batch.next_noise``:
    the soft state value V(s') = E_a'[Q(s', a') - alpha log pi(a' | s')] (Haarnoja et al. 2018b,
    eq. 3) inside the soft Bellman backup, with the clipped double Q of Fujimoto et al. (2018)."""
    with no_grad():
        next_obs = Tensor(batch.next_obs)
        next_actions, next_log_prob = nets["actor"].sample(next_obs, batch.next_noise)
        next_q = _minimum([q.data for q in nets["critic_target"](next_obs, next_actions)])
        soft_value = next_q - alpha * next_log_prob.data
    return batch.rewards + gamma * (1.0 - batch.terminated) * soft_value


def sac_loss(batch: ContinuousTransitions, nets: dict, config: SACConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """SAC with a learned temperature (Haarnoja et al. 2018b, "Soft Actor-Critic Algorithms and
    Applications"), three terms with their own optimisers, alpha = exp(log_alpha):

        critic = 1/2 sum_i mean_j (Q_i(s_j, a_j) - y_j)^2                     J_Q, eq. 5 (y: :func:`sac_targets`)
        actor  = mean_j [ alpha log pi(a~_j | s_j) - min_i Q_i(s_j, a~_j) ]    J_pi, eq. 7, a~ reparameterised (eq. 8):
                 a~_j = tanh(mu(s_j) + sigma(s_j) eps_j), eps = ``batch.noise``
        alpha  = -mean_j log_alpha (log pi(a~_j | s_j) + H_target)             J(alpha), eq. 18, H_target = -|A|

    alpha is a constant in the critic and actor terms and log pi(a~ | s) a constant in the alpha
    term. The alpha term is written in log alpha, as in the authors' implementation (softlearning)
    and Stable-Baselines3: its gradient is eq. 18's divided by alpha > 0 (same sign, same fixed
    point, where the policy's entropy equals H_target). ``actor`` and ``alpha`` are there only when
    ``batch.update_actor``; ``alpha`` only with ``config.learn_alpha`` (else alpha stays at
    ``alpha_init``). Also returned for logging: ``log_alpha``, ``entropy`` (-mean log pi(a~ | s)) and
    ``q`` (the mean of Q_1(s, a)).
    """
    log_alpha = nets["log_alpha"]()
    alpha = float(np.exp(log_alpha.data))
    obs = Tensor(batch.obs)
    q = nets["critic"](obs, batch.actions)
    y = constant_like(sac_targets(batch, nets, alpha, config.gamma), q[0])
    terms = {"critic": 0.5 * reduce(lambda a, b: a + b, [F.mse_loss(q_i, y) for q_i in q])}
    if batch.update_actor:
        actions, log_prob = nets["actor"].sample(obs, batch.noise)
        terms["actor"] = (alpha * log_prob - _minimum(nets["critic"](obs, actions))).mean()
        if config.learn_alpha:
            target_entropy = config.target_entropy_per_dim * batch.actions.shape[-1]
            terms["alpha"] = -(log_alpha * constant_like(log_prob.data + target_entropy, log_alpha)).mean()
        terms["entropy"] = Tensor(-log_prob.data.mean())
    loss = reduce(lambda a, b: a + b, [terms[name] for name in ("critic", "actor", "alpha") if name in terms])
    terms["log_alpha"] = Tensor(log_alpha.data.copy())
    terms["q"] = Tensor(q[0].data.mean())
    return loss, terms

