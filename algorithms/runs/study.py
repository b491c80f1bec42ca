"""Study an algorithm's loss on a real batch: check its gradients per parameter, draw its graph.

    tinygrad-rl gradcheck ALGO ENV [--batch N] [--set key=value ...] [--plugin FILE]
    tinygrad-rl graph ALGO ENV --out FILE.(png|svg|pdf|dot|txt) [--grads] [--batch N] [--set ...]

Both build the algorithm's networks from its preset (as ``train`` would, same seed), collect a
small batch from the env with its loop's ``sample_batch`` hook, and call the registered loss, so
they work for every registered algorithm, a plugin's included.

**Which parameters a term is checked against.** Finite differences see every way a term depends
on a parameter; backward sees only the recorded graph. Where a loss uses a network through a
stop-gradient (REINFORCE's learned baseline enters the policy term as ``V(s).data``), the total
loss depends on the value network in a way backward deliberately ignores, and a whole-loss check
of the value parameters fails by design. So when the total is a linear combination of its terms
(sums, and products with constants, down to the term tensors; every built-in loss is), each term
is checked against the parameters in its own graph — the ones it trains — and a parameter no term
reaches is checked against the total (its gradient must then be 0). Otherwise the total is checked
against every parameter. A wrong backward anywhere between a parameter and a term still fails,
because that parameter is in that term's graph.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygrad_rl import Tensor, graph, no_grad
from tinygrad_rl.gradcheck import compare

from ..loops.seeding import RunSeeds
from ..loops.training_run import build_networks
from ..networks import trained_nets
from ..registry import get_algorithm
from .arguments import PROG, UsageError, add_plugin_argument, config_from_args, int_at_least
from .checkpoint import atomic_write
from .threads import single_blas_thread

__all__ = ["LossCheck", "ParameterCheck", "loss_setup", "check_loss_gradients", "format_report",
           "add_gradcheck_parser", "run_gradcheck", "add_graph_parser", "run_graph"]

DEFAULT_ELEMENTS = 1024
# Ops through which the total stays a linear combination of its terms (with constant factors).
_LINEAR_OPS = {"+", "-", "neg", "*", "/"}


@dataclass
class ParameterCheck:
    """One parameter: the objectives it was checked against and the worst |analytic - numeric|."""
    name: str
    shape: tuple
    objectives: list = field(default_factory=list)
    max_abs_error: float = 0.0
    passed: bool = True
    detail: str = ""               # the failing element, analytic and numeric values
    elements_checked: int = 0


@dataclass
class LossCheck:
    """The whole check: how the objectives were chosen and one row per parameter."""
    plan: str
    parameters: list

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parameters)


# ----------------------------------------------------------------------------- setup


def loss_setup(algo: str, env_id: str, config, batch_size: int):
    """(spec, nets, batch): the networks ``train`` would build (same seed) and a real batch of
    ``batch_size`` rows from the loop's ``sample_batch`` hook."""
    spec = get_algorithm(algo)
    if spec.loop.sample_batch is None:
        raise ValueError(f"{algo} trains on the loop {spec.loop.name!r}, which has no sample_batch hook "
                         "(Loop(..., sample_batch=...)), so no batch can be collected for its loss")
    seeds = RunSeeds.from_seed(config.seed)
    nets = build_networks(algo, env_id, config, seeds.networks)
    batch = spec.loop.sample_batch(env_id, nets, config, batch_size, seeds.sampling)
    return spec, nets, batch


def _evaluate(spec, batch, nets, config, state=None) -> tuple[Tensor, dict]:
    loss, terms = spec.evaluate(batch, nets, config, state)
    if not isinstance(loss, Tensor) or loss.size != 1:
        raise TypeError(f"{spec.name}: the loss must return (scalar Tensor, {{term: scalar Tensor}}), got "
                        f"{type(loss).__name__}" + (f" of shape {loss.shape}" if isinstance(loss, Tensor) else ""))
    return loss, {name: t for name, t in dict(terms).items() if isinstance(t, Tensor)}


