"""Exploration strategies for tabular control: epsilon-greedy, Boltzmann (softmax), UCB.

One interface, used by the TD learners, Monte Carlo control and ``UnifiedAgent``:

- ``reset(n_states, n_actions)``   start of a training run: episode counter and counts to zero,
  so one strategy object can be reused across runs and seeds with identical results.
- ``probabilities(q_row, state)``  the action distribution pi(. | state) the strategy would
  sample from now (used by expected SARSA's target and by the statistical tests).
- ``select(q_row, state, rng)``    draw one action from that distribution with the run's
  generator (ties in the greedy action are broken uniformly at random).
- ``observe(state, action)``       the action was actually taken (UCB counts it; others ignore it).
- ``end_episode()``                advance the decay schedule by one episode.

Hyperparameters that decay (epsilon, temperature) are either a number (held constant) or a
schedule ``episode_index -> value``, e.g. ``tinygrad_rl.arrays.linear_schedule(1.0, 0.05, 500)``.
Reference: Sutton & Barto (2018), sections 2.2-2.7 (epsilon-greedy, UCB, softmax preferences).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from tinygrad_rl.arrays import argmax_random_tiebreak_1d, constant_schedule, softmax

__all__ = ["ExplorationStrategy", "EpsilonGreedy", "Boltzmann", "UCB"]

Schedule = Callable[[int], float]


def _as_schedule(name: str, value: float | Schedule) -> Schedule:
    """A constant number becomes a constant schedule; a callable is used as it is."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number or a schedule callable(episode) -> float, got {value!r}")
    return constant_schedule(float(value))


def _greedy_probabilities(q_row: np.ndarray) -> np.ndarray:
    """Uniform over the tied maxima of ``q_row``: the distribution random tie-breaking samples."""
    is_max = q_row == q_row.max()
    return is_max / is_max.sum()


class ExplorationStrategy:
    """Base class: the interface above with no-op hooks. Subclasses define ``probabilities``
    and usually a faster ``select``."""

    def __init__(self) -> None:
        self.episode = 0
        self.n_states: int | None = None
        self.n_actions: int | None = None

    def reset(self, n_states: int, n_actions: int) -> None:
        if n_states <= 0 or n_actions <= 0:
            raise ValueError(f"reset: need n_states > 0 and n_actions > 0, got {n_states}, {n_actions}")
        self.episode = 0
        self.n_states, self.n_actions = int(n_states), int(n_actions)

    def probabilities(self, q_row: np.ndarray, state: int) -> np.ndarray:
        raise NotImplementedError

    def select(self, q_row: np.ndarray, state: int, rng: np.random.Generator) -> int:
        probs = self.probabilities(q_row, state)
        cdf = np.cumsum(probs)
        # u * cdf[-1] < cdf[-1] keeps the index in range even when rounding leaves cdf[-1] < 1.
        return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))

    def observe(self, state: int, action: int) -> None:
        """Called once per action actually taken in the environment."""

    def end_episode(self) -> None:
        self.episode += 1


class _ScheduledStrategy(ExplorationStrategy):
    """A strategy with one hyperparameter (attribute ``parameter``) that follows a per-episode schedule."""

    parameter = ""

    def __init__(self, value: float | Schedule) -> None:
        super().__init__()
        self.schedule = _as_schedule(self.parameter, value)
        self._set_from_schedule()

    def _check(self, value: float) -> None:
        raise NotImplementedError

    def _set_from_schedule(self) -> None:
        value = self.schedule(self.episode)
        self._check(value)
        # A plain attribute (self.epsilon / self.temperature), read once per environment step.
        setattr(self, self.parameter, value)

    def reset(self, n_states: int, n_actions: int) -> None:
        super().reset(n_states, n_actions)
        self._set_from_schedule()

    def end_episode(self) -> None:
        super().end_episode()
        self._set_from_schedule()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.parameter}={getattr(self, self.parameter):g})"


