"""Monte Carlo prediction and on-policy control from complete episodes.

After each episode the return G_t = R_{t+1} + gamma * G_{t+1} is computed backwards
(``tinygrad_rl.arrays.discounted_returns``) and every visited entry moves towards it:

    V(S_t) <- V(S_t) + step * (G_t - V(S_t)),   step = 1 / N(S_t) (sample average) or alpha.

First-visit MC uses only the first visit of each state (or state-action pair) in an episode,
every-visit MC uses all of them (Sutton & Barto 2018, sections 5.1-5.4).

An episode that is truncated (time limit) rather than terminated has no final return, so the
return is bootstrapped from the current estimate of the state it was cut at: V(s_T) for
prediction, sum_a pi(a|s_T) Q(s_T, a) for control.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from tinygrad_rl.arrays import argmax_random_tiebreak_1d, discounted_returns, make_rng

from .exploration import EpsilonGreedy, ExplorationStrategy
from .result import TabularResult, check_alpha, check_episodes, check_gamma, discrete_sizes

__all__ = ["mc_prediction", "mc_control"]

Policy = Callable[[int, np.random.Generator], int]


def _policy_callable(policy, n_states: int, n_actions: int) -> Policy:
    """A policy given as actions (S,), probabilities (S, A) or callable(state, rng) -> action."""
    if callable(policy):
        return policy
    table = np.asarray(policy)
    if table.shape == (n_states,) and np.issubdtype(table.dtype, np.integer):
        if table.min() < 0 or table.max() >= n_actions:
            raise ValueError(f"policy actions must lie in [0, {n_actions}), got range "
                             f"[{table.min()}, {table.max()}]")
        return lambda state, rng: int(table[state])
    if table.shape == (n_states, n_actions):
        table = table.astype(np.float64)
        if np.any(table < 0) or not np.allclose(table.sum(axis=1), 1.0, atol=1e-8):
            raise ValueError("policy probabilities must be non-negative with rows summing to 1")
        cdf = np.cumsum(table, axis=1)
        return lambda state, rng: int(np.searchsorted(cdf[state], rng.random() * cdf[state, -1], side="right"))
    raise ValueError(f"policy must be an int array of shape ({n_states},), a probability array of shape "
                     f"({n_states}, {n_actions}) or a callable(state, rng) -> action; got shape {table.shape}")


def _play_episode(env: gym.Env, choose_action: Callable[[int, int], int], reset_seed: int | None):
    """One episode: states, actions, rewards arrays, whether it terminated, and the state it ended in."""
    states, actions, rewards = [], [], []
    state, _ = env.reset(seed=reset_seed)
    while True:
        action = choose_action(state, len(states))
        next_state, reward, terminated, truncated, _ = env.step(action)
        states.append(state)
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            return (np.asarray(states, dtype=np.int64), np.asarray(actions, dtype=np.int64),
                    np.asarray(rewards, dtype=np.float64), terminated, next_state)
        state = next_state


def _average_towards_returns(table: np.ndarray, counts: np.ndarray, keys: np.ndarray, returns: np.ndarray,
                             alpha: float | None, first_visit: bool) -> None:
    """Move table[k] towards G for each visit k (flat indices), in time order; in place."""
    if first_visit:
        _, first = np.unique(keys, return_index=True)
        keys, returns = keys[first], returns[first]
    for key, ret in zip(keys.tolist(), returns.tolist()):
        counts[key] += 1
        step = 1.0 / counts[key] if alpha is None else alpha
        table[key] += step * (ret - table[key])


def mc_prediction(env: gym.Env, policy, episodes: int, alpha: float | None = None, gamma: float = 1.0,
                  seed: int | None = 0, *, first_visit: bool = True) -> TabularResult:
    """Estimate V^pi by Monte Carlo; ``policy`` is actions (S,), probabilities (S, A) or
    callable(state, rng) -> action. ``alpha=None`` uses sample averages (1/N). Returns a
    ``TabularResult`` with ``V`` and ``Q=None``.
    """
    check_episodes(episodes)
    check_alpha(alpha, allow_none=True)
    check_gamma(gamma)
    n_states, n_actions = discrete_sizes(env)
    act = _policy_callable(policy, n_states, n_actions)
    rng = make_rng(seed)
    V = np.zeros(n_states)
    counts = np.zeros(n_states, dtype=np.int64)
    returns_log = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    env_seed = int(rng.integers(2**31 - 1))
    for episode in range(episodes):
        states, _, rewards, terminated, last_state = _play_episode(
            env, lambda state, t: act(state, rng), env_seed if episode == 0 else None)
        bootstrap = 0.0 if terminated else V[last_state]
        _average_towards_returns(V, counts, states, discounted_returns(rewards, gamma, bootstrap=bootstrap),
                                 alpha, first_visit)
        returns_log[episode], lengths[episode] = rewards.sum(), len(rewards)
    return TabularResult(Q=None, V=V, episode_returns=returns_log, episode_lengths=lengths,
                         algorithm="mc_prediction", seed=seed if not isinstance(seed, np.random.Generator) else None)


def mc_control(env: gym.Env, episodes: int, alpha: float | None = None, gamma: float = 1.0,
               exploration: ExplorationStrategy | None = None, seed: int | None = 0, *,
               first_visit: bool = True, exploring_starts: bool = False,
               initial_q: float = 0.0) -> TabularResult:
    """On-policy Monte Carlo control (S&B section 5.4), or Monte Carlo ES (section 5.3).

    Default: actions follow ``exploration`` on the current Q (``EpsilonGreedy(0.1)`` if None: an
    epsilon-soft policy), Q moves towards the observed returns after each episode.

    ``exploring_starts=True``: the first action of each episode is uniform at random and all
    later ones are greedy (ties at random); ``exploration`` must then be None. The start *state*
    is whatever ``env.reset`` gives, so this is Monte Carlo ES exactly when every state can start
    an episode (e.g. Blackjack, up to the few sums two cards cannot make).
    """
    check_episodes(episodes)
    check_alpha(alpha, allow_none=True)
    check_gamma(gamma)
    n_states, n_actions = discrete_sizes(env)
    if exploring_starts and exploration is not None:
        raise ValueError("mc_control: exploring_starts=True follows the greedy policy after the first action; "
                         f"pass exploration=None, got {exploration!r}")
    explorer = None if exploring_starts else (EpsilonGreedy(0.1) if exploration is None else exploration)
    rng = make_rng(seed)
    Q = np.full((n_states, n_actions), float(initial_q))
    counts = np.zeros(n_states * n_actions, dtype=np.int64)
    if explorer is not None:
        explorer.reset(n_states, n_actions)

    def choose_action(state: int, t: int) -> int:
        if explorer is None:
            return int(rng.integers(n_actions)) if t == 0 else argmax_random_tiebreak_1d(Q[state], rng)
        action = explorer.select(Q[state], state, rng)
        explorer.observe(state, action)
        return action

    returns_log = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    env_seed = int(rng.integers(2**31 - 1))
    for episode in range(episodes):
        states, actions, rewards, terminated, last_state = _play_episode(
            env, choose_action, env_seed if episode == 0 else None)
        if terminated:
            bootstrap = 0.0
        elif explorer is None:
            bootstrap = float(Q[last_state].max())
        else:
            bootstrap = float(explorer.probabilities(Q[last_state], last_state) @ Q[last_state])
        _average_towards_returns(Q.reshape(-1), counts, states * n_actions + actions,
                                 discounted_returns(rewards, gamma, bootstrap=bootstrap), alpha, first_visit)
        returns_log[episode], lengths[episode] = rewards.sum(), len(rewards)
        if explorer is not None:
            explorer.end_episode()
    return TabularResult(Q=Q, V=Q.max(axis=1), episode_returns=returns_log, episode_lengths=lengths,
                         algorithm="mc_control", seed=seed if not isinstance(seed, np.random.Generator) else None)