def _linear_in_terms(loss: Tensor, terms: dict) -> bool:
    """True when walking down from ``loss`` to the term tensors passes only through sums and
    products with constants, and reaches no parameter on the way."""
    term_ids = {id(t) for t in terms.values()}
    stack, seen = [loss], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in term_ids:
            continue
        seen.add(id(node))
        if not node.parents:
            if node.requires_grad:
                return False  # a parameter used directly by the total, outside every term
            continue
        if node.op not in _LINEAR_OPS:
            return False
        if node.op in ("*", "/"):
            graded = [i for i, p in enumerate(node.parents) if p.requires_grad]
            if len(graded) != 1 or (node.op == "/" and graded != [0]):
                return False
        stack.extend(p for p in node.parents if p.requires_grad)
    return True


def _objectives(loss: Tensor, terms: dict, params: list) -> tuple[str, dict]:
    """(plan text, {parameter index: [objective names]})."""
    param_index = {id(p): i for i, (_, p) in enumerate(params)}
    graded_terms = {name: t for name, t in terms.items() if t.requires_grad and t is not loss}
    assignment: dict[int, list] = {i: [] for i in range(len(params))}
    if any(t is loss for t in terms.values()) and not graded_terms:
        name = next(n for n, t in terms.items() if t is loss)
        plan = f"the loss is its term {name!r}: checked against every parameter"
        for i in assignment:
            assignment[i].append("total")
        return plan, assignment
    if graded_terms and _linear_in_terms(loss, graded_terms):
        for name, t in graded_terms.items():
            for node in graph.nodes(t):
                i = param_index.get(id(node))
                if i is not None:
                    assignment[i].append(name)
        plan = (f"the loss is a linear combination of its terms {', '.join(graded_terms)}: each term is checked "
                "against the parameters in its own graph (the ones it trains); a parameter no term reaches is "
                "checked against the total")
        for objectives in assignment.values():
            if not objectives:
                objectives.append("total")
        return plan, assignment
    for i in assignment:
        assignment[i].append("total")
    return "the total loss is checked against every parameter", assignment


@single_blas_thread  # small matrix products: a second BLAS thread only costs (see algorithms/runs/threads.py)
def check_loss_gradients(spec, nets: dict, batch, config, eps: float = 1e-6, atol: float = 1e-5,
                         rtol: float = 1e-4, elements: int | None = None, seed: int = 0, state=None) -> LossCheck:
    """Gradcheck the algorithm's loss on ``batch`` with respect to every trained parameter, in
    float64 (the networks are cast in place), choosing the objectives as the module docstring says.

    ``elements`` (None: all) checks at most that many elements of each parameter, drawn with ``seed``.
    An algorithm with a loss state (see :mod:`algorithms.registry`) is checked at ``state`` (default: the
    state a run starts with); the loss only reads it, so no evaluation here moves it.
    """
    state = spec.new_state(config) if state is None else state
    for net in nets.values():
        if hasattr(net, "to_dtype"):
            net.to_dtype(np.float64)
    params = [(f"{name}.{sub}", p) for name in trained_nets(nets) for sub, p in nets[name].named_parameters()]
    for _, p in params:  # C order, so that perturbing p.data.reshape(-1) (then a view) perturbs p.data
        if not p.data.flags.c_contiguous:       # (ascontiguousarray would also turn a 0-d array into 1-d)
            p.data = np.ascontiguousarray(p.data)
    loss, terms = _evaluate(spec, batch, nets, config, state)
    plan, assignment = _objectives(loss, terms, params)
    names = sorted({o for objectives in assignment.values() for o in objectives})

    # Analytic: one fresh forward and backward per objective.
    analytic: dict[str, list] = {}
    for objective in names:
        for _, p in params:
            p.grad = None
        loss, terms = _evaluate(spec, batch, nets, config, state)
        target = loss if objective == "total" else terms[objective]
        if target.requires_grad:
            target.backward()
        analytic[objective] = [np.zeros(p.shape) if p.grad is None else np.array(p.grad, dtype=np.float64)
                               for _, p in params]
    for _, p in params:
        p.grad = None

    def values() -> dict:
        with no_grad():
            loss, terms = _evaluate(spec, batch, nets, config, state)
        return {o: float((loss if o == "total" else terms[o]).data) for o in names}

    rng = np.random.default_rng(seed)
    rows = []
    for i, (name, p) in enumerate(params):
        flat = p.data.reshape(-1)
        chosen = np.arange(flat.size) if elements is None or elements >= flat.size else \
            np.sort(rng.choice(flat.size, size=elements, replace=False))
        numeric = {o: np.zeros(flat.size) for o in assignment[i]}
        for j in chosen:
            saved = flat[j]
            flat[j] = saved + eps
            plus = values()
            flat[j] = saved - eps
            minus = values()
            flat[j] = saved
            for o in assignment[i]:
                numeric[o][j] = (plus[o] - minus[o]) / (2 * eps)
        row = ParameterCheck(name, p.shape, list(assignment[i]), elements_checked=len(chosen))
        for o in assignment[i]:
            result = compare(name, analytic[o][i].reshape(-1)[chosen], numeric[o][chosen], atol, rtol)
            row.max_abs_error = max(row.max_abs_error, result.max_abs_error)
            if not result.passed and row.passed:
                row.passed = False
                element = tuple(int(k) for k in np.unravel_index(int(chosen[result.worst[0]]), p.shape))
                row.detail = (f"{o}: element {element}: analytic {result.analytic:.8g} vs numeric "
                              f"{result.numeric:.8g} ({result.failing} of {len(chosen)} elements fail)")
        rows.append(row)
    return LossCheck(plan, rows)


