"""The ``tinygrad-rl`` command line (also ``python -m algorithms``).

    tinygrad-rl train ALGO ENV [--steps N] [--seed S] [--out DIR] [--set key=value ...]
                               [--preset FILE.toml] [--plugin FILE.py|MODULE ...] [--json] [--tensorboard]
    tinygrad-rl eval DIR [--episodes N] [--seed S] [--plugin FILE.py|MODULE ...] [--record FILE.gif]
    tinygrad-rl plot DIR [DIR ...] [--metric M] [--out FILE.png]
    tinygrad-rl list [ALGO] [--plugin FILE.py|MODULE ...]
    tinygrad-rl gradcheck ALGO ENV [--batch N] [--set key=value ...] [--plugin ...]
    tinygrad-rl graph ALGO ENV --out FILE.(png|svg|pdf|dot|txt) [--grads] [--set ...] [--plugin ...]

Subcommands live in ``COMMANDS``: one ``(name, add_parser, run)`` entry each, where
``add_parser(subparsers) -> parser`` registers the arguments and ``run(args) -> exit status``
does the work; either may be a ``"module:function"`` string, imported only when needed.
Adding a subcommand is one line in that list.

Usage errors (unknown algorithm, env or key, a bad value) print one line on stderr and exit
with status 2 before anything is written.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
from pathlib import Path

PROG = "tinygrad-rl"
__all__ = ["COMMANDS", "build_parser", "main", "UsageError"]


class UsageError(Exception):
    """A mistake in the command line; reported in one line with exit status 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2, as argparse)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# --------------------------------------------------------------------------- train


def _add_plugin_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import a file or module that registers algorithms (register_algorithm); repeatable")


def _load_plugins(args) -> None:
    from .registry import load_plugin
    for target in args.plugin:
        try:
            load_plugin(target)
        except ValueError as err:
            raise UsageError(str(err)) from None


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train ALGO on ENV and write a run folder",
                              description="Train with the (ALGO, ENV) preset; --set overrides one key at a time.")
    p.add_argument("algo", help="a registered algorithm: dqn, double_dqn, a2c, ppo, reinforce, or a plugin's")
    p.add_argument("env", help="a registered gymnasium id, e.g. CartPole-v1 (presets: `tinygrad-rl list`)")
    p.add_argument("--steps", type=str, help="env steps of training (default: the preset's total_steps)")
    p.add_argument("--seed", type=str, help="run seed, an int >= 0 (default 0)")
    p.add_argument("--out", type=str, help="output folder (default: runs/ALGO-ENV-seedS, numbered if taken)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter, e.g. --set lr=1e-3 --set hidden=128,128")
    p.add_argument("--preset", type=str, metavar="FILE.toml",
                   help="a preset file of your own, looked up before the built-in presets")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line instead of words")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files into the run folder (pip install -e '.[tensorboard]')")
    p.add_argument("--anomaly", action="store_true",
                   help="train in anomaly mode: stop at the first NaN/inf naming the op and the line that made it "
                        "(slow; for hunting a non-finite loss)")
    _add_plugin_argument(p)
    return p


def _parse_overrides(algo: str, args) -> dict:
    from .configs import parse_value
    from .registry import get_algorithm
    config_cls = get_algorithm(algo).config
    values = {}
    pairs = [item.split("=", 1) if "=" in item else (item, None) for item in args.overrides]
    if args.steps is not None:
        pairs.append(("total_steps", args.steps))
    if args.seed is not None:
        pairs.append(("seed", args.seed))
    for key, text in pairs:
        if text is None:
            raise UsageError(f"--set expects KEY=VALUE, got {key!r}")
        try:
            values[key.strip()] = parse_value(config_cls, key.strip(), text.strip())
        except (KeyError, ValueError) as err:
            raise UsageError(str(err).strip('"')) from None
    return values


def _output_folder(args, algo: str, env_id: str, seed: int) -> Path:
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"--out {out} already exists and is not an empty folder; choose a new one")
        return out
    base = Path("runs") / f"{algo}-{env_id}-seed{seed}"
    out, n = base, 2
    while out.exists():
        out, n = Path(f"{base}-{n}"), n + 1
    return out


def config_from_args(args):
    """(config, preset source) of ``args.algo`` on ``args.env`` from plugins, presets and --set values,
    every user mistake a UsageError; nothing is written."""
    from envs_wrappers.registry import check_plain_env_id
    from .presets import load_preset, preset_source
    from .registry import get_algorithm
    _load_plugins(args)
    try:
        get_algorithm(args.algo)
        check_plain_env_id(args.env)
    except (KeyError, ValueError) as err:
        raise UsageError(str(err).strip('"')) from None
    overrides = _parse_overrides(args.algo, args)
    try:
        config = load_preset(args.algo, args.env, overrides, preset_file=args.preset)
        source = preset_source(args.algo, args.env, preset_file=args.preset)
    except (KeyError, ValueError) as err:
        raise UsageError(str(err).strip('"')) from None
    _check_env_available(args.env, args.algo, config)
    return config, source


