"""The algorithms that ship with tinygrad_rl, registered through the same seam a plugin uses."""
from __future__ import annotations

from .configs import EpisodicConfig, OffPolicyConfig, OnPolicyConfig, PPOConfig, RainbowConfig
from .losses import a2c_loss, double_dqn_loss, dqn_loss, ppo_loss, reinforce_loss
from .model_based import PETSConfig, pets_loss  # (registers the model_based loop)
from .registry import register_algorithm
from . import trainers  # noqa: F401  (registers the loops)

register_algorithm("dqn", loss=dqn_loss, loop="off_policy", config=OffPolicyConfig,
                   description="Deep Q-network (Mnih et al. 2015)")
register_algorithm("double_dqn", loss=double_dqn_loss, loop="off_policy", config=OffPolicyConfig,
                   description="Double DQN (van Hasselt et al. 2016)")
register_algorithm("dqn_rainbow", loss=double_dqn_loss, loop="off_policy", config=RainbowConfig, presets="dqn",
                   description="Double DQN with n-step returns, dueling heads and prioritized replay "
                               "(the Rainbow components of Hessel et al. 2018 without distributional RL "
                               "and noisy nets)")
register_algorithm("a2c", loss=a2c_loss, loop="on_policy", config=OnPolicyConfig,
                   description="advantage actor-critic (Mnih et al. 2016); shared_trunk=true for one trunk")
register_algorithm("ppo", loss=ppo_loss, loop="on_policy", config=PPOConfig,
                   description="proximal policy optimisation, clipped (Schulman et al. 2017)")
register_algorithm("reinforce", loss=reinforce_loss, loop="episodic", config=EpisodicConfig,
                   description="REINFORCE with a baseline (Williams 1992)")
register_algorithm("pets", loss=pets_loss, loop="model_based", config=PETSConfig,
                   description="probabilistic ensembles with trajectory sampling, CEM planning (Chua et al. 2018)")
