"""One-step TD control: Q-learning, SARSA and expected SARSA as plain functions.

Each is ``UnifiedAgent(algorithm, exploration, alpha, gamma, seed=seed).train(env, episodes)``:
the update rules live once, in ``agent.td_target`` (Sutton & Barto 2018, chapter 6):

    Q(S,A) <- Q(S,A) + alpha * [ target - Q(S,A) ]
    Q-learning      target = R + gamma * max_a Q(S', a)
    SARSA           target = R + gamma * Q(S', A'),        A' ~ behaviour policy
    expected SARSA  target = R + gamma * sum_a pi(a|S') Q(S', a)

Common signature: ``fn(env, episodes, alpha=0.5, gamma=1.0, exploration=None, seed=0, *,
shaping=None, initial_q=0.0) -> TabularResult``; ``exploration=None`` means ``EpsilonGreedy(0.1)``.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from .agent import UnifiedAgent
from .exploration import ExplorationStrategy
from .result import TabularResult

__all__ = ["q_learning", "sarsa", "expected_sarsa", "td_control"]


def td_control(algorithm: str, env: gym.Env, episodes: int, alpha: float = 0.5, gamma: float = 1.0,
               exploration: ExplorationStrategy | None = None, seed: int | None = 0, *,
               shaping: np.ndarray | Callable[[int], float] | None = None,
               initial_q: float = 0.0) -> TabularResult:
    """Train a fresh ``UnifiedAgent(algorithm, ...)`` on ``env`` for ``episodes`` episodes."""
    agent = UnifiedAgent(algorithm, exploration, alpha, gamma, shaping, seed=seed, initial_q=initial_q)
    return agent.train(env, episodes)


def q_learning(env: gym.Env, episodes: int, alpha: float = 0.5, gamma: float = 1.0,
               exploration: ExplorationStrategy | None = None, seed: int | None = 0, **kw) -> TabularResult:
    """Off-policy TD control: target R + gamma * max_a Q(S', a) (Watkins 1989; S&B section 6.5)."""
    return td_control("q_learning", env, episodes, alpha, gamma, exploration, seed, **kw)


def sarsa(env: gym.Env, episodes: int, alpha: float = 0.5, gamma: float = 1.0,
          exploration: ExplorationStrategy | None = None, seed: int | None = 0, **kw) -> TabularResult:
    """On-policy TD control: target R + gamma * Q(S', A') with A' the next action taken (S&B section 6.4)."""
    return td_control("sarsa", env, episodes, alpha, gamma, exploration, seed, **kw)


def expected_sarsa(env: gym.Env, episodes: int, alpha: float = 0.5, gamma: float = 1.0,
                   exploration: ExplorationStrategy | None = None, seed: int | None = 0, **kw) -> TabularResult:
    """Target R + gamma * E_pi[Q(S', A')] under the exploration policy (S&B section 6.6)."""
    return td_control("expected_sarsa", env, episodes, alpha, gamma, exploration, seed, **kw)
