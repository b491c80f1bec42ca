"""Adapters that run one benchmark cell: algorithm name -> callable(env_id, seed, budget) -> result.

Every family (tabular, deep) plugs in through the same small interface, ``AlgorithmEntry``:
its per-env defaults (budget and hyperparameters) and a ``run(env_id, seed, budget)`` that
returns the measured part of a record::

    {"config": {...}, "episode_returns": [...], "episode_lengths": [...], "env_steps": int,
     "eval": {"mean_return": float, "std_return": float, "episodes": int}}

Deep records also hold ``eval_curve`` ({"env_steps": [...], "mean_return": [...]}): the periodic
deterministic evaluations during training (every ``eval_every`` env steps).

``run_cell`` wraps it into a full record (the cell, status, error, wall time). The work of a
cell depends on its seed alone: the seed is split with ``spawn_seeds`` into a training seed
and an evaluation seed, so a cell gives the same numbers in any process, on any backend.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np

from algorithms import tabular
from algorithms.configs import apply_overrides
from algorithms.loops.actors import greedy_actor
from algorithms.loops.env_runner import greedy_episodes_returns
from algorithms.loops.seeding import RunSeeds
from algorithms.loops.training_run import train
from algorithms.presets import config_dict, load_preset, preset_envs, preset_source
from algorithms.registry import algorithm_names, get_algorithm
from algorithms.runs.experiment import FINAL_EVAL_EPISODES
from algorithms.tabular import EpsilonGreedy, UnifiedAgent
from envs_wrappers.registry import make_env, resolve_env_id
from tinygrad_rl.arrays import linear_schedule, spawn_seeds

__all__ = ["AlgorithmEntry", "EnvDefaults", "ALGORITHMS", "SOLVE_THRESHOLDS", "solve_threshold",
           "resolve_benchmark_env", "base_record", "run_cell", "RECORD_SCHEMA"]

RECORD_SCHEMA = 1

#: Solve thresholds for envs whose gymnasium spec has no ``reward_threshold``.
#: CliffWalking: reaching the goal in at most 17 steps, the length of the safe path along the
#: top row (the optimal path along the cliff edge takes 13 steps, return -13).
#: Pendulum: a mean return of -200, the bar rl-baselines3-zoo's SAC and TD3 agents reach (about -150 to -200).
SOLVE_THRESHOLDS = {"CliffWalking-v1": -17.0, "Pendulum-v1": -200.0}


def solve_threshold(env_id: str) -> float | None:
    """The return at which ``env_id`` counts as solved: gymnasium's ``reward_threshold``
    (FrozenLake-v1 0.70, Taxi 8, CartPole-v1 475, ...) or ours from ``SOLVE_THRESHOLDS``; None for an env
    with neither (MinAtar's games, say): its runs get returns and their statistics, no solve rate."""
    if env_id in SOLVE_THRESHOLDS:
        return SOLVE_THRESHOLDS[env_id]
    threshold = gym.spec(env_id).reward_threshold
    return None if threshold is None else float(threshold)


def resolve_benchmark_env(env_id: str) -> str:
    """The installed gymnasium id for ``env_id`` (Taxi-v3 -> Taxi-v4), via ``envs_wrappers``."""
    return resolve_env_id(env_id)


@dataclass(frozen=True)
class EnvDefaults:
    """Benchmark settings of one (algorithm family, env): the budget and the hyperparameters."""
    budget: int
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlgorithmEntry:
    """One benchmarkable algorithm: its family, ``budget_unit`` ("episodes" or "env steps"),
    settings per supported env, ``config(env_id, seed, budget, overrides=None) -> dict`` (every
    setting of the run, known before it starts, so a resume can check that the code still means
    the same run; ``overrides`` are config values a grid sets, deep algorithms only) and
    ``run(env_id, seed, budget, config) -> measured dict`` (everything but the config)."""
    family: str
    budget_unit: str
    defaults: dict[str, EnvDefaults]
    config: Callable[[str, int, int, dict | None], dict]
    run: Callable[[str, int, int, dict], dict]


def _eval_summary(returns: np.ndarray) -> dict:
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "episodes": int(len(returns))}


# --------------------------------------------------------------------------- tabular family

