"""The three loops around the losses: off-policy (DQN family), on-policy (A2C), episodic (REINFORCE).

A trainer owns acting, storage, exploration, target updates, evaluation, metrics and
checkpoints; the algorithm itself is the loss it is given. ``ALGORITHMS`` maps each name to
(loss, loop), so a new algorithm is a new loss, a registry line and a preset table.

Acting is a forward pass under ``no_grad`` (no graph is recorded). Every loop:
- stops cleanly on Ctrl-C (``KeyboardInterrupt``) and returns what it has, marked interrupted;
- raises :class:`NonFiniteLossError` naming the env step and the loss term that went
  non-finite, before that loss touches the weights;
- evaluates the deterministic policy every ``eval_every`` env steps on its own env and seed,
  and (with an output folder) saves a checkpoint then, so the last good weights survive.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from tinygrad_rl import Tensor, nn, no_grad, optim
from tinygrad_rl.arrays import discounted_returns, gae, linear_schedule, spawn_seeds

from .buffers import ReplayBuffer, Rollout
from .checkpoint import save_weights, write_json
from .configs import ALGORITHM_CONFIGS, CommonConfig, EpisodicConfig, OffPolicyConfig, OnPolicyConfig
from .losses import a2c_loss, double_dqn_loss, dqn_loss, reinforce_loss
from .rollout import VectorEnvRunner, greedy_episodes_returns, sample_categorical
from .threads import single_blas_thread

__all__ = ["RunSeeds", "NonFiniteLossError", "MetricsLog", "METRIC_COLUMNS", "Algorithm", "ALGORITHMS",
           "TrainResult", "build_networks", "greedy_actor", "train"]

METRIC_COLUMNS = ["env_step", "episode_return", "episode_length", "loss", "epsilon", "entropy",
                  "eval_return", "wall_time"]


@dataclass(frozen=True)
class RunSeeds:
    """Independent seeds of one run, all derived from the config's ``seed``."""
    networks: int
    env: int
    eval: int
    sampling: int   # epsilon-greedy / policy sampling and replay sampling

    @classmethod
    def from_seed(cls, seed: int) -> "RunSeeds":
        return cls(*spawn_seeds(seed, 4))


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; training stopped before applying it."""

    def __init__(self, step: int, term: str, value: float):
        super().__init__(f"non-finite loss at env step {step}: term {term!r} = {value}")
        self.step, self.term, self.value = step, term, value


class MetricsLog:
    """Rows of METRIC_COLUMNS kept in memory and, with a path, appended to a CSV as they happen.

    ``sinks`` (e.g. :class:`algorithms.tensorboard_log.TensorBoardSink`) receive every row
    (``on_row(row)``), the training scalars that are not CSV columns (``on_scalars(env_step,
    {tag: value})``: loss terms, learning rate; see :meth:`report`), and ``close()``.
    """

    def __init__(self, path: str | Path | None = None, sinks: list | tuple = ()):
        self.rows: list[dict] = []
        self.sinks = list(sinks)
        self.start = time.perf_counter()
        self._file = None
        if path is not None:
            self._file = open(path, "w", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=METRIC_COLUMNS)
            self._writer.writeheader()
            self._file.flush()

    def log(self, env_step: int, **values) -> None:
        unknown = set(values) - set(METRIC_COLUMNS)
        if unknown:
            raise ValueError(f"MetricsLog: unknown columns {sorted(unknown)}; valid: {METRIC_COLUMNS}")
        row = {"env_step": env_step, "wall_time": round(time.perf_counter() - self.start, 3), **values}
        self.rows.append(row)
        if self._file is not None:
            self._writer.writerow(row)
            self._file.flush()  # a crash or Ctrl-C loses nothing already logged
        for sink in self.sinks:
            sink.on_row(row)

    def report(self, env_step: int, values: dict) -> None:
        """Training scalars that are not CSV columns (tag -> value), for the sinks only."""
        for sink in self.sinks:
            sink.on_scalars(env_step, values)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of the rows that have ``name``."""
        rows = [r for r in self.rows if r.get(name) is not None]
        return (np.array([r["env_step"] for r in rows], dtype=np.int64),
                np.array([r[name] for r in rows], dtype=np.float64))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []


