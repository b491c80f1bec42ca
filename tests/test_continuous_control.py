"""Off-policy actor-critics for Box actions (SAC, TD3, DDPG) through the one loss contract:
gradchecks of every term in float64, the squashed log-density against Monte Carlo, stop-gradients,
one optimiser per term (no term's gradient reaches another's nets), delayed actor updates, and the
replay buffer and acting in the env's bounds."""
import dataclasses

import numpy as np
import pytest

from algorithms.buffers import ContinuousTransitions, ReplayBuffer, continuous_batch
from algorithms.configs import DDPGConfig, OffPolicyConfig, SACConfig, TD3Config
from algorithms.loops.metrics_log import MetricsLog
from algorithms.loops.off_policy_continuous import train_off_policy_continuous
from algorithms.loops.training_run import TrainingRun
from algorithms.losses import sac_loss, td3_loss, td3_targets
from algorithms.networks import (
    DeterministicActor,
    EnvSpaces,
    ScalarParameter,
    SquashedGaussianActor,
    log_one_minus_tanh_squared,
    q_networks,
    sac_networks,
    squashed_normal_log_prob,
    td3_networks,
)
from algorithms.registry import get_algorithm, register_algorithm, unregister_algorithm
from tinygrad_rl import Tensor, gradcheck, no_grad

OBS_DIM, BATCH = 3, 6
BOX = EnvSpaces(OBS_DIM, False, action_low=(-1.0, -2.0), action_high=(1.0, 2.0))
ACTION_DIM = BOX.action_dim


def float64_nets(builder, config, seed: int = 0) -> dict:
    """Small tanh networks in float64 with weights large enough that every term has a real gradient."""
    nets = builder(BOX, dataclasses.replace(config, hidden=[5, 4], activation="tanh"), seed)
    rng = np.random.default_rng(seed)
    for net in nets.values():
        net.to_dtype(np.float64)
        for p in net.parameters():
            p.data[...] = rng.standard_normal(p.shape) * 0.6
    return nets


def random_batch(seed: int = 0, update_actor: bool = True) -> ContinuousTransitions:
    rng = np.random.default_rng(seed)
    return ContinuousTransitions(obs=rng.standard_normal((BATCH, OBS_DIM)),
                                 actions=rng.uniform(-1, 1, (BATCH, ACTION_DIM)),
                                 rewards=rng.standard_normal(BATCH), next_obs=rng.standard_normal((BATCH, OBS_DIM)),
                                 terminated=np.array([1, 0, 0, 1, 0, 0], dtype=bool),
                                 truncated=np.array([0, 1, 0, 0, 0, 0], dtype=bool),
                                 noise=rng.standard_normal((BATCH, ACTION_DIM)),
                                 next_noise=rng.standard_normal((BATCH, ACTION_DIM)), update_actor=update_actor)


ALGORITHMS = {"sac": (sac_loss, sac_networks, SACConfig(gamma=0.9)),
              "td3": (td3_loss, td3_networks, TD3Config(gamma=0.9)),
              "ddpg": (td3_loss, td3_networks, DDPGConfig(gamma=0.9))}
# The nets each term is differentiated through (its own nets, and the critic an actor term reads):
# a gradcheck against these checks every derivative the term's backward pass computes.
THROUGH = {"critic": ("critic",), "actor": ("actor", "critic"), "alpha": ("log_alpha",)}


def term_cases():
    for name, (_, _, config) in ALGORITHMS.items():
        for term in get_algorithm(name).optimizers:
            yield name, term


# --------------------------------------------------------------------------- gradchecks and stop-gradients


