"""What a sweep is: settings x environments x seeds, from the command line or a TOML file.

A *setting* (an :class:`Arm`) is an algorithm with the config values a grid sets on top of its
preset (none by default). One *cell* is one (setting, env, seed) run with its budget. The cells
of a sweep are enumerated in a fixed order (setting, then env, then seed), and each cell's work
depends on its own fields only, so the same sweep gives the same numbers whatever backend, worker
count or completion order runs it.

A sweep file (TOML) holds the same fields as the command line::

    algorithms = ["q_learning", "sarsa"]
    envs = ["FrozenLake-v1", "Taxi-v3"]      # old versions resolve to the installed one
    seeds = 10                                # a count (seeds 0..9) or an explicit list [0, 3, 7]
    budget = 2000                             # optional: episodes (tabular) / env steps (deep)
    # or per environment:  [budget]  FrozenLake-v1 = 5000  Taxi-v3 = 2000

Deep algorithms' config values can be swept (``--grid lr=1e-3,5e-4 --grid n_step=1,3``): every
algorithm runs every combination (the Cartesian product) of the grid's values::

    [grid]
    lr = [1e-3, 5e-4]
    n_step = [1, 3]

or, instead of ``algorithms`` and ``grid``, an explicit list of settings (e.g. an ablation)::

    [[variants]]
    algorithm = "dqn"
    [[variants]]
    algorithm = "dqn"
    n_step = 3
"""
from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from algorithms.benchmark.records import arm_label, cell_key
from algorithms.benchmark.runners import ALGORITHMS, resolve_benchmark_env
from algorithms.configs import parse_value
from algorithms.registry import algorithm_names, get_algorithm

__all__ = ["SweepError", "Arm", "Cell", "SweepSpec", "parse_seeds", "parse_grid_option", "load_sweep_file",
           "benchmark_envs"]


class SweepError(ValueError):
    """A sweep the user asked for cannot be run as given (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class Arm:
    """One setting of a sweep: ``algorithm`` with ``overrides``, config values set on top of its
    preset ((key, value) pairs in the order the grid names them; none = the preset itself)."""
    algorithm: str
    overrides: tuple = ()

    @property
    def label(self) -> str:
        """``dqn`` or ``dqn[lr=0.001,n_step=3]``: how reports and figures name the setting."""
        return arm_label({"algorithm": self.algorithm, "overrides": dict(self.overrides)})


@dataclass(frozen=True)
class Cell:
    """One run: ``algorithm`` on ``env`` (a resolved gymnasium id) with ``seed`` and ``budget``
    (episodes for tabular algorithms, env steps for deep ones), and the config values its
    setting overrides (deep algorithms)."""
    algorithm: str
    env: str
    seed: int
    budget: int
    overrides: tuple = ()

    @property
    def label(self) -> str:
        return arm_label(self.as_dict())

    @property
    def key(self) -> str:
        """Identifies the run inside ``runs.jsonl``; the budget is checked separately on resume."""
        return cell_key(self.as_dict())

    def as_dict(self) -> dict:
        cell = {"algorithm": self.algorithm, "env": self.env, "seed": self.seed, "budget": self.budget}
        if self.overrides:      # absent, not empty, for plain cells: their records stay as they were
            cell["overrides"] = dict(self.overrides)
        return cell


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: algorithm names, resolved env ids, seeds, per-env budget overrides
    (``None`` for an env means the algorithm family's default for that env) and the settings
    (:class:`Arm`) each env and seed runs."""
    algorithms: tuple[str, ...]
    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: dict[str, int | None]
    arms: tuple[Arm, ...] = ()

    def __post_init__(self):
        if not self.arms:
            object.__setattr__(self, "arms", tuple(Arm(name) for name in self.algorithms))

    @classmethod
    def build(cls, algorithms=None, envs=None, seeds=None, budget=None, grid=None, variants=None) -> "SweepSpec":
        """Validate user input; ``budget`` is None, one int for every env, or {env: int}; ``grid``
        is {config key: list of values} (every algorithm runs every combination); ``variants``
        replaces ``algorithms`` and ``grid`` with a list of {"algorithm": name, key: value, ...}.

        Raises ``SweepError`` naming the bad value and what is valid.
        """
        if variants is not None:
            if algorithms is not None or grid:
                raise SweepError("variants list whole settings; give them instead of algorithms and grid")
            arms = _parse_variants(variants)
            algorithms = list(dict.fromkeys(arm.algorithm for arm in arms))
        else:
            if algorithms is None:
                raise SweepError("a sweep needs algorithms (or variants)")
            algorithms = _as_name_list("algorithms", algorithms)
            arms = None
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
        if arms is None:
            arms = _grid_arms(algorithms, grid)
        labels = [arm.label for arm in arms]
        if len(set(labels)) != len(labels):
            raise SweepError(f"the sweep lists a setting twice: {sorted(x for x in labels if labels.count(x) > 1)[0]}")
        for arm in arms:
            _check_overrides(arm, resolved)
        return cls(tuple(algorithms), tuple(resolved), parse_seeds(seeds), budgets, tuple(arms))

    def cells(self) -> list[Cell]:
        """Every (setting, env, seed) cell in a fixed order."""
        out = []
        for arm in self.arms:
            for env in self.envs:
                budget = self.budgets.get(env) or ALGORITHMS[arm.algorithm].defaults[env].budget
                out.extend(Cell(arm.algorithm, env, seed, budget, arm.overrides) for seed in self.seeds)
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


