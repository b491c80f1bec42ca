"""What a sweep is: algorithms x environments x seeds, from the command line or a TOML file.

One *cell* is one (algorithm, env, seed) run with its budget. The cells of a sweep are
enumerated in a fixed order (algorithm, then env, then seed), and each cell's work depends on
its own fields only, so the same sweep gives the same numbers whatever backend, worker count or
completion order runs it.

A sweep file (TOML) holds the same fields as the command line::

    algorithms = ["q_learning", "sarsa"]
    envs = ["FrozenLake-v1", "Taxi-v3"]      # old versions resolve to the installed one
    seeds = 10                                # a count (seeds 0..9) or an explicit list [0, 3, 7]
    budget = 2000                             # optional: episodes (tabular) / env steps (deep)
    # or per environment:  [budget]  FrozenLake-v1 = 5000  Taxi-v3 = 2000
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from algorithms.benchmark.records import cell_key
from algorithms.benchmark.runners import ALGORITHMS, resolve_benchmark_env

__all__ = ["SweepError", "Cell", "SweepSpec", "parse_seeds", "load_sweep_file", "benchmark_envs"]


class SweepError(ValueError):
    """A sweep the user asked for cannot be run as given (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class Cell:
    """One run: ``algorithm`` on ``env`` (a resolved gymnasium id) with ``seed`` and ``budget``
    (episodes for tabular algorithms, env steps for deep ones)."""
    algorithm: str
    env: str
    seed: int
    budget: int

    @property
    def key(self) -> str:
        """Identifies the run inside ``runs.jsonl``; the budget is checked separately on resume."""
        return cell_key(self.as_dict())

    def as_dict(self) -> dict:
        return {"algorithm": self.algorithm, "env": self.env, "seed": self.seed, "budget": self.budget}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: algorithm names, resolved env ids, seeds, and per-env budget overrides
    (``None`` for an env means the algorithm family's default for that env)."""
    algorithms: tuple[str, ...]
    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: dict[str, int | None]

    @classmethod
    def build(cls, algorithms, envs, seeds, budget=None) -> "SweepSpec":
        """Validate user input; ``budget`` is None, one int for every env, or {env: int}.

        Raises ``SweepError`` naming the bad value and what is valid.
        """
        algorithms = _as_name_list("algorithms", algorithms)
        envs = _as_name_list("envs", envs)
        unknown = [name for name in algorithms if name not in ALGORITHMS]
        if unknown:
            raise SweepError(f"unknown algorithm {', '.join(map(repr, unknown))}; "
                             f"valid algorithms: {', '.join(ALGORITHMS)}")
        resolved = []
        for env in envs:
            try:
                env_id = resolve_benchmark_env(env)
            except ValueError as err:
                raise SweepError(f"{err}; benchmark envs: {', '.join(benchmark_envs())}") from err
            for name in algorithms:
                if env_id not in ALGORITHMS[name].defaults:
                    raise SweepError(f"algorithm {name!r} has no benchmark settings for env {env!r}; "
                                     f"valid envs for {name}: {', '.join(ALGORITHMS[name].defaults)}")
            resolved.append(env_id)
        if len(set(resolved)) != len(resolved):
            raise SweepError(f"envs {envs} name the same environment twice (resolved: {resolved})")
        budgets = _parse_budgets(budget, envs, resolved)
        return cls(tuple(algorithms), tuple(resolved), parse_seeds(seeds), budgets)

    def cells(self) -> list[Cell]:
        """Every (algorithm, env, seed) cell in a fixed order."""
        out = []
        for name in self.algorithms:
            for env in self.envs:
                budget = self.budgets.get(env) or ALGORITHMS[name].defaults[env].budget
                out.extend(Cell(name, env, seed, budget) for seed in self.seeds)
        return out


def benchmark_envs() -> list[str]:
    """Every env some algorithm has benchmark settings for."""
    return list(dict.fromkeys(env for entry in ALGORITHMS.values() for env in entry.defaults))


def _as_name_list(field: str, value) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise SweepError(f"{field} must be a non-empty comma-separated list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise SweepError(f"{field} lists a name twice: {value!r}")
    return list(value)


def parse_seeds(value) -> tuple[int, ...]:
    """A count ``n > 0`` gives seeds 0..n-1; a list gives those seeds (distinct ints >= 0)."""
    if isinstance(value, str):
        text = value.strip()
        value = [s.strip() for s in text.split(",")] if "," in text else text
        try:
            value = [int(s) for s in value] if isinstance(value, list) else int(value)
        except ValueError:
            raise SweepError(f"seeds must be a positive count or a comma-separated list of ints, "
                             f"got {text!r}") from None
    if isinstance(value, bool):
        raise SweepError(f"seeds must be a positive count or a list of ints, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise SweepError(f"seeds must be a positive count (seeds 0..n-1), got {value}")
        return tuple(range(value))
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise SweepError(f"seeds must be a positive count or a non-empty list of ints >= 0, got {value!r}")
    if len(set(value)) != len(value):
        raise SweepError(f"seeds lists a seed twice: {list(value)}")
    return tuple(value)


def _parse_budgets(budget, envs: list[str], resolved: list[str]) -> dict[str, int | None]:
    def check(value, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SweepError(f"budget{where} must be an int > 0 (episodes for tabular algorithms, "
                             f"env steps for deep ones), got {value!r}")
        return value

    if budget is None:
        return {env: None for env in resolved}
    if isinstance(budget, dict):
        by_resolved = {}
        for name, value in budget.items():
            if name not in envs and name not in resolved:
                raise SweepError(f"budget names env {name!r}, which is not in the sweep's envs {envs}")
            by_resolved[resolved[envs.index(name)] if name in envs else name] = check(value, f" for {name}")
        return {env: by_resolved.get(env) for env in resolved}
    return {env: check(budget, "") for env in resolved}


_SWEEP_FILE_KEYS = {"algorithms", "envs", "seeds", "budget"}


def load_sweep_file(path: str | Path) -> dict:
    """Read a TOML sweep file into keyword arguments of ``SweepSpec.build``.

    Raises ``SweepError`` if the file cannot be read or parsed, lacks a required key or has an
    unknown one.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise SweepError(f"cannot read sweep file {str(path)!r}: {err.strerror or err}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SweepError(f"sweep file {str(path)!r} is not valid TOML: {err}") from err
    unknown = set(data) - _SWEEP_FILE_KEYS
    if unknown:
        raise SweepError(f"sweep file {str(path)!r} has unknown keys {sorted(unknown)}; "
                         f"valid keys: {sorted(_SWEEP_FILE_KEYS)}")
    missing = {"algorithms", "envs", "seeds"} - set(data)
    if missing:
        raise SweepError(f"sweep file {str(path)!r} lacks required keys {sorted(missing)}")
    return {key: data.get(key) for key in _SWEEP_FILE_KEYS}
