"""Policy-gradient losses over the policy's log-probabilities: REINFORCE, A2C and clipped PPO."""
from __future__ import annotations

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor

from ..buffers import Episodes, Rollout
from ..configs import EpisodicConfig, OnPolicyConfig, PPOConfig
from .batch_arrays import constant_like, standardize

__all__ = ["reinforce_loss", "a2c_loss", "probability_ratio", "ppo_loss"]


def reinforce_loss(batch: Episodes, nets: dict, config: EpisodicConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """REINFORCE with a baseline b(s) (Williams 1992; Sutton & Barto 2018, sec. 13.4):

        w_t = G_t - b(s_t)   with b = 0 ("none"), mean_t G_t ("mean") or V_phi(s_t) ("learned")
        L   = -mean_t[ log pi_theta(a_t | s_t) * w_t ] + value_coef * mean_t (V_phi(s_t) - G_t)^2

    ``batch.returns`` holds the Monte Carlo returns G_t. With ``config.normalize_returns`` the
    weights w_t are standardised within the batch. The value term exists only for the learned
    baseline; w_t never carries gradient.
    """
    baseline = config.baseline
    if baseline not in ("none", "mean", "learned"):
        raise ValueError(f"baseline must be 'none', 'mean' or 'learned', got {baseline!r}")
    returns = np.asarray(batch.returns, dtype=np.float64)
    log_prob, _, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    terms = {}
    if baseline == "learned":
        weights = returns - values.data
        terms["value"] = F.mse_loss(values, constant_like(returns, values))
    else:
        weights = returns - returns.mean() if baseline == "mean" else returns
    if config.normalize_returns:
        weights = standardize(weights)
    terms["policy"] = -(log_prob * constant_like(weights, log_prob)).mean()
    loss = terms["policy"] + config.value_coef * terms["value"] if "value" in terms else terms["policy"]
    return loss, terms


def a2c_loss(batch: Rollout, nets: dict, config: OnPolicyConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """Advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep RL", alg. S3):

        L = -mean_t[ log pi_theta(a_t | s_t) * A_t ]            (policy term)
            + value_coef   * mean_t (V_phi(s_t) - R_t)^2         (value term)
            - entropy_coef * mean_t H[pi_theta(. | s_t)]         (entropy bonus)

    A_t are GAE advantages and R_t = A_t + V_old(s_t) their value targets, both fixed arrays in
    ``batch``. With ``config.normalize_advantages`` A_t is standardised within the batch.
    """
    advantages = np.asarray(batch.advantages, dtype=np.float64)
    if config.normalize_advantages:
        advantages = standardize(advantages)
    log_prob, entropy, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    terms = {
        "policy": -(log_prob * constant_like(advantages, log_prob)).mean(),
        "value": F.mse_loss(values, constant_like(batch.returns, values)),
        "entropy": entropy.mean(),
    }
    loss = terms["policy"] + config.value_coef * terms["value"] - config.entropy_coef * terms["entropy"]
    return loss, terms


def probability_ratio(batch: Rollout, nets: dict, config: OnPolicyConfig) -> tuple[Tensor, ...]:
    """(log r, r, A, H, V) on a rollout minibatch, for the losses of the PPO family:

        r_t = pi_theta(a_t | s_t) / pi_old(a_t | s_t) = exp(log pi_theta - log pi_old)

    with A_t the advantages as a constant (standardised within the minibatch when
    ``config.normalize_advantages``), H_t the policy's entropy and V(s_t) the value, per row."""
    advantages = np.asarray(batch.advantages, dtype=np.float64)
    if config.normalize_advantages:
        advantages = standardize(advantages)
    log_prob, entropy, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    log_ratio = log_prob - constant_like(batch.log_probs, log_prob)
    ratio = log_ratio.exp()
    return log_ratio, ratio, constant_like(advantages, ratio), entropy, values


def ppo_loss(batch: Rollout, nets: dict, config: PPOConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's clipped objective (Schulman et al. 2017, "Proximal Policy Optimization", eq. 7 and 9):

        r_t     = pi_theta(a_t | s_t) / pi_old(a_t | s_t) = exp(log pi_theta - log pi_old)
        L_clip  = -mean_t min( r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t )
        L_value = mean_t max( (V(s_t) - R_t)^2, (V_old + clip(V(s_t) - V_old, -c, c) - R_t)^2 )
        L       = L_clip + value_coef * L_value - entropy_coef * mean_t H[pi_theta(. | s_t)]

    A_t is standardised within the minibatch when ``config.normalize_advantages``; the value
    clipping (the max term) applies only when ``config.clip_range_vf > 0``. Also returned, for
    logging and the target-KL stop, without gradient: ``approx_kl`` = mean((r - 1) - log r),
    an unbiased, non-negative estimator of KL(pi_old || pi_theta) (Schulman 2020, "Approximating
    KL divergence"), and ``clip_fraction``, the share of rows whose ratio left [1 - eps, 1 + eps].
    """
    _, ratio, adv, entropy, values = probability_ratio(batch, nets, config)
    eps = config.clip_range
    surrogate = (ratio * adv).minimum(ratio.clip(1.0 - eps, 1.0 + eps) * adv)
    returns = constant_like(batch.returns, values)
    value_error = (values - returns) ** 2
    if config.clip_range_vf > 0:
        old = constant_like(batch.values, values)
        clipped = old + (values - old).clip(-config.clip_range_vf, config.clip_range_vf)
        value_error = value_error.maximum((clipped - returns) ** 2)
    terms = {"policy": -surrogate.mean(), "value": value_error.mean(), "entropy": entropy.mean()}
    loss = terms["policy"] + config.value_coef * terms["value"] - config.entropy_coef * terms["entropy"]
    r = ratio.data.astype(np.float64)
    terms["approx_kl"] = Tensor(np.mean((r - 1.0) - np.log(r)))
    terms["clip_fraction"] = Tensor(np.mean(np.abs(r - 1.0) > eps))
    return loss, terms

