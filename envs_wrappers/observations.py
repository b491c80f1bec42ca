"""Observation encodings: continuous boxes to one index, Blackjack tuples to an index, one-hot."""
from __future__ import annotations

import math
from typing import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["DiscretizeObservation", "BlackjackIndex", "OneHotObservation", "one_hot"]


def one_hot(index: int | np.ndarray, n: int, dtype=np.float32) -> np.ndarray:
    """Row(s) of the ``n`` x ``n`` identity: ``one_hot(2, 4) -> [0, 0, 1, 0]``; works on arrays."""
    index = np.asarray(index)
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"one_hot: index must be integer, got dtype {index.dtype}")
    if index.size and (index.min() < 0 or index.max() >= n):
        raise ValueError(f"one_hot: index must lie in [0, {n}), got values in "
                         f"[{index.min()}, {index.max()}]")
    return np.eye(n, dtype=dtype)[index]


class DiscretizeObservation(gym.ObservationWrapper):
    """A Box observation to one integer index: per-dimension bins, then row-major flattening.

    Dimension ``i`` is cut into ``bins[i]`` equal-width bins over ``[low[i], high[i]]``; the edge
    bins are open-ended, so a value below ``low[i]`` falls in bin 0 and one above ``high[i]`` in
    the last bin (this is what a bounded table does with the tails, e.g. CartPole's velocities).
    The index is ``np.ravel_multi_index(bin_indices, bins)`` and the new observation space is
    ``Discrete(prod(bins))``. ``low``/``high`` default to the env's finite bounds; a dimension
    with an infinite bound (CartPole's velocities) needs them given explicitly.

    >>> from envs_wrappers.registry import make_plain_env
    >>> env = DiscretizeObservation(make_plain_env("CartPole-v1"), bins=(6, 6, 12, 12),
    ...                             low=(-2.4, -3.0, -0.21, -3.5), high=(2.4, 3.0, 0.21, 3.5))
    """

    def __init__(self, env: gym.Env, bins: int | Sequence[int] = 10,
                 low: float | Sequence[float] | None = None,
                 high: float | Sequence[float] | None = None):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"DiscretizeObservation: needs a 1-D Box observation space, got {space}")
        n_dims = space.shape[0]
        given_bins = np.asarray(bins)
        if given_bins.ndim > 1 or given_bins.size not in (1, n_dims) or given_bins.dtype.kind not in "iu" \
                or (given_bins < 1).any():
            raise ValueError(f"DiscretizeObservation: bins must be one positive int or {n_dims} of "
                             f"them (one per dimension), got {bins!r}")
        self.bins = np.broadcast_to(given_bins.reshape(-1), (n_dims,)).astype(np.int64)
        self.low = self._bound(low, space.low, n_dims, "low")
        self.high = self._bound(high, space.high, n_dims, "high")
        if not (self.low < self.high).all():
            raise ValueError(f"DiscretizeObservation: need low < high in every dimension, got "
                             f"low={self.low.tolist()}, high={self.high.tolist()}")
        self.n_states = int(np.prod(self.bins))
        self.observation_space = spaces.Discrete(self.n_states)
        # Precomputed for the per-step path: bin width and row-major strides, so one observation
        # costs a handful of small array ops and a dot product (ravel_multi_index costs ~3x more).
        self._width = self.high - self.low
        self._last_bin = self.bins - 1
        self._strides = np.append(np.cumprod(self.bins[::-1])[::-1][1:], 1)   # prod(bins[i+1:])
        self._per_dim = list(zip(self.low.tolist(), self._width.tolist(), self.bins.tolist(),
                                 self._strides.tolist()))

    @staticmethod
    def _bound(given, default: np.ndarray, n_dims: int, name: str) -> np.ndarray:
        bound = np.asarray(default if given is None else given, dtype=np.float64)
        try:
            bound = np.broadcast_to(bound, (n_dims,)).copy()
        except ValueError as err:
            raise ValueError(f"DiscretizeObservation: {name} must be a number or {n_dims} numbers, "
                             f"got {given!r}") from err
        if not np.isfinite(bound).all():
            raise ValueError(f"DiscretizeObservation: {name} must be finite in every dimension; the "
                             f"observation space gives {default.tolist()}, so pass {name}= explicitly")
        return bound

    def bin_indices(self, observation: np.ndarray) -> np.ndarray:
        """Per-dimension bin of one observation (shape (D,)) or a batch (shape (N, D))."""
        observation = np.asarray(observation, dtype=np.float64)
        scaled = (observation - self.low) / self._width * self.bins
        return np.clip(np.floor(scaled), 0, self._last_bin).astype(np.int64)

    def observation(self, observation: np.ndarray) -> int | np.ndarray:
        """The single index of one observation (an int) or of a batch (an int array)."""
        if np.ndim(observation) == 1:
            # One observation per env step: a scan over a few Python floats is ~5x faster than
            # dispatching NumPy ops, with the same float64 arithmetic in the same order.
            index = 0
            for x, (low, width, n_bins, stride) in zip(np.asarray(observation).tolist(), self._per_dim):
                index += min(max(math.floor((x - low) / width * n_bins), 0), n_bins - 1) * stride
            return index
        return self.bin_indices(observation) @ self._strides   # row-major: sum_i bin_i * stride_i

    def bin_centers(self, index: int) -> np.ndarray:
        """The centre of the cell with flat ``index`` (inverse of ``observation`` up to the bin width)."""
        if not 0 <= index < self.n_states:
            raise ValueError(f"bin_centers: index must be in [0, {self.n_states}), got {index!r}")
        cell = np.array(np.unravel_index(index, tuple(self.bins)), dtype=np.float64)
        return self.low + (cell + 0.5) * (self.high - self.low) / self.bins


