"""Dyna-Q and Dyna-Q+ when the maze changes: cumulative reward over time steps on the blocking
maze (S&B Figure 8.4) and the shortcut maze (Figure 8.5).

Writes under --out:
  blocking_maze.png  cumulative reward against time steps (3000; walls move after 1000),
  shortcut_maze.png  the same for the shortcut maze (6000; a shortcut opens after 3000);
each the mean of --runs runs with a 95% band of the mean, the layouts before and after drawn in.
Prints, per maze and method, the mean cumulative reward at the change and at the end, and in how
many runs the final greedy path is the shortest path of the changed maze.

The book gives no step size or n for these examples; the env is deterministic, so alpha = 1 is
the natural step size, and n = 10 planning steps. kappa = 1e-3 (Dyna-Q+'s bonus kappa * sqrt(tau)).

    python scripts/changing_mazes.py --runs 50 --out runs/figures
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_float, positive_int, probability, run_cli, save_figure

from algorithms.tabular import EpsilonGreedy, dyna_q, dyna_q_plus
from envs_wrappers import BlockingMaze, ShortcutMaze
from tinygrad_rl.arrays import spawn_seeds

MAZES = {  # name: (env class, steps, change, book figure)
    "blocking": (BlockingMaze, 3000, 1000, "8.4"),
    "shortcut": (ShortcutMaze, 6000, 3000, "8.5"),
}
METHODS = {"Dyna-Q+": "tab:red", "Dyna-Q": "tab:blue"}


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=50, help="independent runs per method (default 50)")
    parser.add_argument("--maze", choices=sorted(MAZES), nargs="+", default=sorted(MAZES))
    parser.add_argument("--planning-steps", type=positive_int, default=10, help="n (default 10)")
    parser.add_argument("--alpha", type=probability, default=1.0, help="step size (default 1.0)")
    parser.add_argument("--epsilon", type=probability, default=0.1)
    parser.add_argument("--gamma", type=probability, default=0.95)
    parser.add_argument("--kappa", type=positive_float, default=1e-3, help="Dyna-Q+ bonus scale (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/changing_mazes")
    return parser.parse_args()


def draw_layout(ax, env, title: str) -> None:
    image = np.where(env.walls, 0.25, 1.0).reshape(env.n_rows, env.n_cols)
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    for state, label in ((env.start_state, "S"), (int(np.flatnonzero(env.goals)[0]), "G")):
        row, col = divmod(state, env.n_cols)
        ax.text(col, row, label, ha="center", va="center", fontsize=7, fontweight="bold")
    ax.set_xticks(np.arange(-0.5, env.n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, env.n_rows), minor=True)
    ax.grid(which="minor", color="#999999", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=8)


def run_maze(name: str, args) -> None:
    env_class, steps, change, figure = MAZES[name]
    env = env_class(change_at=change)
    seeds = spawn_seeds(args.seed, args.runs)
    exploration = EpsilonGreedy(args.epsilon)
    methods = {
        "Dyna-Q+": lambda seed: dyna_q_plus(env, None, args.planning_steps, args.alpha, args.gamma, exploration,
                                            seed, kappa=args.kappa, total_steps=steps),
        "Dyna-Q": lambda seed: dyna_q(env, None, args.planning_steps, args.alpha, args.gamma, exploration,
                                      seed, total_steps=steps),
    }
    env.reset(seed=0)
    before = env.shortest_path_length()
    curves = {}
    for method, run in methods.items():
        start = time.perf_counter()
        results = [run(seed) for seed in seeds]
        # The env is left in its changed layout after each run: greedy paths are read in that maze.
        after = env.shortest_path_length()
        shortest = sum(env.greedy_path_length(r.Q) == after for r in results)
        cumulative = np.stack([r.cumulative_reward for r in results])
        curves[method] = cumulative
        print(f"  {name:<8} {method:<7} cumulative reward at step {change}: {cumulative[:, change - 1].mean():6.1f}, "
              f"at step {steps}: {cumulative[:, -1].mean():6.1f} "
              f"(+{(cumulative[:, -1] - cumulative[:, change - 1]).mean():.1f} "
              f"after the change); final greedy path is the new {after}-step shortest in {shortest}/{args.runs} runs; "
              f"{time.perf_counter() - start:.1f}s")

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    time_steps = np.arange(1, steps + 1)
    for method, cumulative in curves.items():
        mean = cumulative.mean(axis=0)
        half = (1.96 * cumulative.std(axis=0, ddof=1) / np.sqrt(len(cumulative)) if len(cumulative) > 1
                else np.zeros_like(mean))
        ax.plot(time_steps, mean, color=METHODS[method],
                label=method + (f" (kappa = {args.kappa:g})" if method == "Dyna-Q+" else ""))
        ax.fill_between(time_steps, mean - half, mean + half, color=METHODS[method], alpha=0.2)
    ax.axvline(change, color="black", linestyle=":", linewidth=1, label=f"walls change (step {change})")
    ax.set_xlim(0, steps)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time steps")
    ax.set_ylabel("cumulative reward")
    ax.set_title(f"{name.capitalize()} maze (S&B Figure {figure}): mean of {args.runs} runs, 95% band of the mean\n"
                 f"n={args.planning_steps} planning steps, alpha={args.alpha}, epsilon={args.epsilon}, "
                 f"gamma={args.gamma}; shortest path {before} then {after} steps")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    env.reset(seed=0)
    draw_layout(ax.inset_axes([0.03, 0.72, 0.2, 0.2]), env, f"steps 1-{change}")
    env.reset(seed=0)
    for _ in range(change):
        env.step(0)
    # The second layout sits right of the change line when that line would cross it.
    second_x = 0.27 if change / steps > 0.45 else change / steps + 0.05
    draw_layout(ax.inset_axes([second_x, 0.72, 0.2, 0.2]), env, f"after step {change}")
    save_figure(fig, os.path.join(args.out, f"{name}_maze.png"))


def main() -> None:
    args = parse_args()
    print(f"Changing mazes: {args.runs} runs per method, n={args.planning_steps}, alpha={args.alpha}, "
          f"epsilon={args.epsilon}, gamma={args.gamma}, kappa={args.kappa:g}")
    for name in args.maze:
        run_maze(name, args)
    print(f"figures written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
