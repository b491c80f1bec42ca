"""The tabular model ``(P, R, terminal)`` of a toy-text environment, with explicit episode ends."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

__all__ = ["TabularModel", "tabular_model"]


@dataclass(frozen=True)
class TabularModel:
    """Dense model of a finite MDP; unpacks as ``P, R, terminal = model``.

    - ``P[s, a, s']``: transition probabilities, every row sums to 1.
    - ``R[s, a]``: expected immediate reward, ``sum_s' p(s'|s, a) r(s, a, s')``.
    - ``terminal[s]``: states where the episode is over. They are absorbing (``P[s, a, s] = 1``)
      with ``R[s, a] = 0``, so the Bellman backup ``R + gamma * P @ V`` needs no special case and
      gives ``V(terminal) = 0`` for any gamma.
    - ``initial[s]``: the start-state distribution (``None`` if the env does not expose one).
    - ``reachable[s]``: states the env can occupy before its episode ends (from ``initial``, along
      transitions that do not terminate). Values of other states mean nothing for the env.
    - ``end_state``: index of an absorbing end state appended after the env's states, or ``None``
      when none was needed (see ``tabular_model``). ``n_env_states`` counts the env's own states.
    """

    P: np.ndarray
    R: np.ndarray
    terminal: np.ndarray
    initial: np.ndarray | None
    reachable: np.ndarray
    end_state: int | None

    def __iter__(self):
        return iter((self.P, self.R, self.terminal))

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    @property
    def n_env_states(self) -> int:
        return self.n_states - (self.end_state is not None)


def _toy_text_transitions(env: gym.Env) -> tuple[dict, int, int]:
    base = env.unwrapped
    transitions = getattr(base, "P", None)
    if not isinstance(transitions, dict):
        raise ValueError(f"tabular_model: {type(base).__name__} has no toy-text transition table "
                         f"`unwrapped.P` (dict of dicts of (prob, next_state, reward, terminated)); "
                         f"expected GridWorld, FrozenLake, Taxi, CliffWalking or similar")
    if not isinstance(env.observation_space, gym.spaces.Discrete) or \
            not isinstance(env.action_space, gym.spaces.Discrete):
        raise ValueError(f"tabular_model: needs Discrete observation and action spaces, got "
                         f"{env.observation_space} and {env.action_space}")
    if getattr(base, "fickle_passenger", False):
        # Taxi's fickle passenger changes destination inside step(); unwrapped.P does not show it.
        raise ValueError("tabular_model: Taxi with fickle_passenger=True has dynamics that "
                         "unwrapped.P does not describe; build it with fickle_passenger=False")
    return transitions, int(env.observation_space.n), int(env.action_space.n)


def _reachable_states(initial: np.ndarray | None, continues: np.ndarray) -> np.ndarray:
    """States reachable from the start distribution along non-terminating transitions (BFS)."""
    n_states = continues.shape[0]
    if initial is None:
        return np.ones(n_states, dtype=bool)
    edges = continues.any(axis=1)                      # (S, S'): some action continues s -> s'
    reached = initial > 0
    frontier = reached.copy()
    while frontier.any():
        frontier = edges[frontier].any(axis=0) & ~reached
        reached |= frontier
    return reached


def tabular_model(env: gym.Env) -> TabularModel:
    """Dense ``(P, R, terminal)`` of a toy-text env (GridWorld, FrozenLake, Taxi, CliffWalking).

    Reads ``env.unwrapped.P[s][a] = [(probability, next_state, reward, terminated), ...]``.
    Memory is ``S * A * S`` float64: 4x4 FrozenLake 16x4x16, Taxi 500x6x500 (1.5 M entries,
    12 MB) -- dense is simple and fast enough at these sizes.

    Episode ends are explicit. A transition gymnasium flags ``terminated`` ends the episode
    even when its next state is an ordinary index: Taxi's successful drop-off lands in the
    regular state "passenger at the destination", CliffWalking's last step in the goal cell whose
    own table entries lead on. Dynamic programming must not bootstrap past such a transition, so
    every terminated transition is routed into an absorbing, zero-reward state:

    - if no terminated transition lands in a state the env can occupy mid-episode (``reachable``),
      its landing states are themselves made absorbing and marked ``terminal`` -- the usual case
      (FrozenLake's holes and goal, GridWorld's corners, CliffWalking's goal, Taxi's drop-off
      states), and state indices stay the env's own;
    - otherwise one absorbing ``end_state`` is appended (index ``S``) and every terminated
      transition goes there, so ``P`` is ``(S+1, A, S+1)``.

    Truncation (gymnasium's ``TimeLimit``) is not part of the model.
    """
    transitions, n_states, n_actions = _toy_text_transitions(env)
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    ends = np.zeros((n_states, n_actions, n_states))  # probability mass that terminates
    for state in range(n_states):
        for action in range(n_actions):
            for probability, next_state, reward, terminated in transitions[state][action]:
                P[state, action, next_state] += probability
                R[state, action] += probability * reward
                if terminated:
                    ends[state, action, next_state] += probability
    row_sums = P.sum(axis=2)
    if not np.allclose(row_sums, 1.0, atol=1e-9):
        s, a = np.unravel_index(np.abs(row_sums - 1.0).argmax(), row_sums.shape)
        raise ValueError(f"tabular_model: transition probabilities of state {s}, action {a} sum to "
                         f"{row_sums[s, a]!r}, expected 1")

    base = env.unwrapped
    initial = getattr(base, "initial_state_distrib", None)
    initial = None if initial is None else np.asarray(initial, dtype=np.float64).copy()
    continues = (P - ends) > 0
    reachable = _reachable_states(initial, continues)
    end_targets = (ends > 0).any(axis=(0, 1))

    if not (end_targets & reachable).any():
        terminal = end_targets
        P[terminal] = 0.0
        P[terminal, :, terminal] = 1.0     # advanced indexing: (n_terminal, A) self-loops
        R[terminal] = 0.0
        return TabularModel(P, R, terminal, initial, reachable, None)

    end_state = n_states
    P_end = np.zeros((n_states + 1, n_actions, n_states + 1))
    P_end[:n_states, :, :n_states] = P - ends
    P_end[:n_states, :, end_state] = ends.sum(axis=2)
    P_end[end_state, :, end_state] = 1.0
    R_end = np.vstack([R, np.zeros((1, n_actions))])
    terminal = np.zeros(n_states + 1, dtype=bool)
    terminal[end_state] = True
    initial_end = None if initial is None else np.append(initial, 0.0)
    return TabularModel(P_end, R_end, terminal, initial_end, np.append(reachable, False), end_state)