@dataclass
class TrainResult:
    nets: dict
    env_steps: int
    interrupted: bool
    metrics: MetricsLog
    last_eval: float | None = None


@dataclass
class Algorithm:
    loss: Callable
    loop: Callable
    networks: str            # "q" (q_net + target_net) or "actor_critic" (policy + value)


# ----------------------------------------------------------------------------- networks


def build_networks(algo: str, obs_dim: int, n_actions: int, config: CommonConfig, seed: int) -> dict:
    """The algorithm's networks, initialised from ``seed``."""
    hidden = list(config.hidden)
    if ALGORITHMS[algo].networks == "q":
        q_net = nn.MLP([obs_dim, *hidden, n_actions], activation=config.activation, rng=seed)
        target_net = nn.MLP([obs_dim, *hidden, n_actions], activation=config.activation, rng=seed)
        nn.copy_params(target_net, q_net)
        return {"q_net": q_net, "target_net": target_net}
    policy_seed, value_seed = spawn_seeds(seed, 2)
    # Orthogonal init with a small policy-head gain starts near the uniform policy
    # (Andrychowicz et al. 2021, "What Matters in On-Policy RL", sec. 3.2).
    policy = nn.MLP([obs_dim, *hidden, n_actions], activation=config.activation, init="orthogonal",
                    gain=math.sqrt(2), output_gain=0.01, rng=policy_seed)
    value = nn.MLP([obs_dim, *hidden, 1], activation=config.activation, init="orthogonal",
                   gain=math.sqrt(2), output_gain=1.0, rng=value_seed)
    return {"policy": policy, "value": value}


def greedy_actor(algo: str, nets: dict) -> Callable[[np.ndarray], int]:
    """The deterministic policy: argmax of Q (DQN family) or of the policy logits."""
    net = nets["q_net"] if ALGORITHMS[algo].networks == "q" else nets["policy"]

    def act(obs: np.ndarray) -> int:
        with no_grad():
            return int(np.argmax(net(Tensor(np.asarray(obs, dtype=np.float32)[None])).data[0]))
    return act


# ----------------------------------------------------------------------------- shared run state


