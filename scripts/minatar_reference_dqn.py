"""MinAtar's reference DQN (``examples/dqn.py`` of kenjyoung/MinAtar, Young & Tian 2019), ported to PyTorch
on this project's envs: the anchor our own DQN on MinAtar is compared with. For comparison only: nothing
in the library or the tests imports this file, and PyTorch is not a dependency
(``pip install torch==2.13.0``, the CPU build).

The reference's settings, unchanged:

- network: Conv2d(C, 16, 3, stride 1) -> ReLU -> Linear(16*8*8, 128) -> ReLU -> Linear(128, actions),
  PyTorch's default initialisation; input (N, C, 10, 10) float frames;
- centered RMSprop, lr 0.00025, alpha (squared-gradient momentum) 0.95, eps 0.01;
- replay buffer of 100,000 transitions, batch 32 sampled uniformly without replacement, one update
  per env step once more than 5,000 frames have been seen; uniform random actions before that;
- epsilon annealed linearly from 1.0 to 0.1 over the 100,000 frames after the 5,000 replay start;
- target network copied every 1,000 updates; gamma 0.99;
- loss: Huber (``smooth_l1_loss``, beta 1, mean over the batch) between Q(s, a) and
  r + gamma (1 - terminal) max_a' Q_target(s', a'); no bootstrapping from a terminal state.

What differs, and why: the env comes from ``envs_wrappers`` (``MinAtar/<Game>-v1`` = the minimal action
set, as our agents use; ``-v0`` = all six actions, as the reference's ``Environment`` has), with MinAtar's
sticky actions (0.1) and difficulty ramping as in the reference; the replay buffer is a NumPy ring of
uint8 frames (the reference keeps a list of tensors: same samples, less memory); randomness comes from
one seed (PyTorch's generator for the network, NumPy Generators for actions, sampling and the envs).
The reference trains for 5,000,000 frames; ``--steps`` sets the budget. A final evaluation plays
``--eval-episodes`` greedy episodes on a separate env (reset with the eval seed once, then unseeded).

Writes ``episodes.csv`` (episode, env_step, return, length; appended as episodes end) and
``summary.json`` (evaluation returns and their mean, wall time, env steps per second) under ``--out``.

    python scripts/minatar_reference_dqn.py --env MinAtar/Breakout-v1 --steps 1000000 --seed 100
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from envs_wrappers.registry import make_plain_env

BATCH_SIZE = 32
REPLAY_BUFFER_SIZE = 100_000
TARGET_NETWORK_UPDATE_FREQ = 1_000
FIRST_N_FRAMES = 100_000
REPLAY_START_SIZE = 5_000
END_EPSILON = 0.1
START_EPSILON = 1.0
STEP_SIZE = 0.00025
SQUARED_GRAD_MOMENTUM = 0.95
MIN_SQUARED_GRAD = 0.01
GAMMA = 0.99


class QNetwork(nn.Module):
    """One 3x3 conv with 16 filters, one hidden layer of 128 rectified units, one output per action."""

    def __init__(self, in_channels: int, num_actions: int, size: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 16, kernel_size=3, stride=1)
        self.fc_hidden = nn.Linear(16 * (size - 2) * (size - 2), 128)
        self.output = nn.Linear(128, num_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = F.relu(self.fc_hidden(x.flatten(1)))
        return self.output(x)


class ReplayBuffer:
    """The last ``capacity`` transitions in a ring; frames stored as uint8 (they are 0/1)."""

    def __init__(self, capacity: int, frame_shape: tuple):
        self.states = np.zeros((capacity, *frame_shape), np.uint8)
        self.next_states = np.zeros((capacity, *frame_shape), np.uint8)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminals = np.zeros(capacity, np.float32)
        self.capacity, self.location, self.size = capacity, 0, 0

    def add(self, state, next_state, action, reward, terminal):
        i = self.location
        self.states[i], self.next_states[i] = state, next_state
        self.actions[i], self.rewards[i], self.terminals[i] = action, reward, terminal
        self.location = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator):
        idx = rng.choice(self.size, size=batch_size, replace=False)
        return (torch.from_numpy(self.states[idx].astype(np.float32)),
                torch.from_numpy(self.next_states[idx].astype(np.float32)),
                torch.from_numpy(self.actions[idx]), torch.from_numpy(self.rewards[idx]),
                torch.from_numpy(self.terminals[idx]))


def epsilon_at(t: int) -> float:
    """1.0 -> 0.1 linearly over the FIRST_N_FRAMES frames after REPLAY_START_SIZE, then 0.1."""
    if t - REPLAY_START_SIZE >= FIRST_N_FRAMES:
        return END_EPSILON
    return (END_EPSILON - START_EPSILON) / FIRST_N_FRAMES * (t - REPLAY_START_SIZE) + START_EPSILON


def train_step(batch, policy_net, target_net, optimizer) -> float:
    states, next_states, actions, rewards, terminals = batch
    q_sa = policy_net(states).gather(1, actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        q_next = target_net(next_states).max(1).values * (1.0 - terminals)
    loss = F.smooth_l1_loss(rewards + GAMMA * q_next, q_sa)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def greedy_action(net: nn.Module, obs: np.ndarray) -> int:
    with torch.no_grad():
        return int(net(torch.from_numpy(obs).unsqueeze(0)).argmax(1))


def evaluate(env, net, episodes: int, seed: int, max_steps: int) -> list[float]:
    """Undiscounted returns of greedy episodes (reset with ``seed`` once, then unseeded); an episode
    still running after ``max_steps`` steps is cut there (MinAtar games have no time limit)."""
    returns = []
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode > 0:
            obs, _ = env.reset()
        total, steps, done = 0.0, 0, False
        while not done and steps < max_steps:
            obs, reward, terminated, truncated, _ = env.step(greedy_action(net, obs))
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns.append(total)
    return returns


def run(env_id: str, steps: int, seed: int, out: Path, eval_episodes: int, eval_max_steps: int) -> dict:
    net_seed, env_seed, eval_seed, agent_seed = np.random.SeedSequence(seed).generate_state(4)
    torch.manual_seed(int(net_seed))
    rng = np.random.default_rng(int(agent_seed))
    env, eval_env = make_plain_env(env_id), make_plain_env(env_id)
    in_channels, num_actions = env.observation_space.shape[0], int(env.action_space.n)
    policy_net = QNetwork(in_channels, num_actions)
    target_net = QNetwork(in_channels, num_actions)
    target_net.load_state_dict(policy_net.state_dict())
    optimizer = torch.optim.RMSprop(policy_net.parameters(), lr=STEP_SIZE, alpha=SQUARED_GRAD_MOMENTUM,
                                    centered=True, eps=MIN_SQUARED_GRAD)
    buffer = ReplayBuffer(REPLAY_BUFFER_SIZE, env.observation_space.shape)

    out.mkdir(parents=True, exist_ok=True)
    updates, episode, t = 0, 0, 0
    start = time.perf_counter()
    learning_start_time = None
    obs, _ = env.reset(seed=int(env_seed))
    episode_return, episode_length = 0.0, 0
    with open(out / "episodes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "env_step", "return", "length"])
        while t < steps:
            if t < REPLAY_START_SIZE or rng.random() < epsilon_at(t):
                action = int(rng.integers(num_actions))
            else:
                action = greedy_action(policy_net, obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, next_obs, action, reward, terminated)
            if t > REPLAY_START_SIZE and buffer.size >= BATCH_SIZE:
                if learning_start_time is None:
                    learning_start_time = time.perf_counter()
                train_step(buffer.sample(BATCH_SIZE, rng), policy_net, target_net, optimizer)
                updates += 1
                if updates % TARGET_NETWORK_UPDATE_FREQ == 0:
                    target_net.load_state_dict(policy_net.state_dict())
            episode_return += float(reward)
            episode_length += 1
            t += 1
            obs = next_obs
            if terminated or truncated:
                episode += 1
                writer.writerow([episode, t, episode_return, episode_length])
                f.flush()
                obs, _ = env.reset()
                episode_return, episode_length = 0.0, 0
    end = time.perf_counter()
    train_seconds = end - start
    learning_seconds = 0.0 if learning_start_time is None else end - learning_start_time
    returns = evaluate(eval_env, policy_net, eval_episodes, int(eval_seed), eval_max_steps)
    summary = {
        "env_id": env_id, "seed": seed, "env_steps": t, "updates": updates, "episodes": episode,
        "eval_episodes": eval_episodes, "eval_returns": returns, "eval_mean_return": float(np.mean(returns)),
        "train_seconds": train_seconds, "env_steps_per_second": t / train_seconds,
        "learning_env_steps_per_second": (updates / learning_seconds) if learning_seconds > 0 else None,
        "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
    }
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "summary.json")
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MinAtar/Breakout-v1", help="a MinAtar id (default MinAtar/Breakout-v1)")
    parser.add_argument("--steps", type=int, default=5_000_000, help="env steps (frames) to train for")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/minatar_reference_dqn/<game>_seed<seed>)")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--eval-max-steps", type=int, default=100_000, help="cap on one evaluation episode")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_episodes < 1 or args.eval_max_steps < 1 or args.threads < 1:
        parser.error("--steps, --eval-episodes, --eval-max-steps and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    out = args.out or Path("runs/minatar_reference_dqn") / f"{args.env.split('/')[-1]}_seed{args.seed}"
    summary = run(args.env, args.steps, args.seed, out, args.eval_episodes, args.eval_max_steps)
    learning = summary["learning_env_steps_per_second"]
    print(f"{args.env} seed {args.seed}: {summary['env_steps']} env steps in {summary['train_seconds']:.1f} s "
          f"({summary['env_steps_per_second']:.0f} env steps/s overall, "
          f"{'n/a' if learning is None else f'{learning:.0f}'} env steps/s while learning), "
          f"{summary['episodes']} episodes; greedy evaluation over {args.eval_episodes} episodes: "
          f"mean return {summary['eval_mean_return']:.2f}; written to {out}")


if __name__ == "__main__":
    main()
