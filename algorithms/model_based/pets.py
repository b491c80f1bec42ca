"""The model-based loop: learn an ensemble dynamics model from every transition so far, act by planning.

PETS (Chua et al. 2018, "Deep Reinforcement Learning in a Handful of Trials using Probabilistic
Dynamics Models", algorithm 1) in this project's terms:

    act uniformly at random for ``random_steps`` env steps, storing (s, a, s')
    every ``train_every`` env steps from then on (and at ``random_steps``):
        fit the input normaliser to all (s, a) so far
        each ensemble member gets its own bootstrap sample of the data (n rows drawn with replacement)
        ``model_epochs`` passes over it in minibatches of ``model_batch_size`` rows per member,
        one Adam step on the algorithm's loss each (PETS: the ensemble's Gaussian NLL)
    at every other step: plan with CEM through the ensemble from the current state
        (algorithms.planners; the env's reward is a known function, algorithms.rewards)
        and execute the first action of the final CEM mean (model-predictive control)

The loss under the one contract ``loss(batch, nets, config)`` is the model's: the loop feeds it
:class:`ModelBatch` rows, (E, B, .) arrays of member e's bootstrap rows in block e, the inputs
already normalised (as the on-policy loop hands its losses normalised observations). The planner
is the loop's acting, and its evaluation policy (:func:`planning_greedy_actor`) is the same
planner with a generator seeded per episode (see :class:`~algorithms.planners.PlanningActor`).

Networks (``pets_networks``): ``dynamics`` (a :class:`~algorithms.dynamics.ProbabilisticEnsemble`
predicting s' - s from normalised (s, a)), ``input_normalizer`` (its statistics) and ``planner``
(a :class:`~algorithms.planners.CEMPlanner`, holding the env's known reward and its settings);
all three go to ``model.npz``. Only envs with a known reward (``algorithms.rewards``) can be
planned for: the loop declares them (``Loop.envs``) and the networks builder refuses others.

Besides the usual run folder the loop writes ``planning.json``: env steps, planned steps, the
seconds spent planning and fitting the model, and the planning time per env step; the mean
planning time of each episode also goes to ``terms.csv`` as the term ``planning_ms_per_step``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from envs_wrappers.registry import make_plain_env

from tinygrad_rl import Tensor

from .checkpoint import write_json
from .configs import CommonConfig, _check
from .dynamics import ProbabilisticEnsemble, gaussian_nll
from .networks import EnvSpaces, RunningMeanStd
from .planners import CEMPlanner, PlanningActor
from .registry import Loop, register_loop
from .resume import LoopState
from .rewards import known_reward, known_reward_envs

__all__ = ["ModelBasedConfig", "PETSConfig", "ModelBatch", "TransitionData", "pets_networks", "pets_loss",
           "planning_greedy_actor", "model_based_batch", "train_model_based", "fit_model"]


@dataclass
class ModelBasedConfig(CommonConfig):
    """Model-based loop: an ensemble dynamics model fitted on all data, CEM planning with it.

    The defaults are a cheap PETS (Chua et al. 2018 use populations of 400-500, horizons of 25-30,
    5 CEM iterations, 20 particles and 200-unit networks), the Pendulum preset's values. ``gamma``
    is not used: the planner sums the rewards over its horizon undiscounted, as PETS does.
    """
    total_steps: int = 5_000
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"           # smooth dynamics; and NumPy's in-place tanh is cheaper than relu's max
    ensemble_size: int = 5             # E probabilistic networks, each on its own bootstrap of the data
    random_steps: int = 200            # uniformly random actions before the first model fit
    train_every: int = 200             # env steps between model fits (after random_steps)
    model_epochs: int = 5              # passes over each member's bootstrap sample per fit
    model_batch_size: int = 32         # rows per member per gradient step
    horizon: int = 25                  # planning horizon H (env steps)
    population: int = 200              # CEM candidates per iteration
    elites: int = 20                   # best candidates refitted per iteration
    cem_iterations: int = 3
    cem_alpha: float = 0.1             # weight of the old mean and variance in each CEM update
    particles: int = 5                 # trajectory samples per candidate (a multiple of ensemble_size)

    def validate(self) -> None:
        super().validate()
        for name in ("ensemble_size", "train_every", "model_epochs", "model_batch_size", "horizon",
                     "population", "cem_iterations", "particles"):
            _check(getattr(self, name) > 0, name, getattr(self, name), "an int > 0")
        _check(self.random_steps >= 1, "random_steps", self.random_steps,
               "an int >= 1 (the first model needs data)")
        _check(0 < self.elites <= self.population, "elites", self.elites,
               f"an int in [1, population = {self.population}]")
        _check(0.0 <= self.cem_alpha < 1.0, "cem_alpha", self.cem_alpha, "a float in [0, 1)")
        _check(self.particles % self.ensemble_size == 0, "particles", self.particles,
               f"a multiple of ensemble_size = {self.ensemble_size} (each member carries particles / E of them)")


@dataclass
class PETSConfig(ModelBasedConfig):
    """PETS: the loss's own hyperparameter, the weight of the log-variance bound penalty."""
    logvar_bound_coef: float = 0.01    # PETS appendix A.1

    def validate(self) -> None:
        super().validate()
        _check(self.logvar_bound_coef >= 0.0, "logvar_bound_coef", self.logvar_bound_coef, "a float >= 0")


