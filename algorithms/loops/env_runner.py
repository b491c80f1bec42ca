"""Acting in environments: vector-env stepping with gymnasium 1.x autoreset, and evaluation.

gymnasium 1.x vector envs reset finished sub-envs *on the next step* by default
(``AutoresetMode.NEXT_STEP``): the step that ends an episode returns that episode's final
observation; the following ``step`` call ignores the action for that sub-env and returns
the first observation of a new episode with reward 0 and neither flag set. That call is not
a transition of the MDP, so :class:`VectorEnvRunner` marks it invalid and every consumer
drops it — no transition ever crosses an episode boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from ..buffers import Transitions

__all__ = ["VectorStep", "VectorEnvRunner", "greedy_episodes_returns"]


@dataclass(frozen=True)
class VectorStep(Transitions):
    """One synchronous step of N sub-envs (one row each); ``valid[i]`` is False for an autoreset step."""
    valid: np.ndarray


class VectorEnvRunner:
    """Steps a gymnasium vector env in next-step autoreset mode and tracks episode statistics.

    ``step(actions)`` returns a :class:`VectorStep`; for sub-envs that ended an episode on the
    previous call, ``valid`` is False (the action was ignored and ``next_obs`` is a reset
    observation). Finished episodes are appended to ``finished`` as (return, length). ``step(actions,
    counted)`` with a boolean mask counts only those sub-envs' steps (the others step, as a vector env
    must, but are reported as not valid and add nothing to the episode statistics): how a run ends at
    exactly its step budget.
    """

    def __init__(self, envs: gym.vector.VectorEnv, seed: int):
        mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(f"VectorEnvRunner expects autoreset_mode NEXT_STEP, got {mode}")
        self.envs = envs
        self.num_envs = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)
        self.running_return = np.zeros(self.num_envs)
        self.running_length = np.zeros(self.num_envs, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []

    def step(self, actions: np.ndarray, counted: np.ndarray | None = None) -> VectorStep:
        obs = self.obs
        next_obs, rewards, terminated, truncated, _ = self.envs.step(actions)
        stepped = ~self.needs_reset
        valid = stepped if counted is None else stepped & counted
        self.running_return += np.where(valid, rewards, 0.0)
        self.running_length += valid
        ended = (terminated | truncated) & valid
        for i in np.flatnonzero(ended):
            self.finished.append((float(self.running_return[i]), int(self.running_length[i])))
        self.running_return[ended] = 0.0
        self.running_length[ended] = 0
        self.needs_reset = (terminated | truncated) & stepped
        self.obs = next_obs
        return VectorStep(obs, np.asarray(actions), np.asarray(rewards, dtype=np.float64), next_obs,
                          np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool), valid)


def greedy_episodes_returns(env: gym.Env, act: Callable[[np.ndarray], int], episodes: int,
                            seed: int) -> np.ndarray:
    """Undiscounted returns of ``episodes`` full episodes acting with the deterministic ``act``.

    The env is reset with ``seed`` once, then without a seed, so the whole evaluation is
    reproducible and independent of the training env. An actor with a ``reset()`` method (a
    planner with a warm start) is told at each episode's start.
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be > 0, got {episodes!r}")
    returns = np.zeros(episodes)
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode > 0:
            obs, _ = env.reset()
        if hasattr(act, "reset"):
            act.reset()
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            returns[episode] += reward
            done = terminated or truncated
    return returns
