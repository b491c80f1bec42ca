"""The run every loop shares (:class:`TrainingRun`), and :func:`train`, which builds one and hands it to a loop.

A loop (:mod:`algorithms.loops.off_policy`, ``on_policy``, ``episodic``, ``off_policy_continuous``,
``model_based``) owns acting, storage, exploration and target updates; the algorithm is the loss it is
given (see :mod:`algorithms.registry` for the contract). What every loop needs besides is here, in
the one object passed to it:

- seeds, networks, optimisers (one, or one per loss term) and the learning step
  :meth:`TrainingRun.learn` (loss, finite check, backward, gradient clipping, optimiser step);
- evaluation of the deterministic policy every ``eval_every`` env steps on its own env and seed,
  saving the weights then (with an output folder), so the last good weights survive;
- the loss terms' means since the last log, written to ``terms.csv`` (env_step, term, value);
- resuming: a loop declares what it must keep (:meth:`TrainingRun.keep`) and where its state is
  consistent (:meth:`TrainingRun.safe_point`); see :mod:`algorithms.runs.resume`. With an output
  folder, ``resume.npz`` is written there about every minute; ``train(..., resume_from=...)`` continues.

Every loop stops cleanly on Ctrl-C (``KeyboardInterrupt``) and returns what it has, marked
interrupted, and raises :class:`NonFiniteLossError` naming the env step and the loss term that went
non-finite, before that loss touches the weights. Acting is a forward pass under ``no_grad``.
"""
from __future__ import annotations

import dataclasses
import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from envs_wrappers.registry import make_plain_env
from tinygrad_rl import Tensor, optim
from tinygrad_rl.arrays import linear_schedule

from ..configs import CommonConfig
from ..networks import EnvSpaces, observe, trained_nets
from ..registry import TOTAL, get_algorithm
from ..runs.checkpoint import save_weights, write_json
from ..runs.resume import (
    DEFAULT_CHECKPOINT_SECONDS,
    RESUME_FILE,
    Checkpoint,
    Checkpointer,
    LoopState,
    NetsState,
    RngState,
    StopSignals,
)
from ..runs.threads import reuse_freed_memory, single_blas_thread
from .env_runner import greedy_episodes_returns
from .metrics_log import MetricsLog
from .seeding import RunSeeds

__all__ = ["TrainingRun", "NonFiniteLossError", "TrainResult", "env_spaces", "build_networks", "train"]



class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; training stopped before applying it."""

    def __init__(self, step: int, term: str, value: float):
        super().__init__(f"non-finite loss at env step {step}: term {term!r} = {value} (rerun with --anomaly, "
                         "or inside tinygrad_rl.detect_anomaly(), to find the op and the line where it was born)")
        self.step, self.term, self.value = step, term, value


@dataclass
class TrainResult:
    nets: dict
    env_steps: int
    interrupted: bool
    metrics: MetricsLog
    last_eval: float | None = None
    stopped_by: str | None = None       # "SIGINT" or "SIGTERM" when interrupted


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


@dataclass
class TrainingRun:
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
        # The algorithm's loss state (see algorithms.registry), when it has one: kept like the rest.
        self.loss_state = self.spec.new_state(self.config)
        state_part = [("loss_state", self.loss_state)] if self.loss_state is not None else []
        for name, part in (("networks", NetsState(self.nets)), *optimizers, ("rng", RngState(self.rng)),
                           ("metrics", self.metrics), ("run", self), *state_part):
            self.keep(name, part)
        self.bar = tqdm(total=self.config.total_steps, initial=self.env_steps, unit="step",
                        disable=not self.progress, dynamic_ncols=True, mininterval=0.5)

    def learn(self, step: int, batch) -> tuple[float, dict]:
        """One learning step on ``batch``: the loss, then :meth:`optimize`; returns the loss value
        and the terms (per-row outputs such as ``td_error`` included)."""
        loss, terms = self.loss(batch)
        loss = self.optimize(step, loss, terms)
        if self.loss_state is not None:
            values = {name: float(value.data) for name, value in terms.items() if isinstance(value, Tensor)}
            self.loss_state.after_update(step, {TOTAL: loss, **values})
        return loss, terms

    # -- resuming (see algorithms.runs.resume): what a loop keeps, where it may be checkpointed

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
        kind = getattr(self.config, "optimizer", "adam")
        if kind in ("rmsprop", "centered_rmsprop"):
            # A config without RMSprop fields (the on-policy loops) gets the A2C paper's settings as SB3
            # uses them (alpha 0.99, eps 1e-5); the DQN family's has its own (Mnih et al. 2015: 0.95, 0.01).
            return optim.RMSprop(params, lr=self.config.lr, alpha=getattr(self.config, "rmsprop_alpha", 0.99),
                                 eps=getattr(self.config, "rmsprop_eps", 1e-5), centered=kind == "centered_rmsprop")
        return optim.Adam(params, lr=self.config.lr, eps=getattr(self.config, "adam_eps", 1e-8))

    def loss(self, batch) -> tuple[Tensor, dict]:
        """The algorithm's loss on ``batch`` (the one contract: loss(batch, nets, config))."""
        return self.spec.evaluate(batch, self.nets, self.config, self.loss_state)

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

    def batch_done(self, step: int, n: int, loop: LoopState, last_loss: float | None) -> None:
        """After a batch-wise loop's update on ``n`` env steps (now at ``step``): log the loss terms,
        :meth:`advance`, record where the loop is in its kept ``loop`` state, and offer a checkpoint."""
        self.flush_terms(step)
        self.advance(step, n)
        loop.step, loop.last_loss = step, last_loss
        self.safe_point(step)

    def close(self) -> None:
        self.bar.close()
        self.eval_env.close()


@single_blas_thread
def train(algo: str, env_id: str, config: CommonConfig, out_dir: str | Path | None = None,
          progress: bool = False, metrics: MetricsLog | None = None,
          eval_hook: Callable[[int, dict], None] | None = None, resume_from: Checkpoint | None = None,
          checkpoint_every: float | None = DEFAULT_CHECKPOINT_SECONDS, stop: StopSignals | None = None) -> TrainResult:
    """Train ``algo`` on ``env_id`` with ``config``; Ctrl-C ends training early and still returns.

    With ``out_dir`` the periodic weights (``model.npz``, ``checkpoint.json``) and the resume
    checkpoint (``resume.npz``, about every ``checkpoint_every`` seconds and when training ends;
    ``None``: none at all) go there; ``resume_from`` (a :class:`~algorithms.runs.resume.Checkpoint` of
    this run) continues from it, with ``metrics`` opened in append mode on the same files. ``metrics`` (default: in
    memory only) receives the CSV rows; ``eval_hook(env_step, nets)`` is called after each
    periodic evaluation. Within ``stop`` (a :class:`~algorithms.runs.resume.StopSignals`) SIGINT and
    SIGTERM stop at the loop's next safe point, after a checkpoint.
    """
    spec = get_algorithm(algo)
    if not isinstance(config, spec.config):
        raise TypeError(f"{algo} needs a {spec.config.__name__}, got {type(config).__name__}")
    config.validate()
    reuse_freed_memory()
    metrics = metrics if metrics is not None else MetricsLog()
    run = TrainingRun(algo, env_id, config, Path(out_dir) if out_dir is not None else None, progress, metrics,
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
