"""NumPy helpers shared by the tabular methods and the deep-RL trainers.

Nothing here knows about Tensors or environments: plain arrays in, plain arrays out.
Randomness always comes from an ``np.random.Generator`` passed in by the caller.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = [
    "make_rng", "spawn_seeds", "argmax_random_tiebreak", "argmax_random_tiebreak_1d", "softmax", "log_softmax",
    "logsumexp", "discounted_returns", "gae", "linear_schedule", "exponential_schedule",
    "constant_schedule",
]


# --------------------------------------------------------------------------- seeding

def make_rng(seed: int | None | np.random.Generator) -> np.random.Generator:
    """A ``np.random.Generator`` from an int seed (or pass a Generator through unchanged)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return np.random.default_rng(seed)


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent 32-bit seeds derived from one seed (for envs, evaluation, buffers).

    Uses ``np.random.SeedSequence`` so the children are statistically independent and the
    same parent seed always yields the same children.
    """
    if n < 0:
        raise ValueError(f"spawn_seeds: n must be >= 0, got {n}")
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


# --------------------------------------------------------------------------- action selection

def argmax_random_tiebreak(values: np.ndarray, rng: np.random.Generator, axis: int = -1) -> np.ndarray | int:
    """argmax along ``axis`` choosing uniformly among tied maxima with ``rng``.

    ``np.argmax`` always returns the first maximum, which biases greedy policies towards
    low action indices (e.g. always "left" when a Q row is still all zeros).
    A 1-D input returns a Python int; otherwise an integer array with ``axis`` removed.
    """
    values = np.asarray(values)
    if values.size == 0:
        raise ValueError(f"argmax_random_tiebreak: empty array of shape {values.shape}")
    moved = np.moveaxis(values, axis, -1)
    is_max = moved == moved.max(axis=-1, keepdims=True)
    # A random key per entry; the largest key among the maxima wins -> uniform among ties.
    keys = np.where(is_max, rng.random(is_max.shape), -1.0)
    choice = keys.argmax(axis=-1)
    return int(choice) if values.ndim == 1 else choice


# --------------------------------------------------------------------------- stable softmax family

def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m = max(x): no overflow."""
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """log softmax(x / temperature), stable for large |x|."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    z = np.asarray(x, dtype=np.float64) / temperature
    return z - logsumexp(z, axis=axis, keepdims=True)


def softmax(x: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """softmax(x / temperature) = exp(z - max z) / sum exp(z - max z); stable for large |x|.

    Small temperatures approach the greedy (argmax) distribution, large ones the uniform one.
    """
    return np.exp(log_softmax(x, temperature=temperature, axis=axis))


# --------------------------------------------------------------------------- returns and advantages

def discounted_returns(rewards: np.ndarray, gamma: float, dones: np.ndarray | None = None,
                       bootstrap: np.ndarray | float = 0.0) -> np.ndarray:
    """G_t = r_t + gamma * (1 - done_t) * G_{t+1}, computed backwards along axis 0.

    ``rewards`` has shape (T, ...). ``dones[t]`` marks that the episode ended at step t, so
    the sum restarts there. ``bootstrap`` is the value used for G_T (e.g. V(s_T) of an
    unfinished rollout; 0 for a complete episode).
    Reference: Sutton & Barto (2018), eq. 3.9.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    dones = np.zeros(rewards.shape, dtype=bool) if dones is None else np.asarray(dones, dtype=bool)
    if dones.shape != rewards.shape:
        raise ValueError(f"discounted_returns: dones shape {dones.shape} != rewards shape {rewards.shape}")
    out = np.empty_like(rewards)
    running = np.broadcast_to(np.asarray(bootstrap, dtype=np.float64), rewards.shape[1:]).copy()
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * np.where(dones[t], 0.0, running)
        out[t] = running
    return out


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        episode_ends: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over a rollout of shape (T, ...).

    delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma * lam * (1 - end_t) * A_{t+1}

    ``next_values[t]`` is V of the observation that followed step t (for a truncated step,
    the final observation of that episode, not the reset one), so truncation bootstraps and
    termination does not. ``episode_ends[t]`` (terminated or truncated) stops the recursion so
    no advantage leaks across episodes. Returns (advantages, returns = advantages + values).
    Reference: Schulman et al. (2016), "High-Dimensional Continuous Control Using GAE", eq. 16.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    next_values = np.asarray(next_values, dtype=np.float64)
    terminated = np.asarray(terminated, dtype=bool)
    episode_ends = np.asarray(episode_ends, dtype=bool)
    for name, arr in (("values", values), ("next_values", next_values),
                      ("terminated", terminated), ("episode_ends", episode_ends)):
        if arr.shape != rewards.shape:
            raise ValueError(f"gae: {name} shape {arr.shape} != rewards shape {rewards.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    deltas = rewards + gamma * np.where(terminated, 0.0, next_values) - values
    advantages = np.empty_like(deltas)
    running = np.zeros(rewards.shape[1:])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * np.where(episode_ends[t], 0.0, running)
        advantages[t] = running
    return advantages, advantages + values


# --------------------------------------------------------------------------- schedules

def constant_schedule(value: float) -> Callable[[int], float]:
    """A schedule that always returns ``value``."""
    return lambda step: float(value)


def linear_schedule(start: float, end: float, duration: int) -> Callable[[int], float]:
    """Linear interpolation from ``start`` at step 0 to ``end`` at ``duration``, then held."""
    if duration <= 0:
        raise ValueError(f"linear_schedule: duration must be > 0, got {duration!r}")

    def schedule(step: int) -> float:
        frac = min(max(step, 0) / duration, 1.0)
        return float(start + frac * (end - start))
    return schedule


def exponential_schedule(start: float, end: float, decay: float) -> Callable[[int], float]:
    """start * decay**step, never below ``end`` (for ``start >= end``), as in epsilon decay."""
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"exponential_schedule: decay must be in (0, 1], got {decay!r}")

    def schedule(step: int) -> float:
        return float(max(end, start * decay ** max(step, 0)))
    return schedule


# --------------------------------------------------------------------------- per-step fast path

def argmax_random_tiebreak_1d(row: np.ndarray, rng: np.random.Generator) -> int:
    """``argmax_random_tiebreak`` for one 1-D row, as a Python int, at a fraction of the cost.

    Tabular learners call this once per environment step, where the general N-D version
    (one random key per entry) costs as much as the env step itself. A random number is drawn
    only when the maximum is tied; the choice is uniform among the tied maxima.
    """
    if len(row) <= _SHORT_ROW:
        # A few Python floats are faster to scan than NumPy calls are to dispatch (~1 µs vs ~6 µs).
        values = row.tolist()
        best = max(values)
        if values.count(best) == 1:
            return values.index(best)
        ties = [i for i, v in enumerate(values) if v == best]
        return ties[int(rng.random() * len(ties))]
    best_index = row.argmax()
    ties = np.flatnonzero(row == row[best_index])
    if len(ties) == 1:
        return int(best_index)
    return int(ties[int(rng.random() * len(ties))])


_SHORT_ROW = 16  # below this length the pure-Python scan in argmax_random_tiebreak_1d wins
