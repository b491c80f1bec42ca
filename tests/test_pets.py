"""PETS: the ensemble's Gaussian NLL (gradchecked, value checked), the soft log-variance bounds, the
ensemble's spread away from its data, CEM on a known quadratic, trajectory sampling against the
true dynamics, the known rewards against the envs, the deterministic planning actor, and the
CLI on an env without a known reward."""
import json
import math
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from algorithms.configs import PETSConfig
from algorithms.loops.gradcheck_batches import model_based_batch
from algorithms.loops.model_based import fit_normalizer
from algorithms.model_based.cem_planner import (
    CEMPlanner,
    PlanningActor,
    cross_entropy_method,
    ensemble_returns,
    truncated_standard_normal,
)
from algorithms.model_based.dynamics import ProbabilisticEnsemble, gaussian_nll, soft_bounded_logvar
from algorithms.model_based.known_rewards import known_reward, known_reward_envs, pendulum_state_change, register_reward
from algorithms.model_based.pets import ModelBatch, TransitionData, pets_loss, pets_networks
from algorithms.networks import EnvSpaces
from algorithms.runs.cli import main
from tinygrad_rl import Tensor, gradcheck, optim

PENDULUM = EnvSpaces(3, False, action_low=(-2.0,), action_high=(2.0,), env_id="Pendulum-v1")


def small_nets(seed=0, dtype=np.float64):
    config = PETSConfig(hidden=[6, 5], activation="tanh", ensemble_size=3, particles=3)
    nets = pets_networks(PENDULUM, config, seed)
    nets["dynamics"].to_dtype(dtype)
    return nets, config


def random_batch(n_members=3, rows=7, seed=1) -> ModelBatch:
    rng = np.random.default_rng(seed)
    return ModelBatch(rng.standard_normal((n_members, rows, 4)), 0.3 * rng.standard_normal((n_members, rows, 3)))


# --------------------------------------------------------------------------- the loss


def test_gaussian_nll_gradchecks_against_every_model_parameter():
    nets, config = small_nets()
    batch = random_batch()
    model = nets["dynamics"]
    # Bounds near the outputs, so the soft bounds bend the log-variance and are checked where they act.
    model.max_logvar.data[...] = [-0.5, 0.2, 0.0]
    model.min_logvar.data[...] = [-1.5, -1.0, -2.0]
    names = [name for name, _ in model.named_parameters()]
    assert names[-2:] == ["max_logvar", "min_logvar"] and len(names) == 8
    assert gradcheck(lambda *params: pets_loss(batch, nets, config)[0], model.parameters())


def test_nll_value_is_the_gaussian_negative_log_likelihood_summed_over_members():
    nets, config = small_nets()
    batch = random_batch()
    loss, terms = pets_loss(batch, nets, config)
    mean, logvar = (t.data for t in nets["dynamics"](Tensor(batch.inputs)))
    delta, var = batch.targets, np.exp(logvar)
    log_density = -0.5 * (delta - mean) ** 2 / var - 0.5 * np.log(2 * math.pi * var)
    assert np.isclose(float(terms["nll"].data), -log_density.mean(axis=(1, 2)).sum(), rtol=1e-10)
    bounds = nets["dynamics"].max_logvar.data.sum() - nets["dynamics"].min_logvar.data.sum()
    assert np.isclose(float(terms["logvar_bounds"].data), bounds)
    assert np.isclose(float(loss.data), float(terms["nll"].data) + 0.01 * bounds)


def test_soft_bounds_keep_the_log_variance_inside_smoothly():
    raw = Tensor(np.array([-1e4, -30.0, -10.0, -2.0, 0.0, 0.5, 3.0, 1e4]), requires_grad=True)
    high, low = Tensor(np.array(0.5), requires_grad=True), Tensor(np.array(-10.0), requires_grad=True)
    out = soft_bounded_logvar(raw, high, low)
    upper = -10.0 + np.logaddexp(0.0, 0.5 + 10.0)              # = 0.5 + 2.8e-5
    assert np.all(np.isfinite(out.data)) and np.all(out.data >= -10.0) and np.all(out.data <= upper)
    assert np.all(np.diff(out.data) >= 0) and np.all(np.diff(out.data[1:-1]) > 0)    # monotone in raw
    assert abs(out.data[3] - (-2.0)) < 0.2                    # inside the bounds: close to the identity
    assert np.isclose(out.data[0], -10.0) and np.isclose(out.data[-1], upper)
    out.sum().backward()
    assert np.all(raw.grad >= 0) and raw.grad[3] > 0.8       # a gradient that fades, never a clip's step
    assert gradcheck(lambda r, high, low: soft_bounded_logvar(r, high, low).sum(),
                     [Tensor(np.array([-12.0, -3.0, 0.2, 2.0]), requires_grad=True),
                      Tensor(np.array(0.5), requires_grad=True), Tensor(np.array(-10.0), requires_grad=True)])


