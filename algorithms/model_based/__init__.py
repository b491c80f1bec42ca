"""Model-based RL's parts: a learned dynamics model, a planner through it, and the rewards it plans for.

- :mod:`~algorithms.model_based.dynamics`: the probabilistic ensemble (PETS's model) and its Gaussian NLL;
- :mod:`~algorithms.model_based.cem_planner`: the cross-entropy method over action sequences, trajectory
  sampling through the ensemble, model-predictive control;
- :mod:`~algorithms.model_based.known_rewards`: r(s, a, s') and termination of the envs a planner can score;
- :mod:`~algorithms.model_based.pets`: PETS's data, networks, loss and evaluation policy.

The loop that learns the model and plans is :mod:`algorithms.loops.model_based`.
"""
from ..configs import ModelBasedConfig, PETSConfig
from .cem_planner import CEMPlanner, PlanningActor
from .dynamics import ProbabilisticEnsemble, gaussian_nll
from .known_rewards import KnownReward, known_reward, known_reward_envs, register_reward
from .pets import ModelBatch, TransitionData, pets_loss, pets_networks, planning_greedy_actor

__all__ = ["ModelBasedConfig", "PETSConfig", "CEMPlanner", "PlanningActor", "ProbabilisticEnsemble",
           "gaussian_nll", "KnownReward", "known_reward", "known_reward_envs", "register_reward", "ModelBatch",
           "TransitionData", "pets_loss", "pets_networks", "planning_greedy_actor"]
