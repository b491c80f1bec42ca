"""The one seam between algorithms and everything else: a registry of named algorithms.

An algorithm is a loss plus the loop that feeds it::

    register_algorithm("munchausen_dqn", loss=munchausen_loss, loop="off_policy",
                       config=MunchausenConfig, presets="dqn")

The CLI (``train``, ``eval``, ``list``), the presets, the benchmark and the tests all read this
registry, so a registered algorithm -- built in or from a user's plugin file -- gets everything
the built-in ones get.

**The loss contract** (one signature for every algorithm)::

    loss(batch, nets, config) -> (scalar Tensor, {term name: scalar Tensor})

``batch`` is what the loop collected (see each loop's docstring in :mod:`algorithms.trainers`),
``nets`` the dict of networks built by ``networks`` (a net named ``X_target`` is the target
copy of ``X``), and ``config`` the algorithm's config dataclass, from which the loss reads any
hyperparameter it needs. The terms are logged by name and checked for non-finite values. A loss may
also return per-row outputs among its terms as NumPy arrays (``td_loss``'s ``td_error``, which
prioritized replay needs): they are handed back to the loop, never logged or differentiated.

Plugins: :func:`load_plugin` imports a user's file or module. It is called only with what the
user names on the command line (``--plugin``), never with anything read from a run folder.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["Loop", "AlgorithmSpec", "register_algorithm", "unregister_algorithm", "get_algorithm",
           "algorithm_names", "register_loop", "get_loop", "load_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Loop:
    """A training loop: how it trains, which networks it builds by default, how it acts greedily.

    ``train(run) -> env steps`` runs the loop (``run.loss(batch)`` calls the algorithm's loss); ``networks(spaces, config, seed) -> dict``
    builds the default networks; ``greedy_actor(nets) -> act(obs)`` is the deterministic policy
    used for evaluation; ``config`` is the config class every algorithm on this loop extends.
    ``sample_batch(env_id, nets, config, size, seed) -> batch`` (optional) collects a small real
    batch of the kind ``train`` feeds the loss, acting as the loop does; ``tinygrad-rl gradcheck``
    and ``tinygrad-rl graph`` use it, so every algorithm on the loop gets those commands.
    ``envs() -> [env id, ...]`` (optional) names the only envs the loop can train on (a planner
    needs each env's reward as a known function); ``None``: any env whose spaces fit its networks.
    """
    name: str
    train: Callable
    networks: Callable
    greedy_actor: Callable
    config: type
    batch: str                      # what the loss receives, for docs and `list`
    sample_batch: Callable | None = None
    envs: Callable[[], list] | None = None


@dataclass(frozen=True)
class AlgorithmSpec:
    """One registered algorithm. ``presets`` names the algorithm whose preset tables this one
    falls back to when an env has no table of its own (``None``: only its own)."""
    name: str
    loss: Callable
    loop: Loop
    config: type
    networks: Callable
    presets: str | None = None
    description: str = ""


_LOOPS: dict[str, Loop] = {}
_ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register_loop(loop: Loop) -> Loop:
    _LOOPS[loop.name] = loop
    return loop


def get_loop(name: str) -> Loop:
    if name not in _LOOPS:
        raise KeyError(f"unknown loop {name!r}; valid: {', '.join(_LOOPS)}")
    return _LOOPS[name]


def register_algorithm(name: str, *, loss: Callable, loop: str | Loop, config: type | None = None,
                       networks: Callable | None = None, presets: str | None = None,
                       description: str = "", replace: bool = False) -> AlgorithmSpec:
    """Register ``name``: its loss, the loop it trains on (``"off_policy"``, ``"on_policy"``,
    ``"episodic"`` or a :class:`Loop`), its config dataclass (default: the loop's), its network
    builder (default: the loop's) and the algorithm whose presets it reuses.

    Registering a taken name raises ``ValueError`` unless ``replace=True``.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"register_algorithm: name must be lower_snake_case (e.g. 'my_dqn'), got {name!r}")
    if name in _ALGORITHMS and not replace:
        raise ValueError(f"register_algorithm: {name!r} is already registered; pass replace=True to redefine it")
    if not callable(loss):
        raise TypeError(f"register_algorithm({name!r}): loss must be callable, got {loss!r}")
    loop = get_loop(loop) if isinstance(loop, str) else loop
    if not isinstance(loop, Loop):
        raise TypeError(f"register_algorithm({name!r}): loop must be a loop name or a Loop, got {loop!r}")
    config = config or loop.config
    if not (isinstance(config, type) and issubclass(config, loop.config)):
        raise TypeError(f"register_algorithm({name!r}): config must be a subclass of {loop.config.__name__} "
                        f"(the {loop.name} loop reads its fields), got {config!r}")
    if presets is not None and presets not in _ALGORITHMS:
        raise ValueError(f"register_algorithm({name!r}): presets={presets!r} is not a registered algorithm")
    spec = AlgorithmSpec(name, loss, loop, config, networks or loop.networks, presets, description)
    _ALGORITHMS[name] = spec
    return spec


def unregister_algorithm(name: str) -> None:
    """Remove ``name`` (for tests and interactive sessions)."""
    _ALGORITHMS.pop(name, None)


def get_algorithm(name: str) -> AlgorithmSpec:
    if name not in _ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; valid: {', '.join(_ALGORITHMS)}"
                       " (a plugin's algorithm needs --plugin FILE)")
    return _ALGORITHMS[name]


def algorithm_names() -> list[str]:
    return list(_ALGORITHMS)


def load_plugin(target: str) -> None:
    """Import a user's plugin: a ``.py`` file path or an importable module name.

    Importing it runs its ``register_algorithm`` calls. Only ever called with a name the user
    typed (``--plugin``); a run folder can never cause an import.
    """
    if not isinstance(target, str) or not target:
        raise ValueError(f"--plugin expects a .py file or a module name, got {target!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"--plugin {target}: no such file")
        module_name = f"tinygrad_rl_plugin_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
        if module_name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return
    try:
        importlib.import_module(target)
    except ModuleNotFoundError as err:
        raise ValueError(f"--plugin {target}: cannot import it ({err})") from None

