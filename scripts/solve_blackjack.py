"""Monte Carlo on Blackjack: Sutton & Barto (2018) Figures 5.1 and 5.2 (Blackjack-v1, sab=True rules).

Figure 5.1: first-visit MC prediction of the policy "stick on 20 or 21, else hit", after a
short and a long run. Figure 5.2: Monte Carlo with exploring starts (random first action,
greedy after; every Blackjack start state has non-zero probability), giving the learned
stick/hit policy and its state values, with and without a usable ace.
Writes under --out:
  blackjack_prediction_values.png  value surfaces of the stick-on-20 policy (Figure 5.1)
  blackjack_es_policy_values.png   learned policy and V* = max_a Q surfaces (Figure 5.2)
Prints a few values and, per dealer card, the smallest player sum at which the policy sticks.

    python scripts/solve_blackjack.py --short 10000 --long 500000 --control 500000 --out runs/blackjack
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from tabular_plots import OneLineParser, positive_int, run_cli, save_figure

from algorithms.tabular import mc_control, mc_prediction
from envs_wrappers import BlackjackIndex, make_env

STICK, HIT = 0, 1
PLAYER_SUMS = np.arange(12, 22)
DEALER_CARDS = np.arange(1, 11)  # 1 = ace
DEALER_LABELS = ["A"] + [str(c) for c in range(2, 11)]


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=positive_int, default=10_000, help="episodes of the short prediction run")
    parser.add_argument("--long", type=positive_int, default=500_000, help="episodes of the long prediction run")
    parser.add_argument("--control", type=positive_int, default=500_000, help="episodes of Monte Carlo ES")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/blackjack")
    return parser.parse_args()


def stick_on_20_policy() -> np.ndarray:
    """Action per BlackjackIndex state: stick on a player sum of 20 or 21, hit otherwise."""
    sums = np.array([BlackjackIndex.decode(i)[0] for i in range(BlackjackIndex.n_states)])
    return np.where(sums >= 20, STICK, HIT)


def grid(table: np.ndarray, usable_ace: int) -> np.ndarray:
    """(player sum 12..21, dealer card A..10) grid of a per-state array."""
    return np.array([[table[BlackjackIndex.encode((p, d, usable_ace))] for d in DEALER_CARDS]
                     for p in PLAYER_SUMS])


def draw_surface(ax, values: np.ndarray, title: str) -> None:
    dealer, player = np.meshgrid(DEALER_CARDS, PLAYER_SUMS)
    ax.plot_surface(dealer, player, values, cmap="coolwarm", vmin=-1, vmax=1, edgecolor="k", linewidth=0.2)
    ax.set_zlim(-1, 1)
    ax.set_xticks(DEALER_CARDS, DEALER_LABELS, fontsize=7)
    ax.set_yticks(PLAYER_SUMS, [str(p) for p in PLAYER_SUMS], fontsize=7)
    ax.tick_params(axis="z", labelsize=7)
    ax.set_xlabel("dealer showing")
    ax.set_ylabel("player sum")
    ax.set_zlabel("value (expected return)")
    ax.set_title(title, fontsize=10)
    ax.view_init(elev=30, azim=-130)


def plot_prediction(short, long, args, path: str) -> None:
    fig = plt.figure(figsize=(11, 9))
    for row, usable_ace in enumerate((1, 0)):
        for col, (result, n) in enumerate(((short, args.short), (long, args.long))):
            ax = fig.add_subplot(2, 2, 2 * row + col + 1, projection="3d")
            draw_surface(ax, grid(result.V, usable_ace),
                         f"{'usable ace' if usable_ace else 'no usable ace'}, after {n:,} episodes")
    fig.suptitle("Blackjack: first-visit MC prediction of 'stick on 20 or 21, else hit' (S&B Figure 5.1)")
    save_figure(fig, path)


def plot_policy_and_values(result, args, path: str) -> None:
    fig = plt.figure(figsize=(11, 9))
    policy = result.greedy_policy
    cmap = ListedColormap(["#4c72b0", "#f2c14e"])  # STICK, HIT
    for row, usable_ace in enumerate((1, 0)):
        ax = fig.add_subplot(2, 2, 2 * row + 1)
        ax.imshow(grid(policy, usable_ace), cmap=cmap, vmin=0, vmax=1, origin="lower",
                  extent=(0.5, 10.5, 11.5, 21.5), aspect="auto")
        ax.set_xticks(DEALER_CARDS, DEALER_LABELS)
        ax.set_yticks(PLAYER_SUMS)
        ax.set_xlabel("dealer showing")
        ax.set_ylabel("player sum")
        ax.set_title(f"learned policy, {'usable ace' if usable_ace else 'no usable ace'}\n(sums below 12 always hit)",
                     fontsize=10)
        ax.legend(handles=[Patch(color=cmap(0), label="stick"), Patch(color=cmap(1), label="hit")],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax3d = fig.add_subplot(2, 2, 2 * row + 2, projection="3d")
        ace = "usable ace" if usable_ace else "no usable ace"
        draw_surface(ax3d, grid(result.V, usable_ace), f"max_a Q(s, a), {ace}")
    fig.suptitle(f"Blackjack: Monte Carlo ES after {args.control:,} episodes (S&B Figure 5.2)")
    fig.subplots_adjust(hspace=0.35)
    save_figure(fig, path)


def stick_thresholds(policy: np.ndarray, usable_ace: int) -> list[str]:
    """Per dealer card, the smallest player sum from which the policy sticks on every higher sum."""
    out = []
    for d in DEALER_CARDS:
        sticks = [policy[BlackjackIndex.encode((p, d, usable_ace))] == STICK for p in PLAYER_SUMS]
        first = next((p for p, s in zip(PLAYER_SUMS, sticks) if all(sticks[p - 12:])), None)
        out.append(f"{DEALER_LABELS[d - 1]}:{first if first is not None else '-'}")
    return out


def main() -> None:
    args = parse_args()
    env = BlackjackIndex(make_env("Blackjack-v1"))
    policy = stick_on_20_policy()
    results = {}
    for name, n in (("short", args.short), ("long", args.long)):
        start = time.perf_counter()
        results[name] = mc_prediction(env, policy, n, gamma=1.0, seed=args.seed, first_visit=True)
        print(f"MC prediction, {n:,} episodes: {time.perf_counter() - start:.0f}s")
    V = results["long"].V
    for state in ((21, 10, 0), (20, 10, 0), (13, 2, 0), (21, 1, 1), (15, 6, 1)):
        print(f"  V_stick20{state} (player, dealer, usable ace) = {V[BlackjackIndex.encode(state)]:+.3f}")
    start = time.perf_counter()
    es = mc_control(env, args.control, alpha=None, gamma=1.0, seed=args.seed, exploring_starts=True)
    print(f"Monte Carlo ES, {args.control:,} episodes: {time.perf_counter() - start:.0f}s")
    for usable_ace in (0, 1):
        print(f"  learned policy, {'usable' if usable_ace else 'no usable'} ace: sticks from player sum "
              + " ".join(stick_thresholds(es.greedy_policy, usable_ace)) + "  (dealer card:sum)")
    plot_prediction(results["short"], results["long"], args, os.path.join(args.out, "blackjack_prediction_values.png"))
    plot_policy_and_values(es, args, os.path.join(args.out, "blackjack_es_policy_values.png"))
    print(f"figures written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
