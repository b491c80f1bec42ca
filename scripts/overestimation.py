"""DQN's vs Double DQN's predicted Q against the discounted return actually obtained, over training.

At every periodic evaluation the greedy policy plays a few episodes on a separate env; for
each visited state s_t we record the network's estimate max_a Q(s_t, a) and the discounted
return G_t = sum_k gamma^k r_{t+k} that followed. Overestimation is mean(Q) - mean(G)
(van Hasselt et al. 2016, "Deep RL with Double Q-learning", fig. 3).

CartPole truncates episodes at 500 steps, so G_t of a truncated episode misses the rewards
after the cut; only states at least 300 steps before a truncation are used (the missing
tail is then at most gamma^300 / (1 - gamma) = 4.9 for gamma = 0.99).

    nice -n 10 python scripts/overestimation.py --seeds 2 --out runs/figures/deep_overestimation.png
"""
from __future__ import annotations

import argparse
import sys

import gymnasium as gym
import numpy as np

from algorithms.loops.training_run import train
from algorithms.presets import load_preset
from algorithms.runs.plots import plt, save_figure
from tinygrad_rl import Tensor, no_grad
from tinygrad_rl.arrays import discounted_returns

TRUNCATION_MARGIN = 300


def q_and_returns(q_net, env, episodes: int, seed: int, gamma: float) -> tuple[float, float]:
    """Mean max_a Q(s, a) and mean discounted return-to-go over the greedy policy's states."""
    q_values, returns = [], []
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode > 0:
            obs, _ = env.reset()
        states, rewards, done = [], [], False
        while not done:
            states.append(obs)
            with no_grad():
                q = q_net(Tensor(np.asarray(obs, dtype=np.float32)[None])).data[0]
            obs, reward, terminated, truncated, _ = env.step(int(np.argmax(q)))
            rewards.append(reward)
            done = terminated or truncated
        g = discounted_returns(np.asarray(rewards), gamma)
        usable = len(rewards) if terminated else max(0, len(rewards) - TRUNCATION_MARGIN)
        if usable:
            with no_grad():
                q_all = q_net(Tensor(np.asarray(states[:usable], dtype=np.float32))).data
            q_values.extend(q_all.max(axis=1))
            returns.extend(g[:usable])
    if not q_values:
        return float("nan"), float("nan")
    return float(np.mean(q_values)), float(np.mean(returns))


def measure(algo: str, env_id: str, seed: int, steps: int, every: int, episodes: int):
    config = load_preset(algo, env_id, {"seed": seed, "total_steps": steps, "eval_every": every})
    env = gym.make(env_id)
    rows = []

    def hook(step, nets):
        q, g = q_and_returns(nets["q_net"], env, episodes, seed=10_000 + seed, gamma=config.gamma)
        rows.append((step, q, g))
        print(f"{algo},{seed},{step},{q:.2f},{g:.2f}", flush=True)
    train(algo, env_id, config, eval_hook=hook)
    env.close()
    return np.array(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, help="env steps per run (default: the preset's)")
    parser.add_argument("--every", type=int, default=2_500, help="env steps between measurements")
    parser.add_argument("--episodes", type=int, default=3, help="greedy episodes per measurement")
    parser.add_argument("--out", default="runs/overestimation/deep_overestimation.png")
    args = parser.parse_args(argv)
    for name in ("seeds", "every", "episodes"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")
    steps = args.steps or load_preset("dqn", args.env).total_steps

    print("algo,seed,env_step,mean_predicted_q,mean_discounted_return", flush=True)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = {"dqn": "tab:red", "double_dqn": "tab:blue"}
    for algo in ("dqn", "double_dqn"):
        runs = [measure(algo, args.env, seed, steps, args.every, args.episodes) for seed in range(args.seeds)]
        for i, rows in enumerate(runs):
            def label(text, first=(i == 0)):
                return text if first else None
            ax.plot(rows[:, 0], rows[:, 1], "-", color=colors[algo], alpha=0.8, label=label(f"{algo}: predicted max Q"))
            ax.plot(rows[:, 0], rows[:, 2], "--", color=colors[algo], alpha=0.8,
                    label=label(f"{algo}: discounted return obtained"))
        gap = np.nanmean(np.concatenate([r[:, 1] - r[:, 2] for r in runs]))
        print(f"# {algo}: mean (predicted Q - obtained return) over all measurements = {gap:.2f}", flush=True)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"value (discounted, gamma = {load_preset('dqn', args.env).gamma})")
    ax.set_title(f"Q overestimation on {args.env}: DQN vs Double DQN ({args.seeds} seed(s) each)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, args.out)
    print(f"# figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