def run_train(args) -> int:
    config, source = config_from_args(args)
    out = _output_folder(args, args.algo, args.env, config.seed)
    if args.tensorboard:
        from .tensorboard_log import require_tensorboardx
        try:
            require_tensorboardx()
        except ImportError as err:
            raise UsageError(str(err)) from None
    if source is None:
        print(f"{PROG}: note: no preset for {args.algo} on {args.env}; using {type(config).__name__}'s "
              "defaults and your --set values", file=sys.stderr)

    from contextlib import nullcontext
    from tinygrad_rl import AnomalyError, detect_anomaly
    from .experiment import run_training
    from .summary import training_report
    from .trainers import NonFiniteLossError
    start = time.perf_counter()
    try:
        with detect_anomaly() if args.anomaly else nullcontext():
            summary = run_training(args.algo, args.env, config, out, progress=not args.no_progress,
                                   tensorboard=args.tensorboard)
    except AnomalyError as err:
        print(f"{PROG}: error: anomaly mode stopped training: {err}", file=sys.stderr)
        return 1
    except NonFiniteLossError as err:
        print(f"{PROG}: error: {err}; training stopped, {out / 'model.npz'} keeps the last good checkpoint "
              "(if one was made)", file=sys.stderr)
        return 1
    print(training_report(out, summary, time.perf_counter() - start, as_json=args.json,
                          tensorboard=args.tensorboard))
    return 0


def _check_env_available(env_id: str, algo: str, config) -> None:
    """Fail before writing anything if the env cannot be made (e.g. box2d not installed) or its
    spaces do not fit the algorithm's networks."""
    import gymnasium as gym
    from .trainers import build_networks
    try:
        gym.make(env_id).close()
    except gym.error.DependencyNotInstalled as err:
        raise UsageError(f"{env_id} needs an extra package: {str(err).splitlines()[0]} "
                         "(pip install -e '.[box2d]')") from None
    try:
        build_networks(algo, env_id, config, seed=0)
    except ValueError as err:
        raise UsageError(f"{algo} cannot train on {env_id}: {err}") from None


# --------------------------------------------------------------------------- eval


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a saved run deterministically and print JSON")
    p.add_argument("run_dir", help="a folder written by `tinygrad-rl train`")
    p.add_argument("--episodes", type=str, default="20", help="episodes to run (default 20)")
    p.add_argument("--seed", type=str, help="evaluation env seed (default: the run's own eval seed)")
    _add_plugin_argument(p)
    from .record import add_record_arguments
    add_record_arguments(p)
    return p


def _int_at_least(name: str, text: str | None, low: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be an int >= {low}, got {text!r}") from None
    if value < low:
        raise UsageError(f"{name} must be an int >= {low}, got {value}")
    return value


def run_eval(args) -> int:
    from .experiment import evaluate_run
    from .record import record_from_args
    _load_plugins(args)
    episodes = _int_at_least("--episodes", args.episodes, 1)
    seed = _int_at_least("--seed", args.seed, 0)
    try:
        summary = evaluate_run(args.run_dir, episodes=episodes, seed=seed)
        recording = record_from_args(args, args.run_dir, seed)
    except (FileNotFoundError, ValueError, KeyError, ImportError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    if recording is not None:
        summary["recording"] = recording
    print(json.dumps(summary))
    return 0


# --------------------------------------------------------------------------- list


def add_list_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("list", help="algorithms, their loops and presets; with ALGO, its hyperparameters")
    p.add_argument("algo", nargs="?", help="show this algorithm's hyperparameters on every env with a preset")
    p.add_argument("--preset", type=str, metavar="FILE.toml", help="also look in this preset file")
    _add_plugin_argument(p)
    return p


def run_list(args) -> int:
    from .presets import load_preset, preset_envs, preset_source
    from .registry import algorithm_names, get_algorithm
    _load_plugins(args)
    names = [args.algo] if args.algo else algorithm_names()
    try:
        specs = [get_algorithm(name) for name in names]
    except KeyError as err:
        raise UsageError(str(err).strip('"')) from None
    for spec in specs:
        try:
            sources = {env: preset_source(spec.name, env, args.preset) for env in preset_envs()}
        except ValueError as err:
            raise UsageError(str(err)) from None
        with_preset = [env for env, source in sources.items() if source is not None]
        print(f"{spec.name}: {spec.description or spec.loss.__name__}")
        print(f"  loop {spec.loop.name} (batch: {spec.loop.batch}), config {spec.config.__name__}")
        print(f"  presets: {', '.join(with_preset) if with_preset else 'none (config defaults on any env)'}")
        if spec.loop.envs is not None:
            print(f"  trains only on: {', '.join(spec.loop.envs())}")
        if args.algo:
            for env in with_preset:
                config = dataclasses.asdict(load_preset(spec.name, env, preset_file=args.preset))
                print(f"\n  {env} (from {sources[env]})")
                print("    " + " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                                      for k, v in config.items()))
    return 0


# --------------------------------------------------------------------------- dispatch

COMMANDS: list[tuple] = [
    ("train", add_train_parser, run_train),
    ("eval", add_eval_parser, run_eval),
    ("list", add_list_parser, run_list),
    ("plot", "algorithms.compare_runs:add_parser", "algorithms.compare_runs:run"),
    ("benchmark", "algorithms.benchmark.cli:add_parser", "algorithms.benchmark.cli:run"),
    ("gradcheck", "algorithms.study:add_gradcheck_parser", "algorithms.study:run_gradcheck"),
    ("graph", "algorithms.study:add_graph_parser", "algorithms.study:run_graph"),
]


def _resolve(target):
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Reinforcement learning on a NumPy autodiff engine.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name, add_parser, run in COMMANDS:
        sub = _resolve(add_parser)(subparsers)
        sub.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _resolve(args._run)(args)
    except UsageError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