@dataclass(frozen=True)
class ModelBatch:
    """What the dynamics model learns from: ``inputs`` (E, B, obs_dim + act_dim), the normalised
    (s, a) of each row, and ``targets`` (E, B, obs_dim), its state change s' - s; row block e is
    member e's sample."""
    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return int(self.inputs.shape[1])


class TransitionData:
    """Every (s, a, s') of a run, in preallocated arrays that grow by doubling."""

    def __init__(self, obs_dim: int, action_dim: int, capacity: int = 1024):
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, action_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, next_obs) -> None:
        if self.size == len(self.obs):
            for name in ("obs", "actions", "next_obs"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
        self.obs[self.size], self.actions[self.size], self.next_obs[self.size] = obs, action, next_obs
        self.size += 1

    def inputs(self) -> np.ndarray:
        """The model's inputs (s, a) of every stored row."""
        return np.concatenate([self.obs[:self.size], self.actions[:self.size]], axis=1)

    def batch(self, rows: np.ndarray, normalizer: RunningMeanStd) -> ModelBatch:
        """Rows (E, B) of indices -> a :class:`ModelBatch`, inputs normalised with ``normalizer``."""
        obs = self.obs[rows]
        return ModelBatch(normalizer.normalize(np.concatenate([obs, self.actions[rows]], axis=-1)),
                          self.next_obs[rows] - obs)

    # A part of a resumable run (algorithms.resume): the stored rows.
    def state_dict(self) -> dict:
        return {name: getattr(self, name)[:self.size].copy() for name in ("obs", "actions", "next_obs")}

    def load_state_dict(self, state: dict) -> None:
        arrays = {name: np.asarray(state[name], dtype=np.float32) for name in ("obs", "actions", "next_obs")
                  if name in state}
        if len(arrays) != 3:
            raise ValueError(f"TransitionData.load_state_dict: expected obs, actions, next_obs, got {sorted(state)}")
        size = len(arrays["obs"])
        for name, array in arrays.items():
            width = getattr(self, name).shape[1]
            if array.shape != (size, width) or not np.all(np.isfinite(array)):
                raise ValueError(f"TransitionData.load_state_dict: {name} must be finite of shape ({size}, {width}), "
                                 f"got {array.shape}")
        capacity = max(len(self.obs), size)
        for name, array in arrays.items():
            grown = np.zeros((capacity, array.shape[1]), dtype=np.float32)
            grown[:size] = array
            setattr(self, name, grown)
        self.size = size


# ----------------------------------------------------------------------------- networks, loss, acting


def pets_networks(spaces: EnvSpaces, config: ModelBasedConfig, seed: int) -> dict:
    """``dynamics`` (an ensemble predicting s' - s from normalised (s, a)), ``input_normalizer``
    and ``planner`` (CEM with the env's known reward); ValueError for an env without a known
    reward or with Discrete actions."""
    reward = known_reward(spaces.env_id)
    if spaces.discrete:
        raise ValueError("CEM plans sequences of continuous actions and needs a Box action space; "
                         f"{spaces.env_id} has Discrete actions")
    in_dim = spaces.obs_dim + spaces.action_dim
    return {
        "dynamics": ProbabilisticEnsemble(config.ensemble_size, in_dim, spaces.obs_dim, config.hidden,
                                          config.activation, seed),
        "input_normalizer": RunningMeanStd((in_dim,)),
        "planner": CEMPlanner(reward, spaces.action_low, spaces.action_high, horizon=config.horizon,
                              population=config.population, elites=config.elites,
                              iterations=config.cem_iterations, alpha=config.cem_alpha,
                              particles=config.particles, seed=config.seed),
    }


def pets_loss(batch: ModelBatch, nets: dict, config: PETSConfig) -> tuple[Tensor, dict]:
    """The ensemble's Gaussian negative log-likelihood of the observed state changes:

        nll = sum_e mean_{b, d} [ (Delta_bd - mu_e,d(x_b))^2 e^{-l_e,d(x_b)} + l_e,d(x_b) + log 2 pi ] / 2
        bounds = sum_d max_logvar_d - sum_d min_logvar_d
        L = nll + logvar_bound_coef * bounds

    with x_b the normalised (s, a) of member e's row b (``batch.inputs``), Delta_b = s'_b - s_b
    (``batch.targets``), and l the soft-bounded
    log-variance (Chua et al. 2018, eq. 1 and appendix A.1: means over rows and dimensions, summed
    over the members, as their code does). The penalty keeps the learned bounds close, so the soft
    bounds act where the data does not pin the variance down.
    """
    model = nets["dynamics"]
    mean, logvar = model(Tensor(np.asarray(batch.inputs, dtype=model.weights[0].dtype)))
    nll = gaussian_nll(mean, logvar, np.asarray(batch.targets, dtype=mean.dtype)).mean(axis=(1, 2)).sum()
    bounds = model.max_logvar.sum() - model.min_logvar.sum()
    return nll + config.logvar_bound_coef * bounds, {"nll": nll, "logvar_bounds": bounds}


def planning_greedy_actor(nets: dict) -> PlanningActor:
    """The evaluation policy: the planner with a generator reseeded at each episode's first step
    from the run's seed and that step's observation, acting with the first action of the final
    CEM mean (see :class:`~algorithms.planners.PlanningActor`)."""
    planner = nets["planner"]
    return PlanningActor(planner, nets["dynamics"], nets["input_normalizer"], seed=planner.seed)


def fit_normalizer(normalizer: RunningMeanStd, inputs: np.ndarray) -> None:
    """Set the normaliser to the exact mean and variance of ``inputs`` (all the data so far)."""
    inputs = np.asarray(inputs, dtype=np.float64)
    normalizer.load_state_dict({"mean": inputs.mean(axis=0), "var": inputs.var(axis=0),
                                "count": np.asarray(float(len(inputs)))})


def bootstrap_rows(rng: np.random.Generator, n: int, n_members: int) -> np.ndarray:
    """(E, n) row indices: member e's bootstrap sample, n rows drawn with replacement."""
    return rng.integers(0, n, size=(n_members, n))


def fit_model(run, data: TransitionData, step: int) -> float:
    """One model fit (module docstring); returns the last loss."""
    c: ModelBasedConfig = run.config
    normalizer = run.nets["input_normalizer"]
    fit_normalizer(normalizer, data.inputs())
    rows = bootstrap_rows(run.rng, len(data), run.nets["dynamics"].n_members)
    n_batches = math.ceil(len(data) / c.model_batch_size)
    last = math.nan
    for _ in range(c.model_epochs):
        order = run.rng.permuted(rows, axis=1)       # each member shuffles its own sample
        for j in range(n_batches):
            batch = data.batch(order[:, j * c.model_batch_size:(j + 1) * c.model_batch_size], normalizer)
            last, _ = run.learn(step, batch)
    return last


def model_based_batch(env_id: str, nets: dict, config: ModelBasedConfig, size: int, seed: int) -> ModelBatch:
    """``size`` rows per member, as a model fit after the loop's random phase sees them: 200 steps
    (or ``size``, if more) of uniformly random acting, the input normaliser fitted to them, each
    member's rows drawn from its own bootstrap sample."""
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"batch size must be a positive int, got {size!r}")
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


