"""Planning with a learned model: Dyna-Q, Dyna-Q+ and prioritized sweeping (S&B chapter 8).

All three act epsilon-greedily in the real env with a Q-learning ``UnifiedAgent`` and remember every
real transition in a ``DeterministicModel``; they differ in which simulated transitions they update
from, and every update, real or simulated, is the agent's one-step Q-learning update
(``UnifiedAgent.update`` -> ``td_target``):

    Q(S,A) <- Q(S,A) + alpha * [ R + gamma * max_a Q(S', a) - Q(S,A) ]

- ``dyna_q``: after each real step (direct update, model update), ``planning_steps`` updates on
  pairs (S, A) drawn uniformly from those seen, with (R, S') = Model(S, A)   (S&B section 8.2).
- ``dyna_q_plus``: the same, but a simulated transition pays R + kappa * sqrt(tau), tau = time steps
  since (S, A) was last tried for real; and actions never tried from a visited state are planned
  with as leading back to the same state with reward 0 (S&B section 8.3 and its footnote).
- ``prioritized_sweeping``: no uniform sampling; pairs wait in a queue ordered by |TD error|
  (above ``theta``), and after updating (S, A) every predecessor (S_, A_) predicted to lead to S
  is queued by its own |TD error|. Real steps only feed the queue (S&B section 8.4, the boxed
  algorithm; Moore & Atkeson 1993, Peng & Williams 1993).

Common signature: ``fn(env, episodes, planning_steps, alpha=0.1, gamma=0.95, exploration=None,
seed=0, *, total_steps=None, stop_when=None, initial_q=0.0, ...) -> PlanningResult``; a run ends
after ``episodes`` finished episodes or ``total_steps`` real steps, whichever comes first
(either may be ``None``, not both). ``exploration=None`` means ``EpsilonGreedy(0.1)``.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from .agent import UnifiedAgent, td_target
from .exploration import ExplorationStrategy
from .result import TabularResult, check_episodes, discrete_sizes

__all__ = ["DeterministicModel", "PlanningResult", "dyna_q", "dyna_q_plus", "prioritized_sweeping"]


class DeterministicModel:
    """Model(S, A) = (R, S', terminated) of the last real transition from (S, A).

    Keeps the pairs in the order first seen (for uniform sampling), the predecessors of every
    state (for prioritized sweeping), and the time step each pair was last tried for real (for
    Dyna-Q+'s tau). With ``untried_actions=True`` (Dyna-Q+), the first real step from a state
    also enters every other action of that state as (R=0, S'=S, not terminated), last tried at
    time 0, until it is tried for real. A later transition from a pair overwrites the earlier one,
    so the model follows an environment that changes.
    """

    def __init__(self, n_actions: int, untried_actions: bool = False) -> None:
        if isinstance(n_actions, bool) or not isinstance(n_actions, (int, np.integer)) or n_actions <= 0:
            raise ValueError(f"DeterministicModel: n_actions must be a positive int, got {n_actions!r}")
        self.n_actions = int(n_actions)
        self.untried_actions = untried_actions
        self.transitions: dict[tuple[int, int], tuple[float, int, bool]] = {}
        self.pairs: list[tuple[int, int]] = []
        self.last_tried: dict[tuple[int, int], int] = {}
        self.predecessors: dict[int, set[tuple[int, int]]] = {}
        self.states_acted_from: set[int] = set()

    def __len__(self) -> int:
        return len(self.pairs)

    def _set(self, pair: tuple[int, int], reward: float, next_state: int, terminated: bool) -> None:
        old = self.transitions.get(pair)
        if old is None:
            self.pairs.append(pair)
        elif old[1] != next_state:
            self.predecessors[old[1]].discard(pair)
        self.transitions[pair] = (float(reward), int(next_state), bool(terminated))
        self.predecessors.setdefault(int(next_state), set()).add(pair)

    def store(self, state: int, action: int, reward: float, next_state: int, terminated: bool,
              time: int = 0) -> None:
        """Remember the real transition (state, action) -> (reward, next_state, terminated) at ``time``."""
        if self.untried_actions and state not in self.states_acted_from:
            self.states_acted_from.add(state)
            for other in range(self.n_actions):
                if other != action:
                    self._set((state, other), 0.0, state, False)
                    self.last_tried[(state, other)] = 0
        self._set((state, action), reward, next_state, terminated)
        self.last_tried[(state, action)] = int(time)

    def sample(self, rng: np.random.Generator) -> tuple[int, int]:
        """A pair drawn uniformly from those in the model."""
        if not self.pairs:
            raise RuntimeError("DeterministicModel.sample: the model is empty; store a transition first")
        return self.pairs[int(rng.random() * len(self.pairs))]

    def __getitem__(self, pair: tuple[int, int]) -> tuple[float, int, bool]:
        return self.transitions[pair]

    def leading_to(self, state: int) -> set[tuple[int, int]]:
        """The pairs (S_, A_) the model predicts lead to ``state``."""
        return self.predecessors.get(state, set())


@dataclass
class PlanningResult(TabularResult):
    """A ``TabularResult`` with the per-step record of a planning run.

    episode_returns, episode_lengths: of the finished episodes only (a run cut by ``total_steps``
                     usually ends inside an episode; its steps are in ``step_rewards``).
    step_rewards:    (steps,) float64, the real reward of every time step, across episodes;
                     ``cumulative_reward`` is its running sum (S&B Figures 8.4 and 8.5).
    updates:         total Q updates, real and simulated.
    episode_updates: (episodes,) int64, the value of ``updates`` at the end of each finished episode.
    stopped:         True if ``stop_when`` ended the run.
    """

    step_rewards: np.ndarray | None = None
    updates: int = 0
    episode_updates: np.ndarray | None = None
    stopped: bool = False

    @property
    def cumulative_reward(self) -> np.ndarray:
        return np.cumsum(self.step_rewards)


# ----------------------------------------------------------------------------- planners

class _DynaPlanning:
    """Direct update, model update, then ``n`` simulated updates from uniformly drawn pairs."""

    def __init__(self, agent: UnifiedAgent, model: DeterministicModel, n: int, kappa: float) -> None:
        self.agent, self.model, self.n, self.kappa = agent, model, n, kappa

    def learn(self, state: int, action: int, reward: float, next_state: int, terminated: bool, time: int) -> int:
        agent, model = self.agent, self.model
        agent.update(state, action, reward, next_state, terminated)
        model.store(state, action, reward, next_state, terminated, time)
        rng, kappa = agent.rng, self.kappa
        for _ in range(self.n):
            pair = model.sample(rng)
            sim_reward, sim_next, sim_terminated = model[pair]
            if kappa:
                sim_reward += kappa * math.sqrt(time - model.last_tried[pair])
            agent.update(pair[0], pair[1], sim_reward, sim_next, sim_terminated)
        return 1 + self.n


class _PrioritizedSweeping:
    """The boxed algorithm of S&B section 8.4: a max-priority queue of pairs by |TD error| > theta.

    A pair is in the queue at most once, with its highest priority so far (a heap with lazy
    deletion: superseded entries are skipped when popped). Ties pop in insertion order.
    """

    def __init__(self, agent: UnifiedAgent, model: DeterministicModel, n: int, theta: float) -> None:
        self.agent, self.model, self.n, self.theta = agent, model, n, theta
        self.heap: list[tuple[float, int, tuple[int, int]]] = []
        self.priority: dict[tuple[int, int], float] = {}
        self.inserted = 0

    def _td_error(self, state: int, action: int, reward: float, next_state: int, terminated: bool) -> float:
        agent = self.agent
        target = td_target("q_learning", reward, agent.Q[next_state], agent.gamma, terminated)
        return target - agent.Q[state, action]

    def _push(self, pair: tuple[int, int], priority: float) -> None:
        if priority > self.theta and priority > self.priority.get(pair, -1.0):
            self.priority[pair] = priority
            self.inserted += 1
            heapq.heappush(self.heap, (-priority, self.inserted, pair))

    def _pop(self) -> tuple[int, int] | None:
        while self.heap:
            negative, _, pair = heapq.heappop(self.heap)
            if self.priority.get(pair) == -negative:
                del self.priority[pair]
                return pair
        return None

    def learn(self, state: int, action: int, reward: float, next_state: int, terminated: bool, time: int) -> int:
        agent, model = self.agent, self.model
        model.store(state, action, reward, next_state, terminated, time)
        self._push((state, action), abs(self._td_error(state, action, reward, next_state, terminated)))
        updates = 0
        while updates < self.n:
            pair = self._pop()
            if pair is None:
                break
            sim_reward, sim_next, sim_terminated = model[pair]
            agent.update(pair[0], pair[1], sim_reward, sim_next, sim_terminated)
            updates += 1
            for before in model.leading_to(pair[0]):
                before_reward, _, before_terminated = model[before]
                self._push(before, abs(self._td_error(before[0], before[1], before_reward, pair[0],
                                                      before_terminated)))
        return updates


# ----------------------------------------------------------------------------- the shared loop

def _check_run_length(episodes: int | None, total_steps: int | None) -> None:
    if episodes is None and total_steps is None:
        raise ValueError("give episodes or total_steps (or both; the run ends at whichever comes first), got neither")
    if episodes is not None:
        check_episodes(episodes)
    if total_steps is not None and (isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer))
                                    or total_steps <= 0):
        raise ValueError(f"total_steps must be a positive int or None, got {total_steps!r}")


def _check_planning_steps(planning_steps: int) -> None:
    if isinstance(planning_steps, bool) or not isinstance(planning_steps, (int, np.integer)) or planning_steps < 0:
        raise ValueError(f"planning_steps must be an int >= 0, got {planning_steps!r}")


def _run(algorithm: str, env: gym.Env, episodes: int | None, total_steps: int | None, make_planner,
         alpha: float, gamma: float, exploration: ExplorationStrategy | None, seed: int | None,
         stop_when: Callable[[np.ndarray], bool] | None, initial_q: float,
         untried_actions: bool = False) -> PlanningResult:
    """Act with the agent in ``env``; after every real step the planner learns from it."""
    _check_run_length(episodes, total_steps)
    if stop_when is not None and not callable(stop_when):
        raise TypeError(f"stop_when must be a callable(Q) -> bool or None, got {stop_when!r}")
    n_states, n_actions = discrete_sizes(env)
    agent = UnifiedAgent("q_learning", exploration, alpha, gamma, n_states=n_states, n_actions=n_actions,
                         seed=seed, initial_q=initial_q)
    model = DeterministicModel(n_actions, untried_actions=untried_actions)
    planner = make_planner(agent, model)
    Q = agent.Q
    returns, lengths, episode_updates, step_rewards = [], [], [], []
    time, updates, stopped = 0, 0, False
    env_seed = int(agent.rng.integers(2**31 - 1))
    while episodes is None or len(returns) < episodes:
        state, _ = env.reset(seed=env_seed if not returns else None)
        total, steps, finished = 0.0, 0, False
        while total_steps is None or time < total_steps:
            action = agent.select_action(state)
            next_state, reward, terminated, truncated, _ = env.step(action)
            time += 1
            steps += 1
            total += reward
            step_rewards.append(reward)
            updates += planner.learn(state, action, reward, next_state, terminated, time)
            if terminated or truncated:
                finished = True
                break
            state = next_state
        if not finished:
            break
        returns.append(total)
        lengths.append(steps)
        episode_updates.append(updates)
        agent.exploration.end_episode()
        if stop_when is not None and stop_when(Q):
            stopped = True
            break
    return PlanningResult(Q=Q.copy(), V=Q.max(axis=1), episode_returns=np.array(returns, dtype=np.float64),
                          episode_lengths=np.array(lengths, dtype=np.int64), algorithm=algorithm,
                          seed=agent.seed, step_rewards=np.array(step_rewards, dtype=np.float64), updates=updates,
                          episode_updates=np.array(episode_updates, dtype=np.int64), stopped=stopped)


# ----------------------------------------------------------------------------- the methods

def dyna_q(env: gym.Env, episodes: int | None, planning_steps: int = 5, alpha: float = 0.1, gamma: float = 0.95,
           exploration: ExplorationStrategy | None = None, seed: int | None = 0, *,
           total_steps: int | None = None, stop_when: Callable[[np.ndarray], bool] | None = None,
           initial_q: float = 0.0) -> PlanningResult:
    """Tabular Dyna-Q (S&B section 8.2): Q-learning plus ``planning_steps`` simulated Q-learning
    updates per real step, on pairs drawn uniformly from a deterministic model of the real transitions
    seen so far. ``planning_steps=0`` is one-step Q-learning. ``stop_when(Q)``, if given, is asked
    after every finished episode and ends the run when it returns True."""
    _check_planning_steps(planning_steps)
    return _run("dyna_q", env, episodes, total_steps,
                lambda agent, model: _DynaPlanning(agent, model, int(planning_steps), 0.0),
                alpha, gamma, exploration, seed, stop_when, initial_q)


def dyna_q_plus(env: gym.Env, episodes: int | None, planning_steps: int = 5, alpha: float = 0.1,
                gamma: float = 0.95, exploration: ExplorationStrategy | None = None, seed: int | None = 0, *,
                kappa: float = 1e-3, total_steps: int | None = None,
                stop_when: Callable[[np.ndarray], bool] | None = None, initial_q: float = 0.0) -> PlanningResult:
    """Dyna-Q+ (S&B section 8.3): Dyna-Q whose simulated transitions pay the bonus reward
    R + kappa * sqrt(tau), tau the time steps since the pair was last tried in the real env, and
    which also plans with the untried actions of visited states (modelled as staying put, reward 0).
    The bonus keeps pulling the agent back to pairs it has not tried for long, so it notices when
    the environment changes. ``kappa=0`` leaves only the untried-action modelling."""
    _check_planning_steps(planning_steps)
    if isinstance(kappa, bool) or not isinstance(kappa, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa (exploration bonus) must be a finite number >= 0, got {kappa!r}")
    return _run("dyna_q_plus", env, episodes, total_steps,
                lambda agent, model: _DynaPlanning(agent, model, int(planning_steps), float(kappa)),
                alpha, gamma, exploration, seed, stop_when, initial_q, untried_actions=True)


def prioritized_sweeping(env: gym.Env, episodes: int | None, planning_steps: int = 5, alpha: float = 0.1,
                         gamma: float = 0.95, exploration: ExplorationStrategy | None = None,
                         seed: int | None = 0, *, theta: float = 1e-4, total_steps: int | None = None,
                         stop_when: Callable[[np.ndarray], bool] | None = None,
                         initial_q: float = 0.0) -> PlanningResult:
    """Prioritized sweeping for a deterministic env (S&B section 8.4). After each real step the pair
    is queued with priority P = |R + gamma * max_a Q(S', a) - Q(S, A)| if P > ``theta``; then up to
    ``planning_steps`` times the highest-priority pair is popped, updated from the model, and every
    pair predicted to lead to its state is queued by its own |TD error|. Only popped pairs are
    updated (the real step is learnt through the queue), so ``updates`` counts pops."""
    _check_planning_steps(planning_steps)
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(theta) and theta >= 0):
        raise ValueError(f"theta (priority threshold) must be a finite number >= 0, got {theta!r}")
    return _run("prioritized_sweeping", env, episodes, total_steps,
                lambda agent, model: _PrioritizedSweeping(agent, model, int(planning_steps), float(theta)),
                alpha, gamma, exploration, seed, stop_when, initial_q)
