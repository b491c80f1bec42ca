"""Storage for experience: a replay ring buffer (off-policy) and a rollout batch (on-policy).

Both keep ``terminated`` apart from ``truncated``: a terminated transition has no future
(its target does not bootstrap), a truncated one was cut by a time limit and still does.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Transitions", "ContinuousTransitions", "ReplayBuffer", "continuous_batch", "Rollout", "Episodes"]


@dataclass(frozen=True)
class Transitions:
    """A batch of transitions (s, a, r, s', terminated, truncated), one row each.

    ``next_obs`` is the observation that really followed ``obs`` — for the last step of an
    episode that is the final observation, never the observation after a reset.
    """
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class ContinuousTransitions(Transitions):
    """A batch for an off-policy actor-critic (Box actions): transitions whose ``actions`` are rows
    in [-1, 1]^|A| (the actor's scale), plus everything random the loss needs, drawn by the loop:

    - ``noise``, ``next_noise``: standard normal draws of shape (batch, |A|) for actions sampled at
      ``obs`` and at ``next_obs`` (SAC's reparameterised actions, TD3's target policy smoothing), so
      the loss is a deterministic function of its batch (a gradcheck can evaluate it again);
    - ``update_actor``: whether this gradient step updates the actor (every ``policy_delay``-th);
      on the others the loss leaves its actor terms out.
    """
    noise: np.ndarray
    next_noise: np.ndarray
    update_actor: bool = True


class ReplayBuffer:
    """A preallocated NumPy ring buffer of transitions with uniform sampling.

    Once ``capacity`` transitions are stored, each new one overwrites the oldest.
    Sampling draws indices uniformly with replacement from the caller's generator, as in
    Mnih et al. (2015), "Human-level control through deep reinforcement learning".
    Actions are integers by default (Discrete); ``action_shape=(n,), action_dtype=np.float32``
    stores Box actions.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32,
                 action_shape: tuple[int, ...] = (), action_dtype=np.int64):
        if not isinstance(capacity, (int, np.integer)) or isinstance(capacity, bool) or capacity <= 0:
            raise ValueError(f"ReplayBuffer: capacity must be a positive int, got {capacity!r}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(obs_shape)
        self.action_shape = tuple(action_shape)
        self.obs = np.zeros((self.capacity, *self.obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((self.capacity, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=bool)
        self.truncated = np.zeros(self.capacity, dtype=bool)
        self._next = 0      # slot the next transition is written to
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Store one transition, overwriting the oldest when full."""
        obs = np.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(f"ReplayBuffer.add: obs shape {obs.shape} != expected {self.obs_shape}")
        if np.shape(action) != self.action_shape:
            raise ValueError(f"ReplayBuffer.add: action shape {np.shape(action)} != expected {self.action_shape}")
        i = self._next
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Transitions:
        """``batch_size`` transitions drawn uniformly (with replacement) using ``rng``."""
        if self._size == 0:
            raise ValueError("ReplayBuffer.sample: the buffer is empty")
        if batch_size <= 0:
            raise ValueError(f"ReplayBuffer.sample: batch_size must be > 0, got {batch_size!r}")
        idx = rng.integers(0, self._size, size=batch_size)
        return Transitions(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                           self.terminated[idx], self.truncated[idx])


def continuous_batch(buffer: ReplayBuffer, batch_size: int, rng: np.random.Generator,
                     update_actor: bool = True) -> ContinuousTransitions:
    """``batch_size`` transitions drawn uniformly from ``buffer`` (of Box actions), with the
    standard-normal ``noise`` and ``next_noise`` (batch, |A|) the loss samples its actions with,
    all drawn from ``rng``."""
    t = buffer.sample(batch_size, rng)
    noise = rng.standard_normal((2, *t.actions.shape), dtype=np.float32)
    return ContinuousTransitions(t.obs, t.actions, t.rewards, t.next_obs, t.terminated, t.truncated,
                                 noise[0], noise[1], update_actor)


@dataclass(frozen=True)
class Rollout:
    """A flat on-policy batch: what the on-policy loop hands its loss.

    ``log_probs`` and ``values`` are log pi_old(a_t | s_t) and V_old(s_t) of the policy that
    collected the rollout (fixed arrays, for PPO's ratio and value clipping); ``advantages`` are
    GAE(lambda) advantages and ``returns = advantages + values`` the value targets. ``obs`` are as
    the policy saw them (normalised when observation normalisation is on). Rows come only from
    real transitions (no autoreset steps, nothing crossing an episode boundary).
    """
    obs: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def __getitem__(self, rows) -> "Rollout":
        """The rows ``rows`` (an index array or slice) of every field: a minibatch."""
        return Rollout(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass(frozen=True)
class Episodes:
    """Whole episodes for Monte Carlo policy gradients (REINFORCE): ``returns`` are G_t."""
    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)