class EpsilonGreedy(_ScheduledStrategy):
    """pi(a|s) = epsilon / |A| + (1 - epsilon) * [a is greedy] / (number of greedy actions).

    ``epsilon`` is a number in [0, 1] or a schedule of the episode index (decay).
    """

    parameter = "epsilon"

    def __init__(self, epsilon: float | Schedule = 0.1) -> None:
        super().__init__(epsilon)

    def _check(self, epsilon: float) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"EpsilonGreedy: epsilon must be in [0, 1], got {epsilon!r}")

    def probabilities(self, q_row: np.ndarray, state: int) -> np.ndarray:
        n_actions = len(q_row)
        return self.epsilon / n_actions + (1.0 - self.epsilon) * _greedy_probabilities(q_row)

    def select(self, q_row: np.ndarray, state: int, rng: np.random.Generator) -> int:
        if rng.random() < self.epsilon:
            return int(rng.random() * len(q_row))
        return argmax_random_tiebreak_1d(q_row, rng)


class Boltzmann(_ScheduledStrategy):
    """pi(a|s) = exp(Q(s,a) / T) / sum_b exp(Q(s,b) / T)  (softmax with temperature T > 0).

    ``temperature`` is a positive number or a schedule of the episode index (annealing).
    Computed with the max-shifted softmax of ``tinygrad_rl.arrays``, so large |Q| / T does not overflow.
    """

    parameter = "temperature"

    def __init__(self, temperature: float | Schedule = 1.0) -> None:
        super().__init__(temperature)

    def _check(self, temperature: float) -> None:
        if not temperature > 0.0:
            raise ValueError(f"Boltzmann: temperature must be > 0, got {temperature!r}")

    def probabilities(self, q_row: np.ndarray, state: int) -> np.ndarray:
        return softmax(q_row, temperature=self.temperature)

    def select(self, q_row: np.ndarray, state: int, rng: np.random.Generator) -> int:
        # Sampling needs only the unnormalised weights exp((q - max q) / T) (max-shifted, so no
        # overflow); skipping the normalisation of the full softmax makes this ~10x cheaper per step.
        cdf = np.cumsum(np.exp((q_row - q_row.max()) / self.temperature))
        return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))


class UCB(ExplorationStrategy):
    """a = argmax_a [ Q(s,a) + c * sqrt( ln N(s) / N(s,a) ) ], untried actions first.

    N(s,a) counts how often action a was taken in state s (``observe``), N(s) = sum_a N(s,a).
    An action with N(s,a) = 0 has an infinite bonus, so in every state each action is tried
    once (in random order) before any is repeated. Deterministic given the counts except for
    ties; ``probabilities`` is therefore uniform over the maximisers of the bound.
    Reference: Auer et al. (2002), UCB1; Sutton & Barto (2018), eq. 2.10, applied per state.
    """

    def __init__(self, c: float = 2.0) -> None:
        super().__init__()
        if not (isinstance(c, (int, float, np.integer, np.floating)) and c >= 0.0):
            raise ValueError(f"UCB: c must be a number >= 0, got {c!r}")
        self.c = float(c)
        self.counts = np.zeros((0, 0), dtype=np.int64)
        self.state_counts = np.zeros(0, dtype=np.int64)

    def reset(self, n_states: int, n_actions: int) -> None:
        super().reset(n_states, n_actions)
        self.counts = np.zeros((n_states, n_actions), dtype=np.int64)
        self.state_counts = np.zeros(n_states, dtype=np.int64)

    def _require_reset(self, state: int) -> None:
        if self.n_states is None:
            raise RuntimeError("UCB: call reset(n_states, n_actions) before selecting actions")
        if not 0 <= state < self.n_states:
            raise ValueError(f"UCB: state {state!r} outside [0, {self.n_states})")

    def upper_bounds(self, q_row: np.ndarray, state: int) -> np.ndarray:
        """Q(s,.) + c * sqrt(ln N(s) / N(s,.)), +inf for untried actions."""
        self._require_reset(state)
        counts = self.counts[state]
        untried = counts == 0
        if untried.any():
            return np.where(untried, np.inf, q_row)
        return q_row + self.c * np.sqrt(math.log(self.state_counts[state]) / counts)

    def probabilities(self, q_row: np.ndarray, state: int) -> np.ndarray:
        return _greedy_probabilities(self.upper_bounds(q_row, state))

    def select(self, q_row: np.ndarray, state: int, rng: np.random.Generator) -> int:
        return argmax_random_tiebreak_1d(self.upper_bounds(q_row, state), rng)

    def observe(self, state: int, action: int) -> None:
        self.counts[state, action] += 1
        self.state_counts[state] += 1

    def __repr__(self) -> str:
        return f"UCB(c={self.c:g})"
