"""``UnifiedAgent``: one tabular TD-control agent for Q-learning, SARSA and expected SARSA.

All three methods share one update, Q(s,a) <- Q(s,a) + alpha * (target - Q(s,a)), and differ
only in the target, which lives in one place: ``td_target``. The functions ``q_learning``,
``sarsa`` and ``expected_sarsa`` in ``td.py`` are thin wrappers over this agent.

Optional potential-based reward shaping (Ng, Harada & Russell 1999): the learner sees
r + F(s, s') with F = gamma * phi(s') - phi(s), and phi(terminal) = 0, which leaves the optimal
policy unchanged. Recorded episode returns are always the environment's own rewards.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from tinygrad_rl.arrays import argmax_random_tiebreak_1d, make_rng

from .exploration import EpsilonGreedy, ExplorationStrategy
from .result import TabularResult, check_alpha, check_episodes, check_gamma, discrete_sizes

__all__ = ["UnifiedAgent", "td_target", "TD_ALGORITHMS"]

TD_ALGORITHMS = ("q_learning", "sarsa", "expected_sarsa")


def td_target(algorithm: str, reward: float, next_q_row: np.ndarray, gamma: float, terminated: bool,
              next_action: int | None = None, next_probs: np.ndarray | None = None) -> float:
    """The one-step TD target of a transition (s, a, r, s').

    q_learning:      r + gamma * max_a' Q(s', a')                    (Watkins 1989; S&B eq. 6.8)
    sarsa:           r + gamma * Q(s', a'),  a' the next action taken  (S&B eq. 6.7)
    expected_sarsa:  r + gamma * sum_a' pi(a'|s') Q(s', a')          (S&B eq. 6.9)

    On termination the target is r alone (the value of a terminal state is 0). On truncation
    the caller passes ``terminated=False``: the episode was cut, not finished, so we bootstrap.
    """
    if terminated:
        return float(reward)
    if algorithm == "q_learning":
        return reward + gamma * float(next_q_row.max())
    if algorithm == "sarsa":
        if next_action is None:
            raise ValueError("td_target: sarsa needs next_action when the transition is not terminal")
        return reward + gamma * float(next_q_row[next_action])
    if algorithm == "expected_sarsa":
        if next_probs is None:
            raise ValueError("td_target: expected_sarsa needs next_probs when the transition is not terminal")
        return reward + gamma * float(next_probs @ next_q_row)
    raise ValueError(f"td_target: algorithm must be one of {TD_ALGORITHMS}, got {algorithm!r}")


class UnifiedAgent:
    """A configurable tabular TD-control agent.

    Parameters
    ----------
    algorithm:   "q_learning" | "sarsa" | "expected_sarsa".
    exploration: an ``ExplorationStrategy`` (default ``EpsilonGreedy(0.1)``); the agent resets it
                 when its Q table is created, so give each live agent its own strategy object.
    alpha:       step size in (0, 1].
    gamma:       discount in [0, 1].
    shaping:     None, a potential phi as an array of shape (n_states,), or a callable phi(state) -> float.
    n_states, n_actions: table size; if None, taken from the env at the first ``train``.
    seed:        seed (or Generator) of the agent's random numbers: action choice, tie-breaks, env seeds.
    initial_q:   initial value of every Q entry (optimistic initialisation if > 0 for rewards <= 0).
    """

    def __init__(self, algorithm: str = "q_learning", exploration: ExplorationStrategy | None = None,
                 alpha: float = 0.5, gamma: float = 1.0,
                 shaping: np.ndarray | Callable[[int], float] | None = None, *,
                 n_states: int | None = None, n_actions: int | None = None,
                 seed: int | None | np.random.Generator = None, initial_q: float = 0.0) -> None:
        if algorithm not in TD_ALGORITHMS:
            raise ValueError(f"UnifiedAgent: algorithm must be one of {TD_ALGORITHMS}, got {algorithm!r}")
        check_alpha(alpha)
        check_gamma(gamma)
        exploration = EpsilonGreedy(0.1) if exploration is None else exploration
        if not isinstance(exploration, ExplorationStrategy):
            raise TypeError(f"UnifiedAgent: exploration must be an ExplorationStrategy, got {exploration!r}")
        self.algorithm = algorithm
        self.exploration = exploration
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.initial_q = float(initial_q)
        self.seed = seed if not isinstance(seed, np.random.Generator) else None
        self.rng = make_rng(seed)
        self._shaping_input = shaping
        self.potential: Callable[[int], float] | None = None
        self.Q: np.ndarray | None = None
        if (n_states is None) != (n_actions is None):
            raise ValueError("UnifiedAgent: give both n_states and n_actions, or neither")
        if n_states is not None:
            self._create_table(int(n_states), int(n_actions))

    # ------------------------------------------------------------------ table and shaping

    def _create_table(self, n_states: int, n_actions: int) -> None:
        if n_states <= 0 or n_actions <= 0:
            raise ValueError(f"UnifiedAgent: need n_states > 0 and n_actions > 0, got {n_states}, {n_actions}")
        self.Q = np.full((n_states, n_actions), self.initial_q, dtype=np.float64)
        self.exploration.reset(n_states, n_actions)
        self.potential = self._make_potential(self._shaping_input, n_states)

    @staticmethod
    def _make_potential(shaping, n_states: int) -> Callable[[int], float] | None:
        if shaping is None:
            return None
        if callable(shaping):
            return shaping
        phi = np.asarray(shaping, dtype=np.float64)
        if phi.shape != (n_states,):
            raise ValueError(f"UnifiedAgent: shaping potential must have shape ({n_states},), got {phi.shape}")
        if not np.all(np.isfinite(phi)):
            raise ValueError("UnifiedAgent: shaping potential has non-finite entries")
        return phi.__getitem__

    def _table_for(self, env: gym.Env) -> np.ndarray:
        n_states, n_actions = discrete_sizes(env)
        if self.Q is None:
            self._create_table(n_states, n_actions)
        elif self.Q.shape != (n_states, n_actions):
            raise ValueError(f"UnifiedAgent: Q table has shape {self.Q.shape} but the env has "
                             f"{n_states} states and {n_actions} actions")
        return self.Q

    def _require_table(self) -> np.ndarray:
        if self.Q is None:
            raise RuntimeError("UnifiedAgent: no Q table yet; pass n_states/n_actions or call train(env, ...) first")
        return self.Q

    # ------------------------------------------------------------------ acting and learning

    def select_action(self, state: int) -> int:
        """The behaviour policy's action in ``state``; the exploration strategy records it as taken."""
        Q = self._require_table()
        action = self.exploration.select(Q[state], state, self.rng)
        self.exploration.observe(state, action)
        return action

    def greedy_action(self, state: int) -> int:
        """argmax_a Q(state, a), ties broken at random with the agent's generator."""
        return argmax_random_tiebreak_1d(self._require_table()[state], self.rng)

    def update(self, state: int, action: int, reward: float, next_state: int, terminated: bool,
               next_action: int | None = None) -> float:
        """Q(s,a) += alpha * (td_target - Q(s,a)); returns the TD error (target - old Q(s,a)).

        ``terminated`` is gymnasium's flag (not ``terminated or truncated``): a truncated step
        still bootstraps from Q(s', .). SARSA needs ``next_action`` unless terminated.
        """
        Q = self._require_table()
        if self.potential is not None:
            next_potential = 0.0 if terminated else self.potential(next_state)
            reward = reward + self.gamma * next_potential - self.potential(state)
        next_q_row = Q[next_state]
        next_probs = None
        if self.algorithm == "expected_sarsa" and not terminated:
            next_probs = self.exploration.probabilities(next_q_row, next_state)
        target = td_target(self.algorithm, reward, next_q_row, self.gamma, terminated, next_action, next_probs)
        td_error = target - Q[state, action]
        Q[state, action] += self.alpha * td_error
        return td_error

    def train(self, env: gym.Env, episodes: int, seed: int | None = None) -> TabularResult:
        """Run ``episodes`` episodes of online TD control on ``env``; returns a ``TabularResult``.

        The env is reset with a seed drawn from the agent's generator at the start of the call,
        so a fixed agent seed gives identical Q tables. ``seed`` (optional) re-seeds the agent first.
        The decay schedule of the exploration strategy advances once per episode.
        """
        check_episodes(episodes)
        if seed is not None:
            self.rng, self.seed = make_rng(seed), seed
        Q = self._table_for(env)
        is_sarsa = self.algorithm == "sarsa"
        returns = np.zeros(episodes, dtype=np.float64)
        lengths = np.zeros(episodes, dtype=np.int64)
        env_seed = int(self.rng.integers(2**31 - 1))
        for episode in range(episodes):
            state, _ = env.reset(seed=env_seed if episode == 0 else None)
            action = self.select_action(state)
            total, steps = 0.0, 0
            while True:
                next_state, reward, terminated, truncated, _ = env.step(action)
                total += reward
                steps += 1
                next_action = None
                if is_sarsa and not terminated:
                    # On truncation a' only serves the bootstrap; it is not taken, so not observed.
                    next_action = (self.exploration.select(Q[next_state], next_state, self.rng) if truncated
                                   else self.select_action(next_state))
                self.update(state, action, reward, next_state, terminated, next_action)
                if terminated or truncated:
                    break
                state = next_state
                action = next_action if is_sarsa else self.select_action(next_state)
            returns[episode], lengths[episode] = total, steps
            self.exploration.end_episode()
        return TabularResult(Q=Q.copy(), V=Q.max(axis=1), episode_returns=returns, episode_lengths=lengths,
                             algorithm=self.algorithm, seed=self.seed)

    def evaluate(self, env: gym.Env, episodes: int = 100, seed: int | None = None,
                 max_steps: int = 10_000) -> np.ndarray:
        """Undiscounted returns of ``episodes`` episodes of the greedy policy (no learning).

        Ties are broken at random with a generator of its own (from ``seed``, else from the
        agent's). A greedy policy can loop forever (e.g. into a wall), so each episode is cut
        after ``max_steps`` steps.
        """
        check_episodes(episodes)
        if max_steps <= 0:
            raise ValueError(f"evaluate: max_steps must be > 0, got {max_steps!r}")
        Q = self._table_for(env)
        rng = make_rng(seed) if seed is not None else np.random.default_rng(self.rng.integers(2**31 - 1))
        returns = np.zeros(episodes, dtype=np.float64)
        env_seed = int(rng.integers(2**31 - 1))
        for episode in range(episodes):
            state, _ = env.reset(seed=env_seed if episode == 0 else None)
            for _ in range(max_steps):
                state, reward, terminated, truncated, _ = env.step(argmax_random_tiebreak_1d(Q[state], rng))
                returns[episode] += reward
                if terminated or truncated:
                    break
        return returns

    def __repr__(self) -> str:
        return (f"UnifiedAgent(algorithm={self.algorithm!r}, exploration={self.exploration!r}, "
                f"alpha={self.alpha:g}, gamma={self.gamma:g}, "
                f"shaping={'on' if self._shaping_input is not None else None})")
