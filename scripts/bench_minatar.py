"""Learning on MinAtar: our DQN and PPO against the PyTorch port of MinAtar's reference DQN, over seeds, with
learning curves and a table of final greedy returns.

Every run is its own process, one at a time (``nice`` it): ``python -m algorithms train ALGO MinAtar/<Game>-v1``
with the game's preset, or ``scripts/minatar_reference_dqn.py`` for the reference. Each ends with 20 greedy
episodes on a separate env (ours: the run's eval.json; the reference: its summary.json, episodes cut at
100,000 steps). A finished run (its eval.json / summary.json exists) is not run again, so an interrupted
benchmark resumes where it stopped when started again with the same arguments.

DQN's epsilon falls from 1.0 to 0.1 over the first 100,000 env steps (exploration_fraction is set to
100,000 / steps), as the reference's does after its 5,000 random steps: with a budget of 100,000 or less
both anneal over the whole run.

The issue's experiment (1M env steps, report seeds 100-104, the reference on at least 3 seeds):

    nice -n 10 python scripts/bench_minatar.py --steps 1000000 --seeds 100-104 --reference-seeds 100-102

What was run for the README (a reduced budget, see docs/minatar.md):

    nice -n 10 python scripts/bench_minatar.py --games Breakout --algos dqn,reference --steps 100000 \\
        --seeds 100-101 --reference-seeds 100-101

Writes OUT/<algo>-<game>-seed<N>/ run folders, OUT/results.json (each seed's final greedy return and its
wall seconds of training) and OUT/minatar_<game>.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from algorithms.runs.plots import label_env_steps, plt

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scripts" / "minatar_reference_dqn.py"
ALGOS = ("dqn", "ppo", "reference")
EPSILON_FRAMES = 100_000        # env steps over which DQN's epsilon falls to 0.1 (the reference's FIRST_N_FRAMES)
LABELS = {"dqn": "ours: DQN", "ppo": "ours: PPO", "reference": "reference DQN (PyTorch port)"}
COLOURS = {"dqn": "tab:blue", "ppo": "tab:green", "reference": "tab:red"}


def seed_range(text: str) -> list[int]:
    """"100-104" or "100,102" as a list of seeds."""
    if "-" in text:
        first, last = (int(t) for t in text.split("-"))
        return list(range(first, last + 1))
    return [int(t) for t in text.split(",") if t]


def run_dir(out: Path, algo: str, game: str, seed: int) -> Path:
    return out / f"{algo}-{game}-seed{seed}"


def command(algo: str, game: str, seed: int, steps: int, folder: Path) -> list[str]:
    env_id = f"MinAtar/{game}-v1"
    if algo == "reference":
        return [sys.executable, str(REFERENCE), "--env", env_id, "--steps", str(steps), "--seed", str(seed),
                "--out", str(folder), "--eval-episodes", "20"]
    sets = ["--set", f"eval_every={steps}"]
    if algo == "dqn":
        sets += ["--set", f"exploration_fraction={min(1.0, EPSILON_FRAMES / steps)}"]
    return [sys.executable, "-m", "algorithms", "train", algo, env_id, "--steps", str(steps), "--seed", str(seed),
            "--out", str(folder), "--no-progress", "--checkpoint-every", "600", *sets]


def finished(algo: str, folder: Path) -> bool:
    return (folder / ("summary.json" if algo == "reference" else "eval.json")).exists()


def final_return(algo: str, folder: Path) -> float:
    if algo == "reference":
        return float(json.loads((folder / "summary.json").read_text())["eval_mean_return"])
    return float(json.loads((folder / "eval.json").read_text())["mean_return"])


def train_seconds(algo: str, folder: Path) -> float:
    """Wall seconds of the run's training (ours: the last metrics row's wall_time; the reference: its
    summary's train_seconds); the final 20-episode evaluation is not counted."""
    if algo == "reference":
        return float(json.loads((folder / "summary.json").read_text())["train_seconds"])
    with open(folder / "metrics.csv", newline="") as f:
        return max(float(row["wall_time"]) for row in csv.DictReader(f) if row.get("wall_time"))


