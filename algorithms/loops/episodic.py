"""The episodic loop: whole episodes sampled from the current policy, Monte Carlo returns, one update per
``episodes_per_update`` episodes (REINFORCE)."""
from __future__ import annotations

import numpy as np

from envs_wrappers.registry import make_plain_env
from tinygrad_rl import Tensor, no_grad
from tinygrad_rl.arrays import discounted_returns

from ..buffers import Episodes
from ..configs import EpisodicConfig
from ..runs.resume import LoopState
from .training_run import TrainingRun

__all__ = ["train_episodic"]


def train_episodic(run: TrainingRun) -> int:
    """Monte Carlo loop: ``episodes_per_update`` whole episodes (fewer if the step budget ends),
    discounted returns G_t, one update on an :class:`~algorithms.buffers.Episodes` batch.

    A time-limit truncation bootstraps the return with V(final obs) when a value network is
    learned (the episode had a future); a termination ends the sum.
    """
    c: EpisodicConfig = run.config
    ac = run.nets["actor_critic"]
    env = make_plain_env(run.env_id)
    loop = run.keep("loop", LoopState(step=0, last_loss=None))
    obs, _ = env.reset(seed=run.reset_seed)
    step, last_loss = loop.step, loop.last_loss
    try:
        while step < c.total_steps:
            obs_list, actions, returns, lengths, totals = [], [], [], [], []
            for _ in range(c.episodes_per_update):
                if lengths and step + sum(lengths) >= c.total_steps:
                    break
                ep_obs, ep_actions, ep_rewards = [], [], []
                done = truncated = terminated = False
                while not done:
                    x = run.observe(np.asarray(obs)[None])
                    action = ac.act(x, run.rng)[0]
                    next_obs, reward, terminated, truncated, _ = env.step(ac.dist.to_env(action))
                    ep_obs.append(x[0])
                    ep_actions.append(action)
                    ep_rewards.append(reward)
                    obs, done = next_obs, terminated or truncated
                bootstrap = 0.0
                if truncated and not terminated and c.baseline == "learned":
                    with no_grad():
                        bootstrap = float(ac(Tensor(run.observe(np.asarray(obs)[None], update=False)))[1].data[0])
                obs_list.extend(ep_obs)
                actions.extend(ep_actions)
                returns.append(discounted_returns(np.asarray(ep_rewards), c.gamma, bootstrap=bootstrap))
                lengths.append(len(ep_rewards))
                totals.append(float(np.sum(ep_rewards)))
                obs, _ = env.reset()
            batch = Episodes(np.asarray(obs_list, dtype=np.float32), np.asarray(actions), np.concatenate(returns))
            step += len(batch)
            last_loss = round(run.learn(step, batch)[0], 6)
            for ret, length in zip(totals, lengths):
                run.episode_done(step, ret, length, loss=last_loss)
            run.batch_done(step, len(batch), loop, last_loss)
    finally:
        env.close()
    return step

