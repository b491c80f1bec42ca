"""The planner alone: CEM model-predictive control on Pendulum-v1 with the *exact* dynamics.

PETS's return depends on two things, the learned model and the planner searching it. This script
takes the model out: the ensemble is replaced by Pendulum's own equations (every "member" predicts
the exact next state), and the same CEM planner and trajectory-sampling code run from --episodes
random initial states, for each horizon given. What it measures is the planner's ceiling: a
learned model can only do as well as the planner would with the truth.

    nice -n 10 python scripts/cem_exact_pendulum.py --horizons 15 20 25 30 --episodes 20

Prints, per horizon, the mean and std of the returns, the worst episode, and the planning time per step.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from tabular_plots import OneLineParser, positive_int, run_cli

from algorithms.model_based.cem_planner import CEMPlanner, PlanningActor
from algorithms.model_based.known_rewards import known_reward, pendulum_state_change
from tinygrad_rl import Tensor


class ExactPendulumModel:
    """Pendulum-v1's step as an "ensemble" of identical members: the exact state change
    (:func:`algorithms.model_based.known_rewards.pendulum_state_change`) on unnormalised inputs, and a log-variance
    of -40 (no noise worth the name)."""

    def __init__(self, n_members: int = 1):
        self.n_members = n_members
        self.weights = [Tensor(np.zeros(1))]          # the dtype the planner computes in (float64)

    def predict(self, x: np.ndarray):
        delta = pendulum_state_change(x)
        return delta, np.full(delta.shape, -40.0)


class Unnormalised:
    def normalize(self, x):
        return x


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", type=positive_int, nargs="+", default=[15, 20, 25, 30])
    parser.add_argument("--population", type=positive_int, default=200)
    parser.add_argument("--elites", type=positive_int, default=20)
    parser.add_argument("--iterations", type=positive_int, default=3)
    parser.add_argument("--episodes", type=positive_int, default=20, help="initial states (env seeds 1000, 1001, ...)")
    args = parser.parse_args()
    if args.elites > args.population:
        parser.error(f"--elites ({args.elites}) must not exceed --population ({args.population})")
    env = gym.make("Pendulum-v1")
    print(f"CEM on Pendulum-v1 with the exact dynamics: population {args.population}, elites {args.elites}, "
          f"{args.iterations} iterations, {args.episodes} episodes from env seeds 1000-{999 + args.episodes}")
    print("| horizon | mean return | std | worst episode | planning ms per step |")
    print("|---|---|---|---|---|")
    for horizon in args.horizons:
        planner = CEMPlanner(known_reward("Pendulum-v1"), [-2.0], [2.0], horizon=horizon,
                             population=args.population, elites=args.elites, iterations=args.iterations,
                             alpha=0.1, particles=1)
        returns, seconds, steps = [], 0.0, 0
        for episode in range(args.episodes):
            actor = PlanningActor(planner, ExactPendulumModel(), Unnormalised(), seed=episode)
            obs, _ = env.reset(seed=1000 + episode)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(actor(obs))
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
            seconds, steps = seconds + actor.seconds, steps + actor.calls
        returns = np.array(returns)
        print(f"| {horizon} | {returns.mean():.1f} | {returns.std():.1f} | {returns.min():.1f} | "
              f"{1000 * seconds / steps:.1f} |", flush=True)


if __name__ == "__main__":
    run_cli(main)
