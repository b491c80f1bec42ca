"""The result type shared by the TD and Monte Carlo learners, and the input checks they share."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

__all__ = ["TabularResult", "discrete_sizes", "check_alpha", "check_gamma", "check_episodes"]


@dataclass
class TabularResult:
    """What every tabular learner returns.

    Q:               (S, A) action values, or None for state-value prediction (``mc_prediction``).
    V:               (S,) state values; for control methods V(s) = max_a Q(s, a).
    episode_returns: (episodes,) float64, undiscounted sum of environment rewards of each training
                     episode, collected while learning (online return; shaping is not included).
    episode_lengths: (episodes,) int64, environment steps of each training episode.
    algorithm:       name of the method, e.g. "q_learning", "mc_control".
    seed:            the seed the run was started from.
    """

    Q: np.ndarray | None
    V: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    algorithm: str
    seed: int | None

    @property
    def greedy_policy(self) -> np.ndarray:
        """(S,) the greedy action of each state, lowest index among ties (deterministic)."""
        if self.Q is None:
            raise ValueError(f"{self.algorithm} estimated state values only; a greedy policy needs Q")
        return self.Q.argmax(axis=1)

    def greedy_path(self, env: gym.Env, max_steps: int = 200) -> list[int]:
        """States visited by the greedy policy from ``env.reset()`` through the env's own model.

        Follows ``env.unwrapped.P[s][a] = [(prob, next_state, reward, done)]`` (toy-text envs), so
        the env must be deterministic. Stops at a done transition or after ``max_steps`` steps
        (a greedy policy may cycle; then the path simply does not end in a terminal state).
        """
        model = getattr(env.unwrapped, "P", None)
        if model is None:
            raise ValueError(f"greedy_path needs a toy-text env exposing unwrapped.P, got {env}")
        policy = self.greedy_policy
        state, _ = env.reset()
        path = [int(state)]
        for _ in range(max_steps):
            transitions = model[state][int(policy[state])]
            if len(transitions) != 1:
                raise ValueError(f"greedy_path needs deterministic dynamics; state {state} has "
                                 f"{len(transitions)} outcomes")
            _, state, _, done = transitions[0]
            path.append(int(state))
            if done:
                break
        return path


def discrete_sizes(env: gym.Env) -> tuple[int, int]:
    """(n_states, n_actions) of an env whose observation and action spaces are both Discrete from 0."""
    sizes = []
    for name in ("observation_space", "action_space"):
        space = getattr(env, name)
        if not isinstance(space, gym.spaces.Discrete):
            hint = (" (wrap it, e.g. envs_wrappers.DiscretizeObservation or BlackjackIndex)"
                    if name == "observation_space" else "")
            raise ValueError(f"tabular methods need a Discrete {name}, got {space}{hint}")
        if int(space.start) != 0:
            raise ValueError(f"tabular methods need a Discrete {name} starting at 0, got start={space.start}")
        sizes.append(int(space.n))
    return sizes[0], sizes[1]


def check_alpha(alpha: float | None, allow_none: bool = False) -> None:
    """Step size must be in (0, 1]; None (sample averages) only where ``allow_none``."""
    if alpha is None and allow_none:
        return
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not 0.0 < alpha <= 1.0:
        expected = "a number in (0, 1] or None for sample averages" if allow_none else "a number in (0, 1]"
        raise ValueError(f"alpha (step size) must be {expected}, got {alpha!r}")


def check_gamma(gamma: float) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) \
            or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma (discount) must be a number in [0, 1], got {gamma!r}")


def check_episodes(episodes: int) -> None:
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
