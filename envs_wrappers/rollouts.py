"""Run a fixed tabular policy in a real environment and collect per-episode arrays."""
from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np

__all__ = ["Rollouts", "policy_rollouts"]


class Rollouts(NamedTuple):
    """Per-episode results of ``policy_rollouts``, each an array of shape (episodes,)."""

    returns: np.ndarray        # undiscounted sum of rewards
    lengths: np.ndarray        # env steps
    start_states: np.ndarray   # observation after reset
    last_rewards: np.ndarray   # reward of the final step (FrozenLake: 1 means the goal was reached)
    terminated: np.ndarray     # True if the episode terminated, False if it was truncated


def policy_rollouts(env: gym.Env, policy: np.ndarray, episodes: int, seed: int) -> Rollouts:
    """Play ``episodes`` episodes of the deterministic ``policy[state]`` in ``env``.

    Episode ``i`` is reset with seed ``seed + i``, so the same arguments give the same episodes.
    The env's own ``TimeLimit`` (if any) bounds each episode; without one, a policy that never
    terminates would loop forever, so such envs are rejected.
    """
    policy = np.asarray(policy)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or policy.shape != (env.observation_space.n,):
        raise ValueError(f"policy_rollouts: need a Discrete observation space and a policy of shape "
                         f"(n_states,), got {env.observation_space} and {policy.shape}")
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes <= 0:
        raise ValueError(f"policy_rollouts: episodes must be a positive int, got {episodes!r}")
    if env.spec is None or env.spec.max_episode_steps is None:
        raise ValueError("policy_rollouts: env has no TimeLimit (max_episode_steps); make it with "
                         "make_env/gymnasium.make so every episode ends")
    actions = policy.tolist()
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    starts, last_rewards = np.zeros(episodes, dtype=np.int64), np.zeros(episodes)
    terminated_flags = np.zeros(episodes, dtype=bool)
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + episode)
        starts[episode] = state
        terminated = truncated = False
        while not (terminated or truncated):
            state, reward, terminated, truncated, _ = env.step(actions[state])
            returns[episode] += reward
            lengths[episode] += 1
        last_rewards[episode] = reward
        terminated_flags[episode] = terminated
    return Rollouts(returns, lengths, starts, last_rewards, terminated_flags)