# ----------------------------------------------------------------------------- the loop


def train_model_based(run) -> int:
    """Random acting for ``random_steps``, then a model fit every ``train_every`` env steps and
    CEM planning at every step in between (module docstring). Returns env steps taken.

    Resumable (:mod:`algorithms.resume`): the transitions, the loop's counters and (with the run's
    own parts) the ensemble, the normaliser, the optimiser and the generator are kept; a resumed run
    starts a fresh episode, so the planner's warm start is dropped there."""
    c: ModelBasedConfig = run.config
    if run.spaces.discrete:
        raise ValueError(f"{run.algo} plans continuous actions and needs a Box action space; {run.env_id} is Discrete")
    nets = run.nets
    actor = PlanningActor(nets["planner"], nets["dynamics"], nets["input_normalizer"], rng=run.rng)
    low, high = np.asarray(run.spaces.action_low), np.asarray(run.spaces.action_high)
    data = run.keep("transitions", TransitionData(run.spaces.obs_dim, run.spaces.action_dim, capacity=c.total_steps))
    loop = run.keep("loop", LoopState(step=0, last_loss=None, fits=0, fit_seconds=0.0, planned_steps=0,
                                      planning_seconds=0.0))
    env = make_plain_env(run.env_id)
    obs, _ = env.reset(seed=run.reset_seed)
    episode_return, episode_length, last_loss, step = 0.0, 0, loop.last_loss, loop.step
    episode_planning = []        # seconds of each plan of the episode
    try:
        for step in range(loop.step + 1, c.total_steps + 1):
            if loop.fits:
                before = actor.seconds
                action = actor(obs)
                episode_planning.append(actor.seconds - before)
                loop.planned_steps += 1
                loop.planning_seconds += episode_planning[-1]
            else:
                action = run.rng.uniform(low, high).astype(np.float32)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            data.add(obs, action, next_obs)
            episode_return += float(reward)
            episode_length += 1
            obs = next_obs
            if step >= c.random_steps and (step - c.random_steps) % c.train_every == 0:
                start = time.perf_counter()
                last_loss = round(fit_model(run, data, step), 6)
                loop.fit_seconds += time.perf_counter() - start
                loop.fits += 1
            if terminated or truncated:
                run.episode_done(step, episode_return, episode_length, loss=last_loss)
                if episode_planning:
                    run.metrics.log_terms(step, {"planning_ms_per_step": round(1000 * np.mean(episode_planning), 3)})
                episode_planning = []
                run.flush_terms(step)
                obs, _ = env.reset()
                actor.reset()
                episode_return, episode_length = 0.0, 0
            run.advance(step, 1)
            loop.step, loop.last_loss = step, last_loss
            run.safe_point(step, episode_boundary=episode_length == 0)
    finally:
        env.close()
        if run.out_dir is not None:
            write_json(run.out_dir / "planning.json", {
                "env_steps": step, "planned_steps": loop.planned_steps,
                "planning_seconds": round(loop.planning_seconds, 3),
                "planning_ms_per_step": (round(1000 * loop.planning_seconds / loop.planned_steps, 3)
                                         if loop.planned_steps else None),
                "model_fits": loop.fits, "model_fit_seconds": round(loop.fit_seconds, 3)})
    return step


register_loop(Loop("model_based", train_model_based, pets_networks, planning_greedy_actor, ModelBasedConfig,
                   "ModelBatch", sample_batch=model_based_batch, envs=known_reward_envs))