# alpha=None in Monte Carlo control means sample averages (Sutton & Barto 2018, section 5.4).
# Exploration for all tabular methods: epsilon-greedy, epsilon decaying linearly from 1.0 to
# 0.01 over the first half of the episodes, then held; CliffWalking has no time limit in
# gymnasium, so its episodes are cut at 500 steps (a truncation: TD and MC bootstrap there).
# Evaluation: the greedy policy for ``eval_episodes`` episodes (CliffWalking is deterministic
# up to tie-breaking, so 20 suffice; the slippery lake and Taxi's random starts need more),
# each cut after ``TABULAR_EVAL_MAX_STEPS`` steps since a greedy policy can loop forever.
TABULAR_DEFAULTS = {
    "FrozenLake-v1": EnvDefaults(5000, {"alpha": 0.1, "gamma": 0.99, "max_episode_steps": None, "eval_episodes": 200}),
    "CliffWalking-v1": EnvDefaults(500, {"alpha": 0.5, "gamma": 1.0, "max_episode_steps": 500, "eval_episodes": 20}),
    "Taxi-v4": EnvDefaults(2000, {"alpha": 0.5, "gamma": 0.99, "max_episode_steps": None, "eval_episodes": 200}),
}
TABULAR_EXPLORATION = {"epsilon_start": 1.0, "epsilon_end": 0.01, "decay_fraction": 0.5}
TABULAR_EVAL_MAX_STEPS = 500


def make_tabular_env(env_id: str, max_episode_steps: int | None) -> gym.Env:
    """``make_env``, with a time limit for envs that have none (CliffWalking)."""
    return make_env(env_id) if max_episode_steps is None else make_env(env_id, max_episode_steps=max_episode_steps)


def _decay_episodes(episodes: int) -> int:
    return max(1, int(TABULAR_EXPLORATION["decay_fraction"] * episodes))


def _tabular_config(algorithm: str) -> Callable[[str, int, int, dict | None], dict]:
    def config(env_id: str, seed: int, episodes: int, overrides: dict | None = None) -> dict:
        if overrides:
            raise ValueError(f"{algorithm} is tabular: its settings are fixed per env, a grid cannot set "
                             f"{', '.join(overrides)} (grids set deep algorithms' config fields)")
        params, explore = TABULAR_DEFAULTS[env_id].params, TABULAR_EXPLORATION
        return {"alpha": None if algorithm == "mc_control" else params["alpha"], "gamma": params["gamma"],
                "episodes": episodes, "max_episode_steps": params["max_episode_steps"],
                "exploration": f"EpsilonGreedy, epsilon {explore['epsilon_start']} -> {explore['epsilon_end']} "
                               f"linearly over {_decay_episodes(episodes)} episodes",
                "eval_episodes": params["eval_episodes"], "eval_max_steps": TABULAR_EVAL_MAX_STEPS}
    return config


def _tabular_runner(algorithm: str) -> Callable[[str, int, int, dict], dict]:
    def run(env_id: str, seed: int, episodes: int, config: dict) -> dict:
        train_seed, eval_seed = spawn_seeds(seed, 2)
        explore = TABULAR_EXPLORATION
        exploration = EpsilonGreedy(linear_schedule(explore["epsilon_start"], explore["epsilon_end"],
                                                    _decay_episodes(episodes)))
        env = make_tabular_env(env_id, config["max_episode_steps"])
        try:
            result = getattr(tabular, algorithm)(env, episodes, alpha=config["alpha"], gamma=config["gamma"],
                                                  exploration=exploration, seed=train_seed)
        finally:
            env.close()
        # Greedy evaluation reuses UnifiedAgent.evaluate on the learned table (no learning happens).
        evaluator = UnifiedAgent("q_learning", n_states=result.Q.shape[0], n_actions=result.Q.shape[1])
        evaluator.Q = result.Q
        eval_env = make_tabular_env(env_id, config["max_episode_steps"])
        try:
            eval_returns = evaluator.evaluate(eval_env, config["eval_episodes"], seed=eval_seed,
                                              max_steps=config["eval_max_steps"])
        finally:
            eval_env.close()
        return {"episode_returns": [float(r) for r in result.episode_returns],
                "episode_lengths": [int(n) for n in result.episode_lengths],
                "env_steps": int(np.sum(result.episode_lengths)),
                "eval": _eval_summary(eval_returns)}
    return run


# --------------------------------------------------------------------------- deep family

def _deep_config(algorithm: str) -> Callable[[str, int, int, dict | None], dict]:
    def config(env_id: str, seed: int, total_steps: int, overrides: dict | None = None) -> dict:
        """The preset, then the grid's ``overrides``, then the cell's budget and seed."""
        fixed = {"total_steps": total_steps, "seed": seed}
        clash = sorted(set(overrides or {}) & set(fixed))
        if clash:
            raise ValueError(f"a grid cannot set {', '.join(clash)}: the sweep's budget and seeds set them")
        return config_dict(load_preset(algorithm, env_id, {**(overrides or {}), **fixed}))
    return config


