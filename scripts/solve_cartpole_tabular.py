"""Tabular Q-learning on CartPole through a discretised observation (a learning curve over seeds).

The pole angle and angular velocity are cut into bins (cart position and velocity into one bin
each by default, i.e. ignored), giving a small table; epsilon decays linearly per episode.
Writes under --out:
  cartpole_tabular_learning_curve.png  episode return (= steps balanced, max 500) per training
                                       episode: each seed faint, mean over seeds bold, smoothed;
Prints the mean return of the last 100 training episodes and of greedy evaluation episodes.

    python scripts/solve_cartpole_tabular.py --seeds 5 --episodes 1000 --out runs/cartpole_tabular
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_int, probability, run_cli, save_figure

from algorithms.benchmark.stats import smoothed_returns
from algorithms.tabular import EpsilonGreedy, UnifiedAgent
from envs_wrappers import DiscretizeObservation, make_env
from tinygrad_rl.arrays import linear_schedule, spawn_seeds

# Bounds of the discretisation: position and angle are CartPole's termination limits; the
# velocities are unbounded in the observation space, these cover what a balancing pole shows.
LOW = (-2.4, -3.0, -0.21, -3.5)
HIGH = (2.4, 3.0, 0.21, 3.5)


def bins_argument(text: str) -> tuple[int, ...]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--bins must be four positive ints like 1,1,6,12, got {text!r}")
    return tuple(int(p) for p in parts)


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--episodes", type=positive_int, default=1000)
    parser.add_argument("--bins", default="1,1,6,12", help="bins for x, x_dot, theta, theta_dot")
    parser.add_argument("--alpha", type=probability, default=0.1)
    parser.add_argument("--gamma", type=probability, default=0.99)
    parser.add_argument("--epsilon-episodes", type=positive_int, default=500,
                        help="episodes over which epsilon falls linearly from 1 to 0.01")
    parser.add_argument("--eval-episodes", type=positive_int, default=20)
    parser.add_argument("--smooth", type=positive_int, default=20, help="moving-average window (episodes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/cartpole_tabular")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    bins = bins_argument(args.bins)
    env = DiscretizeObservation(make_env("CartPole-v1"), bins=bins, low=LOW, high=HIGH)
    print(f"CartPole-v1, tabular Q-learning on {env.n_states} cells (bins {bins}), alpha={args.alpha}, "
          f"gamma={args.gamma}, epsilon 1 -> 0.01 over {args.epsilon_episodes} episodes")
    curves, finals, greedy = [], [], []
    for seed in spawn_seeds(args.seed, args.seeds):
        start = time.perf_counter()
        agent = UnifiedAgent("q_learning", EpsilonGreedy(linear_schedule(1.0, 0.01, args.epsilon_episodes)),
                             alpha=args.alpha, gamma=args.gamma, seed=seed)
        result = agent.train(env, args.episodes)
        evaluation = agent.evaluate(env, args.eval_episodes, seed=seed)
        curves.append(result.episode_returns)
        finals.append(result.episode_returns[-100:].mean())
        greedy.append(evaluation.mean())
        print(f"  seed {seed}: last-100 training return {finals[-1]:6.1f}, greedy evaluation "
              f"{greedy[-1]:6.1f} over {args.eval_episodes} episodes, {result.episode_lengths.sum()} steps, "
              f"{time.perf_counter() - start:.0f}s")
    print(f"mean over {args.seeds} seeds: last-100 training return {np.mean(finals):.1f} "
          f"(min {np.min(finals):.1f}), greedy evaluation {np.mean(greedy):.1f} (min {np.min(greedy):.1f})")

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    episodes = np.arange(1, args.episodes + 1)
    smoothed = np.stack([smoothed_returns(c, args.smooth) for c in curves])
    for i, curve in enumerate(smoothed):
        ax.plot(episodes, curve, color="tab:blue", alpha=0.3, linewidth=0.8,
                label="single seed" if i == 0 else None)
    ax.plot(episodes, smoothed.mean(axis=0), color="tab:blue", linewidth=2.2, label=f"mean of {args.seeds} seeds")
    ax.axhline(500, color="grey", linestyle="--", linewidth=1, label="maximum (500 steps)")
    ax.set_xlim(1, args.episodes)
    ax.set_ylim(0, 520)
    ax.set_xlabel("training episode")
    ax.set_ylabel("episode return (steps balanced)")
    ax.set_title(f"CartPole-v1, tabular Q-learning on {env.n_states} discretised states\n"
                 f"bins {bins}, alpha={args.alpha}, gamma={args.gamma}, epsilon 1 -> 0.01 over "
                 f"{args.epsilon_episodes} episodes; {args.smooth}-episode moving average")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    save_figure(fig, os.path.join(args.out, "cartpole_tabular_learning_curve.png"))
    print(f"figure written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