def test_ensemble_spread_grows_away_from_the_training_data():
    """Five members fitted on bootstraps of y = sin(3x) + noise for x in [-1, 1] agree there and
    disagree at |x| = 2.5-3.5: the epistemic uncertainty that trajectory sampling carries."""
    rng = np.random.default_rng(0)
    model = ProbabilisticEnsemble(5, 1, 1, [32, 32], "tanh", seed=1)
    x = rng.uniform(-1, 1, (200, 1))
    y = np.sin(3 * x) + 0.05 * rng.standard_normal(x.shape)
    rows = rng.integers(0, 200, (5, 200))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    for step in range(600):
        batch = rows[:, rng.integers(0, 200, 32)]
        mean, logvar = model(Tensor(x[batch].astype(np.float32)))
        loss = gaussian_nll(mean, logvar, y[batch].astype(np.float32)).mean(axis=(1, 2)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    inside, outside = np.linspace(-0.9, 0.9, 50)[:, None], np.concatenate([np.linspace(-3.5, -2.5, 25),
                                                                             np.linspace(2.5, 3.5, 25)])[:, None]
    spread_in = model.predict(inside)[0].std(axis=0).mean()
    spread_out = model.predict(outside)[0].std(axis=0).mean()
    fit_error = np.abs(model.predict(inside)[0].mean(axis=0) - np.sin(3 * inside)).mean()
    assert fit_error < 0.1
    assert spread_out > 5 * spread_in, (spread_in, spread_out)


def test_predict_is_forward_on_arrays():
    for activation in ("relu", "tanh"):
        model = ProbabilisticEnsemble(4, 3, 2, [7, 5], activation, seed=3)
        x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
        for got, want in zip(model.predict(x), model(Tensor(x))):
            assert np.allclose(got, want.data, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected inputs of shape \(B, 3\) or \(4, B, 3\)"):
        model(Tensor(np.zeros((3, 6, 3), dtype=np.float32)))


# --------------------------------------------------------------------------- the planner


def test_truncated_normal_stays_inside_and_is_standard_inside():
    z = truncated_standard_normal(np.random.default_rng(0), (200_000,), bound=2.0)
    assert np.abs(z).max() <= 2.0
    # Var of N(0, 1) truncated to [-2, 2]: 1 - 2 * 2 phi(2) / (2 Phi(2) - 1) = 0.7737.
    assert abs(z.mean()) < 0.01 and abs(z.var() - 0.7737) < 0.01


def test_cem_finds_the_maximum_of_a_known_quadratic_with_one_batched_call_per_iteration():
    """J(a) = -sum_t (a_t - a*_t)^2 over sequences of 5 one-dimensional actions in [-2, 1], the
    optimum within reach of the first sampling distribution (CEM's variance shrinks as it moves, so
    an optimum many standard deviations away can be missed: the method's known premature convergence)."""
    horizon, target = 5, np.linspace(-0.8, 0.6, 5)[:, None]
    calls = []

    def objective(candidates):
        calls.append(candidates.shape)
        return -((candidates - target) ** 2).sum(axis=(1, 2))

    low, high = np.array([-2.0]), np.array([1.0])
    initial_var = np.full((horizon, 1), ((high - low) / 4) ** 2)
    for seed in range(3):
        calls.clear()
        mean, var = cross_entropy_method(objective, np.zeros((horizon, 1)), initial_var, low, high, population=200,
                                         elites=20, iterations=12, alpha=0.1, rng=np.random.default_rng(seed))
        assert calls == [(200, horizon, 1)] * 12
        assert np.abs(mean - target).max() < 0.005 and var.max() < 1e-4
    # A maximum outside the box: every candidate stays inside and the mean moves up to the bound.
    seen = []

    def beyond_the_box(candidates):
        seen.append((candidates.min(), candidates.max()))
        return -((candidates - 5.0) ** 2).sum(axis=(1, 2))

    mean, _ = cross_entropy_method(beyond_the_box, np.zeros((horizon, 1)), initial_var, low, high,
                                   population=100, elites=10, iterations=15, alpha=0.1, rng=np.random.default_rng(1))
    assert min(lo for lo, _ in seen) >= -2.0 and max(hi for _, hi in seen) <= 1.0
    assert np.all((0.75 < mean) & (mean <= 1.0))


def test_cem_refuses_a_non_finite_objective():
    with pytest.raises(FloatingPointError, match="not finite for 1 of 10 candidates"):
        cross_entropy_method(lambda c: np.where(np.arange(10) == 3, np.nan, 0.0), np.zeros((2, 1)),
                             np.ones((2, 1)), -1.0, 1.0, population=10, elites=2, iterations=1, alpha=0.1,
                             rng=np.random.default_rng(0))


class TruePendulum:
    """A stand-in ensemble whose every member predicts Pendulum's exact state change (with the
    smallest variance the soft bounds allow), on unnormalised inputs."""
    n_members = 2
    weights = [Tensor(np.zeros(1))]       # the dtype the planner computes in: float64
    calls = 0

    def predict(self, x):
        TruePendulum.calls += 1
        delta = pendulum_state_change(x)
        return delta, np.full(delta.shape, -40.0)


class Identity:
    def normalize(self, x):
        return x


def test_trajectory_sampling_through_exact_dynamics_returns_the_envs_returns():
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    sequences = rng.uniform(-2, 2, (4, 12, 1))
    obs, _ = env.reset(seed=3)
    start = env.unwrapped.state.copy()
    true_returns = []
    for sequence in sequences:
        env.reset(seed=3)
        true_returns.append(sum(env.step(a.astype(np.float32))[1] for a in sequence))
    TruePendulum.calls = 0
    estimated = ensemble_returns(TruePendulum(), Identity(), known_reward("Pendulum-v1"), obs, sequences,
                                 particles=4, rng=rng)
    assert TruePendulum.calls == 12                          # one batched call per time step
    assert np.allclose(estimated, true_returns, atol=1e-3), (estimated, true_returns, start)
    with pytest.raises(ValueError, match="multiple of the ensemble size"):
        ensemble_returns(TruePendulum(), Identity(), known_reward("Pendulum-v1"), obs, sequences, 3, rng)


def test_planning_with_exact_dynamics_swings_the_pendulum_up():
    planner = CEMPlanner(known_reward("Pendulum-v1"), [-2.0], [2.0], horizon=15, population=100, elites=10,
                         iterations=4, alpha=0.1, particles=2, seed=0)
    actor = PlanningActor(planner, TruePendulum(), Identity(), seed=0)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=1)
    total = 0.0
    for _ in range(200):
        obs, reward, *_ = env.step(actor(obs))
        total += reward
    assert total > -400 and actor.calls == 200 and actor.seconds > 0


def test_the_planning_actor_is_a_function_of_each_episodes_initial_state():
    nets, _ = small_nets(dtype=np.float32)
    fit_normalizer(nets["input_normalizer"], np.random.default_rng(0).standard_normal((50, 4)))

    def episode(actor, obs):
        actor.reset()
        return [actor(obs + 0.01 * t) for t in range(3)]

    actor = PlanningActor(nets["planner"], nets["dynamics"], nets["input_normalizer"], seed=7)
    first = episode(actor, np.array([1.0, 0.0, 0.5], dtype=np.float32))
    episode(actor, np.array([0.0, 1.0, -1.0], dtype=np.float32))
    again = episode(actor, np.array([1.0, 0.0, 0.5], dtype=np.float32))
    fresh = episode(PlanningActor(nets["planner"], nets["dynamics"], nets["input_normalizer"], seed=7),
                    np.array([1.0, 0.0, 0.5], dtype=np.float32))
    assert np.array_equal(first, again) and np.array_equal(first, fresh)
    other_seed = episode(PlanningActor(nets["planner"], nets["dynamics"], nets["input_normalizer"], seed=8),
                         np.array([1.0, 0.0, 0.5], dtype=np.float32))
    assert not np.array_equal(first, other_seed)
    assert all(-2.0 <= a[0] <= 2.0 and a.dtype == np.float32 for a in first)


# --------------------------------------------------------------------------- known rewards


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_known_rewards_match_the_env(env_id):
    env = gym.make(env_id)
    known = known_reward(env_id)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    rows = []
    for _ in range(600):
        # MountainCar: push with the velocity so that some episodes reach the flag.
        action = np.array([np.sign(obs[1]) * rng.uniform(0.5, 1.0) if env_id.startswith("Mountain")
                           else rng.uniform(-2.5, 2.5)], dtype=np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, next_obs, reward, terminated))
        obs = env.reset()[0] if terminated or truncated else next_obs
    obs, actions, next_obs, rewards, terminated = (np.array(c) for c in zip(*rows))
    assert np.allclose(known.reward(obs, actions, next_obs), rewards, atol=1e-4)
    if known.terminated is not None:
        assert terminated.any() and np.array_equal(known.terminated(next_obs), terminated)
    # Vectorised over any leading shape.
    assert known.reward(obs.reshape(20, 30, -1), actions.reshape(20, 30, -1),
                        next_obs.reshape(20, 30, -1)).shape == (20, 30)


