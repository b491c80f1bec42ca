"""Watch a tabular optimal policy play: value iteration on a toy-text env's model, then episodes to a GIF.

The deep runs are recorded with ``tinygrad-rl eval RUN --record FILE``; the toy-text envs have no
deep preset, so this script solves them exactly (``algorithms.tabular.value_iteration`` on
``envs_wrappers.tabular_model``) and records the greedy policy with the same recorder.

    python scripts/record_tabular_policy.py FrozenLake-v1 --episodes 3 --fps 6 \
        --out runs/figures/frozenlake_value_iteration.gif
    python scripts/record_tabular_policy.py Taxi-v3 --out runs/taxi.gif
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from algorithms.runs.record import record_episodes
from algorithms.tabular import value_iteration
from envs_wrappers import make_env, tabular_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", help="a toy-text env: FrozenLake-v1, FrozenLake8x8-v1, Taxi-v3, CliffWalking-v1")
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="env seed of the first episode")
    parser.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps)")
    parser.add_argument("--max-width", type=int, default=320)
    parser.add_argument("--out", default="runs/tabular_policy.gif", help=".gif or .mp4")
    args = parser.parse_args(argv)
    P, R, terminal = tabular_model(make_env(args.env))
    policy = value_iteration(P, R, args.gamma, terminal=terminal).policy
    recording = record_episodes(args.env, lambda state: int(policy[int(state)]), args.out, episodes=args.episodes,
                                seed=args.seed, fps=args.fps, max_width=args.max_width,
                                label="value iteration")
    print(f"{args.env}: {args.episodes} episode(s), returns {np.round(recording.returns, 2).tolist()}, "
          f"lengths {recording.lengths.tolist()}, {recording.frames} frames at {recording.fps:g} fps "
          f"-> {recording.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
