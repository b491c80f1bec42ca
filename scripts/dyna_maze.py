"""Dyna-Q on the Dyna maze: steps per episode for n = 0, 5, 50 planning steps (S&B Figure 8.2).

Writes under --out:
  dyna_maze_steps.png  steps per episode against episodes 2..E (the first episode, a random walk
                       for every n, is left out as in the book), mean of --runs runs with a 95%
                       band of the mean; the maze itself drawn in a corner.
Prints the mean steps of episode 1, 2, 3, 5, 10 and of the last 10 episodes for each n, and how
many runs' final greedy path is the 14-step shortest path.

    python scripts/dyna_maze.py --runs 30 --episodes 50 --out runs/figures
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_int, probability, run_cli, save_figure

from algorithms.tabular import EpsilonGreedy, dyna_q
from envs_wrappers import DynaMaze
from tinygrad_rl.arrays import spawn_seeds

COLOURS = {0: "tab:blue", 5: "tab:green", 50: "tab:red"}


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=30,
                        help="independent runs per n (default 30, as the book)")
    parser.add_argument("--episodes", type=positive_int, default=50)
    parser.add_argument("--planning-steps", type=int, nargs="+", default=[0, 5, 50],
                        help="values of n to compare (default 0 5 50)")
    parser.add_argument("--alpha", type=probability, default=0.1, help="step size (default 0.1, as the book)")
    parser.add_argument("--epsilon", type=probability, default=0.1)
    parser.add_argument("--gamma", type=probability, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/dyna_maze")
    args = parser.parse_args()
    if args.episodes < 2:
        parser.error(f"--episodes must be at least 2 (episode 1 is not plotted), got {args.episodes}")
    if any(n < 0 for n in args.planning_steps):
        parser.error(f"--planning-steps must be >= 0, got {args.planning_steps}")
    return args


def draw_maze(ax, env: DynaMaze) -> None:
    """The layout as a small picture: walls dark, S and G labelled."""
    image = np.where(env.walls, 0.25, 1.0).reshape(env.n_rows, env.n_cols)
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    for state, label in ((env.start_state, "S"), (int(np.flatnonzero(env.goals)[0]), "G")):
        row, col = divmod(state, env.n_cols)
        ax.text(col, row, label, ha="center", va="center", fontsize=8, fontweight="bold")
    ax.set_xticks(np.arange(-0.5, env.n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, env.n_rows), minor=True)
    ax.grid(which="minor", color="#999999", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def main() -> None:
    args = parse_args()
    env = DynaMaze()
    seeds = spawn_seeds(args.seed, args.runs)
    shortest = env.shortest_path_length()
    curves = {}
    print(f"Dyna maze: {args.runs} runs x {args.episodes} episodes, alpha={args.alpha}, "
          f"epsilon={args.epsilon}, gamma={args.gamma}; shortest path {shortest} steps")
    for n in args.planning_steps:
        start = time.perf_counter()
        results = [dyna_q(env, args.episodes, n, args.alpha, args.gamma, EpsilonGreedy(args.epsilon), seed)
                   for seed in seeds]
        lengths = np.stack([r.episode_lengths for r in results]).astype(float)
        curves[n] = lengths
        mean = lengths.mean(axis=0)
        optimal = sum(env.greedy_path_length(r.Q) == shortest for r in results)
        shown = ", ".join(f"ep {e}: {mean[e - 1]:.1f}" for e in (1, 2, 3, 5, 10) if e <= args.episodes)
        print(f"  n={n:<3} mean steps {shown}; last 10 episodes {mean[-10:].mean():.1f}; "
              f"greedy path optimal in {optimal}/{args.runs} runs; {time.perf_counter() - start:.1f}s")

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    episodes = np.arange(2, args.episodes + 1)
    for n, lengths in curves.items():
        mean = lengths[:, 1:].mean(axis=0)
        half = 1.96 * lengths[:, 1:].std(axis=0, ddof=1) / np.sqrt(len(lengths)) if len(lengths) > 1 else 0 * mean
        colour = COLOURS.get(n)
        label = f"n = {n} planning steps" + (" (Q-learning)" if n == 0 else "")
        ax.plot(episodes, mean, color=colour, label=label)
        ax.fill_between(episodes, mean - half, mean + half, color=colour or ax.lines[-1].get_color(), alpha=0.2)
    ax.axhline(shortest, color="black", linestyle=":", linewidth=1, label=f"shortest path ({shortest} steps)")
    ax.set_xlim(2, args.episodes)
    ax.set_ylim(0, 800)
    ax.set_xlabel("episode")
    ax.set_ylabel("steps per episode")
    ax.set_title(f"Dyna-Q on the Dyna maze (S&B Figure 8.2): mean of {args.runs} runs, 95% band of the mean\n"
                 f"alpha={args.alpha}, epsilon={args.epsilon}, gamma={args.gamma}; episode 1 "
                 f"(a random walk for every n) not shown")
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.78))
    ax.grid(alpha=0.3)
    inset = ax.inset_axes([0.66, 0.79, 0.33, 0.2])
    draw_maze(inset, env)
    save_figure(fig, os.path.join(args.out, "dyna_maze_steps.png"))
    print(f"figure written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
