"""Solve-rate benchmark: train each (algorithm, env) over several seeds with the CLI and tabulate.

Every run is one ``tinygrad-rl train`` process (``python -m algorithms train ...``); its
eval.json (20 deterministic episodes at the end of training) decides "solved". Rows are
printed as runs finish and appended to OUT/results.jsonl, so an interrupted benchmark
resumes where it stopped when started again with the same arguments.

    nice -n 10 python scripts/bench_solve.py --suite cartpole --first-seed 100   # report seeds 100-109
    nice -n 10 python scripts/bench_solve.py --suite lunarlander --first-seed 100
    nice -n 10 python scripts/bench_solve.py --suite pendulum --first-seed 100        # SAC, TD3, DDPG
    python scripts/bench_solve.py --suite cartpole --algos dqn --seeds 5 --set lr=1e-3   # tuning seeds 0-4

Seeds 0-4 are for tuning; results are reported on seeds 100 and up, never used for tuning.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from algorithms.presets import load_preset

# (algorithm, env, env steps, seeds, solved when the final mean eval return >= threshold)
SUITES = {
    "cartpole": [("dqn", "CartPole-v1", 50_000, 10, 475.0), ("double_dqn", "CartPole-v1", 50_000, 10, 475.0),
                 ("a2c", "CartPole-v1", 200_000, 10, 475.0), ("reinforce", "CartPole-v1", 300_000, 10, 475.0),
                 ("ppo", "CartPole-v1", 100_000, 10, 475.0)],
    "lunarlander": [("ppo", "LunarLander-v3", 1_000_000, 5, 200.0), ("a2c", "LunarLander-v3", 1_000_000, 5, 200.0),
                    ("dqn", "LunarLander-v3", 300_000, 5, 200.0)],
    # Pendulum: "solved" here is the bar of -250 (the zoo's PPO agent: -230 +/- 143).
    "continuous": [("ppo", "Pendulum-v1", 200_000, 5, -250.0),
                   ("ppo", "LunarLanderContinuous-v3", 1_000_000, 5, 200.0)],
    # Off-policy actor-critics on Pendulum at 20,000 env steps: "solved" is a mean return >= -200
    # (rl-baselines3-zoo publishes SAC -176 +/- 102 and TD3 -196 +/- 119 at this budget).
    "pendulum": [("sac", "Pendulum-v1", 20_000, 10, -200.0), ("td3", "Pendulum-v1", 20_000, 10, -200.0),
                 ("ddpg", "Pendulum-v1", 20_000, 5, -200.0)],
    # MountainCarContinuous (gymnasium's threshold 90) is an exploration problem; LunarLanderContinuous 200.
    "continuous_off_policy": [("sac", "MountainCarContinuous-v0", 50_000, 5, 90.0),
                              ("td3", "MountainCarContinuous-v0", 50_000, 5, 90.0),
                              ("sac", "LunarLanderContinuous-v3", 300_000, 5, 200.0)],
}


def run_key(algo: str, env_id: str, steps: int, seed: int, overrides: list[str]) -> str:
    """Identifies a run by its inputs, including the preset's current values: editing a preset
    makes earlier results stale instead of silently reusing them."""
    preset = dataclasses.asdict(load_preset(algo, env_id))
    return json.dumps([algo, env_id, steps, seed, sorted(overrides), preset], sort_keys=True)


def load_results(path: Path) -> dict:
    results = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                results[row["key"]] = row
    return results


def fresh_dir(base: Path) -> Path:
    out, n = base, 2
    while out.exists():
        out, n = base.with_name(f"{base.name}-{n}"), n + 1
    return out


def train_once(algo, env_id, steps, seed, overrides, out_root: Path) -> dict:
    out = fresh_dir(out_root / f"{algo}-{env_id}-{steps}-seed{seed}")
    cmd = [sys.executable, "-m", "algorithms", "train", algo, env_id, "--steps", str(steps), "--seed", str(seed),
           "--out", str(out), "--no-progress"]
    for item in overrides:
        cmd += ["--set", item]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?",
                "wall_time": wall, "out": str(out)}
    summary = json.loads((out / "eval.json").read_text())
    return {"ok": True, "mean_return": summary["mean_return"], "std_return": summary["std_return"],
            "wall_time": wall, "out": str(out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES) + ["all"], default="cartpole")
    parser.add_argument("--algos", help="comma-separated subset of the suite's algorithms")
    parser.add_argument("--seeds", type=int, help="seeds per algorithm (default: the suite's)")
    parser.add_argument("--steps", type=int, help="env steps per run (default: the suite's)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are first-seed, first-seed + 1, ... (tuning: 0; report: 100)")
    parser.add_argument("--envs", help="comma-separated subset of the suite's envs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs/bench_solve", help="folder for run folders and results.jsonl")
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds <= 0:
        parser.error(f"--seeds must be > 0, got {args.seeds}")
    if args.steps is not None and args.steps <= 0:
        parser.error(f"--steps must be > 0, got {args.steps}")

    entries = SUITES[args.suite] if args.suite != "all" else [e for s in SUITES.values() for e in s]
    if args.algos:
        wanted = args.algos.split(",")
        entries = [e for e in entries if e[0] in wanted]
        if not entries:
            parser.error(f"--algos {args.algos!r} matches none of the suite's algorithms")
    if args.envs:
        entries = [e for e in entries if e[1] in args.envs.split(",")]
        if not entries:
            parser.error(f"--envs {args.envs!r} matches none of the suite's envs")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be >= 0, got {args.first_seed}")
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    results_path = out_root / "results.jsonl"
    results = load_results(results_path)

    table = []
    print("algo,env,steps,seed,mean_return,std_return,solved,wall_time_s,out", flush=True)
    for algo, env_id, steps, n_seeds, threshold in entries:
        steps = args.steps or steps
        rows = []
        for seed in range(args.first_seed, args.first_seed + (args.seeds or n_seeds)):
            key = run_key(algo, env_id, steps, seed, args.overrides)
            if key not in results:
                row = {"key": key, **train_once(algo, env_id, steps, seed, args.overrides, out_root)}
                with open(results_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                results[key] = row
            row = results[key]
            rows.append(row)
            if row["ok"]:
                print(f"{algo},{env_id},{steps},{seed},{row['mean_return']:.1f},{row['std_return']:.1f},"
                      f"{row['mean_return'] >= threshold},{row['wall_time']:.0f},{row['out']}", flush=True)
            else:
                print(f"{algo},{env_id},{steps},{seed},FAILED: {row['error']},,,{row['wall_time']:.0f},{row['out']}",
                      flush=True)
        means = np.array([r["mean_return"] for r in rows if r["ok"]])
        solved = int((means >= threshold).sum())
        table.append((algo, env_id, steps, f"{solved}/{len(rows)}",
                      f"{means.mean():.1f} ± {means.std():.1f}" if means.size else "n/a",
                      f"{np.mean([r['wall_time'] for r in rows]):.0f} s"))

    print("\n| algorithm | env | env steps | seeds solved | final eval return (mean ± std over seeds) "
          "| wall time per run |")
    print("|---|---|---|---|---|---|")
    for algo, env_id, steps, solved, ret, wall in table:
        print(f"| {algo} | {env_id} | {steps:,} | {solved} | {ret} | {wall} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
