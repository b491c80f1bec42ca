"""DQN on CartPole in one file, top to bottom: the tinygrad_rl engine and gymnasium, nothing else.

Mnih et al. (2015), "Human-level control through deep reinforcement learning", Algorithm 1, in the
single-file style of CleanRL: hyperparameters in one dataclass, then the loop that acts, stores,
samples and takes one gradient step on

    L(theta) = mean_i huber( Q_theta(s_i, a_i) - y_i ),   y_i = r_i + gamma (1 - terminated_i) max_a' Q_target(s'_i, a')

    python scripts/minimal_dqn.py [--total-steps 20000] [--seed 0]

The full version (presets, checkpoints, evaluation, any env) is `tinygrad-rl train dqn CartPole-v1`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, nn, no_grad, optim


@dataclass
class Args:
    env_id: str = "CartPole-v1"
    total_steps: int = 20_000
    seed: int = 0
    lr: float = 1e-3
    gamma: float = 0.99
    hidden: int = 64
    buffer_size: int = 20_000
    batch_size: int = 64
    learning_starts: int = 1_000       # random actions until then
    train_freq: int = 1                # env steps per gradient step
    target_update_interval: int = 250  # env steps between copies of Q into Q_target
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.25  # share of total_steps over which epsilon decays
    eval_episodes: int = 10


def greedy_return(q_net: nn.MLP, env_id: str, episodes: int, seed: int) -> float:
    """Mean undiscounted return of argmax_a Q(s, a) over ``episodes`` episodes of a separate env."""
    env, total = gym.make(env_id), 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with no_grad():
                action = int(q_net(Tensor(obs[None].astype(np.float32))).data[0].argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
    env.close()
    return total / episodes


def main(args: Args) -> dict:
    rng = np.random.default_rng(args.seed)
    env = gym.make(args.env_id)
    n_obs, n_actions = env.observation_space.shape[0], env.action_space.n
    q_net = nn.MLP([n_obs, args.hidden, args.hidden, n_actions], rng=args.seed)
    q_target = nn.MLP([n_obs, args.hidden, args.hidden, n_actions], rng=args.seed)
    nn.copy_params(q_target, q_net)
    optimizer = optim.Adam(q_net.parameters(), lr=args.lr)

    # The replay buffer: one preallocated array per field. terminated and truncated are kept apart:
    # a time-limit cut (truncated) still has a future, so its target bootstraps; a termination does not.
    obs_buf = np.zeros((args.buffer_size, n_obs), dtype=np.float32)
    next_obs_buf = np.zeros_like(obs_buf)
    actions_buf = np.zeros(args.buffer_size, dtype=np.int64)
    rewards_buf = np.zeros(args.buffer_size, dtype=np.float32)
    terminated_buf = np.zeros(args.buffer_size, dtype=np.float32)
    size = 0

    obs, _ = env.reset(seed=args.seed)
    episode_return, returns = 0.0, []
    decay_steps = args.exploration_fraction * args.total_steps
    for step in range(args.total_steps):
        # Act: epsilon-greedy on Q, with epsilon decaying linearly.
        decayed = args.epsilon_start - (args.epsilon_start - args.epsilon_end) * step / decay_steps
        epsilon = max(args.epsilon_end, decayed)
        if step < args.learning_starts or rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with no_grad():  # acting records no graph
                action = int(q_net(Tensor(obs[None].astype(np.float32))).data[0].argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)

        # Store (s, a, r, s', terminated): s' is the real next observation, even at an episode's end.
        i = step % args.buffer_size
        obs_buf[i], next_obs_buf[i], actions_buf[i] = obs, next_obs, action
        rewards_buf[i], terminated_buf[i] = reward, terminated
        size = min(size + 1, args.buffer_size)
        episode_return += reward
        obs = next_obs
        if terminated or truncated:
            returns.append(episode_return)
            obs, _ = env.reset()
            episode_return = 0.0

        # Learn: one gradient step on a uniformly sampled batch.
        if step >= args.learning_starts and step % args.train_freq == 0:
            idx = rng.integers(0, size, args.batch_size)
            with no_grad():  # the target is a constant: no gradient flows into Q_target
                next_q = q_target(Tensor(next_obs_buf[idx])).data.max(axis=1)
            y = rewards_buf[idx] + args.gamma * (1.0 - terminated_buf[idx]) * next_q
            q_taken = q_net(Tensor(obs_buf[idx]))[np.arange(args.batch_size), actions_buf[idx]]
            loss = F.huber_loss(q_taken, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step % args.target_update_interval == 0:
            nn.copy_params(q_target, q_net)
        if step % 5_000 == 0 and returns:
            print(f"step {step:6d}  epsilon {epsilon:.2f}  mean return of the last 20 episodes "
                  f"{np.mean(returns[-20:]):6.1f}", flush=True)
    env.close()
    final = greedy_return(q_net, args.env_id, args.eval_episodes, seed=10_000 + args.seed)
    print(f"greedy policy after {args.total_steps} steps: mean return {final:.1f} over {args.eval_episodes} episodes")
    return {"greedy_return": final, "episode_returns": returns}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    main(Args(**vars(parser.parse_args())))
