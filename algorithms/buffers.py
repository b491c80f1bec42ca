"""Storage for experience: replay buffers (off-policy) and a rollout batch (on-policy).

Every buffer keeps ``terminated`` apart from ``truncated``: a terminated transition has no future
(its target does not bootstrap), a truncated one was cut by a time limit and still does.

The replay buffers hold plain NumPy arrays and a few numbers, so their whole state (including the
n-step window still being filled and the priorities) is ``state_dict()`` -> {name: array or number},
which a resume checkpoint stores without pickling (:mod:`algorithms.runs.resume`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["Transitions", "ContinuousTransitions", "ReplayBuffer", "SumTree", "PrioritizedReplayBuffer",
           "continuous_batch", "Rollout", "Episodes"]


@dataclass(frozen=True)
class Transitions:
    """A batch of transitions (s, a, r, s', terminated, truncated), one row each.

    ``next_obs`` is the observation that really followed ``obs`` — for the last step of an
    episode that is the final observation, never the observation after a reset.

    With n-step returns a row spans m <= n env steps: ``rewards`` is
    sum_{k<m} gamma^k r_{t+k}, ``next_obs`` is s_{t+m}, and m < n only where the episode ended
    (terminated or truncated) inside the window. The optional columns:

    - ``discounts``: the factor of the bootstrap value in the TD target, gamma^m, and 0 where the
      window ended in a termination, so y = rewards + discounts * V(next_obs). ``None`` means
      one-step rows: the losses then use gamma * (1 - terminated) (:func:`bootstrap_discounts`).
    - ``weights``: importance-sampling weights of the rows (prioritized replay); ``None`` = all 1.
    - ``indices``: the buffer slots the rows came from, to send new priorities back.
    """
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    # Keyword-only, so a subclass can still add positional columns (rollout.VectorStep's ``valid``).
    discounts: np.ndarray | None = field(default=None, kw_only=True)
    weights: np.ndarray | None = field(default=None, kw_only=True)
    indices: np.ndarray | None = field(default=None, kw_only=True)

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


def bootstrap_discounts(batch: Transitions, gamma: float) -> np.ndarray:
    """Per-row factor of the bootstrap value: ``batch.discounts`` when the batch carries them
    (n-step rows), else gamma * (1 - terminated) for one-step rows."""
    if batch.discounts is not None:
        return np.asarray(batch.discounts, dtype=np.float64)
    return gamma * (1.0 - np.asarray(batch.terminated, dtype=np.float64))


def _check_positive_int(name: str, value, owner: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class ReplayBuffer:
    """A preallocated NumPy ring buffer of (n-step) transitions with uniform sampling.

    Once ``capacity`` transitions are stored, each new one overwrites the oldest.
    Sampling draws indices uniformly with replacement from the caller's generator, as in
    Mnih et al. (2015), "Human-level control through deep reinforcement learning".

    ``add`` takes one env step at a time. With ``n_step = n > 1`` (and the discount ``gamma``)
    the buffer keeps the last steps of the current episode in a small window and stores the
    n-step transition of the window's oldest step once the window is full: reward
    sum_{k<n} gamma^k r_{t+k}, next observation s_{t+n}, discount gamma^n (Sutton 1988; Hessel et
    al. 2018, "Rainbow", eq. 2). When the episode ends the window is flushed: each remaining step
    gets the shorter return up to the end, with discount 0 after a termination and gamma^m after
    a time-limit truncation (the final observation still has a value). No stored transition
    crosses an episode boundary, and the window never reaches into the next episode.

    Actions are integers by default (Discrete); ``action_shape=(n,), action_dtype=np.float32``
    stores Box actions.

    Observations are stored as ``obs_dtype``. An integer dtype (``np.uint8`` for image frames of 0/1
    or 0-255 pixels: a quarter of float32's memory) stores each observation exactly or refuses it:
    ``add`` raises if a value would change in the cast, and sampled rows come back as float32 (every
    uint8 is a float32 exactly), so the batch is the one float32 storage would give.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32,
                 action_shape: tuple[int, ...] = (), action_dtype=np.int64, *, n_step: int = 1,
                 gamma: float | None = None):
        self.capacity = _check_positive_int("capacity", capacity, "ReplayBuffer")
        self.n_step = _check_positive_int("n_step", n_step, "ReplayBuffer")
        if gamma is not None and not 0.0 <= gamma <= 1.0:
            raise ValueError(f"ReplayBuffer: gamma must be in [0, 1], got {gamma!r}")
        if gamma is None and self.n_step > 1:
            raise ValueError(f"ReplayBuffer: n_step={n_step} needs the discount gamma to sum the rewards")
        self.gamma = gamma
        self.obs_shape = tuple(obs_shape)
        self.action_shape = tuple(action_shape)
        self.compact_obs = np.dtype(obs_dtype).kind in "ui"     # integer storage, float32 batches
        for name, (shape, dtype) in self._columns(self.capacity, self.obs_shape, obs_dtype, self.action_shape,
                                                  action_dtype).items():
            setattr(self, name, np.zeros(shape, dtype=dtype))
        self._next = 0      # slot the next transition is written to
        self._size = 0
        # The n-step window: the last one-step transitions of the current episode, oldest first.
        for name, (shape, dtype) in self._window_columns(self.n_step, self.obs_shape, obs_dtype, self.action_shape,
                                                         action_dtype).items():
            setattr(self, name, np.zeros(shape, dtype=dtype))
        self._window_len = 0

    @staticmethod
    def _columns(capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32, action_shape: tuple[int, ...] = (),
                 action_dtype=np.int64) -> dict[str, tuple]:
        """{column: (shape, dtype)} of the storage (one place for allocation and :meth:`nbytes`)."""
        return {"obs": ((capacity, *obs_shape), obs_dtype), "next_obs": ((capacity, *obs_shape), obs_dtype),
                "actions": ((capacity, *action_shape), action_dtype), "rewards": ((capacity,), np.float32),
                "terminated": ((capacity,), bool), "truncated": ((capacity,), bool),
                "discounts": ((capacity,), np.float64)}

    @staticmethod
    def _window_columns(n_step: int, obs_shape: tuple[int, ...], obs_dtype=np.float32,
                        action_shape: tuple[int, ...] = (), action_dtype=np.int64) -> dict[str, tuple]:
        """{attribute: (shape, dtype)} of the n-step window."""
        return {"_window_obs": ((n_step, *obs_shape), obs_dtype), "_window_next_obs": ((n_step, *obs_shape), obs_dtype),
                "_window_actions": ((n_step, *action_shape), action_dtype), "_window_rewards": ((n_step,), np.float64)}

    @classmethod
    def nbytes(cls, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32,
               action_shape: tuple[int, ...] = (), action_dtype=np.int64) -> int:
        """Bytes a full buffer of ``capacity`` transitions takes, computed without allocating it."""
        return sum(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
                   for shape, dtype in cls._columns(capacity, tuple(obs_shape), obs_dtype, tuple(action_shape),
                                                    action_dtype).values())

    def __len__(self) -> int:
        return self._size

    def add(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Take one env step (s, a, r, s', terminated, truncated); store every transition it completes."""
        obs = np.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(f"ReplayBuffer.add: obs shape {obs.shape} != expected {self.obs_shape}")
        if np.shape(action) != self.action_shape:
            raise ValueError(f"ReplayBuffer.add: action shape {np.shape(action)} != expected {self.action_shape}")
        if self.compact_obs:
            self._check_exact(obs, "obs")
            self._check_exact(next_obs, "next_obs")
        if self.n_step == 1:
            discount = self.gamma if self.gamma is not None and not terminated else 0.0
            self._store(obs, action, float(reward), next_obs, bool(terminated), bool(truncated), discount)
            return
        k = self._window_len
        self._window_obs[k], self._window_next_obs[k] = obs, next_obs
        self._window_actions[k], self._window_rewards[k] = action, reward
        self._window_len = k + 1
        if terminated or truncated:
            while self._window_len > 0:            # every step left in the window ends with the episode
                self._store_window(bool(terminated), bool(truncated))
        elif self._window_len == self.n_step:
            self._store_window(False, False)

    def _check_exact(self, obs, name: str) -> None:
        stored = np.asarray(obs).astype(self.obs.dtype)
        if not np.array_equal(stored, obs):
            bad = np.asarray(obs)[stored != obs].reshape(-1)[0].item()
            raise ValueError(f"ReplayBuffer.add: {name} holds {bad!r}, which {self.obs.dtype} observation storage "
                             f"cannot store exactly (only integers in [{np.iinfo(self.obs.dtype).min}, "
                             f"{np.iinfo(self.obs.dtype).max}]); store float32 observations (obs_storage=float32)")

    def cut_episode(self) -> None:
        """End the episode in progress where it is, as a time limit would (truncated: its last
        state still had a future), storing the steps left in the n-step window. For a run resumed
        from a checkpoint: the env of the interrupted episode cannot be restored, so the episode ends
        there and the next ``add`` starts another one."""
        while self._window_len > 0:
            self._store_window(False, True)

    def _store_window(self, terminated: bool, truncated: bool) -> None:
        """Store the n-step transition of the window's oldest step, then drop that step."""
        m = self._window_len
        powers = self.gamma ** np.arange(m)
        ret = float(np.dot(powers, self._window_rewards[:m]))
        discount = 0.0 if terminated else self.gamma ** m
        self._store(self._window_obs[0], self._window_actions[0].copy(), ret, self._window_next_obs[m - 1],
                    terminated, truncated, discount)
        # Shift the window left by one (n is small; this is cheaper than a second ring).
        for column in (self._window_obs, self._window_next_obs, self._window_actions, self._window_rewards):
            column[: m - 1] = column[1:m]
        self._window_len = m - 1

    def _store(self, obs, action, reward, next_obs, terminated, truncated, discount) -> int:
        i = self._next
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.discounts[i] = discount
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        return i

    def _rows(self, idx: np.ndarray, **extra) -> Transitions:
        discounts = self.discounts[idx] if self.gamma is not None else None
        obs, next_obs = self.obs[idx], self.next_obs[idx]
        if self.compact_obs:
            obs, next_obs = obs.astype(np.float32), next_obs.astype(np.float32)
        return Transitions(obs, self.actions[idx], self.rewards[idx], next_obs,
                           self.terminated[idx], self.truncated[idx], discounts=discounts, **extra)

    def _check_sample(self, batch_size: int, beta: float) -> None:
        owner = f"{type(self).__name__}.sample"
        if self._size == 0:
            raise ValueError(f"{owner}: the buffer is empty")
        _check_positive_int("batch_size", batch_size, owner)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"{owner}: beta must be in [0, 1], got {beta!r}")

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 1.0) -> Transitions:
        """``batch_size`` transitions drawn uniformly (with replacement) using ``rng``.

        ``beta`` is prioritized replay's importance-sampling exponent, taken so that both buffers
        are sampled alike: uniform sampling is prioritized replay with alpha = 0, whose weights
        (N P(i))^-beta are 1 for every beta, so here it is only checked."""
        self._check_sample(batch_size, beta)
        idx = rng.integers(0, self._size, size=batch_size)
        return self._rows(idx, indices=idx)

    # ------------------------------------------------------------------ saving and restoring

    def state_dict(self) -> dict:
        """The filled rows as they lie in memory, the write position ``next`` (which keeps the ring
        order), the steps waiting in the n-step window (``window_*``), and ``n_step`` and ``gamma``
        to check a restore against. Arrays are views, not copies: save them before the buffer changes."""
        rows, window = slice(0, self._size), slice(0, self._window_len)
        return {**{name: getattr(self, name)[rows] for name in self._columns(0, self.obs_shape)},
                **{name.lstrip("_"): getattr(self, name)[window] for name in self._window_columns(0, self.obs_shape)},
                "next": self._next, "size": self._size, "n_step": self.n_step, "gamma": self.gamma}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into a buffer of the same capacity, observation shape, n_step and gamma."""
        owner = type(self).__name__
        for name, want in (("n_step", self.n_step), ("gamma", self.gamma)):
            if name not in state:
                raise ValueError(f"{owner}.load_state_dict: the state has no {name!r} (written by another buffer)")
            if state[name] != want:
                raise ValueError(f"{owner}.load_state_dict: saved {name}={state[name]!r}, this buffer has {want!r}")
        size, next_slot = state.get("size"), state.get("next")
        if not (isinstance(size, int) and isinstance(next_slot, int) and 0 <= size <= self.capacity
                and 0 <= next_slot < self.capacity and (size == self.capacity or next_slot == size)):
            raise ValueError(f"{owner}.load_state_dict: size {size!r} and next {next_slot!r} do not fit "
                             f"capacity {self.capacity}")
        window_len = len(np.asarray(state.get("window_actions", ())))
        if window_len >= self.n_step:
            raise ValueError(f"{owner}.load_state_dict: {window_len} steps in the n-step window, expected "
                             f"fewer than n_step={self.n_step}")
        # {key in the state: (the array it fills, rows it holds)}
        expected = {**{name: (getattr(self, name), size) for name in self._columns(0, self.obs_shape)},
                    **{name.lstrip("_"): (getattr(self, name), window_len)
                       for name in self._window_columns(0, self.obs_shape)}}
        for key, (target, rows) in expected.items():
            value = np.asarray(state.get(key))
            if value.shape != (rows, *target.shape[1:]) or value.dtype != target.dtype:
                raise ValueError(f"{owner}.load_state_dict: {key} has shape {value.shape} and dtype "
                                 f"{value.dtype}, expected {(rows, *target.shape[1:])} and {target.dtype}")
        for key, (target, rows) in expected.items():
            target[:rows] = state[key]
        self._size, self._next, self._window_len = size, next_slot, window_len


class SumTree:
    """A binary tree over ``capacity`` non-negative leaf values where every node holds the sum of
    its children: O(log n) to change a leaf, O(log n) to find the leaf at a prefix sum.

    Stored as one array (root at index 1, node i's children at 2i and 2i + 1, the leaves at
    ``size .. 2 size - 1`` for ``size`` the next power of two >= capacity). ``find(u)`` returns,
    for each u in [0, total), the leaf i with cumsum_{j<i} p_j <= u < cumsum_{j<=i} p_j, so a u
    drawn uniformly from [0, total) picks leaf i with probability p_i / total (Schaul et al. 2016,
    "Prioritized Experience Replay", appendix B.2.1). Both operations are vectorised over a batch.

    One shortcut for speed in NumPy: the top ``top_level`` levels (default 8) are not walked node
    by node. The (at most 2^top_level) nodes at that depth are searched with one cumulative sum and
    one ``searchsorted``, and updates stop there: a constant amount of work that replaces 8 rounds
    of small-array calls on each operation. Nodes above that depth are not kept (``top_level=0``
    keeps the whole tree and walks it from the root).
    """

    def __init__(self, capacity: int, top_level: int = 8):
        self.capacity = _check_positive_int("capacity", capacity, "SumTree")
        if isinstance(top_level, bool) or not isinstance(top_level, (int, np.integer)) or top_level < 0:
            raise ValueError(f"SumTree: top_level must be an int >= 0, got {top_level!r}")
        self.size = 1 << (self.capacity - 1).bit_length()
        self.depth = self.size.bit_length() - 1          # levels below the root
        self.top = min(self.depth, int(top_level))       # depth of the level searched as one cumsum
        self.nodes = np.zeros(2 * self.size, dtype=np.float64)
        self._top_nodes = self.nodes[1 << self.top: 2 << self.top]    # a view
        self._total = 0.0

    @property
    def total(self) -> float:
        """The sum of all leaves."""
        return self._total

    def __getitem__(self, indices) -> np.ndarray:
        return self.nodes[self.size + np.asarray(indices)]

    def update(self, indices, values) -> None:
        """Set leaves ``indices`` to ``values`` (>= 0, finite), then refresh their ancestors level by
        level. A repeated index keeps its last value."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if indices.shape != values.shape:
            raise ValueError(f"SumTree.update: {indices.size} indices but {values.size} values")
        if indices.size and (indices.min() < 0 or indices.max() >= self.capacity):
            raise ValueError(f"SumTree.update: indices must be in [0, {self.capacity}), got {indices}")
        if not np.all(np.isfinite(values) & (values >= 0)):
            raise ValueError(f"SumTree.update: values must be finite and >= 0, got {values}")
        self._update(indices, values)

    def _update(self, indices: np.ndarray, values: np.ndarray) -> None:
        if indices.size > 1:
            # Keep each index's last value: NumPy leaves the winner of a repeated fancy-index
            # assignment unspecified.
            indices, last = np.unique(indices[::-1], return_index=True)
            values = values[::-1][last]
        nodes = indices + self.size
        self.nodes[nodes] = values
        for _ in range(self.depth - self.top):
            # Parents are recomputed from both children, so a parent shared by several updated
            # leaves gets the same (correct) value however often it is written.
            nodes >>= 1
            left = nodes << 1
            self.nodes[nodes] = self.nodes.take(left) + self.nodes.take(left + 1)
        self._total = float(self._top_nodes.sum())

    def set(self, index: int, value: float) -> None:
        """Set one leaf (the per-env-step path: plain Python floats, no array temporaries)."""
        if not 0 <= index < self.capacity:
            raise ValueError(f"SumTree.set: index must be in [0, {self.capacity}), got {index}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"SumTree.set: value must be finite and >= 0, got {value}")
        nodes = self.nodes
        node = index + self.size
        nodes[node] = value
        for _ in range(self.depth - self.top):
            node >>= 1
            nodes[node] = nodes[2 * node] + nodes[2 * node + 1]
        self._total = float(self._top_nodes.sum())

    def rebuild(self) -> None:
        """Recompute every kept inner node from the leaves (O(n)), e.g. after loading the leaves."""
        for level in range(self.depth - 1, self.top - 1, -1):
            first = 1 << level
            parents = np.arange(first, 2 * first)
            self.nodes[parents] = self.nodes[2 * parents] + self.nodes[2 * parents + 1]
        self._total = float(self._top_nodes.sum())

    def find(self, prefix_sums) -> np.ndarray:
        """Leaf index for each prefix sum u in [0, total]: the node at depth ``top`` whose range
        holds u, then down its subtree, at each node left while u < the left child's sum, else
        minus that sum and right."""
        u = np.array(prefix_sums, dtype=np.float64).reshape(-1)
        if not self._total > 0:
            raise ValueError("SumTree.find: every leaf is 0, there is nothing to sample")
        if u.size and (u.min() < 0 or u.max() > self._total):
            raise ValueError(f"SumTree.find: prefix sums must be in [0, total={self._total}], got {u}")
        return self._find(u)

    def _find(self, u: np.ndarray) -> np.ndarray:
        n_top = len(self._top_nodes)
        bounds = np.zeros(n_top + 1)
        np.cumsum(self._top_nodes, out=bounds[1:])
        # u = total (or a rounding of the sum just above it) would fall past the last node: it
        # belongs to the last one, whose range ends there.
        start = np.minimum(np.searchsorted(bounds, u, side="right") - 1, n_top - 1)
        u = u - bounds[start]
        nodes = start + n_top
        for _ in range(self.depth - self.top):
            nodes <<= 1                                  # the left child
            left_sum = self.nodes.take(nodes)
            go_right = u >= left_sum
            np.subtract(u, left_sum, out=u, where=go_right)
            nodes += go_right
        leaves = nodes - self.size
        # Rounding can put a u at the very top of a range and send it into a neighbour of value 0
        # (an empty slot). Such a u belongs to the last positive leaf before where it landed.
        empty = self.nodes.take(nodes) == 0
        if empty.any():
            positive = np.flatnonzero(self.nodes[self.size: self.size + self.capacity] > 0)
            before = np.searchsorted(positive, leaves[empty], side="right") - 1
            leaves[empty] = positive[np.maximum(before, 0)]
        return leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016, "Prioritized Experience Replay", sec. 3.3).

    Transition i is sampled with probability P(i) = p_i^alpha / sum_k p_k^alpha, where
    p_i = |delta_i| + eps is its last TD error's magnitude; a new transition gets the largest
    priority seen so far, so each is replayed at least once soon. The bias of non-uniform sampling
    is corrected with importance-sampling weights w_i = (N P(i))^-beta, divided by the batch's
    largest weight so they only scale updates down (beta annealed from beta_0 to 1 by the caller).
    Sampling is stratified: the range [0, sum) is split into ``batch_size`` equal segments and one
    prefix sum is drawn uniformly in each (appendix B.2.1). Priorities p^alpha live in a
    :class:`SumTree`, so a sample and a priority update each cost O(batch log capacity).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32, *, n_step: int = 1,
                 gamma: float | None = None, alpha: float = 0.6, eps: float = 1e-6):
        super().__init__(capacity, obs_shape, obs_dtype, n_step=n_step, gamma=gamma)
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"PrioritizedReplayBuffer: alpha must be a finite float >= 0, got {alpha!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"PrioritizedReplayBuffer: eps must be a finite float > 0, got {eps!r}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0          # p of a new transition: the largest priority seen so far

    def _store(self, *args) -> int:
        i = super()._store(*args)
        self.tree.set(i, self.max_priority ** self.alpha)
        return i

    def probabilities(self, indices) -> np.ndarray:
        """P(i) = p_i^alpha / sum_k p_k^alpha of the slots ``indices``."""
        return self.tree[indices] / self.tree.total

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 1.0) -> Transitions:
        """``batch_size`` transitions drawn with probability P(i), with their importance weights
        (``weights``, max 1 in the batch) and slots (``indices``)."""
        self._check_sample(batch_size, beta)
        segment = self.tree.total / batch_size
        idx = self.tree._find((np.arange(batch_size) + rng.random(batch_size)) * segment)
        weights = (self._size * self.probabilities(idx)) ** -beta
        return self._rows(idx, weights=weights / weights.max(), indices=idx)

    def update_priorities(self, indices, td_errors) -> None:
        """p_i = |delta_i| + eps for the sampled slots (a slot sampled twice keeps its last error)."""
        td_errors = np.asarray(td_errors, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(td_errors)):
            raise ValueError(f"PrioritizedReplayBuffer.update_priorities: TD errors must be finite, got {td_errors}")
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.shape != td_errors.shape:
            raise ValueError(f"PrioritizedReplayBuffer.update_priorities: {indices.size} slots but "
                             f"{td_errors.size} TD errors")
        if indices.size and (indices.min() < 0 or indices.max() >= self._size):
            raise ValueError(f"PrioritizedReplayBuffer.update_priorities: slots must be in [0, {self._size}), "
                             f"got {indices}")
        priorities = np.abs(td_errors) + self.eps
        self.tree._update(indices, priorities ** self.alpha)
        self.max_priority = max(self.max_priority, float(priorities.max(initial=0.0)))

    def state_dict(self) -> dict:
        """The replay state plus the filled slots' priorities p^alpha (a view) and the running max priority."""
        return {**super().state_dict(), "priorities": self.tree[np.arange(self._size)],
                "max_priority": self.max_priority}

    def load_state_dict(self, state: dict) -> None:
        owner = "PrioritizedReplayBuffer.load_state_dict"
        missing = {"priorities", "max_priority"} - set(state)
        if missing:
            raise ValueError(f"{owner}: missing keys {sorted(missing)}")
        priorities, size = np.asarray(state["priorities"]), state.get("size")
        if priorities.dtype != np.float64 or priorities.shape != (size,) \
                or not np.all(np.isfinite(priorities) & (priorities >= 0)):
            raise ValueError(f"{owner}: priorities must be {size!r} finite float64 values >= 0, got shape "
                             f"{priorities.shape} and dtype {priorities.dtype}")
        max_priority = state["max_priority"]
        if not (isinstance(max_priority, float) and math.isfinite(max_priority) and max_priority > 0):
            raise ValueError(f"{owner}: max_priority must be a float > 0, got {max_priority!r}")
        super().load_state_dict(state)
        self.tree.nodes[:] = 0.0
        self.tree.nodes[self.tree.size: self.tree.size + size] = priorities
        self.tree.rebuild()
        self.max_priority = max_priority


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
