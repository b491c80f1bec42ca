"""For ``tinygrad-rl gradcheck`` and ``graph`` only: a small real batch of each loop's kind, collected from
the env with the algorithm's networks (training never calls these).

Each loop registers one of these as its ``sample_batch`` hook (see :class:`~algorithms.registry.Loop`);
``tinygrad-rl gradcheck`` and ``tinygrad-rl graph`` feed the result to the algorithm's loss, so the
loss is checked and drawn on exactly the kind of data training gives it: a user's algorithm on a
built-in loop gets both commands for free.

    sample_batch(env_id, nets, config, size, seed) -> batch of ``size`` rows

Acting follows the loop: the off-policy loops' first ``learning_starts`` steps are uniformly random
(so is this batch, sampled from a replay buffer); the on-policy and episodic loops sample actions
from the current policy (observations normalised when the run normalises them).
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from envs_wrappers.registry import make_plain_env, make_plain_vec_env
from tinygrad_rl import Tensor, no_grad
from tinygrad_rl.arrays import discounted_returns

from ..buffers import ContinuousTransitions, Episodes, ReplayBuffer, Rollout, Transitions, continuous_batch
from ..configs import ModelBasedConfig
from ..model_based.pets import ModelBatch, TransitionData
from ..networks import EnvSpaces, observe
from .env_runner import VectorEnvRunner
from .model_based import bootstrap_rows, fit_normalizer
from .off_policy import replay_buffer
from .on_policy import on_policy_rollout

__all__ = ["off_policy_batch", "off_policy_continuous_batch", "on_policy_batch", "episodic_batch", "model_based_batch"]


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"batch size must be a positive int, got {size!r}")


def _random_replay(env: gym.Env, buffer: ReplayBuffer, seed: int, random_action, to_env) -> ReplayBuffer:
    """Fill ``buffer`` with uniformly random acting (the replay loops before ``learning_starts``):
    ``random_action()`` is stored, ``to_env(action)`` is what the env receives."""
    obs, _ = env.reset(seed=seed)
    for _ in range(buffer.capacity):
        action = random_action()
        next_obs, reward, terminated, truncated, _ = env.step(to_env(action))
        buffer.add(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    return buffer


def off_policy_batch(env_id: str, nets: dict, config, size: int, seed: int) -> Transitions:
    """``size`` transitions sampled from the off-policy loop's kind of replay buffer (n-step,
    prioritized as ``config`` says) after ``max(4 size, 256)`` steps of uniformly random acting (the
    loop before ``learning_starts``), episodes included whole, with their terminated and truncated
    flags, discounts, and (prioritized) importance weights at ``priority_beta_start``."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    env = make_plain_env(env_id)
    try:
        env.action_space.seed(seed)
        buffer = replay_buffer(config, env.observation_space.shape, capacity=max(4 * size, 256))
        _random_replay(env, buffer, seed, env.action_space.sample, lambda action: action)
    finally:
        env.close()
    return buffer.sample(size, rng, beta=config.priority_beta_start)