@pytest.mark.parametrize("algo,term", list(term_cases()))
def test_every_term_gradchecks_against_every_parameter_it_depends_on(algo, term):
    loss_fn, builder, config = ALGORITHMS[algo]
    nets, batch = float64_nets(builder, config), random_batch()
    params = [p for net in THROUGH[term] for p in nets[net].parameters()]
    assert gradcheck(lambda *p: loss_fn(batch, nets, config)[1][term], params)
    if term == "alpha":
        assert params == [nets["log_alpha"].value]


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_the_total_is_the_sum_of_the_optimised_terms(algo):
    # Only logged: each term is applied by its own optimiser (SAC's critic target reads the actor
    # without a gradient, so the total is not a loss of the actor's parameters).
    loss_fn, builder, config = ALGORITHMS[algo]
    loss, terms = loss_fn(random_batch(), float64_nets(builder, config), config)
    assert loss.item() == pytest.approx(sum(terms[t].item() for t in get_algorithm(algo).optimizers))


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_targets_and_temperature_carry_no_gradient(algo):
    loss_fn, builder, config = ALGORITHMS[algo]
    nets = float64_nets(builder, config)
    _, terms = loss_fn(random_batch(), nets, config)
    terms["critic"].backward()
    assert nets["critic"].parameters()[0].grad is not None
    # y is built under no_grad: nothing reaches the targets, the actor or the temperature.
    for name in set(nets) - {"critic"}:
        assert all(p.grad is None for p in nets[name].parameters()), name
    for net in nets.values():
        net.zero_grad()
    terms["actor"].backward()
    assert all(p.grad is None for name in nets if name.endswith("_target") for p in nets[name].parameters())
    if algo == "sac":
        assert nets["log_alpha"].value.grad is None     # alpha is a constant in the actor term


def test_td3_target_smoothing_is_clipped_and_ddpg_has_none():
    nets = float64_nets(td3_networks, TD3Config())
    batch = dataclasses.replace(random_batch(), next_noise=np.full((BATCH, ACTION_DIM), 100.0))
    with no_grad():
        mu = nets["actor_target"](Tensor(batch.next_obs)).data
    config = TD3Config(gamma=0.9, target_noise=0.2, target_noise_clip=0.5)
    smoothed = np.clip(mu + 0.5, -1, 1)                 # 0.2 * 100 clipped to 0.5
    with no_grad():
        q = [c.data for c in nets["critic_target"](Tensor(batch.next_obs), smoothed)]
    expected = batch.rewards + 0.9 * (1 - batch.terminated) * np.minimum(*q)
    np.testing.assert_allclose(td3_targets(batch, nets, config), expected)
    ddpg = float64_nets(td3_networks, DDPGConfig())
    assert len(ddpg["critic"].q) == 1
    with no_grad():
        q1 = ddpg["critic_target"](Tensor(batch.next_obs), ddpg["actor_target"](Tensor(batch.next_obs)))[0].data
    np.testing.assert_allclose(td3_targets(batch, ddpg, DDPGConfig(gamma=0.9)),
                               batch.rewards + 0.9 * (1 - batch.terminated) * q1)


def test_ddpg_is_the_td3_loss_with_its_three_changes_switched_off():
    td3, ddpg = get_algorithm("td3"), get_algorithm("ddpg")
    assert ddpg.loss is td3.loss and ddpg.networks is td3.networks
    config = DDPGConfig()
    assert (config.n_critics, config.target_noise, config.policy_delay) == (1, 0.0, 1)
    assert (TD3Config().n_critics, TD3Config().policy_delay) == (2, 2) and TD3Config().target_noise > 0


def test_delayed_steps_leave_out_the_actor_terms():
    for algo in ALGORITHMS:
        loss_fn, builder, config = ALGORITHMS[algo]
        loss, terms = loss_fn(random_batch(update_actor=False), float64_nets(builder, config), config)
        assert not {"actor", "alpha"} & set(terms) and loss.item() == terms["critic"].item()
    _, terms = sac_loss(random_batch(), float64_nets(sac_networks, SACConfig()), SACConfig(learn_alpha=False))
    assert "alpha" not in terms and "actor" in terms


# --------------------------------------------------------------------------- the squashed Gaussian


