"""PETS's own parts (Chua et al. 2018, "Deep Reinforcement Learning in a Handful of Trials using
Probabilistic Dynamics Models"): the data it learns from, its networks, its loss and its acting.

The loss under the one contract ``loss(batch, nets, config)`` is the model's: the model-based loop
(:mod:`algorithms.loops.model_based`) feeds it :class:`ModelBatch` rows, (E, B, .) arrays of member
e's bootstrap rows in block e, the inputs already normalised (as the on-policy loop hands its losses
normalised observations). The planner is the loop's acting, and its evaluation policy
(:func:`planning_greedy_actor`) is the same planner with a generator seeded per episode (see
:class:`~algorithms.model_based.cem_planner.PlanningActor`).

Networks (:func:`pets_networks`): ``dynamics`` (a :class:`~algorithms.model_based.dynamics.ProbabilisticEnsemble`
predicting s' - s from normalised (s, a)), ``input_normalizer`` (its statistics) and ``planner``
(a :class:`~algorithms.model_based.cem_planner.CEMPlanner`, holding the env's known reward and its
settings); all three go to ``model.npz``. Only envs with a known reward
(:mod:`algorithms.model_based.known_rewards`) can be planned for: the networks builder refuses others.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygrad_rl import Tensor

from ..configs import ModelBasedConfig, PETSConfig
from ..networks import EnvSpaces, RunningMeanStd
from .cem_planner import CEMPlanner, PlanningActor
from .dynamics import ProbabilisticEnsemble, gaussian_nll
from .known_rewards import known_reward

__all__ = ["ModelBatch", "TransitionData", "pets_networks", "pets_loss", "planning_greedy_actor"]


@dataclass(frozen=True)
class ModelBatch:
    """What the dynamics model learns from: ``inputs`` (E, B, obs_dim + act_dim), the normalised
    (s, a) of each row, and ``targets`` (E, B, obs_dim), its state change s' - s; row block e is
    member e's sample."""
    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return int(self.inputs.shape[1])


class TransitionData:
    """Every (s, a, s') of a run, in preallocated arrays that grow by doubling."""

    def __init__(self, obs_dim: int, action_dim: int, capacity: int = 1024):
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, next_obs) -> None:
        if self.size == len(self.obs):
            for name in ("obs", "actions", "next_obs"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
        self.obs[self.size], self.actions[self.size], self.next_obs[self.size] = obs, action, next_obs
        self.size += 1

    def inputs(self) -> np.ndarray:
        """The model's inputs (s, a) of every stored row."""
        return np.concatenate([self.obs[:self.size], self.actions[:self.size]], axis=1)

    def batch(self, rows: np.ndarray, normalizer: RunningMeanStd) -> ModelBatch:
        """Rows (E, B) of indices -> a :class:`ModelBatch`, inputs normalised with ``normalizer``."""
        obs = self.obs[rows]
        return ModelBatch(normalizer.normalize(np.concatenate([obs, self.actions[rows]], axis=-1)),
                          self.next_obs[rows] - obs)

    # A part of a resumable run (algorithms.runs.resume): the stored rows.
    def state_dict(self) -> dict:
        return {name: getattr(self, name)[:self.size].copy() for name in ("obs", "actions", "next_obs")}

    def load_state_dict(self, state: dict) -> None:
        arrays = {name: np.asarray(state[name], dtype=np.float32) for name in ("obs", "actions", "next_obs")
                  if name in state}
        if len(arrays) != 3:
            raise ValueError(f"TransitionData.load_state_dict: expected obs, actions, next_obs, got {sorted(state)}")
        size = len(arrays["obs"])
        for name, array in arrays.items():
            width = getattr(self, name).shape[1]
            if array.shape != (size, width) or not np.all(np.isfinite(array)):
                raise ValueError(f"TransitionData.load_state_dict: {name} must be finite of shape ({size}, {width}), "
                                 f"got {array.shape}")
        capacity = max(len(self.obs), size)
        for name, array in arrays.items():
            grown = np.zeros((capacity, array.shape[1]), dtype=np.float32)
            grown[:size] = array
            setattr(self, name, grown)
        self.size = size


def pets_networks(spaces: EnvSpaces, config: ModelBasedConfig, seed: int) -> dict:
    """``dynamics`` (an ensemble predicting s' - s from normalised (s, a)), ``input_normalizer``
    and ``planner`` (CEM with the env's known reward); ValueError for an env without a known
    reward or with Discrete actions."""
    reward = known_reward(spaces.env_id)
    if spaces.discrete:
        raise ValueError("CEM plans sequences of continuous actions and needs a Box action space; "
                         f"{spaces.env_id} has Discrete actions")
    in_dim = spaces.obs_dim + spaces.action_dim
    return {
        "dynamics": ProbabilisticEnsemble(config.ensemble_size, in_dim, spaces.obs_dim, config.hidden,
                                          config.activation, seed),
        "input_normalizer": RunningMeanStd((in_dim,)),
        "planner": CEMPlanner(reward, spaces.action_low, spaces.action_high, horizon=config.horizon,
                              population=config.population, elites=config.elites,
                              iterations=config.cem_iterations, alpha=config.cem_alpha,
                              particles=config.particles, seed=config.seed),
    }


def pets_loss(batch: ModelBatch, nets: dict, config: PETSConfig) -> tuple[Tensor, dict]:
    """The ensemble's Gaussian negative log-likelihood of the observed state changes:

        nll = sum_e mean_{b, d} [ (Delta_bd - mu_e,d(x_b))^2 e^{-l_e,d(x_b)} + l_e,d(x_b) + log 2 pi ] / 2
        bounds = sum_d max_logvar_d - sum_d min_logvar_d
        L = nll + logvar_bound_coef * bounds

    with x_b the normalised (s, a) of member e's row b (``batch.inputs``), Delta_b = s'_b - s_b
    (``batch.targets``), and l the soft-bounded
    log-variance (Chua et al. 2018, eq. 1 and appendix A.1: means over rows and dimensions, summed
    over the members, as their code does). The penalty keeps the learned bounds close, so the soft
    bounds act where the data does not pin the variance down.
    """
    model = nets["dynamics"]
    mean, logvar = model(Tensor(np.asarray(batch.inputs, dtype=model.weights[0].dtype)))
    nll = gaussian_nll(mean, logvar, np.asarray(batch.targets, dtype=mean.dtype)).mean(axis=(1, 2)).sum()
    bounds = model.max_logvar.sum() - model.min_logvar.sum()
    return nll + config.logvar_bound_coef * bounds, {"nll": nll, "logvar_bounds": bounds}


def planning_greedy_actor(nets: dict) -> PlanningActor:
    """The evaluation policy: the planner with a generator reseeded at each episode's first step
    from the run's seed and that step's observation, acting with the first action of the final
    CEM mean (see :class:`~algorithms.model_based.cem_planner.PlanningActor`)."""
    planner = nets["planner"]
    return PlanningActor(planner, nets["dynamics"], nets["input_normalizer"], seed=planner.seed)
