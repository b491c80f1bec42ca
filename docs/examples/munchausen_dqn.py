"""A plugin: Munchausen DQN as a loss, registered from its own file (tinygrad-rl ... --plugin munchausen_dqn.py)."""
from dataclasses import dataclass

import numpy as np

from algorithms import OffPolicyConfig, register_algorithm
from algorithms.losses import td_loss
from tinygrad_rl import Tensor, no_grad
from tinygrad_rl.arrays import log_softmax


@dataclass
class MunchausenConfig(OffPolicyConfig):
    entropy_tau: float = 0.03       # temperature of pi = softmax(Q / tau)
    munchausen_alpha: float = 0.9   # weight of the scaled log-policy bonus
    log_pi_min: float = -1.0        # the bonus is clipped to [log_pi_min, 0]


def munchausen_dqn_loss(batch, nets, config):
    """y = r + alpha tau clip(log pi(a|s), l0, 0) + gamma (1 - done) sum_a' pi(a'|s') (q(s',a') - tau log pi(a'|s')),
    pi = softmax(Q_target / tau); Huber on Q(s, a) - y (Vieillard et al. 2020, "Munchausen RL", eq. 2)."""
    with no_grad():
        q, q_next = (nets["q_net_target"](Tensor(x)).data for x in (batch.obs, batch.next_obs))
    tau, rows = config.entropy_tau, np.arange(len(batch))
    log_pi, log_pi_next = log_softmax(q, temperature=tau), log_softmax(q_next, temperature=tau)
    bonus = config.munchausen_alpha * tau * np.clip(log_pi[rows, batch.actions], config.log_pi_min, 0.0)
    soft_value = (np.exp(log_pi_next) * (q_next - tau * log_pi_next)).sum(axis=1)
    targets = batch.rewards + bonus + config.gamma * (1.0 - batch.terminated) * soft_value
    return td_loss(batch, nets["q_net"], targets, config.loss)


register_algorithm("munchausen_dqn", loss=munchausen_dqn_loss, loop="off_policy", config=MunchausenConfig,
                   presets="dqn", description="Munchausen DQN (Vieillard et al. 2020)")
