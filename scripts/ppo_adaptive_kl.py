"""PPO with an adaptive KL penalty instead of clipping, as a plugin whose loss keeps state between updates.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms", sec. 4. Each minibatch step minimises

    L(theta) = -mean_t r_t A_t + beta KL_t + value_coef mean_t (V(s_t) - R_t)^2 - entropy_coef mean_t H[pi_theta]
    r_t  = pi_theta(a_t | s_t) / pi_old(a_t | s_t)
    KL_t = mean_t [(r_t - 1) - log r_t]      (an unbiased, non-negative estimate of KL[pi_old, pi_theta],
                                              since E_{a ~ pi_old}[r] = 1; Schulman 2020, "Approximating KL divergence")

and after each policy update (the ``n_epochs`` x ``n_minibatches`` steps on one rollout), with d the
mean of KL over that update's steps:

    d < kl_target / 1.5  ->  beta <- beta / 2
    d > kl_target * 1.5  ->  beta <- beta * 2

beta is neither a parameter nor a hyperparameter: it is the loss's *state* (see
``algorithms.registry``, "State a loss may keep"). The loss only reads it; the loop calls
``KLCoefficient.after_update`` after every gradient step, so ``--resume`` continues with the saved
beta, ``gradcheck`` checks the loss at a beta its finite differences cannot move, and ``eval``
never builds it.

    tinygrad-rl train ppo_adaptive_kl CartPole-v1 --plugin scripts/ppo_adaptive_kl.py --out runs/ppo-kl
    tinygrad-rl gradcheck ppo_adaptive_kl CartPole-v1 --plugin scripts/ppo_adaptive_kl.py
    tinygrad-rl eval runs/ppo-kl --plugin scripts/ppo_adaptive_kl.py
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from algorithms import PPOConfig, register_algorithm
from algorithms.buffers import Rollout
from algorithms.losses import constant_like, probability_ratio
from tinygrad_rl import Tensor


@dataclass
class AdaptiveKLConfig(PPOConfig):
    """PPO's settings and presets, plus the KL penalty's: d_targ = 0.01 (the best of Schulman et al. 2017,
    sec. 6.1, table 1) and beta_0 = 1 (sec. 4). The clipping fields (``clip_range``, ``clip_range_vf``) are
    inherited and not used."""
    kl_target: float = 0.01            # d_targ
    kl_coef_init: float = 1.0          # beta at the first update ("not important", sec. 4)

    def validate(self) -> None:
        super().validate()
        for name in ("kl_target", "kl_coef_init"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"invalid {name}={value!r}: expected a finite float > 0")
        if self.target_kl != 0:
            raise ValueError(f"invalid target_kl={self.target_kl!r}: expected 0 (the adaptive penalty replaces the "
                             "target-KL stop, and each policy update must run all n_epochs x n_minibatches steps)")


class KLCoefficient:
    """beta of the KL penalty, and the KL seen so far in the current policy update."""

    def __init__(self, config: AdaptiveKLConfig):
        self.beta = float(config.kl_coef_init)
        self.kl_target = float(config.kl_target)
        self.steps_per_update = config.n_epochs * config.n_minibatches
        self.kl_sum, self.steps = 0.0, 0

    def after_update(self, env_step: int, terms: dict[str, float]) -> None:
        """Called by the loop after each gradient step with that step's terms; at the end of a policy
        update, adapt beta to the update's mean KL (module docstring)."""
        self.kl_sum += terms["kl"]
        self.steps += 1
        if self.steps == self.steps_per_update:
            d = self.kl_sum / self.steps
            if d < self.kl_target / 1.5:
                self.beta /= 2.0
            elif d > self.kl_target * 1.5:
                self.beta *= 2.0
            self.kl_sum, self.steps = 0.0, 0

    def state_dict(self) -> dict:
        return {"beta": self.beta, "kl_sum": self.kl_sum, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        beta, kl_sum, steps = float(state["beta"]), float(state["kl_sum"]), int(state["steps"])
        if not (math.isfinite(beta) and beta > 0 and math.isfinite(kl_sum) and 0 <= steps < self.steps_per_update):
            raise ValueError(f"KLCoefficient: expected beta > 0, a finite kl_sum and 0 <= steps < "
                             f"{self.steps_per_update}, got {state}")
        self.beta, self.kl_sum, self.steps = beta, kl_sum, steps


def ppo_adaptive_kl_loss(batch: Rollout, nets: dict, config: AdaptiveKLConfig,
                         state: KLCoefficient) -> tuple[Tensor, dict[str, Tensor]]:
    """L = -mean(r A) + beta KL + value_coef mean(V - R)^2 - entropy_coef mean H (module docstring);
    beta is read from ``state``, never changed here."""
    log_ratio, ratio, advantages, entropy, values = probability_ratio(batch, nets, config)
    kl = ((ratio - 1.0) - log_ratio).mean()
    terms = {"policy": -(ratio * advantages).mean(), "kl": kl,
             "value": ((values - constant_like(batch.returns, values)) ** 2).mean(), "entropy": entropy.mean()}
    loss = (terms["policy"] + state.beta * kl + config.value_coef * terms["value"]
            - config.entropy_coef * terms["entropy"])
    terms["kl_coef"] = Tensor(np.float64(state.beta))      # logged; a constant, so no gradient reaches it
    return loss, terms


register_algorithm("ppo_adaptive_kl", loss=ppo_adaptive_kl_loss, loop="on_policy", config=AdaptiveKLConfig,
                   state=KLCoefficient, presets="ppo",
                   description="PPO with an adaptive KL penalty (Schulman et al. 2017, sec. 4); beta is loss state")