@dataclass
class _Run:
    """What every loop shares: seeds, networks, optimiser, metrics, progress and evaluation."""
    algo: str
    env_id: str
    config: CommonConfig
    out_dir: Path | None
    progress: bool
    metrics: MetricsLog
    nets: dict = field(default_factory=dict)
    optimizer: object = None
    params: list = field(default_factory=list)
    next_eval: int = 0
    last_eval: float | None = None
    recent_returns: list = field(default_factory=list)
    env_steps: int = 0
    eval_hook: Callable | None = None

    def __post_init__(self):
        seeds = RunSeeds.from_seed(self.config.seed)
        self.net_seed, self.env_seed, self.eval_seed = seeds.networks, seeds.env, seeds.eval
        self.rng = np.random.default_rng(seeds.sampling)
        probe = gym.make(self.env_id)
        if not isinstance(probe.action_space, gym.spaces.Discrete):
            raise ValueError(f"{self.env_id}: expected a Discrete action space, got {probe.action_space}")
        self.obs_dim = int(np.prod(probe.observation_space.shape))
        self.n_actions = int(probe.action_space.n)
        probe.close()
        self.nets = build_networks(self.algo, self.obs_dim, self.n_actions, self.config, self.net_seed)
        trained = ["q_net"] if "q_net" in self.nets else ["policy", "value"]
        self.params = [p for name in trained for p in self.nets[name].parameters()]
        opt_name = getattr(self.config, "optimizer", "adam")
        if opt_name == "rmsprop":
            # RMSprop settings of the A2C paper as SB3 uses them (alpha 0.99, eps 1e-5).
            self.optimizer = optim.RMSprop(self.params, lr=self.config.lr, alpha=0.99, eps=1e-5)
        else:
            self.optimizer = optim.Adam(self.params, lr=self.config.lr)
        self.lr_factor = linear_schedule(1.0, self.config.lr_end_fraction, self.config.total_steps)
        self.eval_env = gym.make(self.env_id)
        self.next_eval = self.config.eval_every
        self.bar = tqdm(total=self.config.total_steps, unit="step", disable=not self.progress,
                        dynamic_ncols=True, mininterval=0.5)

    def optimize(self, step: int, loss: Tensor, terms: dict) -> float:
        """Check every term is finite, then one gradient step on ``loss``; returns its value."""
        values = {}
        for name, value in [("total", loss), *terms.items()]:
            v = values[name] = float(value.data)
            if not math.isfinite(v):
                raise NonFiniteLossError(step, name, v)
        self.optimizer.lr = self.config.lr * self.lr_factor(step)
        if self.metrics.sinks:   # loss terms and learning rate, for TensorBoard and other sinks
            self.metrics.report(step, {"optim/learning_rate": self.optimizer.lr,
                                       **{f"loss/{name}": v for name, v in values.items()}})
        self.optimizer.zero_grad()
        loss.backward()
        if self.config.max_grad_norm > 0:
            norm = optim.clip_grad_norm_(self.params, self.config.max_grad_norm)
            if not math.isfinite(norm):
                raise NonFiniteLossError(step, "gradient norm", norm)
        self.optimizer.step()
        return float(loss.data)

    def episode_done(self, step: int, ret: float, length: int, **values) -> None:
        self.recent_returns = (self.recent_returns + [ret])[-20:]
        self.metrics.log(step, episode_return=round(ret, 4), episode_length=length, **values)

    def advance(self, step: int, n: int) -> None:
        """Account for ``n`` more env steps (now at ``step``): progress bar and periodic evaluation."""
        self.env_steps = step
        self.bar.update(n)
        if step >= self.next_eval:
            self.next_eval += self.config.eval_every * max(1, (step - self.next_eval) // self.config.eval_every + 1)
            returns = greedy_episodes_returns(self.eval_env, greedy_actor(self.algo, self.nets),
                                              self.config.eval_episodes, self.eval_seed)
            self.last_eval = float(returns.mean())
            self.metrics.log(step, eval_return=round(self.last_eval, 4))
            if self.eval_hook is not None:
                self.eval_hook(step, self.nets)
            if self.out_dir is not None:
                save_weights(self.out_dir / "model.npz", self.nets)
                write_json(self.out_dir / "checkpoint.json", {"env_step": step, "eval_return": self.last_eval})
        if self.progress:
            postfix = {}
            if self.recent_returns:
                postfix["return"] = f"{np.mean(self.recent_returns):.1f}"
            if self.last_eval is not None:
                postfix["eval"] = f"{self.last_eval:.1f}"
            self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()
        self.eval_env.close()


# ----------------------------------------------------------------------------- the loops


def train_off_policy(run: _Run, loss_fn: Callable) -> int:
    """Epsilon-greedy acting into a replay buffer; ``gradient_steps`` updates every ``train_freq``
    env steps once ``learning_starts`` have passed; target network copied (tau = 1) or
    Polyak-averaged every ``target_update_interval`` env steps. Returns env steps taken."""
    c: OffPolicyConfig = run.config
    q_net, target_net = run.nets["q_net"], run.nets["target_net"]
    act_greedy = greedy_actor(run.algo, run.nets)
    env = gym.make(run.env_id)
    env.action_space.seed(run.env_seed)
    buffer = ReplayBuffer(c.buffer_size, env.observation_space.shape)
    epsilon = linear_schedule(c.epsilon_start, c.epsilon_end, max(1, int(c.exploration_fraction * c.total_steps)))
    obs, _ = env.reset(seed=run.env_seed)
    episode_return, episode_length, last_loss, step = 0.0, 0, None, 0
    try:
        for step in range(1, c.total_steps + 1):
            eps = epsilon(step)
            if step <= c.learning_starts or run.rng.random() < eps:
                action = int(run.rng.integers(run.n_actions))
            else:
                action = act_greedy(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            episode_return += float(reward)
            episode_length += 1
            obs = next_obs
            if terminated or truncated:
                run.episode_done(step, episode_return, episode_length, loss=last_loss, epsilon=round(eps, 4))
                obs, _ = env.reset()
                episode_return, episode_length = 0.0, 0
            if step > c.learning_starts:
                if step % c.train_freq == 0:
                    for _ in range(c.gradient_steps):
                        batch = buffer.sample(c.batch_size, run.rng)
                        loss, terms = loss_fn(batch, q_net, target_net, c.gamma, c.loss)
                        last_loss = round(run.optimize(step, loss, terms), 6)
                if step % c.target_update_interval == 0:
                    nn.polyak_update(target_net, q_net, c.tau)
            run.advance(step, 1)
    finally:
        env.close()
    return step


def train_on_policy(run: _Run, loss_fn: Callable) -> int:
    """A2C: n_envs sub-envs x n_steps, GAE(lambda) advantages, one update per rollout."""
    c: OnPolicyConfig = run.config
    policy, value = run.nets["policy"], run.nets["value"]
    envs = gym.make_vec(run.env_id, num_envs=c.n_envs, vectorization_mode="sync")
    runner = VectorEnvRunner(envs, seed=run.env_seed)
    step, last_loss, entropy = 0, None, None
    try:
        while step < c.total_steps:
            steps = []
            for _ in range(c.n_steps):
                with no_grad():
                    logits = policy(Tensor(runner.obs.astype(np.float32))).data
                steps.append(runner.step(sample_categorical(logits, run.rng)))
            rollout, n_valid = _a2c_rollout(steps, value, c.gamma, c.gae_lambda)
            loss, terms = loss_fn(rollout, policy, value, c.value_coef, c.entropy_coef, c.normalize_advantages)
            step += n_valid
            last_loss = round(run.optimize(step, loss, terms), 6)
            entropy = round(float(terms["entropy"].data), 4)
            for ret, length in runner.finished:
                run.episode_done(step, ret, length, loss=last_loss, entropy=entropy)
            runner.finished.clear()
            run.advance(step, n_valid)
    finally:
        envs.close()
    return step


def _a2c_rollout(steps: list, value_net, gamma: float, lam: float) -> tuple[Rollout, int]:
    """Stack (T, N) vector steps, compute GAE, keep only valid (non-autoreset) rows.

    An autoreset row is given reward 0 and marked terminal so its (discarded) advantage
    stays finite; the row before it already ends its episode, so nothing leaks across.
    """
    obs = np.stack([s.obs for s in steps]).astype(np.float32)
    next_obs = np.stack([s.next_obs for s in steps]).astype(np.float32)
    T, N = obs.shape[:2]
    valid = np.stack([s.valid for s in steps])
    rewards = np.where(valid, np.stack([s.rewards for s in steps]), 0.0)
    terminated = np.stack([s.terminated for s in steps]) | ~valid
    ends = terminated | np.stack([s.truncated for s in steps])
    with no_grad():
        both = value_net(Tensor(np.concatenate([obs, next_obs]).reshape(2 * T * N, -1))).data.reshape(2, T, N)
    advantages, returns = gae(rewards, both[0], both[1], terminated, ends, gamma, lam)
    actions = np.stack([s.actions for s in steps])
    rollout = Rollout(obs[valid], actions[valid].astype(np.int64), advantages[valid], returns[valid])
    return rollout, int(valid.sum())


def train_episodic(run: _Run, loss_fn: Callable) -> int:
    """REINFORCE: ``episodes_per_update`` whole episodes, Monte Carlo returns, one update.

    A time-limit truncation bootstraps the return with V(final obs) when a value network is
    learned (the episode had a future); a termination ends the sum.
    """
    c: EpisodicConfig = run.config
    policy, value = run.nets["policy"], run.nets["value"]
    env = gym.make(run.env_id)
    obs, _ = env.reset(seed=run.env_seed)
    step, last_loss = 0, None
    try:
        while step < c.total_steps:
            obs_list, actions, returns, lengths, totals = [], [], [], [], []
            for _ in range(c.episodes_per_update):
                ep_obs, ep_actions, ep_rewards = [], [], []
                done = False
                while not done:
                    with no_grad():
                        logits = policy(Tensor(np.asarray(obs, dtype=np.float32)[None])).data
                    action = int(sample_categorical(logits, run.rng)[0])
                    next_obs, reward, terminated, truncated, _ = env.step(action)
                    ep_obs.append(obs)
                    ep_actions.append(action)
                    ep_rewards.append(reward)
                    obs, done = next_obs, terminated or truncated
                bootstrap = 0.0
                if truncated and not terminated and c.baseline == "learned":
                    with no_grad():
                        bootstrap = float(value(Tensor(np.asarray(obs, dtype=np.float32)[None])).data[0, 0])
                obs_list.extend(ep_obs)
                actions.extend(ep_actions)
                returns.append(discounted_returns(np.asarray(ep_rewards), c.gamma, bootstrap=bootstrap))
                lengths.append(len(ep_rewards))
                totals.append(float(np.sum(ep_rewards)))
                obs, _ = env.reset()
            batch = Rollout(np.asarray(obs_list, dtype=np.float32), np.asarray(actions, dtype=np.int64),
                            np.zeros(len(actions)), np.concatenate(returns))
            step += len(batch.actions)
            loss, terms = loss_fn(batch, policy, value, c.baseline, c.normalize_returns, c.value_coef)
            last_loss = round(run.optimize(step, loss, terms), 6)
            for ret, length in zip(totals, lengths):
                run.episode_done(step, ret, length, loss=last_loss)
            run.advance(step, len(batch.actions))
    finally:
        env.close()
    return step


ALGORITHMS: dict[str, Algorithm] = {
    "dqn": Algorithm(dqn_loss, train_off_policy, "q"),
    "double_dqn": Algorithm(double_dqn_loss, train_off_policy, "q"),
    "a2c": Algorithm(a2c_loss, train_on_policy, "actor_critic"),
    "reinforce": Algorithm(reinforce_loss, train_episodic, "actor_critic"),
}


@single_blas_thread
def train(algo: str, env_id: str, config: CommonConfig, out_dir: str | Path | None = None,
          progress: bool = False, metrics: MetricsLog | None = None,
          eval_hook: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train ``algo`` on ``env_id`` with ``config``; Ctrl-C ends training early and still returns.

    With ``out_dir`` the periodic checkpoints (``model.npz``, ``checkpoint.json``) go there;
    ``metrics`` (default: in memory only) receives the CSV rows; ``eval_hook(env_step, nets)``
    is called after each periodic evaluation (for measurements such as Q overestimation).
    """
    if algo not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGORITHMS)}")
    if not isinstance(config, ALGORITHM_CONFIGS[algo]):
        raise TypeError(f"{algo} needs a {ALGORITHM_CONFIGS[algo].__name__}, got {type(config).__name__}")
    config.validate()
    metrics = metrics if metrics is not None else MetricsLog()
    run = _Run(algo, env_id, config, Path(out_dir) if out_dir is not None else None, progress, metrics,
               eval_hook=eval_hook)
    interrupted = False
    try:
        steps = ALGORITHMS[algo].loop(run, ALGORITHMS[algo].loss)
    except KeyboardInterrupt:
        interrupted = True
        steps = run.env_steps
    finally:
        run.close()
    return TrainResult(run.nets, steps, interrupted, metrics, run.last_eval)