def test_an_env_without_a_known_reward_is_a_clear_error(tmp_path, capsys, monkeypatch):
    assert {"Pendulum-v1", "MountainCarContinuous-v0"} <= set(known_reward_envs())
    with pytest.raises(ValueError, match=r"no known reward function for 'Acrobot-v1'.*registered for .*Pendulum-v1"):
        known_reward("Acrobot-v1")
    with pytest.raises(ValueError, match="already has a reward function"):
        register_reward("Pendulum-v1", known_reward("Pendulum-v1").reward)
    monkeypatch.chdir(tmp_path)
    for env_id in ("CartPole-v1", "Acrobot-v1"):
        assert main(["train", "pets", env_id, "--steps", "100"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pets cannot train on {env_id}: no known reward function" in err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="particles=4: expected a multiple of ensemble_size = 5"):
        PETSConfig(particles=4).validate()


# --------------------------------------------------------------------------- the run folder


def test_train_writes_the_run_folder_and_eval_reproduces_it(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--set", "hidden=8", "--set", "population=12", "--set", "elites=3", "--set", "horizon=3",
            "--set", "cem_iterations=2", "--set", "model_epochs=1", "--set", "random_steps=200"]
    assert main(["train", "pets", "Pendulum-v1", "--steps", "400", "--out", str(run), "--no-progress", "--json",
                 *tiny]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["env_steps"] == 400 and np.isfinite(result["mean_return"])
    planning = json.loads((run / "planning.json").read_text())
    assert planning["planned_steps"] == 200 and planning["model_fits"] == 2 and planning["planning_ms_per_step"] > 0
    with np.load(run / "model.npz", allow_pickle=False) as saved:
        assert saved["dynamics/weights.0"].shape == (5, 4, 8) and saved["planner/horizon"] == 3
        assert saved["input_normalizer/count"] == 400
    terms = (run / "terms.csv").read_text()
    assert ",nll," in terms and ",logvar_bounds," in terms and ",planning_ms_per_step," in terms
    assert main(["eval", str(run), "--episodes", "20"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((run / "eval.json").read_text())


# --------------------------------------------------------------------------- the scripts


def run_script(name, *args, cwd):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=root)
    return subprocess.run([sys.executable, os.path.join(root, "scripts", name), *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)


def test_the_report_scripts_run_on_tiny_budgets_and_resume(tmp_path):
    tiny = [f"--set={item}" for item in ("total_steps=300", "hidden=8", "population=8", "elites=2", "horizon=2",
                                         "cem_iterations=1", "model_epochs=1")]
    done = run_script("pets_pendulum.py", "--seeds", "0", "--runs", "runs", "--out", "figures", *tiny, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "figures" / "pets_pendulum.png").stat().st_size > 10_000
    row = done.stdout.splitlines()[1].split(",")
    assert row[0] == "0" and row[3] in ("True", "False") and "| 0-0 |" in done.stdout
    # A second call reads the finished folder instead of training again.
    again = run_script("pets_pendulum.py", "--seeds", "0", "--runs", "runs", "--out", "figures", *tiny, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.splitlines()[1] == done.stdout.splitlines()[1]
    bad = run_script("pets_pendulum.py", "--seeds", "x-2", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--seeds" in bad.stderr
    exact = run_script("cem_exact_pendulum.py", "--horizons", "3", "--episodes", "1", "--population", "8",
                       "--elites", "2", "--iterations", "1", cwd=tmp_path)
    assert exact.returncode == 0, exact.stderr
    assert exact.stdout.splitlines()[-1].startswith("| 3 | -")


def test_the_loops_batches_normalise_inputs_and_hold_state_changes():
    nets, config = small_nets(dtype=np.float32)
    batch = model_based_batch("Pendulum-v1", nets, config, 16, seed=0)
    assert batch.inputs.shape == (3, 16, 4) and batch.targets.shape == (3, 16, 3) and len(batch) == 16
    normalizer = nets["input_normalizer"]
    assert normalizer.count == 200 and np.all(np.abs(batch.inputs.reshape(-1, 4).mean(axis=0)) < 0.5)
    # Every target is a real state change: undo the normalisation and step the env from that state.
    row = normalizer.mean + batch.inputs[1, 5] * np.sqrt(normalizer.var + normalizer.eps)
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([np.arctan2(row[1], row[0]), row[2]])
    next_obs = env.step(row[3:].astype(np.float32))[0]
    assert np.allclose(next_obs - row[:3], batch.targets[1, 5], atol=1e-4)


def test_transition_data_grows_and_round_trips_its_state():
    data = TransitionData(3, 1, capacity=2)
    for i in range(5):
        data.add(np.full(3, i), [i / 10], np.full(3, i + 1))
    assert len(data) == 5 and data.obs.shape[0] == 8 and data.inputs().shape == (5, 4)
    copy = TransitionData(3, 1, capacity=2)
    copy.load_state_dict(data.state_dict())
    assert len(copy) == 5 and np.array_equal(copy.inputs(), data.inputs())
    with pytest.raises(ValueError, match="next_obs must be finite of shape"):
        copy.load_state_dict({**data.state_dict(), "next_obs": np.zeros((5, 2))})
