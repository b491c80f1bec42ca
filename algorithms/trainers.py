"""The loops around the losses: off-policy (replay; Discrete actions, or Box actions with an actor
and critics), on-policy (rollouts), episodic (whole episodes).

A loop owns acting, storage, exploration, target updates, evaluation, metrics and checkpoints;
the algorithm is the loss it is given (see :mod:`algorithms.registry` for the contract). Each
loop is registered as a :class:`~algorithms.registry.Loop` at the end of this module.

Acting is a forward pass under ``no_grad`` (no graph is recorded). Every loop:
- stops cleanly on Ctrl-C (``KeyboardInterrupt``) and returns what it has, marked interrupted;
- raises :class:`NonFiniteLossError` naming the env step and the loss term that went
  non-finite, before that loss touches the weights;
- evaluates the deterministic policy every ``eval_every`` env steps on its own env and seed,
  and (with an output folder) saves the weights then, so the last good weights survive;
- logs the mean of every loss term since the last log to ``terms.csv`` (env_step, term, value);
- declares what it must keep to be resumed (``run.keep``) and where its state is consistent
  (``run.safe_point``): see :mod:`algorithms.resume`. With an output folder, ``resume.npz`` is
  written there about every minute; ``train(..., resume_from=read_checkpoint(...))`` continues.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from envs_wrappers.registry import make_plain_env, make_plain_vec_env

from tinygrad_rl import Tensor, jit, nn, no_grad, optim
from tinygrad_rl.arrays import discounted_returns, gae, linear_schedule, spawn_seeds

from . import batches
from .buffers import Episodes, PrioritizedReplayBuffer, ReplayBuffer, Rollout, continuous_batch
from .checkpoint import save_weights, write_json
from .configs import CommonConfig, ContinuousOffPolicyConfig, EpisodicConfig, OffPolicyConfig, OnPolicyConfig
from .losses import TD_ERROR
from .networks import (EnvSpaces, RunningMeanStd, actor_critic_networks, observe, q_networks, target_pairs,
                       td3_networks, trained_nets)
from .registry import TOTAL, Loop, get_algorithm, register_loop
from .resume import (DEFAULT_CHECKPOINT_SECONDS, RESUME_FILE, Checkpoint, Checkpointer, LoopState, NetsState,
                     RngState, StopSignals)
from .rollout import VectorEnvRunner, greedy_episodes_returns
from .threads import reuse_freed_memory, single_blas_thread

__all__ = ["RunSeeds", "NonFiniteLossError", "MetricsLog", "METRIC_COLUMNS", "TERM_COLUMNS", "TrainResult",
           "build_networks", "greedy_actor", "train", "train_off_policy", "replay_buffer", "replay_capacity",
           "train_off_policy_continuous", "train_on_policy", "train_episodic"]

METRIC_COLUMNS = ["env_step", "episode_return", "episode_length", "loss", "epsilon", "entropy",
                  "eval_return", "wall_time"]
TERM_COLUMNS = ["env_step", "term", "value"]


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
        super().__init__(f"non-finite loss at env step {step}: term {term!r} = {value} (rerun with --anomaly, "
                         "or inside tinygrad_rl.detect_anomaly(), to find the op and the line where it was born)")
        self.step, self.term, self.value = step, term, value


class MetricsLog:
    """Rows of METRIC_COLUMNS kept in memory and, with a path, appended to a CSV as they happen.

    With ``terms_path`` the loss terms go to a second CSV in long form (env_step, term, value),
    so any algorithm's terms fit without a fixed header.

    ``sinks`` (e.g. :class:`algorithms.tensorboard_log.TensorBoardSink`) also receive every row
    (``on_row(row)``), every set of loss terms (``on_terms(env_step, terms)``) and ``close()``.

    As a checkpoint part its state is the size of both files and the elapsed time; restoring it
    (``append=True``: the files of the interrupted run, opened for appending) cuts the files back
    to those sizes, so rows written after the checkpoint are not repeated, and reads the rows back.
    """

    def __init__(self, path: str | Path | None = None, terms_path: str | Path | None = None,
                 sinks: list | tuple = (), append: bool = False):
        self.rows: list[dict] = []
        self.term_rows: list[dict] = []
        self.sinks = list(sinks)
        self.start = time.perf_counter()
        self._file = self._terms_file = None
        self._paths = (path, terms_path)
        if path is not None:
            self._file, self._writer = _csv_writer(path, METRIC_COLUMNS, append)
        if terms_path is not None:
            self._terms_file, self._terms_writer = _csv_writer(terms_path, TERM_COLUMNS, append)

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

    def log_terms(self, env_step: int, terms: dict[str, float]) -> None:
        rows = [{"env_step": env_step, "term": name, "value": round(value, 6)} for name, value in terms.items()]
        self.term_rows.extend(rows)
        if self._terms_file is not None:
            self._terms_writer.writerows(rows)
            self._terms_file.flush()
        for sink in self.sinks:
            sink.on_terms(env_step, terms)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of the rows that have ``name``."""
        rows = [r for r in self.rows if r.get(name) is not None]
        return (np.array([r["env_step"] for r in rows], dtype=np.int64),
                np.array([r[name] for r in rows], dtype=np.float64))

    def term(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of one loss term."""
        rows = [r for r in self.term_rows if r["term"] == name]
        return (np.array([r["env_step"] for r in rows], dtype=np.int64),
                np.array([r["value"] for r in rows], dtype=np.float64))

    def close(self) -> None:
        for f in (self._file, self._terms_file):
            if f is not None:
                f.close()
        self._file = self._terms_file = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def state_dict(self) -> dict:
        return {"metrics_bytes": _size(self._file), "terms_bytes": _size(self._terms_file),
                "elapsed": time.perf_counter() - self.start}

    def load_state_dict(self, state: dict) -> None:
        files = ((self._file, self._paths[0], "metrics_bytes"), (self._terms_file, self._paths[1], "terms_bytes"))
        for f, path, key in files:
            size = state.get(key)
            if (f is None) != (size is None) or (f is not None and not 0 < size <= _size(f)):
                raise ValueError(f"{path or 'the metrics'} is shorter than when the checkpoint was written "
                                 f"({size} bytes); it was changed or damaged")
        for f, _, key in files:
            if f is not None:
                f.truncate(state[key])
        if self._file is not None:
            self.rows = _read_rows(self._paths[0], METRIC_COLUMNS, {"env_step", "episode_length"})
        if self._terms_file is not None:
            self.term_rows = _read_rows(self._paths[1], TERM_COLUMNS, {"env_step"})
        self.start = time.perf_counter() - float(state["elapsed"])


def _csv_writer(path, columns, append=False):
    f = open(path, "a" if append else "w", newline="")
    writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
    if not append:
        writer.writeheader()
        f.flush()
    return f, writer


def _size(f) -> int | None:
    if f is None:
        return None
    f.flush()
    return f.seek(0, 2)


def _read_rows(path, columns: list[str], int_columns: set[str]) -> list[dict]:
    """Rows of one of our CSVs as MetricsLog keeps them (empty cells left out)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != columns:
            raise ValueError(f"{path}: header {reader.fieldnames} != {columns}")
        return [{k: (int(v) if k in int_columns else v if k == "term" else float(v)) for k, v in row.items() if v != ""}
                for row in reader]


@dataclass
class TrainResult:
    nets: dict
    env_steps: int
    interrupted: bool
    metrics: MetricsLog
    last_eval: float | None = None
    stopped_by: str | None = None       # "SIGINT" or "SIGTERM" when interrupted


# ----------------------------------------------------------------------------- networks and acting


def env_spaces(env_id: str) -> EnvSpaces:
    env = make_plain_env(env_id)
    try:
        return EnvSpaces.of(env)
    finally:
        env.close()


def build_networks(algo: str, env_id: str, config: CommonConfig, seed: int) -> dict:
    """The networks of ``algo`` for ``env_id``, initialised from ``seed``."""
    spec = get_algorithm(algo)
    nets = spec.networks(env_spaces(env_id), config, seed)
    if not isinstance(nets, dict) or not trained_nets(nets):
        raise TypeError(f"{algo}: its networks builder must return a dict with at least one Module that "
                        f"has parameters, got {type(nets).__name__}")
    return nets


def q_greedy_actor(nets: dict) -> Callable[[np.ndarray], int]:
    """argmax_a Q(s, a) of ``nets["q_net"]``."""
    q_net = nets["q_net"]

    def act(obs: np.ndarray) -> int:
        with no_grad():
            return int(np.argmax(q_net(Tensor(np.asarray(obs, dtype=np.float32)[None])).data[0]))
    return act


def actor_critic_greedy_actor(nets: dict) -> Callable[[np.ndarray], int | np.ndarray]:
    """The policy's mode (argmax of the logits, or the Gaussian mean clipped to the bounds),
    on observations normalised with the saved statistics when the run normalised them."""
    ac, normalizer = nets["actor_critic"], nets.get("obs_normalizer")

    def act(obs: np.ndarray):
        x = np.asarray(obs, dtype=np.float32)[None]
        if normalizer is not None:
            x = normalizer.normalize(x)
        action = ac.dist.to_env(ac.act_deterministic(x))[0]
        return int(action) if np.ndim(action) == 0 else action
    return act


def greedy_actor(algo: str, nets: dict) -> Callable[[np.ndarray], int | np.ndarray]:
    """The deterministic policy of a trained ``algo``, as its loop defines it."""
    return get_algorithm(algo).loop.greedy_actor(nets)


# ----------------------------------------------------------------------------- shared run state


@dataclass
class _Run:
    """What every loop shares: seeds, networks, optimisers, metrics, progress and evaluation.

    ``optimizers`` maps a loss term to its optimiser: ``{"total": one optimiser over every
    trained net}`` (then also ``optimizer``), or one per term of the algorithm's ``optimizers``."""
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
    last_entropy: float | None = None
    checkpoint_every: float | None = DEFAULT_CHECKPOINT_SECONDS
    resume_from: Checkpoint | None = None
    stop: StopSignals | None = None

    def __post_init__(self):
        seeds = RunSeeds.from_seed(self.config.seed)
        self.net_seed, self.env_seed, self.eval_seed = seeds.networks, seeds.env, seeds.eval
        self.rng = np.random.default_rng(seeds.sampling)
        self.spec = get_algorithm(self.algo)
        self.spaces = env_spaces(self.env_id)
        self.nets = build_networks(self.algo, self.env_id, self.config, self.net_seed)
        self.params = [p for name in trained_nets(self.nets) for p in self.nets[name].parameters()]
        groups = self.spec.optimizer_groups(self.nets)
        self.optimizers = {term: self._optimizer([p for name in names for p in self.nets[name].parameters()])
                           for term, names in groups.items()}
        self.optimizer = self.optimizers.get(TOTAL)
        # While a term is backpropagated, every parameter outside its nets is held fixed
        # (requires_grad off), so its gradient is neither computed nor stored.
        self._held_fixed = {term: [p for p in self.params if id(p) not in {id(q) for q in opt.params}]
                            for term, opt in self.optimizers.items()}
        self.lr_factor = linear_schedule(1.0, self.config.lr_end_fraction, self.config.total_steps)
        self.greedy = self.spec.loop.greedy_actor(self.nets)
        self.eval_env = make_plain_env(self.env_id)
        self.next_eval = self.config.eval_every
        self.term_sums: dict[str, float] = {}
        self.term_counts: dict[str, int] = {}
        self.checkpoints = Checkpointer(
            None if self.out_dir is None or self.checkpoint_every is None else self.out_dir / RESUME_FILE,
            {"algo": self.algo, "env_id": self.env_id, "config": dataclasses.asdict(self.config)},
            self.checkpoint_every if self.checkpoint_every is not None else math.inf, self.resume_from, self.stop)
        # One optimiser is the part "optimizer"; one per term, "optimizer_<term>" each.
        optimizers = [("optimizer" if term == TOTAL else f"optimizer_{term}", opt)
                      for term, opt in self.optimizers.items()]
        for name, part in (("networks", NetsState(self.nets)), *optimizers, ("rng", RngState(self.rng)),
                           ("metrics", self.metrics), ("run", self)):
            self.keep(name, part)
        self.bar = tqdm(total=self.config.total_steps, initial=self.env_steps, unit="step",
                        disable=not self.progress, dynamic_ncols=True, mininterval=0.5)
        # The learning step, recorded once and replayed (bit-identical to running it eagerly).
        self._learn = jit(self._learn_step, enabled=getattr(self.config, "jit", True))

    def learn(self, step: int, batch) -> tuple[float, dict]:
        """One learning step on ``batch``: the loss, then :meth:`optimize`; returns the loss value
        and the terms (per-row outputs such as ``td_error`` included: the step's Python runs on every
        call, so they are this call's). Replayed by ``tinygrad_rl.jit`` unless the config says ``jit = false``."""
        return self._learn(step, batch)

    def _learn_step(self, step: int, batch) -> tuple[float, dict]:
        loss, terms = self.loss(batch)
        return self.optimize(step, loss, terms), terms

    # -- resuming (see algorithms.resume): what a loop keeps, where it may be checkpointed

    def keep(self, name: str, obj):
        """Declare ``obj`` (with state_dict/load_state_dict) part of the run's checkpoint; on a
        resumed run its saved state is loaded into it before it is returned."""
        return self.checkpoints.keep(name, obj)

    def safe_point(self, step: int, episode_boundary: bool = True) -> None:
        """Everything the loop keeps is consistent at ``step``: write a checkpoint if one is due,
        stop here if SIGINT/SIGTERM asked to (raises a KeyboardInterrupt after writing it)."""
        self.checkpoints.safe_point(step, episode_boundary)

    @property
    def resumed(self) -> bool:
        """Whether this run continues from a checkpoint (its episodes in progress were lost)."""
        return self.checkpoints.resume_from is not None

    @property
    def reset_seed(self) -> int:
        """Seed of the loop's first env reset: the run's env seed, or on a resumed run one drawn
        from it and the checkpoint's step (the episodes in progress could not be saved)."""
        return self.checkpoints.reset_seed(self.env_seed)

    def state_dict(self) -> dict:
        """The run's own counters: evaluation schedule, recent returns, loss-term sums not yet logged."""
        return {"env_steps": self.env_steps, "next_eval": self.next_eval, "last_eval": self.last_eval,
                "recent_returns": list(self.recent_returns), "term_sums": dict(self.term_sums),
                "term_counts": dict(self.term_counts), "last_entropy": self.last_entropy}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.state_dict()):
            raise ValueError(f"run state has fields {sorted(state)}, expected {sorted(self.state_dict())}")
        for key, value in state.items():
            setattr(self, key, value)

    def _optimizer(self, params: list) -> optim.Optimizer:
        if getattr(self.config, "optimizer", "adam") == "rmsprop":
            # RMSprop settings of the A2C paper as SB3 uses them (alpha 0.99, eps 1e-5).
            return optim.RMSprop(params, lr=self.config.lr, alpha=0.99, eps=1e-5)
        return optim.Adam(params, lr=self.config.lr, eps=getattr(self.config, "adam_eps", 1e-8))

    def loss(self, batch) -> tuple[Tensor, dict]:
        """The algorithm's loss on ``batch`` (the one contract: loss(batch, nets, config))."""
        return self.spec.loss(batch, self.nets, self.config)

    def optimize(self, step: int, loss: Tensor, terms: dict) -> float:
        """Check every term is finite, then one gradient step: on ``loss`` with the one optimiser,
        or for each optimised term the loss returned, on that term with its own optimiser.

        Every gradient is computed before any optimiser steps, so all terms see the parameters
        the loss was computed with (a term's backward pass reads the weights of the forward one).
        Per-row outputs among the terms (NumPy arrays such as ``td_error``) are neither logged nor
        optimised. Returns the value of ``loss``."""
        for name, value in [(TOTAL, loss), *terms.items()]:
            if not isinstance(value, Tensor):
                continue
            v = float(value.data)
            if not math.isfinite(v):
                raise NonFiniteLossError(step, name, v)
            self.term_sums[name] = self.term_sums.get(name, 0.0) + v
            self.term_counts[name] = self.term_counts.get(name, 0) + 1
        objectives = {TOTAL: loss} if self.optimizer is not None else terms
        due = [term for term in self.optimizers if term in objectives]
        for term in due:
            held = self._held_fixed[term]
            self.optimizers[term].zero_grad()
            for p in held:
                p.requires_grad = False
            try:
                objectives[term].backward()
            finally:
                for p in held:
                    p.requires_grad = True
        for term in due:
            optimizer = self.optimizers[term]
            optimizer.lr = self.config.lr * self.lr_factor(step)
            if self.config.max_grad_norm > 0:
                norm = optim.clip_grad_norm_(optimizer.params, self.config.max_grad_norm)
                if not math.isfinite(norm):
                    raise NonFiniteLossError(step, "gradient norm" if term == TOTAL else f"gradient norm of {term}",
                                             norm)
            optimizer.step()
        return float(loss.data)

    def flush_terms(self, step: int) -> None:
        """Log the mean of each loss term since the last flush (and the learning rate)."""
        if self.term_sums:
            means = {name: total / self.term_counts[name] for name, total in self.term_sums.items()}
            self.metrics.log_terms(step, {**means, "lr": next(iter(self.optimizers.values())).lr})
            self.term_sums, self.term_counts = {}, {}

    def observe(self, obs: np.ndarray, update: bool = True) -> np.ndarray:
        """Observations as the networks see them (see :func:`algorithms.networks.observe`)."""
        return observe(self.nets, obs, update)

    def episode_done(self, step: int, ret: float, length: int, **values) -> None:
        self.recent_returns = (self.recent_returns + [ret])[-20:]
        self.metrics.log(step, episode_return=round(ret, 4), episode_length=length, **values)

    def advance(self, step: int, n: int) -> None:
        """Account for ``n`` more env steps (now at ``step``): progress bar and periodic evaluation."""
        self.env_steps = step
        self.bar.update(n)
        if step >= self.next_eval:
            self.next_eval += self.config.eval_every * max(1, (step - self.next_eval) // self.config.eval_every + 1)
            returns = greedy_episodes_returns(self.eval_env, self.greedy, self.config.eval_episodes, self.eval_seed)
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


def replay_buffer(config: OffPolicyConfig, obs_shape: tuple, capacity: int | None = None) -> ReplayBuffer:
    """The off-policy loop's buffer: uniform or prioritized (``config.prioritized``), storing
    ``config.n_step``-step transitions discounted with ``config.gamma``; ``capacity`` transitions
    (default :func:`replay_capacity`)."""
    capacity = replay_capacity(config) if capacity is None else capacity
    if config.prioritized:
        return PrioritizedReplayBuffer(capacity, obs_shape, n_step=config.n_step, gamma=config.gamma,
                                       alpha=config.priority_alpha, eps=config.priority_eps)
    return ReplayBuffer(capacity, obs_shape, n_step=config.n_step, gamma=config.gamma)


def train_off_policy(run: _Run) -> int:
    """Replay-based loop: epsilon-greedy acting on ``nets["q_net"]`` into a replay buffer;
    ``gradient_steps`` updates every ``train_freq`` env steps once ``learning_starts`` have passed,
    each on a :class:`~algorithms.buffers.Transitions` batch of ``batch_size`` rows; every
    ``X_target`` net copied from ``X`` (tau = 1) or Polyak-averaged every ``target_update_interval``
    env steps. Returns env steps taken.

    The batch always carries ``discounts`` (gamma^n, 0 after a termination; n = ``n_step``). With
    ``prioritized`` it is drawn by :class:`~algorithms.buffers.PrioritizedReplayBuffer` with
    importance ``weights`` (beta annealed linearly from ``priority_beta_start`` to 1 over the run),
    and the loss must return a ``td_error`` array (:data:`algorithms.losses.TD_ERROR`) among its terms
    (a per-row output, not logged): the loop sets the sampled rows' priorities to |td_error| + eps.

    Resuming keeps the buffer whole (its rows, the steps waiting in the n-step window, the
    priorities); the episode the checkpoint interrupted cannot continue, so its waiting steps are
    stored as cut by a time limit (:meth:`~algorithms.buffers.ReplayBuffer.cut_episode`)."""
    c: OffPolicyConfig = run.config
    if not run.spaces.discrete:
        raise ValueError(f"{run.algo} acts epsilon-greedily on Q-values and needs a Discrete action space; "
                         f"{run.env_id} has Box actions")
    act_greedy = q_greedy_actor(run.nets)
    targets = target_pairs(run.nets)
    env = make_plain_env(run.env_id)
    env.action_space.seed(run.env_seed)
    buffer = run.keep("replay", replay_buffer(c, env.observation_space.shape))
    if run.resumed:
        buffer.cut_episode()    # the interrupted episode's env is gone: its last steps end it, truncated
    loop = run.keep("loop", LoopState(step=0, last_loss=None))
    epsilon = linear_schedule(c.epsilon_start, c.epsilon_end, max(1, int(c.exploration_fraction * c.total_steps)))
    beta = linear_schedule(c.priority_beta_start, 1.0, c.total_steps)
    obs, _ = env.reset(seed=run.reset_seed)
    episode_return, episode_length, last_loss, step = 0.0, 0, loop.last_loss, loop.step
    try:
        for step in range(loop.step + 1, c.total_steps + 1):
            eps = epsilon(step)
            if step <= c.learning_starts or run.rng.random() < eps:
                action = int(run.rng.integers(run.spaces.n_actions))
            else:
                action = act_greedy(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            episode_return += float(reward)
            episode_length += 1
            obs = next_obs
            if terminated or truncated:
                run.episode_done(step, episode_return, episode_length, loss=last_loss, epsilon=round(eps, 4))
                run.flush_terms(step)
                obs, _ = env.reset()
                episode_return, episode_length = 0.0, 0
            if step > c.learning_starts and len(buffer) > 0:
                if step % c.train_freq == 0:
                    for _ in range(c.gradient_steps):
                        batch = buffer.sample(c.batch_size, run.rng, beta=beta(step))
                        loss, terms = run.learn(step, batch)
                        last_loss = round(loss, 6)
                        if c.prioritized:
                            td_error = terms.get(TD_ERROR)
                            if td_error is None:
                                raise ValueError(f"{run.algo}: prioritized replay needs the loss to return the "
                                                 f"per-row TD errors as terms[{TD_ERROR!r}] (see td_loss)")
                            buffer.update_priorities(batch.indices, td_error)
                if step % c.target_update_interval == 0:
                    for target, online in targets:
                        nn.polyak_update(run.nets[target], run.nets[online], c.tau)
            run.advance(step, 1)
            loop.step, loop.last_loss = step, last_loss
            run.safe_point(step, episode_boundary=episode_length == 0)
    finally:
        env.close()
    return step


def replay_capacity(config: OffPolicyConfig) -> int:
    """Transitions the replay buffer allocates: ``buffer_size``, or ``total_steps`` when fewer
    (a run never stores more, and sampling only ever sees the stored rows)."""
    return min(config.buffer_size, config.total_steps)


def train_off_policy_continuous(run: _Run) -> int:
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
    target updates; SAC and DDPG have a delay of 1). Each update is one :meth:`_Run.learn` (each
    term applied by its own optimiser; jitted, one recorded path per value of ``update_actor``).
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


def box_actor_greedy_actor(nets: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The actor's deterministic action (mu(s), or tanh of the Gaussian mean), in the env's bounds."""
    actor = nets["actor"]

    def act(obs: np.ndarray) -> np.ndarray:
        return actor.to_env(actor.act_deterministic(np.asarray(obs, dtype=np.float32)[None]))[0]
    return act


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


def train_on_policy(run: _Run) -> int:
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
            # The last rollout is shortened so the run ends within n_envs steps of total_steps.
            n_steps = min(c.n_steps, math.ceil((c.total_steps - step) / c.n_envs))
            columns = {key: [] for key in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated",
                                           "valid")}
            for _ in range(n_steps):
                obs = run.observe(runner.obs)
                actions = ac.act(obs, run.rng)
                s = runner.step(ac.dist.to_env(actions))
                rewards = s.rewards
                if scale_rewards is not None:
                    rewards = scale_rewards(rewards, s.valid, (s.terminated | s.truncated) & s.valid)
                for key, value in (("obs", obs), ("next_obs", run.observe(s.next_obs, update=False)),
                                   ("actions", actions), ("rewards", rewards), ("terminated", s.terminated),
                                   ("truncated", s.truncated), ("valid", s.valid)):
                    columns[key].append(value)
            rollout = _on_policy_rollout({k: np.stack(v) for k, v in columns.items()}, ac, c.gamma, c.gae_lambda)
            step += len(rollout)
            last_loss = _update_epochs(run, rollout, step)
            for ret, length in runner.finished:
                run.episode_done(step, ret, length, loss=last_loss, entropy=run.last_entropy)
            runner.finished.clear()
            run.flush_terms(step)
            run.advance(step, len(rollout))
            loop.step, loop.last_loss = step, last_loss
            run.safe_point(step)
    finally:
        envs.close()
    return step


def _update_epochs(run: _Run, rollout: Rollout, step: int) -> float | None:
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


def _on_policy_rollout(r: dict, ac, gamma: float, lam: float) -> Rollout:
    """GAE over stacked (T, N) vector steps; keep only the valid (non-autoreset) rows.

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
    flat_actions = r["actions"].reshape(T * N, *r["actions"].shape[2:])
    with no_grad():
        log_probs, _, values = ac.evaluate(Tensor(r["obs"].reshape(T * N, -1)), flat_actions)
        _, next_values = ac(Tensor(r["next_obs"].reshape(T * N, -1)))
    values, next_values = values.data.reshape(T, N), next_values.data.reshape(T, N)
    advantages, returns = gae(rewards, values, next_values, terminated, ends, gamma, lam)
    return Rollout(r["obs"][valid], r["actions"][valid], log_probs.data.reshape(T, N)[valid], values[valid],
                   advantages[valid], returns[valid])


def train_episodic(run: _Run) -> int:
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
            run.flush_terms(step)
            run.advance(step, len(batch))
            loop.step, loop.last_loss = step, last_loss
            run.safe_point(step)
    finally:
        env.close()
    return step


register_loop(Loop("off_policy", train_off_policy, q_networks, q_greedy_actor, OffPolicyConfig, "Transitions",
                   sample_batch=batches.off_policy_batch))
register_loop(Loop("off_policy_continuous", train_off_policy_continuous, td3_networks, box_actor_greedy_actor,
                   ContinuousOffPolicyConfig, "ContinuousTransitions",
                   sample_batch=batches.off_policy_continuous_batch))
register_loop(Loop("on_policy", train_on_policy, actor_critic_networks, actor_critic_greedy_actor,
                   OnPolicyConfig, "Rollout", sample_batch=batches.on_policy_batch))
register_loop(Loop("episodic", train_episodic, actor_critic_networks, actor_critic_greedy_actor,
                   EpisodicConfig, "Episodes", sample_batch=batches.episodic_batch))


@single_blas_thread
def train(algo: str, env_id: str, config: CommonConfig, out_dir: str | Path | None = None,
          progress: bool = False, metrics: MetricsLog | None = None,
          eval_hook: Callable[[int, dict], None] | None = None, resume_from: Checkpoint | None = None,
          checkpoint_every: float | None = DEFAULT_CHECKPOINT_SECONDS, stop: StopSignals | None = None) -> TrainResult:
    """Train ``algo`` on ``env_id`` with ``config``; Ctrl-C ends training early and still returns.

    With ``out_dir`` the periodic weights (``model.npz``, ``checkpoint.json``) and the resume
    checkpoint (``resume.npz``, about every ``checkpoint_every`` seconds and when training ends;
    ``None``: none at all) go there; ``resume_from`` (a :class:`~algorithms.resume.Checkpoint` of
    this run) continues from it, with ``metrics`` opened in append mode on the same files. ``metrics`` (default: in
    memory only) receives the CSV rows; ``eval_hook(env_step, nets)`` is called after each
    periodic evaluation. Within ``stop`` (a :class:`~algorithms.resume.StopSignals`) SIGINT and
    SIGTERM stop at the loop's next safe point, after a checkpoint.
    """
    spec = get_algorithm(algo)
    if not isinstance(config, spec.config):
        raise TypeError(f"{algo} needs a {spec.config.__name__}, got {type(config).__name__}")
    config.validate()
    reuse_freed_memory()
    metrics = metrics if metrics is not None else MetricsLog()
    run = _Run(algo, env_id, config, Path(out_dir) if out_dir is not None else None, progress, metrics,
               eval_hook=eval_hook, checkpoint_every=checkpoint_every, resume_from=resume_from, stop=stop)
    interrupted, stopped_by = False, None
    try:
        if run.checkpoints.done:     # resumed after training had ended: only the final files were missing
            steps = run.env_steps
        else:
            steps = spec.loop.train(run)
            run.checkpoints.save(steps, done=True)
    except KeyboardInterrupt:
        interrupted, steps = True, run.env_steps
        stopped_by = signal.Signals(stop.signum if stop is not None and stop.signum else signal.SIGINT).name
    finally:
        run.close()
    return TrainResult(run.nets, steps, interrupted, metrics, run.last_eval, stopped_by)