def _deep_runner(algorithm: str) -> Callable[[str, int, int, dict], dict]:
    def run(env_id: str, seed: int, total_steps: int, config: dict) -> dict:
        # Exactly the recorded settings (preset, grid values, budget, seed), field by field.
        run_config = apply_overrides(get_algorithm(algorithm).config(), config)
        if (run_config.total_steps, run_config.seed) != (total_steps, seed):
            raise ValueError(f"config says total_steps={run_config.total_steps}, seed={run_config.seed}; "
                             f"the cell says {total_steps}, {seed}")
        result = train(algorithm, env_id, run_config)
        if result.interrupted:                           # Ctrl-C: not a finished cell
            raise KeyboardInterrupt
        episodes = [row for row in result.metrics.rows if row.get("episode_return") is not None]
        eval_env = make_env(env_id)
        try:
            eval_returns = greedy_episodes_returns(eval_env, greedy_actor(algorithm, result.nets),
                                                   FINAL_EVAL_EPISODES, RunSeeds.from_seed(seed).eval)
        finally:
            eval_env.close()
        eval_steps, eval_means = result.metrics.column("eval_return")
        return {"episode_returns": [float(row["episode_return"]) for row in episodes],
                "episode_lengths": [int(row["episode_length"]) for row in episodes],
                "env_steps": int(result.env_steps),
                "eval": _eval_summary(eval_returns),
                "eval_curve": {"env_steps": [int(s) for s in eval_steps],
                               "mean_return": [float(r) for r in eval_means]}}
    return run


def _deep_entry(algorithm: str) -> AlgorithmEntry:
    """A registered deep algorithm on every env it has a preset for (budget: the preset's total_steps).
    Training runs in memory (no run folder per cell); metrics come from the trainer's log."""
    return AlgorithmEntry("deep", "env steps",
                          {env: EnvDefaults(load_preset(algorithm, env).total_steps)
                           for env in preset_envs() if preset_source(algorithm, env) is not None},
                          _deep_config(algorithm), _deep_runner(algorithm))


class _AlgorithmTable(Mapping):
    """The tabular algorithms plus every deep algorithm in the registry, read at lookup time, so
    an algorithm registered after import (a plugin) is benchmarkable like the built-in ones."""

    def __init__(self, tabular: dict[str, AlgorithmEntry]):
        self._tabular = tabular
        self._overrides: dict[str, AlgorithmEntry] = {}

    def _deep_names(self) -> list[str]:
        return algorithm_names()

    def __getitem__(self, name: str) -> AlgorithmEntry:
        if name in self._overrides:
            return self._overrides[name]
        if name in self._tabular:
            return self._tabular[name]
        if name in self._deep_names():
            return _deep_entry(name)
        raise KeyError(name)

    def __setitem__(self, name: str, entry: AlgorithmEntry) -> None:   # for tests that swap an entry
        self._overrides[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._overrides[name]

    def __iter__(self):
        return iter(dict.fromkeys([*self._tabular, *self._deep_names(), *self._overrides]))

    def __len__(self) -> int:
        return len(list(iter(self)))


ALGORITHMS: Mapping[str, AlgorithmEntry] = _AlgorithmTable(
    {name: AlgorithmEntry("tabular", "episodes", TABULAR_DEFAULTS, _tabular_config(name), _tabular_runner(name))
     for name in ("q_learning", "sarsa", "expected_sarsa", "mc_control")})

# --------------------------------------------------------------------------- one cell -> one record

def base_record(cell: dict) -> dict:
    """The fields every record of ``cell`` carries, whatever happens to the run."""
    entry = ALGORITHMS[cell["algorithm"]]
    return {"schema": RECORD_SCHEMA, "cell": dict(cell), "family": entry.family,
            "budget_unit": entry.budget_unit, "solve_threshold": solve_threshold(cell["env"])}


def run_cell(cell: dict) -> dict:
    """Run one cell ``{"algorithm", "env", "seed", "budget"}`` (and ``"overrides"``, the config
    values a grid sets, when there are any) and return its record.

    A cell that raises is returned as ``status: "failed"`` with the exception and its traceback
    in ``error``, so the sweep records it and goes on; nothing about it is hidden.
    """
    entry = ALGORITHMS[cell["algorithm"]]
    start = time.perf_counter()
    record = base_record(cell)
    config = None
    try:
        config = entry.config(cell["env"], cell["seed"], cell["budget"], cell.get("overrides"))
        measured = entry.run(cell["env"], cell["seed"], cell["budget"], config)
    except Exception as err:  # recorded with its traceback, reported, and counted in the exit status
        record.update(status="failed", error=f"{type(err).__name__}: {err}\n{traceback.format_exc()}", config=config)
    else:
        record.update(status="ok", error=None, config=config, **measured)
    record["wall_time_s"] = time.perf_counter() - start
    return record