def _elements_text(r: ParameterCheck) -> str:
    size = int(np.prod(r.shape, dtype=np.int64))
    return "all" if r.elements_checked == size else f"{r.elements_checked} of {size}"


def format_report(check: LossCheck) -> str:
    header = ("parameter", "shape", "elements", "checked against", "max |error|", "result")
    body = [(r.name, str(r.shape), _elements_text(r), ", ".join(r.objectives), f"{r.max_abs_error:.1e}",
             "pass" if r.passed else "FAIL") for r in check.parameters]
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in check.parameters:
        if not r.passed:
            lines.append(f"FAIL {r.name}: {r.detail}")
    failed = sum(not r.passed for r in check.parameters)
    lines.append(f"{len(check.parameters) - failed} of {len(check.parameters)} parameters pass"
                 + (f", {failed} fail" if failed else ""))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the commands


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("algo", help="a registered algorithm (dqn, double_dqn, a2c, ppo, reinforce, sac, td3, ddpg, "
                                "or a plugin's)")
    p.add_argument("env", help="a registered gymnasium id, e.g. CartPole-v1")
    p.add_argument("--batch", type=str, default="16", help="rows of the real batch (default 16)")
    p.add_argument("--seed", type=str, help="run seed (networks and batch, as `train --seed`; default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter of the preset, e.g. --set hidden=16,16")
    p.add_argument("--preset", type=str, metavar="FILE.toml", help="a preset file of your own, looked up first")
    add_plugin_argument(p)


def _setup_from_args(args):
    args.steps = None
    config, _ = config_from_args(args)
    batch_size = int_at_least("--batch", args.batch, 1)
    try:
        spec, nets, batch = loss_setup(args.algo, args.env, config, batch_size)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return spec, nets, batch, config, batch_size


def add_gradcheck_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gradcheck", help="check ALGO's loss gradients against finite differences, per parameter, on a real batch",
        description="Collect a small batch from ENV with the preset's networks, cast them to float64, and compare "
                    "backward() with central differences for every element of every trained parameter. "
                    "Exit status 1 if any parameter fails.")
    _add_common(p)
    p.add_argument("--elements", type=str, default=str(DEFAULT_ELEMENTS),
                   help=f"check at most this many elements of each parameter, drawn with the seed, or 'all' "
                        f"(default {DEFAULT_ELEMENTS}: every element of a small network, a sample of a large one)")
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step (default 1e-6)")
    p.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    return p


