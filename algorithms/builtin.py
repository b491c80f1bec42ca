"""The loops and algorithms that ship with tinygrad_rl, registered through the same seam a plugin uses."""
from __future__ import annotations

from .configs import (
    ContinuousOffPolicyConfig,
    DDPGConfig,
    EpisodicConfig,
    ModelBasedConfig,
    OffPolicyConfig,
    OnPolicyConfig,
    PETSConfig,
    PPOConfig,
    RainbowConfig,
    SACConfig,
    TD3Config,
)
from .loops.actors import actor_critic_greedy_actor, box_actor_greedy_actor, q_greedy_actor
from .loops.episodic import train_episodic
from .loops.gradcheck_batches import (
    episodic_batch,
    model_based_batch,
    off_policy_batch,
    off_policy_continuous_batch,
    on_policy_batch,
)
from .loops.model_based import train_model_based
from .loops.off_policy import train_off_policy
from .loops.off_policy_continuous import train_off_policy_continuous
from .loops.on_policy import train_on_policy
from .losses import a2c_loss, double_dqn_loss, dqn_loss, ppo_loss, reinforce_loss, sac_loss, td3_loss
from .model_based.known_rewards import known_reward_envs
from .model_based.pets import pets_loss, pets_networks, planning_greedy_actor
from .networks import actor_critic_networks, q_networks, sac_networks, td3_networks
from .registry import Loop, register_algorithm, register_loop

__all__ = ["ACTOR_CRITIC"]

# ----------------------------------------------------------------------------- the loops

register_loop(Loop("off_policy", train_off_policy, q_networks, q_greedy_actor, OffPolicyConfig, "Transitions",
                   sample_batch=off_policy_batch))
register_loop(Loop("off_policy_continuous", train_off_policy_continuous, td3_networks, box_actor_greedy_actor,
                   ContinuousOffPolicyConfig, "ContinuousTransitions", sample_batch=off_policy_continuous_batch))
register_loop(Loop("on_policy", train_on_policy, actor_critic_networks, actor_critic_greedy_actor,
                   OnPolicyConfig, "Rollout", sample_batch=on_policy_batch))
register_loop(Loop("episodic", train_episodic, actor_critic_networks, actor_critic_greedy_actor,
                   EpisodicConfig, "Episodes", sample_batch=episodic_batch))
register_loop(Loop("model_based", train_model_based, pets_networks, planning_greedy_actor, ModelBasedConfig,
                   "ModelBatch", sample_batch=model_based_batch, envs=known_reward_envs))

# ----------------------------------------------------------------------------- the algorithms

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

# Actor-critics for Box actions: each loss term has its own optimiser over its own nets.
ACTOR_CRITIC = {"critic": ("critic",), "actor": ("actor",)}
register_algorithm("td3", loss=td3_loss, loop="off_policy_continuous", config=TD3Config, networks=td3_networks,
                   optimizers=ACTOR_CRITIC,
                   description="twin delayed DDPG (Fujimoto et al. 2018): clipped double Q, target smoothing, "
                               "delayed actor")
register_algorithm("ddpg", loss=td3_loss, loop="off_policy_continuous", config=DDPGConfig, networks=td3_networks,
                   optimizers=ACTOR_CRITIC,
                   description="deep deterministic policy gradient (Lillicrap et al. 2016): td3_loss with one "
                               "critic, no smoothing, no delay")
register_algorithm("sac", loss=sac_loss, loop="off_policy_continuous", config=SACConfig, networks=sac_networks,
                   optimizers={**ACTOR_CRITIC, "alpha": ("log_alpha",)},
                   description="soft actor-critic with a learned temperature (Haarnoja et al. 2018b)")
register_algorithm("pets", loss=pets_loss, loop="model_based", config=PETSConfig,
                   description="probabilistic ensembles with trajectory sampling, CEM planning (Chua et al. 2018)")
