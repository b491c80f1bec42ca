"""Dynamic programming on a tabular model: policy evaluation, policy iteration, value iteration.

Everything works on the dense model of ``envs_wrappers.tabular_model``: ``P[s, a, s']`` (rows sum
to 1), ``R[s, a]`` (expected immediate reward) and a ``terminal`` mask of absorbing states whose
value is 0. One Bellman backup computes all state-action values at once,

    Q(s, a) = R(s, a) + gamma * sum_s' P(s, a, s') V(s'),

so a sweep is a handful of array operations, never a Python loop over states or actions.
Sweeps are synchronous (Jacobi): every state is updated from the previous sweep's values.

Toy-text models are sparse (Taxi: one successor per state-action pair out of 500), so for
large models the backup gathers each row's few successors instead of multiplying by the dense
(S*A, S) matrix. Reference: Sutton & Barto (2018), chapter 4.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from algorithms.tabular.result import check_gamma

__all__ = ["DPResult", "policy_evaluation", "policy_iteration", "value_iteration", "action_values"]

_ROW_SUM_TOLERANCE = 1e-8


@dataclass(frozen=True)
class DPResult:
    """What the DP solvers return; unpacks as ``values, policy, iterations = result``.

    values:            (S,) state values (0 on terminal states).
    policy:            (S,) greedy action of each state w.r.t. ``q_values`` (lowest index on ties).
    iterations:        value iteration and policy evaluation: sweeps until the largest change in
                       a sweep fell below ``theta``; policy iteration: policy improvement steps.
    q_values:          (S, A) action values ``R + gamma * P @ values``.
    evaluation_sweeps: sweeps spent evaluating policies (policy iteration's total; equals
                       ``iterations`` for the other two).
    """

    values: np.ndarray
    policy: np.ndarray
    iterations: int
    q_values: np.ndarray
    evaluation_sweeps: int

    def __iter__(self):
        return iter((self.values, self.policy, self.iterations))


# --------------------------------------------------------------------------- checks

def _check_model(P, R, terminal) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    P = np.asarray(P, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or 0 in P.shape:
        raise ValueError(f"P must have shape (S, A, S) with S, A > 0, got {P.shape}")
    n_states, n_actions = P.shape[:2]
    if R.shape != (n_states, n_actions):
        raise ValueError(f"R must have shape (S, A) = {(n_states, n_actions)} to match P, got {R.shape}")
    row_sums = P.sum(axis=2)
    # A row sum is finite exactly when its entries are (probabilities cannot overflow it):
    # two passes over P instead of four, which matters for Taxi's 1.5 M entries.
    if not np.isfinite(row_sums).all() or P.min() < 0:
        raise ValueError("P must hold finite, non-negative probabilities; it has negative or non-finite entries")
    if not np.isfinite(R).all():
        raise ValueError("R must be finite; it has NaN or infinite entries")
    worst = np.unravel_index(np.abs(row_sums - 1.0).argmax(), row_sums.shape)
    if abs(row_sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(f"P[s, a, :] must sum to 1 for every state s and action a; "
                         f"P[{worst[0]}, {worst[1]}, :] sums to {float(row_sums[worst]):.6g}")
    if terminal is None:
        # Absorbing, zero-reward states are where episodes end (tabular_model builds them so).
        states = np.arange(n_states)
        terminal = np.all(P[states, :, states] == 1.0, axis=1) & np.all(R == 0.0, axis=1)
    else:
        terminal = np.asarray(terminal)
        if terminal.shape != (n_states,) or terminal.dtype != bool:
            raise ValueError(f"terminal must be a boolean mask of shape ({n_states},), got "
                             f"dtype {terminal.dtype} and shape {terminal.shape}")
    return P, R, terminal


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_converges(gamma: float, terminal: np.ndarray, solver: str) -> None:
    if gamma == 1.0 and not terminal.any():
        raise ValueError(f"{solver}: gamma = 1 on a model with no terminal states: returns are "
                         f"undiscounted sums that never end, so the sweeps would not converge; "
                         f"use gamma < 1 or a model with terminal states")


def _check_policy(policy, n_states: int, n_actions: int) -> np.ndarray:
    """A deterministic (S,) action array or a stochastic (S, A) matrix, as (S, A) probabilities."""
    policy = np.asarray(policy)
    if policy.shape == (n_states,) and np.issubdtype(policy.dtype, np.integer):
        if (policy < 0).any() or (policy >= n_actions).any():
            raise ValueError(f"policy actions must lie in [0, {n_actions}), got values in "
                             f"[{policy.min()}, {policy.max()}]")
        return np.eye(n_actions)[policy]
    if policy.shape == (n_states, n_actions):
        policy = policy.astype(np.float64)
        if not np.isfinite(policy).all() or (policy < 0).any() or \
                not np.allclose(policy.sum(axis=1), 1.0, atol=_ROW_SUM_TOLERANCE):
            raise ValueError("a stochastic policy must have non-negative rows summing to 1")
        return policy
    raise ValueError(f"policy must be integer actions of shape ({n_states},) or probabilities of "
                     f"shape ({n_states}, {n_actions}), got dtype {policy.dtype} shape {policy.shape}")


# --------------------------------------------------------------------------- the backup

class _Backup:
    """``Q = R + gamma * E[V(s')]`` for a fixed model, returned action-major as ``Q.T`` (A, S).

    Action-major because the sweep then reduces over actions with contiguous element-wise
    maxima/sums across states, the cheap direction for NumPy. Terminal states get zero reward
    and no successors here, so ``Q(terminal, .) = 0`` comes out of the arithmetic with no
    masking in the sweep, and gamma is folded into the probabilities.
    Dense layout: one (A*S, S) @ (S,) product, for small models (S*A*S up to 65536) or rows with
    many successors. Sparse layout: every (a, s) row's successor list padded to the longest, K
    (zero-probability padding), stored as K planes of (A*S,) indices: one gather and K-1
    additions per backup -- Taxi has one successor per state-action pair out of 500 states.
    """

    _DENSE_LIMIT = 1 << 16

    def __init__(self, P: np.ndarray, R: np.ndarray, terminal: np.ndarray, gamma: float):
        n_states, n_actions, _ = P.shape
        self.shape = (n_actions, n_states)
        self.R = np.where(terminal[None, :], 0.0, R.T)           # (A, S)
        if P.size <= self._DENSE_LIMIT or not self._build_sparse(P, terminal, gamma):
            live = np.tile(~terminal, n_actions)                  # (A*S,) rows that may bootstrap
            self.dense = gamma * P.transpose(1, 0, 2).reshape(n_actions * n_states, n_states) * live[:, None]
        else:
            self.dense = None
        # Preallocated outputs (``out=``): on small models a sweep is a handful of array
        # operations and allocating their results is a visible part of each one.
        self._q = np.empty(self.R.size)
        self._R_flat = self.R.ravel()
        self._change = np.empty(n_states)
        if self.dense is None and self.width > 1:
            self._gathered = np.empty(self.successors.size)

    def _build_sparse(self, P: np.ndarray, terminal: np.ndarray, gamma: float) -> bool:
        """Successor planes of the sparse layout; False if rows are too full for it to pay."""
        n_states, n_actions, _ = P.shape
        flat = P.reshape(n_states * n_actions, n_states)          # a view: rows in (s, a) order
        remaining = flat > 0
        rows = np.arange(flat.shape[0])
        live = np.repeat(~terminal, n_actions)
        successors, probs = [], []
        # One row-wise argmax per plane picks each row's next successor: vectorised over rows,
        # and far cheaper than np.nonzero on Taxi's (3000, 500) float array.
        while True:
            cols = remaining.argmax(axis=1)
            found = remaining[rows, cols]
            if not found.any():
                break
            if len(successors) * 8 >= n_states:
                return False
            successors.append(cols)
            probs.append(np.where(found & live, gamma * flat[rows, cols], 0.0))
            remaining[rows, cols] = False
        self.width = len(successors)

        def action_major(planes):                                  # (K, S*A) -> flat (K, A, S)
            return np.stack(planes).reshape(self.width, n_states, n_actions).transpose(0, 2, 1).ravel()
        self.successors = action_major(successors)
        self.probs = action_major(probs)
        return True

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Q.T (A, S) in a buffer owned by the backup: valid until the next call."""
        if self.dense is not None:
            np.dot(self.dense, values, out=self._q)
        elif self.width == 1:
            np.take(values, self.successors, out=self._q)
            np.multiply(self._q, self.probs, out=self._q)
        else:
            np.take(values, self.successors, out=self._gathered)
            np.multiply(self._gathered, self.probs, out=self._gathered)
            np.sum(self._gathered.reshape(self.width, -1), axis=0, out=self._q)
        np.add(self._q, self._R_flat, out=self._q)
        return self._q.reshape(self.shape)

    def largest_change(self, new_values: np.ndarray, values: np.ndarray) -> float:
        """``max_s |new_values(s) - values(s)|``, the sweep's stopping statistic."""
        np.subtract(new_values, values, out=self._change)
        np.abs(self._change, out=self._change)
        return float(self._change.max())

    def q_values(self, values: np.ndarray) -> np.ndarray:
        """Q in the public (S, A) layout (a new array)."""
        return np.ascontiguousarray(self(values).T)


def action_values(P, R, values, gamma: float, terminal=None) -> np.ndarray:
    """``Q(s, a) = R(s, a) + gamma * sum_s' P(s, a, s') V(s')`` (0 on terminal states), shape (S, A)."""
    P, R, terminal = _check_model(P, R, terminal)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (P.shape[0],):
        raise ValueError(f"values must have shape ({P.shape[0]},), got {values.shape}")
    check_gamma(gamma)
    return _Backup(P, R, terminal, float(gamma)).q_values(values)


# --------------------------------------------------------------------------- solvers

def _evaluate(backup: _Backup, policy_probs: np.ndarray, values: np.ndarray, theta: float,
              max_sweeps: int, solver: str) -> tuple[np.ndarray, int]:
    probs_by_action = np.ascontiguousarray(policy_probs.T)     # (A, S), the backup's layout
    for sweep in range(1, max_sweeps + 1):
        new_values = (probs_by_action * backup(values)).sum(axis=0)
        delta = backup.largest_change(new_values, values)
        values = new_values
        if delta < theta:
            return values, sweep
    raise RuntimeError(f"{solver}: no convergence in {max_sweeps} sweeps (last change {delta:.3g} >= "
                       f"theta {theta:g}); with gamma = 1 the policy may never reach a terminal state")


def policy_evaluation(P, R, policy, gamma: float, theta: float = 1e-8, terminal=None,
                      max_sweeps: int = 100_000) -> DPResult:
    """Iterative policy evaluation: ``V <- sum_a pi(a|s) [R(s, a) + gamma * P(s, a) . V]``.

    ``policy`` is either integer actions (S,) or probabilities (S, A). Sweeps stop when the
    largest change falls below ``theta``. ``terminal`` defaults to the model's absorbing
    zero-reward states. Raises ``RuntimeError`` after ``max_sweeps`` (e.g. gamma = 1 and a policy
    that never terminates). Reference: Sutton & Barto (2018), section 4.1.
    """
    P, R, terminal = _check_model(P, R, terminal)
    check_gamma(gamma)
    gamma = float(gamma)
    _check_positive("theta", theta)
    _check_converges(gamma, terminal, "policy_evaluation")
    policy_probs = _check_policy(policy, *R.shape)
    backup = _Backup(P, R, terminal, gamma)
    values, sweeps = _evaluate(backup, policy_probs, np.zeros(P.shape[0]), theta, max_sweeps,
                               "policy_evaluation")
    q_values = backup.q_values(values)
    return DPResult(values, q_values.argmax(axis=1), sweeps, q_values, sweeps)


def policy_iteration(P, R, gamma: float, theta: float = 1e-8, terminal=None, initial_policy=None,
                     max_iterations: int = 10_000, max_sweeps: int = 100_000) -> DPResult:
    """Policy iteration: evaluate the policy, make it greedy, repeat until it is stable.

    Starts from ``initial_policy`` (default: the equiprobable random policy, which reaches a
    terminal state in the usual episodic tasks, so it can be evaluated even with gamma = 1).
    Each evaluation warm-starts from the previous values. An action is replaced only when another
    one beats it by more than the evaluation error (``theta / (1 - gamma)``, or ``theta * S`` for
    gamma = 1), so two equally good actions cannot make the loop flip forever.
    Reference: Sutton & Barto (2018), section 4.3.
    """
    P, R, terminal = _check_model(P, R, terminal)
    check_gamma(gamma)
    gamma = float(gamma)
    _check_positive("theta", theta)
    _check_converges(gamma, terminal, "policy_iteration")
    n_states, n_actions = R.shape
    backup = _Backup(P, R, terminal, gamma)
    if initial_policy is None:
        policy_probs = np.full((n_states, n_actions), 1.0 / n_actions)
        policy = None
    else:
        policy_probs = _check_policy(initial_policy, n_states, n_actions)
        policy = policy_probs.argmax(axis=1)
    tolerance = theta / (1.0 - gamma) if gamma < 1.0 else theta * n_states
    states = np.arange(n_states)
    values = np.zeros(n_states)
    total_sweeps = 0
    for iteration in range(1, max_iterations + 1):
        values, sweeps = _evaluate(backup, policy_probs, values, theta, max_sweeps, "policy_iteration")
        total_sweeps += sweeps
        q_values = backup.q_values(values)
        greedy = q_values.argmax(axis=1)
        if policy is not None:
            keeps = q_values[states, policy] >= q_values[states, greedy] - tolerance
            greedy = np.where(keeps, policy, greedy)
            if np.array_equal(greedy, policy):
                return DPResult(values, policy, iteration, q_values, total_sweeps)
        policy = greedy
        policy_probs = np.eye(n_actions)[policy]
    raise RuntimeError(f"policy_iteration: policy still changing after {max_iterations} improvement steps")


def value_iteration(P, R, gamma: float, theta: float = 1e-8, terminal=None,
                    max_iterations: int = 100_000) -> DPResult:
    """Value iteration: ``V <- max_a [R(s, a) + gamma * P(s, a) . V]`` until a sweep changes no
    value by more than ``theta``; then the greedy policy.

    With gamma < 1 the final values are within ``theta * gamma / (1 - gamma)`` of optimal.
    gamma = 1 needs terminal states (else ``ValueError``); if some policy still never ends and
    collects positive reward the sweeps diverge and ``RuntimeError`` is raised after
    ``max_iterations``. Reference: Sutton & Barto (2018), section 4.4.
    """
    P, R, terminal = _check_model(P, R, terminal)
    check_gamma(gamma)
    gamma = float(gamma)
    _check_positive("theta", theta)
    _check_converges(gamma, terminal, "value_iteration")
    backup = _Backup(P, R, terminal, gamma)
    values = np.zeros(P.shape[0])
    for sweep in range(1, max_iterations + 1):
        new_values = backup(values).max(axis=0)
        delta = backup.largest_change(new_values, values)
        values = new_values
        if delta < theta:
            q_values = backup.q_values(values)
            return DPResult(values, q_values.argmax(axis=1), sweep, q_values, sweep)
    raise RuntimeError(f"value_iteration: no convergence in {max_iterations} sweeps (last change "
                       f"{delta:.3g} >= theta {theta:g})")
