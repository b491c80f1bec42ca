"""Rewards known as functions: r(s, a, s') and the termination test of an env, for planning.

A planner that imagines trajectories through a learned dynamics model still has to score them.
PETS (Chua et al. 2018, sec. 5) learns only the dynamics and takes the reward as a known function
of the state, the action and the next state, as most model-based RL on control tasks does. This
module is the small registry of those functions, one entry per gymnasium id:

    register_reward("Pendulum-v1", pendulum_reward)
    known_reward("Pendulum-v1").reward(obs, actions, next_obs)      # vectorised over leading axes

Each function mirrors the env's own ``step`` exactly (tested against the env on random
transitions), on arrays of any leading shape: ``obs`` (..., obs_dim), ``actions`` (..., act_dim),
``next_obs`` (..., obs_dim) -> (...,). ``terminated(next_obs) -> bool (...,)`` is given for envs
whose episodes end on reaching a state (MountainCarContinuous at the flag); a planner stops adding
a particle's rewards after its predicted termination. An env without an entry cannot be planned
for, and :func:`known_reward` says so, naming those that can.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["KnownReward", "register_reward", "known_reward", "known_reward_envs", "pendulum_reward",
           "pendulum_state_change", "mountain_car_continuous_reward", "mountain_car_continuous_terminated"]

_ENV_ID = re.compile(r"^[A-Za-z0-9_/.-]+-v\d+$")


@dataclass(frozen=True)
class KnownReward:
    """The reward r(s, a, s') of one env and, if its episodes can end in a state, terminated(s')."""
    env_id: str
    reward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    terminated: Callable[[np.ndarray], np.ndarray] | None = None


_REWARDS: dict[str, KnownReward] = {}


def register_reward(env_id: str, reward: Callable, terminated: Callable | None = None,
                    replace: bool = False) -> KnownReward:
    """Make ``env_id`` plannable: ``reward(obs, actions, next_obs) -> rewards`` and, optionally,
    ``terminated(next_obs) -> bool mask``, both vectorised over leading axes."""
    if not isinstance(env_id, str) or not _ENV_ID.match(env_id):
        raise ValueError(f"register_reward: env_id must be a gymnasium id like 'Pendulum-v1', got {env_id!r}")
    if not callable(reward) or (terminated is not None and not callable(terminated)):
        raise TypeError(f"register_reward({env_id!r}): reward (and terminated, if given) must be callable, "
                        f"got {reward!r}, {terminated!r}")
    if env_id in _REWARDS and not replace:
        raise ValueError(f"register_reward: {env_id!r} already has a reward function; pass replace=True")
    entry = KnownReward(env_id, reward, terminated)
    _REWARDS[env_id] = entry
    return entry


def known_reward_envs() -> list[str]:
    """The env ids that have a known reward function, sorted."""
    return sorted(_REWARDS)


def known_reward(env_id: str | None) -> KnownReward:
    """The registered reward of ``env_id``; ValueError naming the envs that have one otherwise."""
    if env_id not in _REWARDS:
        raise ValueError(f"no known reward function for {env_id!r}: planning scores imagined trajectories "
                         f"with the env's reward as a function r(s, a, s'), registered for "
                         f"{', '.join(known_reward_envs())} "
                         "(add one with algorithms.model_based.known_rewards.register_reward)")
    return _REWARDS[env_id]


# ----------------------------------------------------------------------------- the envs


def pendulum_reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Pendulum-v1: r = -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2), with theta in [-pi, pi) the angle
    from upright, theta = atan2(sin theta, cos theta) of the observation (cos theta, sin theta,
    theta_dot), and u the torque clipped to [-2, 2] as the env clips it. It depends on the state
    before the step only (gymnasium's ``PendulumEnv.step``)."""
    obs, actions = np.asarray(obs), np.asarray(actions)
    theta = np.arctan2(obs[..., 1], obs[..., 0])
    torque = np.clip(actions[..., 0], -2.0, 2.0)
    return -(theta ** 2 + 0.1 * obs[..., 2] ** 2 + 0.001 * torque ** 2)


def pendulum_state_change(inputs: np.ndarray) -> np.ndarray:
    """Pendulum-v1's exact step as the state change a dynamics model predicts: for inputs
    (cos th, sin th, thdot, u), thdot' = clip(thdot + (3g/2l sin th + 3/(ml^2) clip(u, +-2)) dt, +-8)
    and th' = th + thdot' dt (g = 10, m = l = 1, dt = 0.05; gymnasium's ``PendulumEnv.step``), and
    the change (cos th', sin th', thdot') - (cos th, sin th, thdot). Planning with it in place of a
    learned model measures the planner alone."""
    cos, sin, thdot, torque = (inputs[..., i] for i in range(4))
    theta = np.arctan2(sin, cos)
    new_thdot = np.clip(thdot + (3 * 10.0 / 2 * np.sin(theta) + 3.0 * np.clip(torque, -2, 2)) * 0.05, -8, 8)
    new_theta = theta + new_thdot * 0.05
    return np.stack([np.cos(new_theta) - cos, np.sin(new_theta) - sin, new_thdot - thdot], axis=-1)


def mountain_car_continuous_terminated(next_obs: np.ndarray) -> np.ndarray:
    """MountainCarContinuous-v0 ends when the car reaches the flag: position >= 0.45 with velocity >= 0."""
    next_obs = np.asarray(next_obs)
    return (next_obs[..., 0] >= 0.45) & (next_obs[..., 1] >= 0.0)


def mountain_car_continuous_reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """MountainCarContinuous-v0: r = 100 [the step reaches the flag] - 0.1 a^2 (the env charges the
    unclipped action; gymnasium's ``Continuous_MountainCarEnv.step``)."""
    actions = np.asarray(actions)
    return 100.0 * mountain_car_continuous_terminated(next_obs) - 0.1 * actions[..., 0] ** 2


register_reward("Pendulum-v1", pendulum_reward)
register_reward("MountainCarContinuous-v0", mountain_car_continuous_reward, mountain_car_continuous_terminated)
