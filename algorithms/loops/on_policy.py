"""The on-policy loop: rollouts from parallel envs with their old log-probabilities and values, GAE
advantages, then ``n_epochs`` x ``n_minibatches`` updates (A2C is 1 x 1, PPO more)."""
from __future__ import annotations

import math

import numpy as np

from envs_wrappers.registry import make_plain_vec_env
from tinygrad_rl import Tensor, no_grad
from tinygrad_rl.arrays import gae

from ..buffers import Rollout
from ..configs import OnPolicyConfig
from ..networks import RunningMeanStd
from ..runs.resume import LoopState
from .env_runner import VectorEnvRunner
from .training_run import TrainingRun

__all__ = ["train_on_policy", "on_policy_rollout"]


class _RewardScaler:
    """r_t / std(R_t), R_t the running discounted return of each sub-env (the reward scaling of
    Engstrom et al. 2020, "Implementation Matters in Deep Policy Gradients", sec. 3)."""

    def __init__(self, n_envs: int, gamma: float):
        self.stats, self.gamma = RunningMeanStd(()), gamma
        self.discounted = np.zeros(n_envs)

    # The statistics are kept across a resume; the running returns belong to the episodes in
    # progress, which a resumed run starts afresh (so they restart from 0).
    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)

    def __call__(self, rewards: np.ndarray, valid: np.ndarray, ended: np.ndarray) -> np.ndarray:
        self.discounted = np.where(valid, self.discounted * self.gamma + rewards, self.discounted)
        self.stats.update(self.discounted[valid])
        self.discounted[ended] = 0.0
        return rewards / np.sqrt(self.stats.var + self.stats.eps)


def train_on_policy(run: TrainingRun) -> int:
    """Rollout-based loop: ``n_envs`` sub-envs x ``n_steps`` per rollout, GAE(lambda) advantages,
    then ``n_epochs`` passes over the rollout in ``n_minibatches`` shuffled minibatches, one update
    each (A2C: 1 x 1; PPO: more). The loss gets a :class:`~algorithms.buffers.Rollout` (minibatch)
    with the collecting policy's log-probs and values. A loss that returns an ``approx_kl`` term
    ends the rollout's epochs once it exceeds ``target_kl`` (when > 0)."""
    c: OnPolicyConfig = run.config
    ac = run.nets["actor_critic"]
    envs = make_plain_vec_env(run.env_id, c.n_envs)
    runner = VectorEnvRunner(envs, seed=run.reset_seed)
    scale_rewards = run.keep("reward_scaler", _RewardScaler(c.n_envs, c.gamma)) if c.normalize_rewards else None
    loop = run.keep("loop", LoopState(step=0, last_loss=None))
    step, last_loss = loop.step, loop.last_loss
    try:
        while step < c.total_steps:
            # The last rollout is shortened, and its last vector step counts only the sub-envs the step
            # budget still allows, so the run ends at exactly total_steps env steps.
            n_steps = min(c.n_steps, math.ceil((c.total_steps - step) / c.n_envs))
            columns = {key: [] for key in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated",
                                           "valid")}
            budget = c.total_steps - step
            for _ in range(n_steps):
                if budget <= 0:
                    break
                obs = run.observe(runner.obs)
                actions = ac.act(obs, run.rng)
                live = ~runner.needs_reset
                counted = None if live.sum() <= budget else np.cumsum(live) <= budget
                s = runner.step(ac.dist.to_env(actions), counted)
                budget -= int(s.valid.sum())
                rewards = s.rewards
                if scale_rewards is not None:
                    rewards = scale_rewards(rewards, s.valid, (s.terminated | s.truncated) & s.valid)
                for key, value in (("obs", obs), ("next_obs", run.observe(s.next_obs, update=False)),
                                   ("actions", actions), ("rewards", rewards), ("terminated", s.terminated),
                                   ("truncated", s.truncated), ("valid", s.valid)):
                    columns[key].append(value)
            rollout = on_policy_rollout({k: np.stack(v) for k, v in columns.items()}, ac, c.gamma, c.gae_lambda)
            step += len(rollout)
            last_loss = _update_epochs(run, rollout, step)
            for ret, length in runner.finished:
                run.episode_done(step, ret, length, loss=last_loss, entropy=run.last_entropy)
            runner.finished.clear()
            run.batch_done(step, len(rollout), loop, last_loss)
    finally:
        envs.close()
    return step


def _update_epochs(run: TrainingRun, rollout: Rollout, step: int) -> float | None:
    c: OnPolicyConfig = run.config
    last_loss = None
    # A short rollout (the last one of a run, or one of only autoreset rows) has fewer rows than
    # n_minibatches: never split it into empty minibatches.
    n_minibatches = min(c.n_minibatches, len(rollout))
    for _ in range(c.n_epochs if n_minibatches else 0):
        order = run.rng.permutation(len(rollout)) if n_minibatches > 1 else np.arange(len(rollout))
        for rows in np.array_split(order, n_minibatches):
            loss_value, terms = run.learn(step, rollout[rows])
            last_loss = round(loss_value, 6)
            run.last_entropy = round(float(terms["entropy"].data), 4) if "entropy" in terms else None
            if c.target_kl > 0 and "approx_kl" in terms and float(terms["approx_kl"].data) > c.target_kl:
                return last_loss
    return last_loss


def on_policy_rollout(r: dict, ac, gamma: float, lam: float) -> Rollout:
    """GAE over stacked (T, N) vector steps; keep only the valid rows (not autoreset, and counted
    within the run's step budget).

    An autoreset row is given reward 0 and marked terminal so its (discarded) advantage
    stays finite; the row before it already ends its episode, so nothing leaks across.
    The collecting policy's log-probs and values are computed here in one batched pass: the
    weights did not change during collection, so they equal those at acting time.
    """
    valid = r["valid"]
    T, N = valid.shape
    rewards = np.where(valid, r["rewards"], 0.0)
    terminated = r["terminated"] | ~valid
    ends = terminated | r["truncated"]
    # A row followed by a non-valid one ends the rollout of its sub-env there: after an autoreset row's
    # predecessor (which ended its episode anyway) and where the step budget stopped counting that
    # sub-env, so the advantage bootstraps from V(next_obs) and nothing leaks from an uncounted step.
    ends[:-1] |= ~valid[1:]
    flat_actions = r["actions"].reshape(T * N, *r["actions"].shape[2:])
    with no_grad():
        obs_shape = r["obs"].shape[2:]                 # (obs_dim,) or an image's (C, H, W)
        log_probs, _, values = ac.evaluate(Tensor(r["obs"].reshape(T * N, *obs_shape)), flat_actions)
        _, next_values = ac(Tensor(r["next_obs"].reshape(T * N, *obs_shape)))
    values, next_values = values.data.reshape(T, N), next_values.data.reshape(T, N)
    advantages, returns = gae(rewards, values, next_values, terminated, ends, gamma, lam)
    return Rollout(r["obs"][valid], r["actions"][valid], log_probs.data.reshape(T, N)[valid], values[valid],
                   advantages[valid], returns[valid])

