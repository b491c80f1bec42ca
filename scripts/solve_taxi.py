"""Solve Taxi with value iteration; check policy iteration agrees; evaluate the policy in the real
gymnasium env; plot the 500-state value function as one 5x5 map per (passenger, destination).

    python scripts/solve_taxi.py [--gamma 0.99] [--episodes 1000] [--out runs/solve_taxi]
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import DOWN, LEFT, RIGHT, UP, best_actions, dp_solver_parser, draw_value_grid, run_cli, save_figure

from algorithms.tabular import policy_iteration, value_iteration
from envs_wrappers import make_env, policy_rollouts, tabular_model

TAXI_DIRECTIONS = {0: DOWN, 1: UP, 2: RIGHT, 3: LEFT}       # south, north, east, west
TAXI_LETTERS = {4: "P", 5: "D"}                             # pick-up, drop-off
LOCATION_NAMES = ("R", "G", "Y", "B")
PASSENGER_NAMES = LOCATION_NAMES + ("in taxi",)


def plot_values(env, result, gamma: float, mean_return: float, episodes: int, path: str) -> str:
    """4 x 5 panels: rows are destinations, columns passenger locations; each a 5x5 taxi map."""
    base = env.unwrapped
    # Taxi's state is encode(row, col, passenger, destination) = ((row*5 + col)*5 + passenger)*4 + destination.
    values = result.values.reshape(5, 5, 5, 4)
    arrows = best_actions(result.q_values).reshape(5, 5, 5, 4, -1)
    shown = [values[:, :, p, d] for d in range(4) for p in range(5) if p != d]
    low, high = min(v.min() for v in shown), max(v.max() for v in shown)
    fig, axes = plt.subplots(4, 5, figsize=(17, 14.5), constrained_layout=True)
    image = None
    for destination in range(4):
        for passenger in range(5):
            ax = axes[destination, passenger]
            if passenger == destination:
                ax.axis("off")
                ax.text(0.5, 0.5, "passenger already at\nthe destination:\nnot a state of any episode",
                        ha="center", va="center", fontsize=10, transform=ax.transAxes, color="0.4")
                continue
            image = draw_value_grid(ax, values[:, :, passenger, destination],
                                    arrows=arrows[:, :, passenger, destination],
                                    action_directions=TAXI_DIRECTIONS, action_letters=TAXI_LETTERS,
                                    vmin=low, vmax=high, fontsize=7, cmap="magma",
                                    title=f"passenger {PASSENGER_NAMES[passenger]}, "
                                          f"destination {LOCATION_NAMES[destination]}")
            for name, (row, col) in zip(LOCATION_NAMES, base.locs):
                ax.text(col - 0.45, row - 0.45, name, ha="left", va="top", fontsize=9,
                        fontweight="bold", color="tab:cyan")
            desc = base.desc
            for row in range(5):
                for col in range(4):
                    if desc[1 + row, 2 * col + 2] == b"|":
                        ax.plot([col + 0.5, col + 0.5], [row - 0.5, row + 0.5], color="tab:cyan", linewidth=4)
            ax.set_xlabel("")
            ax.set_ylabel("")
    fig.supxlabel("taxi column")
    fig.supylabel("taxi row")
    fig.colorbar(image, ax=axes, shrink=0.6, label=f"optimal state value (discounted return, gamma = {gamma:g})")
    fig.suptitle(f"Taxi-v4: optimal values from value iteration ({result.iterations} sweeps), one 5x5 "
                 f"map of taxi positions per (passenger, destination)\narrows: optimal moves, P pick-up, "
                 f"D drop-off; cyan bars: walls; greedy policy mean return {mean_return:.2f} over "
                 f"{episodes} real episodes", fontsize=13)
    return save_figure(fig, path, tight=False)


def main() -> None:
    parser = dp_solver_parser(__doc__.splitlines()[0], episodes=1000, out="runs/solve_taxi")
    args = parser.parse_args()

    env = make_env("Taxi-v4")
    P, R, terminal = model = tabular_model(env)
    vi = value_iteration(P, R, args.gamma, args.theta)
    pi = policy_iteration(P, R, args.gamma, args.theta)
    returns = policy_rollouts(env, vi.policy, args.episodes, args.seed).returns
    # gamma = 1: the optimal value averaged over the start distribution is the expected return.
    undiscounted = value_iteration(P, R, 1.0, args.theta)
    expected_return = float(model.initial @ undiscounted.values)
    path = plot_values(env, vi, args.gamma, returns.mean(), args.episodes,
                       os.path.join(args.out, "taxi_values.png"))
    print(f"Taxi-v4 model: P {P.shape} dense, {int(terminal.sum())} terminal (drop-off) states, "
          f"{int(model.reachable.sum())} states occur in episodes")
    print(f"value iteration: {vi.iterations} sweeps; policy iteration: {pi.iterations} steps, "
          f"max |V_VI - V_PI| = {np.max(np.abs(vi.values - pi.values)):.1e}")
    print(f"greedy policy, {args.episodes} real episodes: mean return {returns.mean():.3f} "
          f"(std {returns.std():.2f}, min {returns.min():.0f}, max {returns.max():.0f}); "
          f"expected optimal return from the model (gamma = 1): {expected_return:.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
