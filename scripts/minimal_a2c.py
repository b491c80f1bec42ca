"""A2C on CartPole in one file, top to bottom: the tinygrad_rl engine and gymnasium, nothing else.

Mnih et al. (2016), "Asynchronous Methods for Deep RL" (synchronous here: n_envs copies stepped in
turn), with GAE(lambda) advantages (Schulman et al. 2016), in the single-file style of CleanRL:

    L = -mean_t[ log pi(a_t | s_t) A_t ] + value_coef mean_t (V(s_t) - R_t)^2 - entropy_coef mean_t H[pi(. | s_t)]
    A_t = sum_k (gamma lambda)^k delta_{t+k},  R_t = A_t + V(s_t),
    delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)

    python scripts/minimal_a2c.py [--total-steps 60000] [--seed 0]

The full version (presets, Box actions, checkpoints, evaluation) is `tinygrad-rl train a2c CartPole-v1`.
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
    total_steps: int = 60_000
    seed: int = 0
    n_envs: int = 8
    n_steps: int = 16                  # steps per env per update: a batch of n_envs * n_steps
    lr: float = 2e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    hidden: int = 64
    eval_episodes: int = 10


def greedy_return(policy: nn.MLP, env_id: str, episodes: int, seed: int) -> float:
    """Mean undiscounted return of argmax_a pi(a | s) over ``episodes`` episodes of a separate env."""
    env, total = gym.make(env_id), 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with no_grad():
                action = int(policy(Tensor(obs[None].astype(np.float32))).data[0].argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
    env.close()
    return total / episodes


def main(args: Args) -> dict:
    rng = np.random.default_rng(args.seed)
    envs = [gym.make(args.env_id) for _ in range(args.n_envs)]
    n_obs, n_actions = envs[0].observation_space.shape[0], envs[0].action_space.n
    policy = nn.MLP([n_obs, args.hidden, args.hidden, n_actions], activation="tanh", rng=args.seed)
    value = nn.MLP([n_obs, args.hidden, args.hidden, 1], activation="tanh", rng=args.seed + 1)
    optimizer = optim.Adam(policy.parameters() + value.parameters(), lr=args.lr)

    obs = np.stack([env.reset(seed=args.seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    running, returns = np.zeros(args.n_envs), []
    T, N = args.n_steps, args.n_envs
    for update in range(args.total_steps // (T * N)):
        # Collect T steps of every env. next_obs[t] is the real next observation (the final one when
        # the episode ended), so a time-limit cut (truncated) can still bootstrap from V(s').
        obs_t = np.zeros((T, N, n_obs), dtype=np.float32)
        next_obs_t = np.zeros_like(obs_t)
        actions_t = np.zeros((T, N), dtype=np.int64)
        rewards_t, terminated_t, done_t = np.zeros((T, N)), np.zeros((T, N)), np.zeros((T, N))
        for t in range(T):
            with no_grad():
                logits = policy(Tensor(obs)).data
            actions = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)  # a sample of softmax(logits)
            obs_t[t], actions_t[t] = obs, actions
            for i, env in enumerate(envs):
                o, r, terminated, truncated, _ = env.step(int(actions[i]))
                next_obs_t[t, i], rewards_t[t, i] = o, r
                terminated_t[t, i], done_t[t, i] = terminated, terminated or truncated
                running[i] += r
                if terminated or truncated:
                    returns.append(running[i])
                    running[i] = 0.0
                    o, _ = env.reset()
                obs[i] = o

        # GAE(lambda): bootstrap through truncation, never through termination; the sum over
        # future deltas stops at every episode end (done).
        with no_grad():
            v = value(Tensor(obs_t.reshape(T * N, n_obs))).data.reshape(T, N)
            v_next = value(Tensor(next_obs_t.reshape(T * N, n_obs))).data.reshape(T, N)
        deltas = rewards_t + args.gamma * (1.0 - terminated_t) * v_next - v
        advantages = np.zeros((T, N))
        running_adv = np.zeros(N)
        for t in reversed(range(T)):
            running_adv = deltas[t] + args.gamma * args.gae_lambda * (1.0 - done_t[t]) * running_adv
            advantages[t] = running_adv
        targets = advantages + v  # R_t: the value target

        # One gradient step on the whole batch. Advantages and targets are constants (no gradient).
        flat_obs = Tensor(obs_t.reshape(T * N, n_obs))
        logits = policy(flat_obs)
        log_prob = F.categorical_log_prob(logits, actions_t.reshape(-1))
        policy_loss = -(log_prob * advantages.reshape(-1).astype(np.float32)).mean()
        value_loss = F.mse_loss(value(flat_obs).reshape(-1), targets.reshape(-1).astype(np.float32))
        entropy = F.categorical_entropy(logits).mean()
        loss = policy_loss + args.value_coef * value_loss - args.entropy_coef * entropy
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % 100 == 0 and returns:
            print(f"step {(update + 1) * T * N:6d}  entropy {entropy.item():.3f}  mean return of the last 20 "
                  f"episodes {np.mean(returns[-20:]):6.1f}", flush=True)
    for env in envs:
        env.close()
    final = greedy_return(policy, args.env_id, args.eval_episodes, seed=10_000 + args.seed)
    print(f"greedy policy after {args.total_steps} steps: mean return {final:.1f} over {args.eval_episodes} episodes")
    return {"greedy_return": final, "episode_returns": returns}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    main(Args(**vars(parser.parse_args())))