class BlackjackIndex(gym.ObservationWrapper):
    """Blackjack's ``(player_sum, dealer_card, usable_ace)`` tuple to one index and back.

    ``index = (player_sum * 11 + dealer_card) * 2 + usable_ace`` over gymnasium's spaces
    ``Discrete(32) x Discrete(11) x Discrete(2)``: 704 indices, of which the ones with
    player_sum 4..21 and dealer_card 1..10 occur in play. ``encode``/``decode`` work without an env.
    """

    SHAPE = (32, 11, 2)
    n_states = 32 * 11 * 2

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if not (isinstance(space, spaces.Tuple) and
                tuple(getattr(s, "n", None) for s in space.spaces) == self.SHAPE):
            raise ValueError(f"BlackjackIndex: expected Blackjack's observation space "
                             f"Tuple(Discrete(32), Discrete(11), Discrete(2)), got {space}")
        self.observation_space = spaces.Discrete(self.n_states)

    @classmethod
    def encode(cls, observation: tuple[int, int, int]) -> int:
        """``(player_sum, dealer_card, usable_ace)`` -> index in ``[0, 704)``."""
        try:
            player_sum, dealer_card, usable_ace = (int(v) for v in observation)
        except (TypeError, ValueError) as err:
            raise ValueError(f"BlackjackIndex.encode: expected (player_sum, dealer_card, "
                             f"usable_ace), got {observation!r}") from err
        values = (player_sum, dealer_card, usable_ace)
        if not all(0 <= v < n for v, n in zip(values, cls.SHAPE)):
            raise ValueError(f"BlackjackIndex.encode: {observation!r} is outside the ranges "
                             f"player_sum 0..31, dealer_card 0..10, usable_ace 0..1")
        return int(np.ravel_multi_index(values, cls.SHAPE))

    @classmethod
    def decode(cls, index: int) -> tuple[int, int, int]:
        """Index -> ``(player_sum, dealer_card, usable_ace)``."""
        if not 0 <= index < cls.n_states:
            raise ValueError(f"BlackjackIndex.decode: index must be in [0, {cls.n_states}), got {index!r}")
        return tuple(int(v) for v in np.unravel_index(index, cls.SHAPE))

    def observation(self, observation: tuple[int, int, int]) -> int:
        return self.encode(observation)


class OneHotObservation(gym.ObservationWrapper):
    """A Discrete(n) observation as a float32 one-hot vector (a Box of shape (n,)), for networks."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Discrete):
            raise ValueError(f"OneHotObservation: needs a Discrete observation space, got {space}")
        self.n = int(space.n)
        self._start = int(space.start)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n,), dtype=np.float32)

    def observation(self, observation: int) -> np.ndarray:
        return one_hot(int(observation) - self._start, self.n)