def test_squashed_log_density_matches_a_monte_carlo_histogram_in_one_dimension():
    """Density of a = tanh(u), u ~ N(0.4, 0.9^2): the probability of each of 40 bins of (-1, 1)
    from 400,000 samples against the integral of exp(log pi) over the bin (midpoint rule on 200
    points, u = atanh(a)); every bin within 5 standard errors, the total mass within 1e-3 of 1."""
    mean, log_std = Tensor(np.array([0.4])), Tensor(np.array([np.log(0.9)]))
    rng = np.random.default_rng(0)
    samples = np.tanh(0.4 + 0.9 * rng.standard_normal(400_000))
    edges = np.linspace(-1, 1, 41)
    empirical = np.histogram(samples, edges)[0] / samples.size
    fine = np.linspace(-1, 1, 40 * 200 + 1)
    centres = (fine[:-1] + fine[1:]) / 2
    u = np.arctanh(centres)[:, None]
    density = np.exp(squashed_normal_log_prob(mean, log_std, Tensor(u)).data)
    exact = (density * np.diff(fine)).reshape(40, 200).sum(axis=1)
    assert exact.sum() == pytest.approx(1.0, abs=1e-3)
    standard_error = np.sqrt(exact * (1 - exact) / samples.size) + 1e-7
    assert np.all(np.abs(empirical - exact) < 5 * standard_error)


def test_log_one_minus_tanh_squared_is_exact_and_finite_where_the_naive_form_is_not():
    u = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(log_one_minus_tanh_squared(Tensor(u)).data, np.log(1 - np.tanh(u) ** 2), rtol=1e-9)
    far = Tensor(np.array([-60.0, 60.0], dtype=np.float32))
    with np.errstate(divide="ignore"):
        assert np.all(np.isinf(np.log(1 - np.tanh(far.data) ** 2)))       # the naive form underflows
    # log(1 - tanh(u)^2) ~ 2 log 2 - 2|u| for large |u|
    np.testing.assert_allclose(log_one_minus_tanh_squared(far).data, 2 * np.log(2) - 120.0, rtol=1e-6)


def test_squashed_actor_samples_in_the_box_with_the_log_prob_of_its_sample():
    actor = SquashedGaussianActor(BOX, [8], seed=0)
    obs, eps = Tensor(np.random.default_rng(1).standard_normal((4, OBS_DIM)).astype(np.float32)), \
        np.random.default_rng(2).standard_normal((4, ACTION_DIM)).astype(np.float32)
    actions, log_prob = actor.sample(obs, eps)
    mean, log_std = actor(obs)
    u = mean.data + np.exp(log_std.data) * eps
    np.testing.assert_allclose(actions.data, np.tanh(u), rtol=1e-6)
    expected = (-0.5 * eps ** 2 - log_std.data - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2)).sum(axis=1)
    np.testing.assert_allclose(log_prob.data, expected, rtol=1e-4)
    np.testing.assert_allclose(actor.act_deterministic(obs.data), np.tanh(mean.data))


# --------------------------------------------------------------------------- acting and storage


def test_actors_map_the_unit_box_onto_the_env_bounds_and_explore_inside_it():
    for actor in (DeterministicActor(BOX, [8], exploration_noise=5.0, seed=0), SquashedGaussianActor(BOX, [8], seed=0)):
        np.testing.assert_allclose(actor.to_env(np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.5]])),
                                   [[-1.0, -2.0], [1.0, 2.0], [0.0, 1.0]])
        explored = actor.explore(np.zeros((500, OBS_DIM), dtype=np.float32), np.random.default_rng(0))
        assert explored.shape == (500, ACTION_DIM) and np.all(np.abs(explored) <= 1.0)
        assert explored.std(axis=0).min() > 0.3              # it does explore
    with pytest.raises(ValueError, match="needs a Box action space"):
        DeterministicActor(EnvSpaces(OBS_DIM, True, n_actions=2), [8])


def test_replay_buffer_stores_float_actions_and_checks_their_shape():
    buffer = ReplayBuffer(4, (OBS_DIM,), action_shape=(ACTION_DIM,), action_dtype=np.float32)
    for i in range(6):
        buffer.add(np.full(OBS_DIM, i), np.array([0.1 * i, -0.1 * i]), float(i), np.zeros(OBS_DIM), False, False)
    batch = continuous_batch(buffer, 8, np.random.default_rng(0), update_actor=False)
    assert batch.actions.dtype == np.float32 and batch.actions.shape == (8, ACTION_DIM)
    np.testing.assert_allclose(batch.actions[:, 0], 0.1 * batch.obs[:, 0], rtol=1e-6)   # rows stay together
    assert batch.noise.shape == batch.next_noise.shape == (8, ACTION_DIM) and not batch.update_actor
    assert set(batch.rewards) <= {2.0, 3.0, 4.0, 5.0}                                    # the oldest were overwritten
    with pytest.raises(ValueError, match=r"action shape \(3,\) != expected \(2,\)"):
        buffer.add(np.zeros(OBS_DIM), np.zeros(3), 0.0, np.zeros(OBS_DIM), False, False)


