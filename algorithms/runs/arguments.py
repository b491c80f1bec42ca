"""What the ``tinygrad-rl`` subcommands share: usage errors, the ``--plugin`` option, whole-number
arguments, and a config built from presets and ``--set`` values with every mistake a :class:`UsageError`."""
from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym

from envs_wrappers.registry import check_plain_env_id, make_plain_env

from ..configs import parse_value
from ..loops.training_run import build_networks
from ..networks import EnvSpaces
from ..presets import load_preset, preset_source
from ..registry import get_algorithm, load_plugin
from .experiment import env_dependency_hint
from .memory_limits import ResourceError
from .memory_limits import memory_limit as limit_of
from .resources import check_run

__all__ = ["PROG", "UsageError", "add_plugin_argument", "load_plugins", "parse_overrides", "int_at_least",
           "config_from_args", "check_env_available"]


PROG = "tinygrad-rl"


class UsageError(Exception):
    """A mistake in the command line; reported in one line with exit status 2."""


def add_plugin_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import a file or module that registers algorithms (register_algorithm); repeatable")


def load_plugins(args) -> None:
    for target in args.plugin:
        try:
            load_plugin(target)
        except ValueError as err:
            raise UsageError(str(err)) from None


def parse_overrides(algo: str, args) -> dict:
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


def config_from_args(args, out: str | Path | None = None):
    """(config, preset source) of ``args.algo`` on ``args.env`` from plugins, presets and --set values,
    every user mistake a UsageError; nothing is written. Given the run's folder ``out``, the disk that
    will hold it must have room for the run's checkpoints."""
    load_plugins(args)
    try:
        get_algorithm(args.algo)
        check_plain_env_id(args.env)
    except (KeyError, ValueError) as err:
        raise UsageError(str(err).strip('"')) from None
    overrides = parse_overrides(args.algo, args)
    try:
        config = load_preset(args.algo, args.env, overrides, preset_file=args.preset)
        source = preset_source(args.algo, args.env, preset_file=args.preset)
    except (KeyError, ValueError) as err:
        raise UsageError(str(err).strip('"')) from None
    check_env_available(args.env, args.algo, config, getattr(args, "memory_limit", None), out)
    return config, source


def check_env_available(env_id: str, algo: str, config, memory_limit: str | None = None,
                        out: str | Path | None = None) -> dict:
    """Fail before writing anything if the env cannot be made (e.g. box2d not installed), the run's
    estimated memory is above the limit or the memory available (before any network is built), its
    checkpoints would not fit on the disk holding ``out`` (when given), or the env's spaces do not
    fit the algorithm's networks; returns the networks."""
    try:
        env = make_plain_env(env_id)
    except gym.error.DependencyNotInstalled as err:
        raise UsageError(env_dependency_hint(env_id, err)) from None
    try:
        check_run(config, EnvSpaces.of(env), get_algorithm(algo).loop.name, limit_of(memory_limit), out)
    except ResourceError as err:
        raise UsageError(str(err)) from None
    finally:
        env.close()
    try:
        return build_networks(algo, env_id, config, seed=0)
    except ValueError as err:
        raise UsageError(f"{algo} cannot train on {env_id}: {err}") from None


def int_at_least(name: str, text: str | None, low: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be an int >= {low}, got {text!r}") from None
    if value < low:
        raise UsageError(f"{name} must be an int >= {low}, got {value}")
    return value