def episodes(algo: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(env step at the episode's end, return) of every training episode."""
    name, step_key, return_key = (("episodes.csv", "env_step", "return") if algo == "reference"
                                  else ("metrics.csv", "env_step", "episode_return"))
    steps, returns = [], []
    with open(folder / name, newline="") as f:
        for row in csv.DictReader(f):
            if row.get(return_key):
                steps.append(int(row[step_key]))
                returns.append(float(row[return_key]))
    return np.asarray(steps), np.asarray(returns)


def binned_curve(steps: np.ndarray, returns: np.ndarray, total: int, bins: int) -> np.ndarray:
    """Mean training-episode return in each of ``bins`` equal windows of env steps (NaN where none ended)."""
    edges = np.linspace(0, total, bins + 1)
    which = np.clip(np.searchsorted(edges, steps, side="left") - 1, 0, bins - 1)
    curve = np.full(bins, np.nan)
    for b in range(bins):
        if np.any(which == b):
            curve[b] = returns[which == b].mean()
    return curve


def plot(out: Path, game: str, algos: list[str], seeds_of: dict, steps: int, bins: int = 20) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    centres = (np.arange(bins) + 0.5) * steps / bins
    for algo in algos:
        folders = [run_dir(out, algo, game, s) for s in seeds_of[algo] if finished(algo, run_dir(out, algo, game, s))]
        if not folders:
            continue
        curves = np.array([binned_curve(*episodes(algo, f), steps, bins) for f in folders])
        with warnings.catch_warnings():          # a window where no seed ended an episode stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(curves, axis=0)
        ax.plot(centres, mean, color=COLOURS[algo],
                label=f"{LABELS[algo]} ({len(folders)} seed{'' if len(folders) == 1 else 's'})")
        if len(folders) > 1:
            ax.fill_between(centres, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), color=COLOURS[algo],
                            alpha=0.2)
    label_env_steps(ax.xaxis)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"training episode return (mean per {steps // bins:,}-step window)")
    ax.set_title(f"MinAtar/{game}-v1: mean over seeds (band: min to max)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = out / f"minatar_{game}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", default="Breakout,SpaceInvaders")
    parser.add_argument("--algos", default=",".join(ALGOS), help=f"comma-separated subset of {','.join(ALGOS)}")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per run (the issue's budget: 1M)")
    parser.add_argument("--seeds", default="100-104", help="seeds of our runs (report seeds: 100-104)")
    parser.add_argument("--reference-seeds", default="100-102", help="seeds of the reference's runs")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "minatar")
    parser.add_argument("--plot-only", action="store_true", help="only redraw the figures and the table")
    args = parser.parse_args(argv)
    algos, games = args.algos.split(","), args.games.split(",")
    if set(algos) - set(ALGOS):
        parser.error(f"--algos must name some of {', '.join(ALGOS)}, got {args.algos!r}")
    seeds_of = {a: seed_range(args.reference_seeds if a == "reference" else args.seeds) for a in algos}
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for game in games:
        for seed_index in range(max(len(s) for s in seeds_of.values())):
            for algo in algos:                       # interleaved: one seed of each, then the next seed
                if seed_index >= len(seeds_of[algo]) or args.plot_only:
                    continue
                folder = run_dir(args.out, algo, game, seeds_of[algo][seed_index])
                if finished(algo, folder):
                    continue
                start = time.time()
                subprocess.run(command(algo, game, seeds_of[algo][seed_index], args.steps, folder), check=True,
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
                print(f"{algo} {game} seed {seeds_of[algo][seed_index]}: {args.steps:,} env steps in "
                      f"{time.time() - start:.0f} s wall, final greedy return {final_return(algo, folder):.2f}",
                      flush=True)
    results, seconds = {}, {}
    for game in games:
        print(f"\nMinAtar/{game}-v1, {args.steps:,} env steps: mean greedy return over 20 episodes per seed")
        for algo in algos:
            done = [s for s in seeds_of[algo] if finished(algo, run_dir(args.out, algo, game, s))]
            if done:
                values = {s: final_return(algo, run_dir(args.out, algo, game, s)) for s in done}
                results[f"{algo}/{game}"] = values
                seconds[f"{algo}/{game}"] = {s: round(train_seconds(algo, run_dir(args.out, algo, game, s)))
                                             for s in done}
                average = np.mean(list(seconds[f"{algo}/{game}"].values()))
                took = f"{average:.0f} s" if average < 120 else f"{average / 60:.0f} min"
                print(f"  {LABELS[algo]:>30}: {np.mean(list(values.values())):6.2f}  "
                      f"(seeds {', '.join(f'{s}: {v:.2f}' for s, v in values.items())}; {took} of training per run)")
        print(f"  figure: {plot(args.out, game, algos, seeds_of, args.steps)}")
    (args.out / "results.json").write_text(json.dumps({"steps": args.steps, "results": results,
                                                       "train_seconds": seconds}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
