"""Planning with a learned model: the cross-entropy method over action sequences, trajectory
sampling through a probabilistic ensemble, and model-predictive control around both.

**CEM** (Rubinstein 1999; as used by PETS, Chua et al. 2018, sec. 5 and appendix A). To maximise
J(a_{0:H}) over action sequences in the box [low, high]^(H x |A|), keep a diagonal Gaussian
N(m, diag v) over sequences and repeat ``iterations`` times:

    v' = min(v, ((m - low) / 2)^2, ((high - m) / 2)^2)       so m +- 2 sqrt(v') stays in the box
    a^(i) = m + sqrt(v') z^(i),  z ~ N(0, 1) truncated to [-2, 2],  i = 1..population
    E = the ``elites`` sequences of largest J
    m <- alpha m + (1 - alpha) mean(E),  v <- alpha v + (1 - alpha) var(E)

The whole population is one (population, H, |A|) array: J is evaluated for every candidate at once.

**Trajectory sampling** (PETS's TS-inf, sec. 5). J(a) is the expected sum of known rewards
r(s_t, a_t, s_{t+1}) over the horizon, estimated with ``particles`` particles per candidate, each
bound to one ensemble member for the whole horizon (particles / E per member) and propagated by
*sampling* that member's Gaussian: s_{t+1} = s_t + mu_e + sigma_e * eps. The particles thus
carry both kinds of uncertainty -- which member is right (epistemic) and the noise each predicts
(aleatoric) -- into the return estimate. All candidates x particles go through the ensemble as
one (E, particles / E * population, in) batch per time step, so a plan costs H x iterations
batched forward passes and no Python loop over candidates or members.

**MPC.** :class:`PlanningActor` replans at every env step, executes the first action of the
final CEM mean, and warm-starts the next plan from the rest of that mean shifted by one step
(the last step filled with the middle of the action box); the variance restarts from
((high - low) / 4)^2 each step, as in PETS.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..runs.threads import single_blas_thread
from .known_rewards import KnownReward

__all__ = ["truncated_standard_normal", "cross_entropy_method", "ensemble_returns", "CEMPlanner",
           "PlanningActor"]


def truncated_standard_normal(rng: np.random.Generator, shape: tuple, bound: float = 2.0,
                              dtype=np.float64) -> np.ndarray:
    """Samples of N(0, 1) conditioned on |z| <= bound, by rejection: redraw the entries outside
    (for bound 2 about 4.6 % per round, so a few rounds suffice)."""
    if not bound > 0:
        raise ValueError(f"truncated_standard_normal: bound must be > 0, got {bound!r}")
    z = rng.standard_normal(shape, dtype=dtype)
    outside = np.abs(z) > bound
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()), dtype=dtype)
        outside = np.abs(z) > bound
    return z


def cross_entropy_method(objective: Callable[[np.ndarray], np.ndarray], mean: np.ndarray, var: np.ndarray,
                         low: np.ndarray, high: np.ndarray, *, population: int, elites: int, iterations: int,
                         alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Maximise ``objective`` (a batch of candidates (population, *mean.shape) -> (population,)
    values) over the box [low, high] with the cross-entropy method (module docstring). Returns the
    final (mean, var)."""
    mean, var = np.array(mean, dtype=np.float64), np.array(var, dtype=np.float64)
    low, high = np.broadcast_to(low, mean.shape), np.broadcast_to(high, mean.shape)
    if mean.shape != var.shape:
        raise ValueError(f"cross_entropy_method: mean {mean.shape} and var {var.shape} differ in shape")
    if not (np.all(low <= mean) and np.all(mean <= high)):
        raise ValueError("cross_entropy_method: the initial mean must lie inside [low, high]")
    if not 0 < elites <= population:
        raise ValueError(f"cross_entropy_method: need 0 < elites <= population, got {elites}, {population}")
    for _ in range(iterations):
        room = np.minimum(mean - low, high - mean)
        std = np.sqrt(np.minimum(var, (room / 2.0) ** 2))
        candidates = mean + std * truncated_standard_normal(rng, (population, *mean.shape))
        values = np.asarray(objective(candidates), dtype=np.float64)
        if values.shape != (population,):
            raise ValueError(f"cross_entropy_method: the objective must return ({population},) values, "
                             f"got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(f"cross_entropy_method: the objective is not finite for "
                                     f"{int((~np.isfinite(values)).sum())} of {population} candidates")
        best = candidates[np.argpartition(values, population - elites)[population - elites:]]
        mean = alpha * mean + (1.0 - alpha) * best.mean(axis=0)
        var = alpha * var + (1.0 - alpha) * best.var(axis=0)
    return mean, var


