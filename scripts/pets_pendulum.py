"""PETS on Pendulum-v1: train each seed with the CLI, read its run folder, tabulate and plot.

Every run is one ``tinygrad-rl train pets Pendulum-v1`` process with the preset (5,000 env steps);
its eval.json (20 deterministic episodes of the final planner, see the README) decides whether it
reaches the bar of a mean return >= -200. A seed whose folder already holds an eval.json is read,
not retrained, so an interrupted report resumes where it stopped.

Prints one row per seed (final return, the first training episode at or above the bar, wall and
CPU time split into planning, model fitting and the final evaluation) and a Markdown table, and
writes OUT/pets_pendulum.png: each seed's training episodes against env steps, with the final
evaluations, and the same against wall-clock minutes.

    nice -n 10 python scripts/pets_pendulum.py --seeds 100-104 --runs runs/pets_report --out runs/figures
    nice -n 10 python scripts/pets_pendulum.py --seeds 0-4 --runs runs/pets_tune --set horizon=20

Seeds 0-4 are for tuning; seeds 100-104 are the report seeds, never tuned on.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, save_figure

BAR = -200.0
ENV_ID = "Pendulum-v1"
SAC_ZOO = {"mean_return": -156.995, "std_return": 88.714, "env_steps": 20_000,
           "source": "rl-baselines3-zoo benchmark.md (one run, 750 deterministic episodes)"}


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        seeds = list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEED or FIRST-LAST, got {text!r}") from None
    if not seeds or seeds[0] < 0:
        raise argparse.ArgumentTypeError(f"expected seeds >= 0 in increasing order, got {text!r}")
    return seeds


def train_seed(seed: int, folder: Path, overrides: list[str]) -> dict:
    """Run the CLI for one seed (unless its folder is complete); returns wall and CPU seconds."""
    timing_path = folder / "report_timing.json"
    if (folder / "eval.json").is_file() and timing_path.is_file():
        return json.loads(timing_path.read_text())
    if folder.exists():
        raise RuntimeError(f"{folder} exists without eval.json (an interrupted run?): remove it to rerun seed {seed}")
    cmd = [sys.executable, "-m", "algorithms", "train", "pets", ENV_ID, "--seed", str(seed), "--out", str(folder),
           "--no-progress", "--json"]
    for item in overrides:
        cmd += ["--set", item]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
        raise RuntimeError(f"seed {seed} failed: {last}")
    timing = {"wall_seconds": round(wall, 1),
              "cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1)}
    (timing_path).write_text(json.dumps(timing) + "\n")
    return timing


def read_run(seed: int, folder: Path, timing: dict) -> dict:
    evaluation = json.loads((folder / "eval.json").read_text())
    planning = json.loads((folder / "planning.json").read_text())
    with open(folder / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["episode_return"]]
    steps = np.array([int(r["env_step"]) for r in rows])
    returns = np.array([float(r["episode_return"]) for r in rows])
    wall = np.array([float(r["wall_time"]) for r in rows])
    reached = steps[returns >= BAR]
    training_seconds = float(wall[-1])
    total_steps = json.loads((folder / "config.json").read_text())["config"]["total_steps"]
    return {"seed": seed, **evaluation, "total_steps": total_steps, "steps": steps, "returns": returns, "wall": wall,
            "first_episode_at_bar": int(reached[0]) if reached.size else None,
            "planning_ms_per_step": planning["planning_ms_per_step"],
            "planning_seconds": planning["planning_seconds"], "model_fit_seconds": planning["model_fit_seconds"],
            "training_seconds": training_seconds,
            "final_eval_seconds": timing["wall_seconds"] - training_seconds, **timing}


def plot(runs: list[dict], path: Path, title: str) -> None:
    fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(12, 4.4))
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(runs)))
    for i, (run, colour) in enumerate(zip(runs, colours)):
        label = f"seed {run['seed']}: final {run['mean_return']:.0f} ± {run['std_return']:.0f}"
        by_steps.plot(run["steps"], run["returns"], "-o", color=colour, markersize=3, linewidth=1, label=label)
        # The final evaluations side by side just after the last step, so their bars do not overlap.
        by_steps.errorbar([run["steps"][-1] + 150 + 90 * i], [run["mean_return"]], yerr=[run["std_return"]],
                          fmt="D", color=colour, markersize=6, capsize=3)
        by_time.plot(run["wall"] / 60.0, run["returns"], "-o", color=colour, markersize=3, linewidth=1, label=label)
        by_time.plot([run["wall_seconds"] / 60.0], [run["mean_return"]], "D", color=colour, markersize=6)
    for ax in (by_steps, by_time):
        ax.axhline(BAR, color="tab:red", linestyle="--", linewidth=1.2, label=f"bar: mean return {BAR:g}")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
    by_steps.axhline(SAC_ZOO["mean_return"], color="tab:gray", linestyle=":", linewidth=1.5,
                     label=f"SAC after {SAC_ZOO['env_steps']:,} steps: {SAC_ZOO['mean_return']:.0f} (rl-zoo)")
    by_steps.set_xlabel("env steps (diamonds: final evaluation, mean ± std of 20 episodes)")
    by_steps.set_title("training episodes against env steps")
    by_time.set_xlabel("wall-clock minutes (diamonds: after the final 20-episode evaluation)")
    by_time.set_title("the same against wall-clock time")
    by_steps.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    save_figure(fig, str(path))


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("100-104"),
                        help="SEED or FIRST-LAST (default 100-104, the report seeds; tune on 0-4)")
    parser.add_argument("--runs", default="runs/pets_report", help="folder for the run folders")
    parser.add_argument("--out", default="runs/pets_report", help="folder for pets_pendulum.png")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one preset value in every run (for tuning on seeds 0-4)")
    args = parser.parse_args()
    runs_dir = Path(args.runs)
    runs_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    print("seed,mean_return,std_return,reaches_bar,first_episode_at_bar,planning_ms_per_step,"
          "planning_s,model_fit_s,final_eval_s,wall_s,cpu_s", flush=True)
    for seed in args.seeds:
        folder = runs_dir / f"pets-{ENV_ID}-seed{seed}"
        run = read_run(seed, folder, train_seed(seed, folder, args.overrides))
        runs.append(run)
        print(f"{seed},{run['mean_return']:.1f},{run['std_return']:.1f},{run['mean_return'] >= BAR},"
              f"{run['first_episode_at_bar']},{run['planning_ms_per_step']:.1f},{run['planning_seconds']:.0f},"
              f"{run['model_fit_seconds']:.0f},{run['final_eval_seconds']:.0f},{run['wall_seconds']:.0f},"
              f"{run['cpu_seconds']:.0f}", flush=True)
    means = np.array([r["mean_return"] for r in runs])
    reached = int((means >= BAR).sum())
    print(f"\n| seeds | reach {BAR:g} | final eval return (mean ± std over seeds) | planning ms per step "
          "| wall time per run (planning / model fits / final eval) | CPU time per run |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.seeds[0]}-{args.seeds[-1]} | {reached}/{len(runs)} | {means.mean():.1f} ± {means.std():.1f} "
          f"| {np.mean([r['planning_ms_per_step'] for r in runs]):.0f} "
          f"| {np.mean([r['wall_seconds'] for r in runs]) / 60:.1f} min "
          f"({np.mean([r['planning_seconds'] for r in runs]) / 60:.1f} / "
          f"{np.mean([r['model_fit_seconds'] for r in runs]) / 60:.1f} / "
          f"{np.mean([r['final_eval_seconds'] for r in runs]) / 60:.1f}) "
          f"| {np.mean([r['cpu_seconds'] for r in runs]) / 60:.1f} min |")
    budgets = sorted({r["total_steps"] for r in runs})
    title = (f"PETS on {ENV_ID}, seeds {args.seeds[0]}-{args.seeds[-1]}: {reached}/{len(runs)} reach a mean "
             f"return >= {BAR:g} after {' or '.join(f'{b:,}' for b in budgets)} env steps")
    plot(runs, Path(args.out) / "pets_pendulum.png", title)


if __name__ == "__main__":
    from tabular_plots import run_cli
    run_cli(main)
