"""The off-policy loop for Box actions: a deterministic or squashed-Gaussian actor with exploration
noise, twin critics, a replay buffer, an optimiser per loss term (TD3, DDPG, SAC)."""
from __future__ import annotations

import numpy as np

from envs_wrappers.registry import make_plain_env
from tinygrad_rl import nn

from ..buffers import ReplayBuffer, continuous_batch
from ..configs import ContinuousOffPolicyConfig
from ..networks import target_pairs
from ..runs.resume import LoopState
from .off_policy import replay_capacity
from .training_run import TrainingRun

__all__ = ["train_off_policy_continuous"]


def train_off_policy_continuous(run: TrainingRun) -> int:
    """Replay-based actor-critic loop for Box actions (SAC, TD3, DDPG).

    Acting: uniform random actions in the box for the first ``learning_starts`` env steps, then
    ``nets["actor"].explore`` (a deterministic actor adds Gaussian noise, a stochastic one
    samples); the actor works in [-1, 1]^|A| and ``actor.to_env`` maps its actions onto the env's
    bounds. The buffer stores the [-1, 1] actions. Learning: ``gradient_steps`` updates every
    ``train_freq`` env steps after ``learning_starts``, each on a
    :class:`~algorithms.buffers.ContinuousTransitions` batch of ``batch_size`` rows that carries
    fresh standard-normal ``noise`` and ``next_noise`` and ``update_actor``, true on every
    ``policy_delay``-th update: the loss adds its actor terms only then, and after such an update
    every ``X_target`` net is Polyak-averaged towards ``X`` with ``tau`` (TD3's delayed policy and
    target updates; SAC and DDPG have a delay of 1). Each update is one :meth:`TrainingRun.learn` (each
    term applied by its own optimiser).
    A resumed run keeps the buffer and the update count (the delay's phase). Returns env steps taken."""
    c: ContinuousOffPolicyConfig = run.config
    if run.spaces.discrete:
        raise ValueError(f"{run.algo} learns a continuous actor and needs a Box action space; "
                         f"{run.env_id} has Discrete actions (use dqn or double_dqn)")
    actor, action_dim = run.nets["actor"], run.spaces.action_dim
    targets = target_pairs(run.nets)
    env = make_plain_env(run.env_id)
    buffer = run.keep("replay", ReplayBuffer(replay_capacity(c), env.observation_space.shape,
                                             action_shape=(action_dim,), action_dtype=np.float32))
    loop = run.keep("loop", LoopState(step=0, last_loss=None, updates=0))
    obs, _ = env.reset(seed=run.reset_seed)
    episode_return, episode_length, last_loss, step, updates = 0.0, 0, loop.last_loss, loop.step, loop.updates
    try:
        for step in range(loop.step + 1, c.total_steps + 1):
            if step <= c.learning_starts:
                action = run.rng.uniform(-1.0, 1.0, action_dim).astype(np.float32)
            else:
                action = actor.explore(np.asarray(obs, dtype=np.float32)[None], run.rng)[0]
            next_obs, reward, terminated, truncated, _ = env.step(actor.to_env(action))
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            episode_return += float(reward)
            episode_length += 1
            obs = next_obs
            if terminated or truncated:
                run.episode_done(step, episode_return, episode_length, loss=last_loss)
                run.flush_terms(step)
                obs, _ = env.reset()
                episode_return, episode_length = 0.0, 0
            if step > c.learning_starts and step % c.train_freq == 0:
                for _ in range(c.gradient_steps):
                    updates += 1
                    update_actor = updates % c.policy_delay == 0
                    batch = continuous_batch(buffer, c.batch_size, run.rng, update_actor)
                    last_loss = round(run.learn(step, batch)[0], 6)
                    if update_actor:
                        for target, online in targets:
                            nn.polyak_update(run.nets[target], run.nets[online], c.tau)
            run.advance(step, 1)
            loop.step, loop.last_loss, loop.updates = step, last_loss, updates
            run.safe_point(step, episode_boundary=episode_length == 0)
    finally:
        env.close()
    return step