def ensemble_returns(model, normalizer, reward: KnownReward, obs: np.ndarray, sequences: np.ndarray,
                     particles: int, rng: np.random.Generator) -> np.ndarray:
    """The trajectory-sampling estimate of each sequence's return from ``obs`` (module docstring).

    ``model`` is a :class:`~algorithms.model_based.dynamics.ProbabilisticEnsemble` over normalised (s, a)
    inputs predicting the state change; ``normalizer.normalize`` normalises the inputs;
    ``sequences`` is (P, H, |A|); ``particles`` a multiple of the ensemble size. Returns (P,).
    """
    n_members = model.n_members
    if particles % n_members:
        raise ValueError(f"particles ({particles}) must be a multiple of the ensemble size ({n_members})")
    per_member = particles // n_members
    n_candidates, horizon, _ = sequences.shape
    dtype = model.weights[0].dtype
    obs = np.asarray(obs, dtype=dtype).reshape(-1)
    # Rows of member e's block: particle m of candidate p at row m * P + p.
    state = np.broadcast_to(obs, (n_members, per_member * n_candidates, obs.size)).copy()
    total = np.zeros(state.shape[:2])
    alive = np.ones(state.shape[:2], dtype=bool)
    for t in range(horizon):
        action = np.broadcast_to(np.tile(sequences[:, t].astype(dtype), (per_member, 1)),
                                 (n_members, per_member * n_candidates, sequences.shape[2]))
        mean, logvar = model.predict(normalizer.normalize(np.concatenate([state, action], axis=-1)))
        noise = rng.standard_normal(mean.shape, dtype=np.float32).astype(dtype, copy=False)
        next_state = state + mean + np.exp(0.5 * logvar) * noise
        total += np.where(alive, reward.reward(state, action, next_state), 0.0)
        if reward.terminated is not None:
            alive &= ~reward.terminated(next_state)
        state = next_state
    return total.reshape(particles, n_candidates).mean(axis=0)


class CEMPlanner:
    """CEM over action sequences scored by trajectory sampling: ``plan(model, normalizer, obs, rng,
    warm_start) -> (first action, final mean sequence)``.

    Holds the settings, the env's known reward and ``seed``, the seed of its deterministic
    (evaluation) actors. Its ``state_dict`` (saved in ``model.npz`` beside the ensemble) records
    the settings a run planned with; loading checks they agree.
    """
    SETTINGS = ("horizon", "population", "elites", "iterations", "alpha", "particles")

    def __init__(self, reward: KnownReward, low, high, *, horizon: int, population: int, elites: int,
                 iterations: int, alpha: float, particles: int, seed: int = 0):
        self.reward, self.seed = reward, int(seed)
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.horizon, self.population, self.elites = int(horizon), int(population), int(elites)
        self.iterations, self.alpha, self.particles = int(iterations), float(alpha), int(particles)

    @property
    def initial_var(self) -> np.ndarray:
        """((high - low) / 4)^2 per action dimension, for every step of the horizon."""
        return np.tile(((self.high - self.low) / 4.0) ** 2, (self.horizon, 1))

    def middle(self) -> np.ndarray:
        return np.tile((self.low + self.high) / 2.0, (self.horizon, 1))

    def plan(self, model, normalizer, obs: np.ndarray, rng: np.random.Generator,
             warm_start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        mean = self.middle() if warm_start is None else warm_start

        def objective(sequences):
            return ensemble_returns(model, normalizer, self.reward, obs, sequences, self.particles, rng)

        mean, _ = cross_entropy_method(objective, mean, self.initial_var, self.low, self.high,
                                       population=self.population, elites=self.elites,
                                       iterations=self.iterations, alpha=self.alpha, rng=rng)
        return mean[0], mean

    def shifted(self, mean: np.ndarray) -> np.ndarray:
        """The warm start of the next step: the plan without its first action, the middle appended."""
        return np.concatenate([mean[1:], self.middle()[:1]], axis=0)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in self.SETTINGS}

    def load_state_dict(self, state: dict) -> None:
        for name in self.SETTINGS:
            if name not in state:
                raise ValueError(f"CEMPlanner.load_state_dict: missing {name!r}")
            if not np.isclose(float(state[name]), float(getattr(self, name))):
                raise ValueError(f"the saved planner used {name}={state[name].item()!r}, this one has "
                                 f"{getattr(self, name)!r}")


class PlanningActor:
    """Model-predictive control: ``act(obs)`` plans from ``obs`` and returns the first action.

    ``rng`` (a Generator) is used as given, across episodes (training). With ``seed`` instead,
    the actor is deterministic per episode: at the first step after :meth:`reset` (and at its first
    step ever) its generator is reseeded from ``seed`` and that step's observation, so an episode
    is a function of its initial state alone, however many episodes came before -- the
    "deterministic" evaluation of a sampling-based planner. :meth:`reset` also drops the warm start.
    ``seconds`` and ``calls`` accumulate the time spent planning.
    """

    def __init__(self, planner: CEMPlanner, model, normalizer, rng: np.random.Generator | None = None,
                 seed: int | None = None):
        if (rng is None) == (seed is None):
            raise ValueError("PlanningActor needs exactly one of rng (a Generator) or seed (an int)")
        self.planner, self.model, self.normalizer = planner, model, normalizer
        self.rng, self.seed = rng, seed
        self.warm_start = None
        self.seconds, self.calls = 0.0, 0

    def reset(self) -> None:
        self.warm_start = None

    @single_blas_thread  # thousands of small products per plan: a second BLAS thread only costs
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        obs = np.asarray(obs, dtype=np.float32)
        if self.seed is not None and self.warm_start is None:
            entropy = [self.seed, *np.frombuffer(obs.tobytes(), dtype=np.uint32).tolist()]
            self.rng = np.random.default_rng(entropy)
        action, mean = self.planner.plan(self.model, self.normalizer, obs, self.rng, self.warm_start)
        self.warm_start = self.planner.shifted(mean)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return action.astype(np.float32)