def run_gradcheck(args) -> int:
    elements = None if args.elements == "all" else int_at_least("--elements", args.elements, 1)
    if not (args.eps > 0 and args.atol >= 0 and args.rtol >= 0):
        raise UsageError(f"--eps must be > 0 and --atol, --rtol >= 0, got {args.eps}, {args.atol}, {args.rtol}")
    spec, nets, batch, config, batch_size = _setup_from_args(args)
    start = time.perf_counter()
    check = check_loss_gradients(spec, nets, batch, config, args.eps, args.atol, args.rtol, elements)
    seconds = time.perf_counter() - start
    n_elements = sum(r.elements_checked for r in check.parameters)
    print(f"{PROG} gradcheck {spec.name} on {args.env}: {spec.loss.__name__} on a real batch of {batch_size} "
          f"({spec.loop.batch}), float64, central differences eps={args.eps:g}; an element passes if "
          f"|analytic - numeric| <= {args.atol:g} + {args.rtol:g} |numeric|.")
    print(f"Plan: {check.plan}.\n")
    print(format_report(check))
    sampled = any(r.elements_checked < np.prod(r.shape) for r in check.parameters)
    print(f"({n_elements} elements checked in {seconds:.1f} s" +
          ("; --elements all checks every element)" if sampled else ")"))
    return 0 if check.passed else 1


def add_graph_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "graph", help="write the graph of ALGO's loss on a real batch (.png, .svg, .pdf, .dot or .txt)",
        description="Collect a small batch from ENV with the preset's networks, compute the loss and write its "
                    "graph: a drawing (.png, .svg, .pdf), Graphviz DOT (.dot) or the summary table (.txt).")
    _add_common(p)
    p.add_argument("--out", required=True, metavar="FILE", help="output file; its suffix picks the format")
    p.add_argument("--grads", action="store_true", help="run backward and show each tensor's gradient norm")
    p.add_argument("--title", type=str, help="title of the drawing (default: algorithm, env and batch)")
    return p


_GRAPH_FORMATS = (".png", ".svg", ".pdf", ".dot", ".txt")


def graph_names(nets: dict, batch, loss: Tensor, terms: dict) -> dict:
    """Labels for the graph: parameters by network and dotted name, the batch's arrays as
    ``batch.<field>``, the terms by name and the total as ``loss``."""
    names: dict = dict(nets)
    for key in getattr(batch, "__dataclass_fields__", {}):
        value = getattr(batch, key)
        if isinstance(value, np.ndarray):
            names[f"batch.{key}"] = value
    for name, t in terms.items():
        if t.requires_grad:
            names[f"term {name!r}"] = t
    same = [name for name, t in terms.items() if t is loss]
    names["loss" + (f" (= term {same[0]!r})" if same else "")] = loss
    return names


def run_graph(args) -> int:
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in _GRAPH_FORMATS:
        raise UsageError(f"--out {out}: the suffix picks the format; expected one of {', '.join(_GRAPH_FORMATS)}")
    if out.parent.exists() and not out.parent.is_dir():
        raise UsageError(f"--out {out}: {out.parent} is not a folder")
    spec, nets, batch, config, batch_size = _setup_from_args(args)
    loss, terms = _evaluate(spec, batch, nets, config, spec.new_state(config))
    if args.grads:
        if not loss.requires_grad:
            raise UsageError(f"{spec.name}: its loss does not depend on any parameter, there is no gradient to show")
        loss.backward()
    names = graph_names(nets, batch, loss, terms)
    title = args.title or f"{spec.name} loss ({spec.loss.__name__}) on {args.env}, a batch of {batch_size}"
    out.parent.mkdir(parents=True, exist_ok=True)          # e.g. runs/ in a fresh clone, as plot does
    if suffix in (".png", ".svg", ".pdf"):
        graph.draw(loss, out, names=names, grads=args.grads, title=title)
    else:
        text = graph.to_dot(loss, names, grads=args.grads) if suffix == ".dot" else \
            f"{title}\n\n{graph.summary(loss, names)}\n"
        atomic_write(out, lambda f: f.write(text), mode="w")
    print(f"wrote {out} ({len(graph.nodes(loss))} tensors)", file=sys.stderr)
    return 0
