"""The ``tinygrad-rl`` command line (also ``python -m algorithms``).

    tinygrad-rl train ALGO ENV [--steps N] [--seed S] [--out DIR] [--set key=value ...]
                               [--preset FILE.toml] [--plugin FILE.py|MODULE ...] [--json] [--tensorboard]
                               [--checkpoint-every SECONDS]
    tinygrad-rl train --resume DIR [--plugin FILE.py|MODULE ...] [--json] [--tensorboard]
    tinygrad-rl eval DIR [--episodes N] [--seed S] [--plugin FILE.py|MODULE ...] [--record FILE.gif]
    tinygrad-rl plot DIR [DIR ...] [--metric M] [--out FILE.png]
    tinygrad-rl list [ALGO] [--plugin FILE.py|MODULE ...]
    tinygrad-rl gradcheck ALGO ENV [--batch N] [--set key=value ...] [--plugin ...]
    tinygrad-rl graph ALGO ENV --out FILE.(png|svg|pdf|dot|txt) [--grads] [--set ...] [--plugin ...]

Subcommands live in ``COMMANDS``: one ``(name, add_parser, run)`` entry each, where
``add_parser(subparsers) -> parser`` registers the arguments and ``run(args) -> exit status``
does the work. Adding a subcommand is one line in that list.

Usage errors (unknown algorithm, env or key, a bad value, a corrupt or foreign file, too
little memory or disk, an output folder that is taken or unwritable) print one line on stderr
and exit with status 2 before anything is written. ``train`` exits 1 when the run fails after
it started (its folder is then marked failed), 130 / 143 when SIGINT / SIGTERM stopped it
(everything is written and ``--resume DIR`` continues it). Any command whose work is done but whose
output cannot be written (stdout full or closed) prints one line on stderr and exits 120, as CPython does
when its final flush fails; Ctrl-C while the modules are still being imported is one line and 130.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from tinygrad_rl import AnomalyError, detect_anomaly

from ..benchmark import cli as benchmark_cli
from ..benchmark.runners import ALGORITHMS as BENCHMARK_ALGORITHMS
from ..loops.training_run import NonFiniteLossError
from ..presets import load_preset, preset_envs, preset_source
from ..registry import algorithm_names, get_algorithm
from ..startup import restore_default_interrupt
from . import compare_runs, study
from .arguments import (
    PROG,
    UsageError,
    add_plugin_argument,
    check_env_available,
    config_from_args,
    int_at_least,
    load_plugins,
)
from .experiment import evaluate_run, read_resume_checkpoint, read_run_config, resume_training, run_training
from .record import add_record_arguments, record_from_args
from .resume import DEFAULT_CHECKPOINT_SECONDS, CheckpointError, StopSignals
from .run_folder import FolderError, claim, claim_next_free
from .safe_files import UnsafeFileError
from .streams import OUTPUT_LOST_STATUS, GuardedStdout, StdoutError
from .summary import training_report
from .tensorboard_log import require_tensorboardx

__all__ = ["COMMANDS", "build_parser", "main", "UsageError", "PROG"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2, as argparse)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# --------------------------------------------------------------------------- train


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train ALGO on ENV and write a run folder (or --resume one)",
                              description="Train with the (ALGO, ENV) preset; --set overrides one key at a time. "
                                          "--resume DIR continues a stopped, killed or failed run.")
    p.add_argument("algo", nargs="?", help="a registered algorithm: dqn, double_dqn, a2c, ppo, reinforce, sac, td3, "
                                           "ddpg, or a plugin's")
    p.add_argument("env", nargs="?", help="a registered gymnasium id, e.g. CartPole-v1 (presets: `tinygrad-rl list`)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint (no ALGO/ENV)")
    p.add_argument("--checkpoint-every", type=str, default=None, metavar="SECONDS",
                   help="seconds between resume checkpoints (default 60; 0 = at every safe point)")
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
    p.add_argument("--memory-limit", metavar="SIZE", default=None,
                   help="refuse a run whose estimated memory (replay buffer, networks, batch, env copies) is above "
                        "SIZE, e.g. 4GiB, 500MB or 50%% (default: $TINYGRAD_RL_MEMORY_LIMIT, else 80%% of the "
                        "physical memory)")
    p.add_argument("--anomaly", action="store_true",
                   help="train in anomaly mode: stop at the first NaN/inf naming the op and the line that made it "
                        "(slow; for hunting a non-finite loss)")
    add_plugin_argument(p)
    return p


def _claim_output_folder(args, algo: str, env_id: str, seed: int):
    """Claim --out (exit 2 if taken) or the first free runs/ALGO-ENV-seedS[-n] (atomically)."""
    try:
        if args.out is not None:
            return claim(args.out)
        return claim_next_free(Path("runs") / f"{algo}-{env_id}-seed{seed}")
    except FolderError as err:
        raise UsageError(str(err)) from None


def _checkpoint_seconds(args) -> float:
    if args.checkpoint_every is None:
        return DEFAULT_CHECKPOINT_SECONDS
    try:
        value = float(args.checkpoint_every)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise UsageError(f"--checkpoint-every must be a finite number of seconds >= 0, got {args.checkpoint_every!r}")
    return value


def run_train(args) -> int:
    every = _checkpoint_seconds(args)
    if args.resume is not None:
        load_plugins(args)
        return _resume(args, every)
    if args.algo is None or args.env is None:
        raise UsageError("train needs ALGO and ENV (or --resume DIR)")
    config, source = config_from_args(args, out=args.out or "runs")
    _check_tensorboard(args)
    if source is None:
        print(f"{PROG}: note: no preset for {args.algo} on {args.env}; using {type(config).__name__}'s "
              "defaults and your --set values", file=sys.stderr)
    with StopSignals() as stop:
        folder = _claim_output_folder(args, args.algo, args.env, config.seed)
        return _report(args, folder.path, lambda: run_training(args.algo, args.env, config, folder,
                                                               progress=not args.no_progress, checkpoint_every=every,
                                                               stop=stop, tensorboard=args.tensorboard))


def _resume(args, every: float) -> int:
    given = [flag for flag, value in (("ALGO/ENV", args.algo or args.env), ("--out", args.out),
                                      ("--steps", args.steps), ("--seed", args.seed), ("--set", args.overrides),
                                      ("--preset", args.preset)) if value]
    if given:
        raise UsageError(f"--resume continues a run with the settings in its config.json; it takes no "
                         f"{', '.join(given)}")
    with StopSignals() as stop:
        try:
            folder = claim(args.resume, resume=True)
        except FolderError as err:
            raise UsageError(str(err)) from None
        try:
            algo, env_id, config = read_run_config(folder.path)
            check_env_available(env_id, algo, config, args.memory_limit, folder.path)  # before resume.npz is read
            checkpoint = read_resume_checkpoint(folder.path, algo, env_id, config)
            if checkpoint is None:
                print(f"{PROG}: note: {folder.path} has no resume checkpoint (stopped before its first one); "
                      "training again from step 0", file=sys.stderr)
            else:
                print(f"{PROG}: note: continuing {folder.path} from its checkpoint at env step {checkpoint.env_step}",
                      file=sys.stderr)
            _check_tensorboard(args)
        except (FileNotFoundError, ValueError) as err:
            folder.release()
            raise UsageError(str(err)) from None
        except BaseException:
            folder.release()
            raise
        return _report(args, folder.path, lambda: resume_training(folder, progress=not args.no_progress,
                                                                  checkpoint_every=every, stop=stop,
                                                                  tensorboard=args.tensorboard))


def _check_tensorboard(args) -> None:
    if args.tensorboard:
        try:
            require_tensorboardx()
        except ImportError as err:
            raise UsageError(str(err)) from None


def _report(args, out: Path, train_fn) -> int:
    """Run ``train_fn`` and turn its outcome into output and an exit status (see the module docstring)."""
    start = time.perf_counter()
    try:
        with detect_anomaly() if args.anomaly else nullcontext():
            summary = train_fn()
    except (FolderError, CheckpointError, UnsafeFileError) as err:
        raise UsageError(str(err)) from None
    except AnomalyError as err:
        print(f"{PROG}: error: anomaly mode stopped training: {err}; {out} is marked failed", file=sys.stderr)
        return 1
    except NonFiniteLossError as err:
        print(f"{PROG}: error: {err}; training stopped, {out / 'model.npz'} keeps the last good checkpoint "
              f"(if one was made); {out} is marked failed", file=sys.stderr)
        return 1
    except (OSError, MemoryError) as err:
        reason = (f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.strerror and err.filename
                  else err.strerror if isinstance(err, OSError) and err.strerror else f"{type(err).__name__}: {err}")
        print(f"{PROG}: error: the run in {out} failed: {reason}; the folder is marked failed (continue it with "
              f"--resume {out} once fixed, or reuse it with --out {out})", file=sys.stderr)
        return 1
    print(training_report(out, summary, time.perf_counter() - start, as_json=args.json,
                          tensorboard=args.tensorboard, plugins=args.plugin))
    if summary["interrupted"]:
        name = summary.get("stopped_by") or "SIGINT"
        print(f"{PROG}: interrupted by {name} at env step {summary['env_steps']}; everything is written; "
              f"continue with: {PROG} train --resume {out}", file=sys.stderr)
        return 128 + int(getattr(signal, name, signal.SIGINT))
    return 0


# --------------------------------------------------------------------------- eval


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a saved run deterministically and print JSON")
    p.add_argument("run_dir", help="a folder written by `tinygrad-rl train`")
    p.add_argument("--episodes", type=str, default="20", help="episodes to run (default 20)")
    p.add_argument("--seed", type=str, help="evaluation env seed (default: the run's own eval seed)")
    add_plugin_argument(p)
    add_record_arguments(p)
    return p


def run_eval(args) -> int:
    load_plugins(args)
    episodes = int_at_least("--episodes", args.episodes, 1)
    seed = int_at_least("--seed", args.seed, 0)
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
    p = subparsers.add_parser("list", help="algorithms, their loops and presets, then the tabular methods "
                                           "benchmark runs; with ALGO, its hyperparameters")
    p.add_argument("algo", nargs="?", help="show this algorithm's hyperparameters on every env with a preset")
    p.add_argument("--preset", type=str, metavar="FILE.toml", help="also look in this preset file")
    add_plugin_argument(p)
    return p


def tabular_benchmark_algorithms() -> dict:
    """The tabular methods ``tinygrad-rl benchmark`` runs (not registered for ``train``): name -> entry."""
    deep = set(algorithm_names())
    entries = {name: BENCHMARK_ALGORITHMS[name] for name in BENCHMARK_ALGORITHMS if name not in deep}
    return {name: entry for name, entry in entries.items() if entry.family == "tabular"}


def _print_tabular(names: list[str], tabular: dict) -> None:
    print("tabular (benchmark only: tinygrad-rl benchmark --algos NAME; train does not take them)")
    for name in names:
        entry = tabular[name]
        print(f"  {name}: envs {', '.join(entry.defaults)} (budget in {entry.budget_unit})")


def run_list(args) -> int:
    load_plugins(args)
    tabular = tabular_benchmark_algorithms()
    if args.algo in tabular:
        _print_tabular([args.algo], tabular)
        return 0
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
    if not args.algo:
        _print_tabular(list(tabular), tabular)
    return 0


# --------------------------------------------------------------------------- dispatch

COMMANDS: list[tuple] = [
    ("train", add_train_parser, run_train),
    ("eval", add_eval_parser, run_eval),
    ("list", add_list_parser, run_list),
    ("plot", compare_runs.add_parser, compare_runs.run),
    ("benchmark", benchmark_cli.add_parser, benchmark_cli.run),
    ("gradcheck", study.add_gradcheck_parser, study.run_gradcheck),
    ("graph", study.add_graph_parser, study.run_graph),
]


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Reinforcement learning on a NumPy autodiff engine.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name, add_parser, run in COMMANDS:
        sub = add_parser(subparsers)
        sub.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    restore_default_interrupt()            # the imports are done: Ctrl-C is a KeyboardInterrupt from here on
    args = build_parser().parse_args(argv)
    stdout, sys.stdout = sys.stdout, GuardedStdout(sys.stdout)
    try:
        status = args._run(args)
        sys.stdout.flush()
        return status
    except StdoutError as err:
        if err.errno == errno.EPIPE:       # `tinygrad-rl list | head -1`: as below
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
            return 128 + int(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else 1
        # The command's work is done (a run is finished and says so in status.json); only its
        # report is lost. Python's final flush must not fail again: stdout goes to /dev/null.
        print(f"{PROG} {args.command}: error: cannot write to standard output ({err.strerror}); the command "
              f"itself completed, its output is lost (exit {OUTPUT_LOST_STATUS})", file=sys.stderr)
        _silence(stdout)
        return OUTPUT_LOST_STATUS
    except UsageError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        # StopSignals raises it with the signal's name (SIGTERM -> 143); a bare Ctrl-C is SIGINT.
        name = str(err) if str(err) in ("SIGINT", "SIGTERM") else "SIGINT"
        print(f"{PROG} {args.command}: interrupted by {name}", file=sys.stderr)
        return 128 + int(getattr(signal, name))
    except BrokenPipeError:
        # The reader went away (`tinygrad-rl list | head -1`): stop quietly, as a shell tool does.
        # Point stdout at /dev/null so Python's final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + int(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else 1
    except OSError as err:
        # An output the command could not write (a read-only folder, a full disk...): one line.
        where = f": {err.filename}" if err.filename else ""
        print(f"{PROG} {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


def _silence(stream) -> None:
    """Point ``stream``'s descriptor at /dev/null, so the interpreter's last flush of it cannot fail."""
    if stream is None:                     # descriptor 1 was closed from the start: nothing will flush it
        return
    try:
        fd = stream.fileno()
    except (OSError, ValueError):          # not a real file (a test's capture): nothing will flush it
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


if __name__ == "__main__":
    sys.exit(main())
