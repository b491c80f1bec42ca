"""Solve Sutton & Barto's 4x4 gridworld (Example 4.1) with dynamic programming; plot the values.

Left panel: the equiprobable random policy's values (Figure 4.1, k = infinity) with the greedy
actions they imply; right panel: the optimal values from value iteration with all optimal actions.

    python scripts/solve_gridworld.py [--size 4] [--gamma 1.0] [--out runs/solve_gridworld]
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    OneLineParser,
    best_actions,
    draw_value_grid,
    positive_float,
    positive_int,
    probability,
    run_cli,
    save_figure,
)

from algorithms.tabular import policy_evaluation, policy_iteration, value_iteration
from envs_wrappers import GridWorld, tabular_model

GRIDWORLD_DIRECTIONS = {0: UP, 1: RIGHT, 2: DOWN, 3: LEFT}


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=4, help="grid side (default 4)")
    parser.add_argument("--gamma", type=probability, default=1.0, help="discount (default 1, as in the book)")
    parser.add_argument("--theta", type=positive_float, default=1e-8, help="sweep stopping threshold")
    parser.add_argument("--out", default="runs/solve_gridworld", help="output folder for the PNG")
    args = parser.parse_args()
    if args.size < 2:
        parser.error(f"--size must be >= 2, got {args.size}")

    env = GridWorld(size=args.size)
    P, R, terminal = tabular_model(env)
    n_states, n_actions = R.shape
    shape = (args.size, args.size)
    random_policy = np.full((n_states, n_actions), 1.0 / n_actions)
    random_eval = policy_evaluation(P, R, random_policy, args.gamma, args.theta)
    optimal = value_iteration(P, R, args.gamma, args.theta)
    pi = policy_iteration(P, R, args.gamma, args.theta)
    gap = float(np.max(np.abs(optimal.values - pi.values)))

    corners = {tuple(np.unravel_index(s, shape)): ("T", "0.35") for s in np.flatnonzero(terminal)}
    fig, axes = plt.subplots(1, 2, figsize=(5.2 * 2, 5.0), constrained_layout=True)
    panels = ((random_eval, f"Random policy: $v_\\pi$ after {random_eval.iterations} sweeps\n"
                            "arrows: greedy w.r.t. $v_\\pi$"),
              (optimal, f"Optimal: $v_*$ by value iteration ({optimal.iterations} sweeps)\n"
                        "arrows: all optimal actions"))
    low = min(random_eval.values.min(), optimal.values.min())
    for ax, (result, title) in zip(axes, panels):
        image = draw_value_grid(ax, result.values.reshape(shape),
                                arrows=best_actions(result.q_values).reshape(*shape, n_actions),
                                action_directions=GRIDWORLD_DIRECTIONS, special_cells=corners,
                                vmin=low, vmax=0.0, title=title, fontsize=11 if args.size <= 5 else 8)
    fig.colorbar(image, ax=axes, shrink=0.85, label="state value (sum of rewards, -1 per step)")
    fig.suptitle(f"GridWorld {args.size}x{args.size} (Sutton & Barto Example 4.1), gamma = {args.gamma:g}")
    path = save_figure(fig, os.path.join(args.out, "gridworld_values.png"))

    np.set_printoptions(precision=2, suppress=True)
    print(f"random policy values ({random_eval.iterations} sweeps):\n{random_eval.values.reshape(shape)}")
    print(f"optimal values (value iteration, {optimal.iterations} sweeps):\n{optimal.values.reshape(shape)}")
    print(f"policy iteration: {pi.iterations} improvement steps, {pi.evaluation_sweeps} evaluation sweeps, "
          f"max |V_VI - V_PI| = {gap:.2e}")
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