def off_policy_continuous_batch(env_id: str, nets: dict, config, size: int, seed: int) -> ContinuousTransitions:
    """The same for Box actions: actions uniform in the actor's [-1, 1]^|A| (mapped onto the env's
    bounds by ``nets["actor"].to_env``), a batch with its standard-normal ``noise`` and
    ``next_noise`` and ``update_actor`` true, so every term of the loss is there."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    env = make_plain_env(env_id)
    try:
        action_dim = env.action_space.shape[0]
        buffer = ReplayBuffer(max(4 * size, 256), env.observation_space.shape, action_shape=(action_dim,),
                              action_dtype=np.float32)
        _random_replay(env, buffer, seed, lambda: rng.uniform(-1.0, 1.0, action_dim).astype(np.float32),
                       nets["actor"].to_env)
    finally:
        env.close()
    return continuous_batch(buffer, size, rng)


def on_policy_batch(env_id: str, nets: dict, config, size: int, seed: int) -> Rollout:
    """``size`` rows of a rollout of ``config.n_envs`` sub-envs acting with the policy, with the
    collecting policy's log-probs and values and GAE(lambda) advantages, as the on-policy loop
    builds them (rows shuffled with ``seed``, like a minibatch)."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    ac = nets["actor_critic"]
    envs = make_plain_vec_env(env_id, config.n_envs)
    try:
        runner = VectorEnvRunner(envs, seed=seed)
        columns = {key: [] for key in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated", "valid")}
        # A few spare steps: autoreset rows are dropped.
        for _ in range(math.ceil(size / config.n_envs) + 4):
            obs = observe(nets, runner.obs)
            actions = ac.act(obs, rng)
            s = runner.step(ac.dist.to_env(actions))
            for key, value in (("obs", obs), ("next_obs", observe(nets, s.next_obs, update=False)),
                               ("actions", actions), ("rewards", s.rewards), ("terminated", s.terminated),
                               ("truncated", s.truncated), ("valid", s.valid)):
                columns[key].append(value)
    finally:
        envs.close()
    rollout = on_policy_rollout({k: np.stack(v) for k, v in columns.items()}, ac, config.gamma, config.gae_lambda)
    return rollout[rng.permutation(len(rollout))[:size]]


def episodic_batch(env_id: str, nets: dict, config, size: int, seed: int) -> Episodes:
    """Whole episodes played with the policy until at least ``size`` steps, their discounted
    returns G_t (a time-limit cut bootstrapped with V(final obs) under a learned baseline, as the
    episodic loop does), then the first ``size`` rows."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    ac = nets["actor_critic"]
    env = make_plain_env(env_id)
    obs_rows, actions, returns = [], [], []
    try:
        obs, _ = env.reset(seed=seed)
        while len(obs_rows) < size:
            ep_obs, ep_actions, ep_rewards = [], [], []
            terminated = truncated = False
            while not (terminated or truncated):
                x = observe(nets, np.asarray(obs)[None])
                action = ac.act(x, rng)[0]
                obs, reward, terminated, truncated, _ = env.step(ac.dist.to_env(action))
                ep_obs.append(x[0])
                ep_actions.append(action)
                ep_rewards.append(reward)
            bootstrap = 0.0
            if truncated and not terminated and getattr(config, "baseline", "none") == "learned":
                with no_grad():
                    bootstrap = float(ac(Tensor(observe(nets, np.asarray(obs)[None], update=False)))[1].data[0])
            obs_rows.extend(ep_obs)
            actions.extend(ep_actions)
            returns.append(discounted_returns(np.asarray(ep_rewards), config.gamma, bootstrap=bootstrap))
            obs, _ = env.reset()
    finally:
        env.close()
    return Episodes(np.asarray(obs_rows[:size], dtype=np.float32), np.asarray(actions[:size]),
                    np.concatenate(returns)[:size])


def model_based_batch(env_id: str, nets: dict, config: ModelBasedConfig, size: int, seed: int) -> ModelBatch:
    """``size`` rows per member, as a model fit after the loop's random phase sees them: 200 steps
    (or ``size``, if more) of uniformly random acting, the input normaliser fitted to them, each
    member's rows drawn from its own bootstrap sample."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    env = make_plain_env(env_id)
    try:
        spaces = EnvSpaces.of(env)
        data = TransitionData(spaces.obs_dim, spaces.action_dim)
        obs, _ = env.reset(seed=seed)
        for _ in range(max(200, size)):
            action = rng.uniform(spaces.action_low, spaces.action_high).astype(np.float32)
            next_obs, _, terminated, truncated, _ = env.step(action)
            data.add(obs, action, next_obs)
            obs = env.reset()[0] if terminated or truncated else next_obs
    finally:
        env.close()
    fit_normalizer(nets["input_normalizer"], data.inputs())
    return data.batch(bootstrap_rows(rng, len(data), nets["dynamics"].n_members)[:, :size], nets["input_normalizer"])

