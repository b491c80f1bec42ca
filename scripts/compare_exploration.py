"""Epsilon-greedy vs Boltzmann vs UCB exploration for tabular Q-learning on one env, over seeds.

Each strategy has one hyperparameter, set on the command line (not tuned per env). Writes under --out:
  exploration_<env>.png  left: online return per training episode, mean over seeds (smoothed)
                         with a band of +-1 standard deviation over seeds; right: the greedy
                         policy's mean evaluation return of each seed after training.
Prints, per strategy, the last-100-episode online return and the greedy evaluation return
(mean and standard deviation over seeds) and the env steps used.

    python scripts/compare_exploration.py --env Taxi-v3 --seeds 10 --episodes 1500 --out runs/exploration
"""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from tabular_plots import OneLineParser, positive_float, positive_int, probability, run_cli, save_figure

from algorithms.benchmark.stats import smoothed_returns
from algorithms.tabular import UCB, Boltzmann, EpsilonGreedy, UnifiedAgent
from envs_wrappers import make_env
from tinygrad_rl.arrays import spawn_seeds

COLOURS = {"epsilon-greedy": "tab:blue", "Boltzmann": "tab:orange", "UCB": "tab:green"}


def parse_args():
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Taxi-v3", help="a gymnasium id with Discrete observations and actions")
    parser.add_argument("--seeds", type=positive_int, default=10)
    parser.add_argument("--episodes", type=positive_int, default=1500)
    parser.add_argument("--alpha", type=probability, default=0.5)
    parser.add_argument("--gamma", type=probability, default=0.99)
    parser.add_argument("--epsilon", type=probability, default=0.1)
    parser.add_argument("--temperature", type=positive_float, default=1.0)
    parser.add_argument("--ucb-c", type=positive_float, default=1.0)
    parser.add_argument("--eval-episodes", type=positive_int, default=100)
    parser.add_argument("--smooth", type=positive_int, default=50, help="moving-average window (episodes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/exploration")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    env = make_env(args.env)
    env_id = env.spec.id if env.spec is not None else args.env
    strategies = {
        "epsilon-greedy": (lambda: EpsilonGreedy(args.epsilon), f"epsilon={args.epsilon}"),
        "Boltzmann": (lambda: Boltzmann(args.temperature), f"T={args.temperature}"),
        "UCB": (lambda: UCB(args.ucb_c), f"c={args.ucb_c}"),
    }
    seeds = spawn_seeds(args.seed, args.seeds)
    print(f"{env_id}: Q-learning, alpha={args.alpha}, gamma={args.gamma}, "
          f"{args.seeds} seeds x {args.episodes} episodes")
    curves, evaluations = {}, {}
    for name, (make_strategy, label) in strategies.items():
        start = time.perf_counter()
        returns, finals, greedy, steps = [], [], [], 0
        for seed in seeds:
            agent = UnifiedAgent("q_learning", make_strategy(), args.alpha, args.gamma, seed=seed)
            result = agent.train(env, args.episodes)
            returns.append(smoothed_returns(result.episode_returns, args.smooth))
            finals.append(result.episode_returns[-100:].mean())
            greedy.append(agent.evaluate(env, args.eval_episodes, seed=seed, max_steps=1000).mean())
            steps += int(result.episode_lengths.sum())
        curves[name], evaluations[name] = np.stack(returns), np.array(greedy)
        online = np.array(finals)
        print(f"  {name:<15} ({label:<12}) online return (last 100 episodes) {online.mean():7.2f} +- "
              f"{online.std():5.2f}; greedy evaluation {evaluations[name].mean():7.2f} "
              f"+- {evaluations[name].std():5.2f} (mean +- sd over seeds); {steps / args.seeds:,.0f} env steps "
              f"per seed; {time.perf_counter() - start:.0f}s")

    fig, (ax, ax_zoom, ax_eval) = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.6, 1.6, 1]})
    episodes = np.arange(1, args.episodes + 1)
    late = episodes >= max(args.episodes // 4, args.smooth)  # the zoomed panel: after most of the learning
    zoom_low, zoom_high = np.inf, -np.inf
    for name, curve in curves.items():
        mean, sd = curve.mean(axis=0), curve.std(axis=0)
        for axis in (ax, ax_zoom):
            axis.plot(episodes, mean, color=COLOURS[name], label=f"{name} ({strategies[name][1]})")
            axis.fill_between(episodes, mean - sd, mean + sd, color=COLOURS[name], alpha=0.2)
        zoom_low = min(zoom_low, (mean - sd)[late].min())
        zoom_high = max(zoom_high, (mean + sd)[late].max())
    low = min(c.mean(axis=0)[args.smooth:].min() for c in curves.values())
    ax.set_ylim(max(low - 20, -1000), None)
    ax.set_xlim(1, args.episodes)
    ax.set_xlabel("training episode (the first episodes lie below the axis)")
    ax.set_ylabel(f"online return ({args.smooth}-episode moving average)")
    ax.set_title(f"{env_id}, Q-learning (alpha={args.alpha}, gamma={args.gamma})\nmean +- 1 sd over {args.seeds} seeds",
                 fontsize=10)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    margin = 0.1 * (zoom_high - zoom_low) + 1e-9
    ax_zoom.set_xlim(episodes[late][0], args.episodes)
    ax_zoom.set_ylim(zoom_low - margin, zoom_high + margin)
    ax_zoom.set_xlabel("training episode")
    ax_zoom.set_ylabel("online return (same smoothing)")
    ax_zoom.set_title(f"zoom: episodes {episodes[late][0]}-{args.episodes}", fontsize=10)
    ax_zoom.grid(alpha=0.3)
    rng = np.random.default_rng(0)  # horizontal jitter only, so points of equal value stay visible
    for i, (name, values) in enumerate(evaluations.items()):
        ax_eval.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, color=COLOURS[name], s=18, alpha=0.8)
        ax_eval.hlines(values.mean(), i - 0.3, i + 0.3, color="black", linewidth=2)
    ax_eval.set_xticks(range(len(evaluations)), [n.replace("-", "-\n") for n in evaluations])
    ax_eval.set_ylabel(f"greedy return (mean of {args.eval_episodes} episodes)")
    ax_eval.set_title("after training: one point per seed,\nbar = mean over seeds", fontsize=10)
    ax_eval.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    name = env_id.split("-")[0].lower()
    save_figure(fig, os.path.join(args.out, f"exploration_{name}.png"))
    print(f"figure written to {args.out}/")


if __name__ == "__main__":
    run_cli(main)
