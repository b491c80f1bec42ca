"""Storage for experience: a replay ring buffer (off-policy) and a rollout batch (on-policy).

Both keep ``terminated`` apart from ``truncated``: a terminated transition has no future
(its target does not bootstrap), a truncated one was cut by a time limit and still does.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Transitions", "ReplayBuffer", "Rollout", "Episodes"]


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


class ReplayBuffer:
    """A preallocated NumPy ring buffer of transitions with uniform sampling.

    Once ``capacity`` transitions are stored, each new one overwrites the oldest.
    Sampling draws indices uniformly with replacement from the caller's generator, as in
    Mnih et al. (2015), "Human-level control through deep reinforcement learning".
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32):
        if not isinstance(capacity, (int, np.integer)) or isinstance(capacity, bool) or capacity <= 0:
            raise ValueError(f"ReplayBuffer: capacity must be a positive int, got {capacity!r}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(obs_shape)
        for name, (shape, dtype) in self._columns(self.capacity, self.obs_shape, obs_dtype).items():
            setattr(self, name, np.zeros(shape, dtype=dtype))
        self._next = 0      # slot the next transition is written to
        self._size = 0

    @staticmethod
    def _columns(capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> dict[str, tuple]:
        """{column: (shape, dtype)} of the storage (one place for allocation and :meth:`nbytes`)."""
        return {"obs": ((capacity, *obs_shape), obs_dtype), "next_obs": ((capacity, *obs_shape), obs_dtype),
                "actions": ((capacity,), np.int64), "rewards": ((capacity,), np.float32),
                "terminated": ((capacity,), bool), "truncated": ((capacity,), bool)}

    @classmethod
    def nbytes(cls, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> int:
        """Bytes a full buffer of ``capacity`` transitions takes, computed without allocating it."""
        return sum(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
                   for shape, dtype in cls._columns(capacity, tuple(obs_shape), obs_dtype).values())

    def state_dict(self) -> dict:
        """The filled rows as they lie in memory and the write position ``next`` (which keeps the
        ring order). Arrays are views, not copies: save them before the buffer changes."""
        rows = slice(0, self._size)
        return {**{name: getattr(self, name)[rows] for name in self._columns(0, self.obs_shape)},
                "next": self._next, "size": self._size}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into a buffer of the same capacity and observation shape."""
        size, next_slot = state.get("size"), state.get("next")
        if not (isinstance(size, int) and isinstance(next_slot, int) and 0 <= size <= self.capacity
                and 0 <= next_slot < self.capacity and (size == self.capacity or next_slot == size)):
            raise ValueError(f"ReplayBuffer.load_state_dict: size {size!r} and next {next_slot!r} do not fit "
                             f"capacity {self.capacity}")
        for name in self._columns(0, self.obs_shape):
            target = getattr(self, name)
            value = np.asarray(state.get(name))
            if value.shape != (size, *target.shape[1:]) or value.dtype != target.dtype:
                raise ValueError(f"ReplayBuffer.load_state_dict: {name} has shape {value.shape} and dtype "
                                 f"{value.dtype}, expected {(size, *target.shape[1:])} and {target.dtype}")
        for name in self._columns(0, self.obs_shape):
            getattr(self, name)[:size] = state[name]
        self._size, self._next = size, next_slot

    def __len__(self) -> int:
        return self._size

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Store one transition, overwriting the oldest when full."""
        obs = np.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(f"ReplayBuffer.add: obs shape {obs.shape} != expected {self.obs_shape}")
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
