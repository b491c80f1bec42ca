"""The one seam between algorithms and everything else: a registry of named algorithms.

An algorithm is a loss plus the loop that feeds it::

    register_algorithm("munchausen_dqn", loss=munchausen_loss, loop="off_policy",
                       config=MunchausenConfig, presets="dqn")

The CLI (``train``, ``eval``, ``list``), the presets, the benchmark and the tests all read this
registry, so a registered algorithm -- built in or from a user's plugin file -- gets everything
the built-in ones get.

**The loss contract** (one signature for every algorithm)::

    loss(batch, nets, config) -> (scalar Tensor, {term name: scalar Tensor})

``batch`` is what the loop collected (see each loop's docstring in :mod:`algorithms.loops`),
``nets`` the dict of networks built by ``networks`` (a net named ``X_target`` is the target
copy of ``X``), and ``config`` the algorithm's config dataclass, from which the loss reads any
hyperparameter it needs. The terms are logged by name and checked for non-finite values. A loss may
also return per-row outputs among its terms as NumPy arrays (``td_loss``'s ``td_error``, which
prioritized replay needs): they are handed back to the loop, never logged or differentiated.

**One optimiser or several.** By default the loop optimises every trained net with one optimiser
on the total. An actor-critic gives each term its own optimiser over its own nets::

    register_algorithm("sac", loss=sac_loss, loop="off_policy_continuous", config=SACConfig,
                       optimizers={"critic": ("critic",), "actor": ("actor",), "alpha": ("log_alpha",)})

Each named term is backpropagated into its nets only (the other nets' parameters are held
fixed during that backward pass, so no gradient of the actor term ever reaches the critic's
optimiser) and applied by their optimiser; a term the loss leaves out of its dict on some
step (a delayed actor update) leaves its optimiser untouched then. The total is only logged.
All terms of one call are computed from the same parameters and applied together.

**State a loss may keep.** Some algorithms carry a number from one update to the next that is not a
parameter and not a hyperparameter: PPO's adaptive KL coefficient (Schulman et al. 2017, sec. 4),
a Lagrange multiplier, a running scale. It lives in an object the algorithm registers a factory for::

    register_algorithm("ppo_kl", loss=ppo_kl_loss, loop="on_policy", config=KLConfig, state=KLCoefficient)

``state(config)`` makes one per run; it has ``state_dict() -> dict``, ``load_state_dict(dict)`` and
``after_update(env_step, terms)``. The loss then has a fourth argument, ``loss(batch, nets, config,
state)``, and only *reads* it; the loop calls ``state.after_update(env_step, {term: float})`` after
each gradient step, and that is the only place it changes. So the state is saved in the resume
checkpoint (``--resume`` continues with it), ``gradcheck`` and ``graph`` evaluate the loss with a
fresh state that the finite differences cannot move, and ``eval`` never builds it (it is not a
network: nothing of it goes to ``model.npz``).

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

import numpy as np

from tinygrad_rl import Tensor

from .networks import trained_nets

__all__ = ["Loop", "AlgorithmSpec", "register_algorithm", "unregister_algorithm", "get_algorithm",
           "algorithm_names", "register_loop", "get_loop", "load_plugin", "TOTAL"]

#: The name under which an algorithm without ``optimizers`` optimises its total loss.
TOTAL = "total"

#: The loss contract: ``loss(batch, nets, config) -> (scalar Tensor, {term: scalar Tensor or per-row array})``,
#: with a fourth argument, the loss state, for an algorithm registered with ``state``.
LossFunction = Callable[..., "tuple[Tensor, dict[str, Tensor | np.ndarray]]"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Loop:
    """A training loop: how it trains, which networks it builds by default, how it acts greedily.

    ``train(run) -> env steps`` runs the loop (``run.loss(batch)`` calls the algorithm's loss);
    ``networks(spaces, config, seed) -> dict``
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
    falls back to when an env has no table of its own (``None``: only its own). ``optimizers``
    maps a loss term to the nets its own optimiser trains (``None``: one optimiser on the total)."""
    name: str
    loss: LossFunction
    loop: Loop
    config: type
    networks: Callable
    presets: str | None = None
    description: str = ""
    optimizers: dict[str, tuple[str, ...]] | None = None
    state: Callable | None = None

    def new_state(self, config):
        """A fresh loss state for a run with ``config`` (``None`` for an algorithm without one)."""
        if self.state is None:
            return None
        state = self.state(config)
        needed = ("state_dict", "load_state_dict", "after_update")
        missing = [m for m in needed if not callable(getattr(state, m, None))]
        if missing:
            raise TypeError(f"{self.name}: its state object {type(state).__name__} has no {', '.join(missing)} "
                            "(a loss state needs state_dict, load_state_dict and after_update)")
        return state

    def evaluate(self, batch, nets: dict, config, state=None) -> tuple[Tensor, dict[str, Tensor | np.ndarray]]:
        """The loss on ``batch``: ``loss(batch, nets, config)``, or ``loss(batch, nets, config, state)``
        for an algorithm registered with a ``state``."""
        if self.state is None:
            return self.loss(batch, nets, config)
        return self.loss(batch, nets, config, state)

    def optimizer_groups(self, nets: dict) -> dict[str, tuple[str, ...]]:
        """{term: names of the nets it trains} for ``nets`` built by this algorithm: its
        ``optimizers``, or ``{"total": every trained net}``. Raises ValueError when a named net
        is missing or not trainable, is named twice, or a trainable net is named nowhere."""
        trainable = trained_nets(nets)
        if self.optimizers is None:
            return {TOTAL: tuple(trainable)}
        named = [net for names in self.optimizers.values() for net in names]
        for net in named:
            if net not in trainable:
                raise ValueError(f"{self.name}: optimizers name the net {net!r}, but the networks builder made "
                                 f"no trainable net of that name (trainable: {', '.join(trainable)})")
        twice = sorted({net for net in named if named.count(net) > 1})
        if twice:
            raise ValueError(f"{self.name}: optimizers name {twice} under more than one term; "
                             "each net has exactly one optimiser")
        untrained = [net for net in trainable if net not in named]
        if untrained:
            raise ValueError(f"{self.name}: the nets {untrained} have parameters but no term in optimizers "
                             "trains them")
        return dict(self.optimizers)


_LOOPS: dict[str, Loop] = {}
_ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register_loop(loop: Loop) -> Loop:
    _LOOPS[loop.name] = loop
    return loop


def get_loop(name: str) -> Loop:
    if name not in _LOOPS:
        raise KeyError(f"unknown loop {name!r}; valid: {', '.join(_LOOPS)}")
    return _LOOPS[name]


def register_algorithm(name: str, *, loss: LossFunction, loop: str | Loop, config: type | None = None,
                       networks: Callable | None = None, presets: str | None = None,
                       description: str = "", optimizers: dict | None = None, state: Callable | None = None,
                       replace: bool = False) -> AlgorithmSpec:
    """Register ``name``: its loss, the loop it trains on (``"off_policy"``, ``"on_policy"``,
    ``"episodic"``, ``"off_policy_continuous"`` or a :class:`Loop`), its config dataclass (default:
    the loop's), its network builder (default: the loop's), the algorithm whose presets it reuses,
    and optionally ``optimizers``: ``{term: (net, ...)}``, one optimiser per loss term over the
    nets it names (default: one optimiser over every trained net, on the total loss), and
    optionally ``state``: ``state(config)`` makes the state its loss reads (module docstring).

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
    if state is not None and not callable(state):
        raise TypeError(f"register_algorithm({name!r}): state must be callable (config -> state object), got {state!r}")
    spec = AlgorithmSpec(name, loss, loop, config, networks or loop.networks, presets, description,
                         _check_optimizers(name, optimizers), state)
    _ALGORITHMS[name] = spec
    return spec


def _check_optimizers(name: str, optimizers) -> dict[str, tuple[str, ...]] | None:
    if optimizers is None:
        return None
    where = f"register_algorithm({name!r}): optimizers"
    if not isinstance(optimizers, dict) or not optimizers:
        raise TypeError(f"{where} must be a non-empty dict {{term: (net name, ...)}}, got {optimizers!r}")
    checked = {}
    for term, nets in optimizers.items():
        if not isinstance(term, str) or not _NAME.match(term) or term == TOTAL:
            raise ValueError(f"{where}: term names are lower_snake_case loss terms other than {TOTAL!r}, "
                             f"got {term!r}")
        nets = (nets,) if isinstance(nets, str) else nets
        if not isinstance(nets, (tuple, list)) or not nets or not all(isinstance(n, str) for n in nets):
            raise TypeError(f"{where}[{term!r}] must name one or more nets, e.g. ('critic',), got {nets!r}")
        checked[term] = tuple(nets)
    return checked


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