def _grid_arms(algorithms: list[str], grid) -> list[Arm]:
    """Every algorithm with every combination of the grid's values (grid order: first key slowest)."""
    if grid is None or grid == {}:
        return [Arm(name) for name in algorithms]
    if not isinstance(grid, dict):
        raise SweepError(f"grid must be a table of config key -> list of values, got {grid!r}")
    keys, value_lists = [], []
    for key, values in grid.items():
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise SweepError(f"grid {key} has no values")
        if len({_frozen(v) for v in values}) != len(values):
            raise SweepError(f"grid {key} lists a value twice: {values}")
        keys.append(key)
        value_lists.append(values)
    return [Arm(name, tuple(zip(keys, combination)))
            for name in algorithms for combination in itertools.product(*value_lists)]


def _frozen(value):
    return tuple(map(_frozen, value)) if isinstance(value, list) else (type(value).__name__, value)


def _parse_variants(variants) -> list[Arm]:
    if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) for v in variants):
        raise SweepError(f"variants must be a non-empty list of tables ([[variants]] algorithm = ...), "
                         f"got {variants!r}")
    arms = []
    for number, variant in enumerate(variants, start=1):
        name = variant.get("algorithm")
        if not isinstance(name, str) or not name:
            raise SweepError(f"variant {number} needs algorithm = \"name\", got {variant!r}")
        arms.append(Arm(name, tuple((k, v) for k, v in variant.items() if k != "algorithm")))
    return arms


def _check_overrides(arm: Arm, envs: list[str]) -> None:
    """Every value a setting overrides must be a field of its algorithm's config with a valid value."""
    if arm.algorithm not in ALGORITHMS:
        raise SweepError(f"unknown algorithm {arm.algorithm!r}; valid algorithms: {', '.join(ALGORITHMS)}")
    if not arm.overrides:
        return
    entry = ALGORITHMS[arm.algorithm]
    for env in envs:
        try:
            entry.config(env, 0, entry.defaults[env].budget, dict(arm.overrides))
        except (KeyError, ValueError) as err:
            raise SweepError(f"{arm.label} on {env}: {str(err).strip(chr(34))}") from None


def _split_values(text: str) -> list[str]:
    """``"1e-3,5e-4"`` -> ["1e-3", "5e-4"]; commas inside brackets stay (``[64,64],[128,128]``)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts]


def parse_grid_option(items: list[str] | None, algorithms) -> dict | None:
    """``--grid KEY=V1,V2`` options -> {key: [typed values]}, each value parsed to the type of the
    field in the algorithms' config dataclass (the same for all of them, or it is an error)."""
    if not items:
        return None
    # Tabular or unknown names are reported later, by SweepSpec.build, with the usual messages.
    names = [name for name in _as_name_list("algorithms", algorithms) if name in algorithm_names()]
    grid = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise SweepError(f"--grid expects KEY=VALUE[,VALUE...], e.g. lr=1e-3,5e-4, got {item!r}")
        if key in grid:
            raise SweepError(f"--grid {key} is given twice; list all its values in one --grid")
        values = []
        for part in _split_values(text):
            typed = set()
            for name in names:
                try:
                    typed.add(_frozen_value(parse_value(get_algorithm(name).config, key, part)))
                except (KeyError, ValueError) as err:
                    raise SweepError(f"--grid {item}: {name}: {str(err).strip(chr(34))}") from None
            if len(typed) > 1:
                raise SweepError(f"--grid {item}: {part!r} means different things to {', '.join(names)}")
            values.append(_thawed(typed.pop()) if typed else part)
        grid[key] = values
    return grid


def _frozen_value(value):
    return ("list", tuple(value)) if isinstance(value, list) else (type(value).__name__, value)


def _thawed(frozen):
    kind, value = frozen
    return list(value) if kind == "list" else value


_SWEEP_FILE_KEYS = {"algorithms", "envs", "seeds", "budget", "grid", "variants"}


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
    required = {"envs", "seeds"} | ({"algorithms"} if "variants" not in data else set())
    missing = required - set(data)
    if missing:
        raise SweepError(f"sweep file {str(path)!r} lacks required keys {sorted(missing)}")
    return {key: data.get(key) for key in _SWEEP_FILE_KEYS}
