"""Solve FrozenLake 4x4 and 8x8 with value iteration; check policy iteration agrees; evaluate the
policy in the real gymnasium env; plot value heatmaps with policy arrows, holes and goal marked.

    python scripts/solve_frozenlake.py [--gamma 0.99] [--episodes 2000] [--not-slippery] [--out runs/solve_frozenlake]
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import DOWN, LEFT, RIGHT, UP, best_actions, dp_solver_parser, draw_value_grid, run_cli, save_figure

from algorithms.tabular import policy_iteration, value_iteration
from envs_wrappers import make_env, policy_rollouts, tabular_model

FROZENLAKE_DIRECTIONS = {0: LEFT, 1: DOWN, 2: RIGHT, 3: UP}
MAPS = {"4x4": "FrozenLake-v1", "8x8": "FrozenLake8x8-v1"}


def solve_map(size: str, args) -> dict:
    env = make_env(MAPS[size], is_slippery=not args.not_slippery)
    P, R, terminal = tabular_model(env)
    vi = value_iteration(P, R, args.gamma, args.theta)
    pi = policy_iteration(P, R, args.gamma, args.theta)
    rollouts = policy_rollouts(env, vi.policy, args.episodes, args.seed)
    rate, mean_length = float((rollouts.last_rewards == 1.0).mean()), float(rollouts.lengths.mean())
    desc = env.unwrapped.desc.astype(str)
    n_rows, n_cols = desc.shape
    special = {}
    for row, col in zip(*np.nonzero((desc == "H") | (desc == "G"))):
        special[(row, col)] = ("H", "0.15") if desc[row, col] == "H" else ("G", "tab:red")

    fig, ax = plt.subplots(figsize=(1.1 * n_cols + 1.8, 1.1 * n_rows + 0.6), constrained_layout=True)
    image = draw_value_grid(ax, vi.values.reshape(n_rows, n_cols),
                            arrows=best_actions(vi.q_values).reshape(n_rows, n_cols, -1),
                            action_directions=FROZENLAKE_DIRECTIONS, special_cells=special,
                            vmin=0.0, vmax=max(vi.values.max(), 1e-12), value_format="{:.2f}",
                            fontsize=9 if n_rows <= 4 else 8)
    for row, col in zip(*np.nonzero(desc == "S")):
        ax.text(col - 0.42, row - 0.42, "S", ha="left", va="top", fontsize=10, fontweight="bold", color="white")
    slippery = "slippery" if not args.not_slippery else "not slippery"
    ax.set_title(f"FrozenLake {size} ({slippery}), optimal values, gamma = {args.gamma:g}\n"
                 f"greedy policy reaches the goal in {rate:.1%} of {args.episodes} real episodes\n"
                 f"H hole, G goal (episode ends), S start; arrows: all optimal actions"
                 + ("\n(on slippery ice the move goes that way with p = 1/3, else to either side)"
                    if not args.not_slippery else ""), fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.85, label="state value = discounted probability of reaching G")
    path = save_figure(fig, os.path.join(args.out, f"frozenlake_{size}.png"))
    return {"size": size, "sweeps": vi.iterations, "pi_steps": pi.iterations,
            "gap": float(np.max(np.abs(vi.values - pi.values))), "start_value": float(vi.values[0]),
            "rate": rate, "length": mean_length, "path": path}


def main() -> None:
    parser = dp_solver_parser(__doc__.splitlines()[0], episodes=2000, out="runs/solve_frozenlake")
    parser.add_argument("--not-slippery", action="store_true", help="deterministic ice")
    args = parser.parse_args()
    for size in MAPS:
        r = solve_map(size, args)
        print(f"FrozenLake {r['size']}: value iteration {r['sweeps']} sweeps, policy iteration "
              f"{r['pi_steps']} steps, max |V_VI - V_PI| = {r['gap']:.1e}, V*(start) = {r['start_value']:.3f}; "
              f"real env: goal reached in {r['rate']:.1%} of {args.episodes} episodes "
              f"(mean length {r['length']:.1f} steps) -> {r['path']}")


if __name__ == "__main__":
    run_cli(main)