# --------------------------------------------------------------------------- one optimiser per term


def small_run(algo: str, **overrides) -> TrainingRun:
    config = get_algorithm(algo).config(hidden=[16, 16], batch_size=32, learning_starts=64, total_steps=200,
                                        eval_every=10_000, **overrides)
    return TrainingRun(algo, "Pendulum-v1", config, None, False, MetricsLog())


def test_each_term_reaches_only_the_optimiser_of_its_own_nets():
    """After ``optimize``, every parameter's gradient is that of its own term alone (measured
    apart from the loop), so the actor term sent nothing to the critic's optimiser."""
    run = small_run("sac")
    buffer = ReplayBuffer(100, (3,), action_shape=(1,), action_dtype=np.float32)
    rng = np.random.default_rng(0)
    for _ in range(100):
        buffer.add(rng.standard_normal(3), rng.uniform(-1, 1, 1), rng.standard_normal(), rng.standard_normal(3),
                   False, False)
    batch = continuous_batch(buffer, 32, rng)
    groups = get_algorithm("sac").optimizers
    alone = {}
    for term, nets in groups.items():
        _, terms = run.loss(batch)
        for net in run.nets.values():
            net.zero_grad()
        terms[term].backward()
        alone[term] = [p.grad.copy() for net in nets for p in run.nets[net].parameters()]
    before = {name: [p.data.copy() for p in net.parameters()] for name, net in run.nets.items()}
    run.optimize(1, *run.loss(batch))
    for term, nets in groups.items():
        for p, expected in zip([p for net in nets for p in run.nets[net].parameters()], alone[term]):
            np.testing.assert_array_equal(p.grad, expected)
        assert run.optimizers[term].step_count == 1
    changed = {name for name, net in run.nets.items()
               if any(not np.array_equal(p.data, b) for p, b in zip(net.parameters(), before[name]))}
    assert changed == {"actor", "critic", "log_alpha"}                      # the loop never trains a target


def test_the_loop_delays_actor_updates_and_polyak_averages_the_targets():
    run = small_run("td3", policy_delay=3, gradient_steps=2, train_freq=2)
    actor_target_before = [p.data.copy() for p in run.nets["actor_target"].parameters()]
    assert train_off_policy_continuous(run) == 200
    updates = (200 - 64) // 2 * 2                                            # 136 critic updates
    assert run.optimizers["critic"].step_count == updates
    assert run.optimizers["actor"].step_count == updates // 3
    # Polyak averaging with tau: the target moved towards the actor, and is not a copy of it.
    moved = [not np.array_equal(p.data, b) for p, b in zip(run.nets["actor_target"].parameters(), actor_target_before)]
    assert all(moved)
    assert not np.array_equal(run.nets["actor_target"].parameters()[0].data, run.nets["actor"].parameters()[0].data)
    run.close()


