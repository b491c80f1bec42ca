"""``tinygrad-rl benchmark``: run an algorithms x envs x seeds sweep and report it.

    tinygrad-rl benchmark --algos q_learning,sarsa --envs FrozenLake-v1,Taxi-v3 --seeds 10 --out runs/tab
    tinygrad-rl benchmark --sweep docs/benchmark/tabular.toml --out runs/tab --backend ray
    tinygrad-rl benchmark --algos dqn --envs CartPole-v1 --seeds 5 --grid lr=1e-3,5e-4 --grid n_step=1,3 --out runs/g
    python -m algorithms.benchmark ...            (the same, without the console script)

Exit status: 0 all cells succeeded; 1 some cells failed (each recorded in runs.jsonl with its
error, listed in report.md); 2 bad input (one line on stderr, nothing written), or the folder is
in use by another sweep; 130 / 143 interrupted by SIGINT / SIGTERM (finished cells are kept, the
workers are stopped: rerun the same command to resume).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings

from algorithms.benchmark.records import RecordsError
from algorithms.benchmark.sweep import SweepError, SweepSpec, load_sweep_file, parse_grid_option
from algorithms.runs.arguments import UsageError, int_at_least
from algorithms.runs.resume import StopSignals

__all__ = ["add_parser", "run", "main"]

PROG = "tinygrad-rl benchmark"


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--algos", help="comma-separated algorithm names: q_learning,sarsa,expected_sarsa,"
                                        "mc_control (tabular) or dqn,double_dqn,a2c,ppo,reinforce,sac,td3,ddpg (deep)")
    parser.add_argument("--envs", help="comma-separated gymnasium ids: FrozenLake-v1,CliffWalking-v1,Taxi-v3 "
                                       "(tabular) or CartPole-v1,Acrobot-v1,LunarLander-v3,Pendulum-v1,... (deep)")
    parser.add_argument("--seeds", help="number of seeds n (seeds 0..n-1) or a comma-separated list of seeds")
    parser.add_argument("--budget", help="per run: episodes (tabular) or env steps (deep); default: per env")
    parser.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                        help="sweep a deep algorithm's config value over these values (on top of its preset); "
                             "repeat for more keys: every combination runs")
    parser.add_argument("--sweep", metavar="FILE",
                        help="TOML sweep file instead of --algos/--envs/--seeds/--budget/--grid")
    parser.add_argument("--backend", default="local", help="local (process pool, default) or ray")
    parser.add_argument("--workers", help="parallel runs (default: the number of cores)")
    parser.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray)")
    parser.add_argument("--out", metavar="DIR", help="output folder: runs.jsonl, summary.csv, report.md, figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-figures", action="store_true", help="write runs.jsonl, summary.csv and report.md only")
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``benchmark`` on the ``tinygrad-rl`` subcommand parsers (the one line in algorithms/runs/cli.py)."""
    return _configure(subparsers.add_parser(
        "benchmark", help="sweep algorithms x envs x seeds (local processes or Ray) with honest statistics",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Validate everything, run the sweep, print where the report is; returns the exit status."""
    if importlib.util.find_spec("scipy") is None:
        return _usage_error('the benchmark statistics need scipy, which is not installed: pip install -e ".[stats]"')
    # Not at the top: the backends need scipy (the optional `stats` extra), checked just above.
    from algorithms.benchmark.backends import BackendError, run_sweep

    try:
        if args.out is None:
            raise SweepError("--out DIR is required (where runs.jsonl and the report go)")
        direct = {"algorithms": args.algos, "envs": args.envs, "seeds": args.seeds, "budget": args.budget,
                  "grid": args.grid}
        if args.sweep is not None:
            given = [f"--{'algos' if k == 'algorithms' else k}" for k, v in direct.items() if v is not None]
            if given:
                raise SweepError(f"--sweep FILE replaces {', '.join(given)}; give one or the other")
            fields = load_sweep_file(args.sweep)
        else:
            missing = [f"--{flag}" for flag, value in (("algos", args.algos), ("envs", args.envs),
                                                       ("seeds", args.seeds)) if value is None]
            if missing:
                raise SweepError(f"missing {', '.join(missing)} (or give --sweep FILE)")
            fields = dict(direct, budget=int_at_least("--budget", args.budget, 1),
                          grid=parse_grid_option(args.grid, args.algos))
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            spec = SweepSpec.build(**fields)
        for note in notes:
            print(f"{PROG}: note: {note.message}", file=sys.stderr)
        workers = int_at_least("--workers", args.workers, 1)
    except (SweepError, UsageError) as err:
        return _usage_error(str(err))
    stop = StopSignals()          # SIGTERM stops the sweep as Ctrl-C does (and kills its workers)
    try:
        with stop:
            result = run_sweep(spec, args.out, backend=args.backend, workers=workers, address=args.address,
                               progress=not args.no_progress, figures=not args.no_figures)
    except (BackendError, RecordsError) as err:  # raised before anything is written
        return _usage_error(str(err))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished cells are in {args.out}/runs.jsonl, rerun the same command to resume",
              file=sys.stderr)
        return stop.exit_status
    print(f"{result.cells} cells: {result.skipped} already done, {result.ran} run now, {len(result.failed)} failed; "
          f"report: {result.out_dir / 'report.md'}")
    if result.failed:
        print(f"{PROG}: {len(result.failed)} cell(s) failed (errors in runs.jsonl and report.md):", file=sys.stderr)
        for line in result.failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _configure(argparse.ArgumentParser(prog=PROG, description=__doc__,
                                                formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))
