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
        (algorithms.model_based.cem_planner; the env's reward is a known function,
        algorithms.model_based.known_rewards)
        and execute the first action of the final CEM mean (model-predictive control)

PETS's data, networks, loss and acting are in :mod:`algorithms.model_based.pets`.

Besides the usual run folder the loop writes ``planning.json``: env steps, planned steps, the
seconds spent planning and fitting the model, and the planning time per env step; the mean
planning time of each episode also goes to ``terms.csv`` as the term ``planning_ms_per_step``.
"""
from __future__ import annotations

import math
import time

import numpy as np

from envs_wrappers.registry import make_plain_env

from ..configs import ModelBasedConfig
from ..model_based.cem_planner import PlanningActor
from ..model_based.pets import TransitionData
from ..networks import RunningMeanStd
from ..runs.checkpoint import write_json
from ..runs.resume import LoopState

__all__ = ["train_model_based", "fit_model", "fit_normalizer", "bootstrap_rows"]


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

