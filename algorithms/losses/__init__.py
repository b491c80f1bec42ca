"""Deep RL algorithms as loss functions over the engine's Tensor.

Every loss has one contract::

    loss(batch, nets, config) -> (scalar Tensor, {term name: scalar Tensor})

``batch`` is what the algorithm's loop collected, ``nets`` the dict of its networks and
``config`` its config dataclass, from which the loss reads its own hyperparameters. The terms
are logged by name, and a trainer can say which one went non-finite. Targets are built
without a graph (stop-gradient); only the online networks receive gradients.

- :mod:`~algorithms.losses.value_based`: DQN, Double DQN (and the TD loss they share);
- :mod:`~algorithms.losses.policy_gradient`: REINFORCE, A2C, PPO;
- :mod:`~algorithms.losses.continuous_control`: TD3 / DDPG, SAC;
- PETS's model loss is with its model, in :mod:`algorithms.model_based.pets`.
"""
from .batch_arrays import constant_like, standardize
from .continuous_control import sac_loss, sac_targets, td3_loss, td3_targets
from .policy_gradient import a2c_loss, ppo_loss, probability_ratio, reinforce_loss
from .value_based import TD_ERROR, double_dqn_loss, double_dqn_targets, dqn_loss, dqn_targets, td_loss

__all__ = ["TD_ERROR", "dqn_targets", "double_dqn_targets", "td_loss", "dqn_loss", "double_dqn_loss",
           "reinforce_loss", "a2c_loss", "ppo_loss", "probability_ratio", "standardize", "constant_like",
           "td3_targets", "td3_loss", "sac_targets", "sac_loss"]