def test_a_resumed_run_keeps_each_optimiser_and_the_phase_of_the_policy_delay(tmp_path, monkeypatch):
    """Crash a TD3 run after its checkpoint at the end of the first episode (136 updates: not a
    multiple of the delay 3), resume it: the checkpoint holds one optimiser per term, and the run
    ends with as many critic and actor steps as one that never stopped."""
    from algorithms import registry
    from algorithms.runs.experiment import resume_training, run_training
    from algorithms.runs.resume import RESUME_FILE, Checkpointer, read_checkpoint
    spec = get_algorithm("td3")
    config = spec.config(total_steps=400, learning_starts=64, train_freq=2, gradient_steps=2, policy_delay=3,
                         hidden=[8], batch_size=16, eval_every=200, eval_episodes=1)
    calls = {"n": 0}

    def crashing_loss(*args):
        calls["n"] += 1
        if calls["n"] > 180:                       # env step ~244, after the checkpoint at step 200
            raise RuntimeError("injected crash")
        return spec.loss(*args)
    with monkeypatch.context() as patch:
        patch.setitem(registry._ALGORITHMS, "td3", dataclasses.replace(spec, loss=crashing_loss))
        with pytest.raises(RuntimeError, match="injected crash"):
            run_training("td3", "Pendulum-v1", config, tmp_path / "run", progress=False, checkpoint_every=0)
    checkpoint = read_checkpoint(tmp_path / "run" / RESUME_FILE)
    assert checkpoint.env_step == 200 and checkpoint.parts["loop"]["updates"] == 136
    assert int(checkpoint.parts["optimizer_critic"]["step_count"]) == 136
    assert int(checkpoint.parts["optimizer_actor"]["step_count"]) == 136 // 3
    assert "optimizer" not in checkpoint.parts
    final = {}
    save = Checkpointer.save

    def keep_final(self, step, done=False):             # the folder drops resume.npz once finished
        if done:
            final.update({name: part.state_dict() for name, part in self.parts.items()})
        save(self, step, done)
    monkeypatch.setattr(Checkpointer, "save", keep_final)
    resume_training(tmp_path / "run", progress=False, checkpoint_every=0)
    updates = (400 - 64) // 2 * 2
    assert final["loop"]["updates"] == updates
    assert int(final["optimizer_critic"]["step_count"]) == updates
    assert int(final["optimizer_actor"]["step_count"]) == updates // 3


def test_the_continuous_loop_refuses_discrete_actions():
    config = TD3Config(total_steps=10)
    with pytest.raises(ValueError, match="needs a Box action space"):
        TrainingRun("td3", "CartPole-v1", config, None, False, MetricsLog())


# --------------------------------------------------------------------------- the registry


def test_optimizers_are_checked_at_registration_and_against_the_built_nets():
    with pytest.raises(ValueError, match="lower_snake_case loss terms other than 'total'"):
        register_algorithm("bad_terms", loss=td3_loss, loop="off_policy_continuous", optimizers={"total": ("actor",)})
    with pytest.raises(TypeError, match=r"optimizers\['critic'\] must name one or more nets"):
        register_algorithm("bad_nets", loss=td3_loss, loop="off_policy_continuous", optimizers={"critic": ()})
    nets = td3_networks(BOX, TD3Config(hidden=[4]), 0)
    for optimizers, message in (({"critic": ("critic",), "actor": ("actor", "critic")}, "more than one term"),
                                ({"critic": ("critic",)}, r"\['actor'\] have parameters but no term"),
                                ({"critic": ("critic", "actor_target"), "actor": ("actor",)},
                                 "no trainable net of that name")):
        spec = register_algorithm("checked", loss=td3_loss, loop="off_policy_continuous", config=TD3Config,
                                  networks=td3_networks, optimizers=optimizers, replace=True)
        with pytest.raises(ValueError, match=message):
            spec.optimizer_groups(nets)
    unregister_algorithm("checked")
    discrete = EnvSpaces(OBS_DIM, True, n_actions=2)
    assert get_algorithm("dqn").optimizer_groups(q_networks(discrete, OffPolicyConfig(hidden=[4]), 0)) == \
        {"total": ("q_net",)}
    log_alpha = sac_networks(BOX, SACConfig(hidden=[4], alpha_init=0.5), 0)["log_alpha"]
    assert isinstance(log_alpha, ScalarParameter) and log_alpha().item() == pytest.approx(np.log(0.5))


def test_large_arrays_freed_by_an_update_are_reused_without_page_faults():
    """40 arrays of 256 KB made and freed together, as an update's activations and gradients are:
    by default glibc maps each afresh (about 2,500 page faults per round measured here); with
    reuse_freed_memory they come back from the heap."""
    resource = pytest.importorskip("resource")
    from algorithms.runs.threads import reuse_freed_memory
    if not reuse_freed_memory():
        pytest.skip("the C library has no mallopt (not glibc)")

    def one_round():
        arrays = [np.ones((256, 256), dtype=np.float32) for _ in range(40)]
        return sum(float(a[0, 0]) for a in arrays)
    for _ in range(3):
        one_round()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        one_round()
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20 < 100
