"""tinygrad_rl.jit: a replayed step gives the eager step's results bit for bit; a call that leaves its
recording (other shapes, another branch, another parameter, no_grad switched) is caught and recorded
as another path, never replayed wrongly; what a caller keeps from a call keeps its values."""
from __future__ import annotations

import numpy as np
import pytest

import algorithms.builtin  # noqa: F401  (registers the built-in algorithms)
import tinygrad_rl.functional as F
from algorithms.loops.training_run import env_spaces
from algorithms.networks import target_pairs, trained_nets
from algorithms.registry import algorithm_names, get_algorithm
from tinygrad_rl import Tensor, custom_op, detect_anomaly, gradcheck, graph, jit, nn, no_grad, optim
from tinygrad_rl.tensor import concatenate, where


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def twin(make):
    """Two copies of a step built by ``make()`` -> (params, step): one eager, one jitted."""
    params_e, step_e = make()
    params_j, step_j = make()
    return params_e, step_e, params_j, jit(step_j)


# ----------------------------------------------------------------------------- every loss of the library


def _cases():
    for name in algorithm_names():
        spec = get_algorithm(name)
        if spec.loop.envs is not None:      # a loop for some envs only (a planner's): the first of them
            yield name, spec.loop.envs()[0]
            continue
        if spec.loop.name == "off_policy_continuous":
            yield name, "Pendulum-v1"   # Box actions only
            continue
        yield name, "CartPole-v1"
        if spec.loop.name in ("on_policy", "episodic"):
            yield name, "Pendulum-v1"   # the Gaussian policy's ops


@pytest.mark.parametrize("name,env_id", list(_cases()))
def test_replay_is_bit_identical_to_eager_for_every_registered_loss(name, env_id):
    """100 steps of each algorithm's loss, gradient clipping and Adam, target nets Polyak-averaged
    between steps: the jitted copy's losses, terms and parameters equal the eager copy's exactly."""
    spec = get_algorithm(name)
    overrides = dict(hidden=[16, 16])
    if spec.loop.name == "on_policy":
        overrides.update(n_envs=4, n_steps=16)
    config = spec.config(**overrides)
    spaces = env_spaces(env_id)
    nets_of = []

    def make():
        nets = spec.networks(spaces, config, 3)
        nets_of.append(nets)
        params = [p for n in trained_nets(nets) for p in nets[n].parameters()]
        opt = optim.Adam(params, lr=3e-3)

        def step(batch):
            loss, terms = spec.loss(batch, nets, config)
            # Scalar terms, and per-row outputs (td_error) as they are: this call's own arrays.
            values = {k: float(v.data) if isinstance(v, Tensor) else v.tolist() for k, v in terms.items()}
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(params, 0.5)
            opt.step()
            return float(loss.data), values
        return params, step

    params_e, step_e, params_j, step_j = twin(make)
    batches = [spec.loop.sample_batch(env_id, nets_of[0], config, 32, seed) for seed in range(3)]
    for i in range(100):
        batch = batches[i % len(batches)]
        assert step_e(batch) == step_j(batch), f"step {i}"
        if i % 7 == 6:
            for nets in nets_of:
                for target, online in target_pairs(nets):
                    nn.polyak_update(nets[target], nets[online], 0.5)
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert step_j.replayed == 99 and step_j.diverged == 0


# ----------------------------------------------------------------------------- kernels, one by one


def test_every_kernel_and_block_replays_exactly():
    """A step through every op with a replay kernel (and a shared weight, whose gradients add up in
    the eager order), in float64 and float32, with the Huber loss (fused, and per row with
    ``where``) on both sides of delta."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        def make():
            net = nn.MLP([3, 8, 8, 4], activation="tanh", rng=1, dtype=dtype)
            relu_net = nn.Sequential(nn.Linear(4, 5, rng=2, dtype=dtype), nn.ReLU(), nn.Identity())
            shared = Tensor(np.linspace(0.5, 1.5, 4).astype(dtype), requires_grad=True)
            params = net.parameters() + relu_net.parameters() + [shared]
            opt = optim.Adam(params, lr=1e-2)

            def step(x, idx, target):
                h = net(x)                                       # MLP block (tanh)
                h2 = F.linear(h * shared, relu_net[0].weight, relu_net[0].bias).relu()
                g = h2.reshape(-1, 5).squeeze() if h2.shape[0] == 1 else h2
                picked = g[np.arange(len(idx)), idx]            # integer-array getitem
                rows = g[1:3]                                    # basic getitem (a view)
                lp = F.log_softmax(h, axis=-1).gather(1, idx[:, None] % 4).squeeze(-1)
                terms = [F.huber_loss(picked, target, 0.5), F.mse_loss(lp, target),
                         (h.exp() / (1 + h.abs())).log().sum(axis=1).mean(),
                         -(rows.mean(axis=0, keepdims=True) * shared[:1]).sum(),
                         (picked - 2.0).tanh().mean() * shared.mean(),
                         where(np.abs(picked.data) <= 1.0, 0.5 * picked * picked, picked.abs() - 0.5).mean()]
                loss = terms[0]
                for t in terms[1:]:
                    loss = loss + t
                opt.zero_grad()
                loss.backward()
                opt.step()
                return float(loss.data)
            return params, step

        params_e, step_e, params_j, step_j = twin(make)
        for i in range(30):
            x = rng.standard_normal((6, 3)).astype(dtype)
            idx = rng.integers(0, 5, 6)
            target = (rng.standard_normal(6) * 2).astype(dtype)  # |d| on both sides of delta
            assert same_bits(step_e(x, idx, target), step_j(x, idx, target)), (dtype, i)
        assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
        kernels = {type(inst.kernel).__name__ for inst in step_j.programs[0].ops}
        assert {"MLPBlock", "Linear", "ReLU", "GetItem", "Gather", "HuberLoss", "MSELoss", "Mean", "Sum",
                "Where"} <= kernels


# ----------------------------------------------------------------------------- leaving the recording


def _linear_step():
    net = nn.MLP([4, 8, 2], rng=0)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = F.mse_loss(net(x).sum(axis=1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.data)
    return net.parameters(), step


def test_a_new_batch_size_records_another_path_and_both_replay():
    rng = np.random.default_rng(0)
    params_e, step_e, params_j, step_j = twin(_linear_step)
    sizes = [32, 32, 16, 16, 32, 16, 32]
    for n in sizes:
        x, y = rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        assert same_bits(step_e(x, y), step_j(x, y))
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert len(step_j.programs) == 2
    assert step_j.replayed == len(sizes) - 2


def test_data_dependent_python_takes_another_path_correctly():
    """A branch on the data: each call follows the path its data takes; a recorded path is replayed
    only for the branch it recorded, and a call that leaves its path mid-way finishes eagerly."""
    rng = np.random.default_rng(1)

    def make():
        w = Tensor(np.ones(5, np.float32), requires_grad=True)
        opt = optim.Adam([w], lr=0.1)

        def step(x):
            h = (w * x).tanh()
            if float(h.data.mean()) > 0:          # data-dependent Python control flow
                loss = (h * h).sum()
            else:
                loss = (h.exp() - h).mean() * 3.0
            scale = float(np.abs(x).max())         # a Python number computed from the data
            loss = loss * scale
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data)
        return [w], step

    params_e, step_e, params_j, step_j = twin(make)
    for _ in range(40):
        x = rng.standard_normal(5).astype(np.float32) + rng.choice([-1.0, 1.0])
        assert same_bits(step_e(x), step_j(x))
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert len(step_j.programs) == 2 and step_j.diverged >= 1 and step_j.replayed >= 30


def test_another_parameter_set_and_no_grad_switching_are_followed():
    rng = np.random.default_rng(2)

    def make():
        nets = [nn.MLP([3, 6, 1], rng=seed) for seed in (0, 1)]
        params = nets[0].parameters() + nets[1].parameters()
        opt = optim.Adam(params, lr=1e-2)

        def step(x, which, frozen):
            net = nets[which]
            if frozen:
                with no_grad():
                    h = net(x)
                loss = (h.detach() * nets[1 - which](x)).mean()
            else:
                loss = (net(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data)
        return params, step

    params_e, step_e, params_j, step_j = twin(make)
    for i in range(40):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        which, frozen = int(rng.integers(2)), bool(rng.integers(2))
        assert same_bits(step_e(x, which, frozen), step_j(x, which, frozen)), i
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert len(step_j.programs) == 4 and step_j.replayed >= 30


def test_parameters_held_fixed_at_a_backward_receive_nothing_and_are_checked_every_call():
    """One optimiser per loss term, as the off-policy actor-critics have: while a term is
    backpropagated, the other net's parameters are held fixed (requires_grad off) and must receive
    no gradient, on replay as eagerly. Which ones are held is checked at every backward(): holding
    others (here: none, on some calls) records another path instead of replaying a wrong one."""
    rng = np.random.default_rng(4)

    def make():
        actor, critic = nn.MLP([3, 6, 2], rng=0), nn.MLP([5, 6, 1], rng=1)
        opts = {"critic": optim.Adam(critic.parameters(), lr=1e-2), "actor": optim.Adam(actor.parameters(), lr=1e-2)}

        def step(x, y, hold):
            a = actor(Tensor(x)).tanh()
            critic_term = ((critic(Tensor(np.concatenate([x, a.data], axis=1))).reshape(-1) - y) ** 2).mean()
            actor_term = -critic(concatenate([Tensor(x), a], axis=1)).mean()
            for term, loss, held in (("critic", critic_term, actor.parameters()),
                                     ("actor", actor_term, critic.parameters() if hold else [])):
                opts[term].zero_grad()
                for p in held:
                    p.requires_grad = False
                loss.backward()
                for p in held:
                    p.requires_grad = True
            grads = [p.grad.copy() for p in critic.parameters()]
            for opt in opts.values():
                opt.step()
            return float(critic_term.data), float(actor_term.data), grads
        return actor.parameters() + critic.parameters(), step

    params_e, step_e, params_j, step_j = twin(make)
    for i in range(30):
        x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
        hold = i % 5 != 4
        (ce, ae, ge), (cj, aj, gj) = step_e(x, y, hold), step_j(x, y, hold)
        assert (ce, ae) == (cj, aj) and all(same_bits(a, b) for a, b in zip(ge, gj)), i
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert len(step_j.programs) == 2 and step_j.replayed >= 20


def test_the_gradient_of_a_mean_keeps_the_eager_layout():
    """-mean(MLP(x)), the deterministic policy gradient's shape: the gradient reaching the last
    layer's matmul is the eager op's zero-strided view, so X^T G sums in the eager order."""
    rng = np.random.default_rng(6)

    def make():
        net = nn.MLP([5, 6, 1], rng=1)
        opt = optim.Adam(net.parameters(), lr=1e-2)

        def step(x):
            loss = -net(Tensor(x)).mean()
            opt.zero_grad()
            loss.backward()
            grads = [p.grad.copy() for p in net.parameters()]
            opt.step()
            return float(loss.data), grads
        return net.parameters(), step

    params_e, step_e, params_j, step_j = twin(make)
    for i in range(10):
        x = rng.standard_normal((8, 5)).astype(np.float32)
        (le, ge), (lj, gj) = step_e(x), step_j(x)
        assert le == lj and all(same_bits(a, b) for a, b in zip(ge, gj)), i
    assert step_j.replayed == 9


def test_a_call_leaving_its_path_after_a_fused_block_backpropagates_in_order():
    """A branch taken after fused blocks (an MLP, an MSE) and before backward(): the replayed
    blocks get their eager graph (with inner nodes made only then) and the call's backward still
    visits every node after all its consumers."""
    rng = np.random.default_rng(5)

    def make():
        net = nn.MLP([3, 8, 8, 1], rng=0)
        head = Tensor(np.ones(1, np.float32), requires_grad=True)
        opt = optim.Adam(net.parameters() + [head], lr=1e-2)

        def step(x, y, extra):
            loss = F.mse_loss(net(Tensor(x)).reshape(-1), y)
            if extra:                              # another term on some calls only
                loss = loss + (head * head).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data)
        return net.parameters() + [head], step

    params_e, step_e, params_j, step_j = twin(make)
    for i in range(12):
        x, y = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal(6).astype(np.float32)
        assert same_bits(step_e(x, y, i % 3 == 1), step_j(x, y, i % 3 == 1)), i
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert step_j.diverged >= 1 and step_j.replayed >= 6


def test_numpy_targets_and_in_place_changes_are_seen_every_call():
    """Values built outside the ops (targets from a target network under no_grad, a mask, an input
    array changed in place, a parameter loaded in place) reach the replay as this call's data."""
    rng = np.random.default_rng(3)
    buffer = rng.standard_normal((8, 4)).astype(np.float32)

    def make():
        q, target = nn.MLP([4, 16, 2], rng=0), nn.MLP([4, 16, 2], rng=0)
        opt = optim.Adam(q.parameters(), lr=1e-2)

        def step(actions, rewards):
            with no_grad():
                best = target(Tensor(buffer)).data.max(axis=1)
            y = rewards + 0.9 * best
            q_sa = q(Tensor(buffer))[np.arange(8), actions]
            loss = F.huber_loss(q_sa, y.astype(np.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data)
        return (q, target), step

    (qe, te), step_e, (qj, tj), step_j = twin(make)
    for i in range(30):
        actions, rewards = rng.integers(0, 2, 8), rng.standard_normal(8).astype(np.float32)
        buffer[...] = rng.standard_normal((8, 4))        # the input, changed in place
        if i % 10 == 9:
            nn.copy_params(te, qe)
            nn.copy_params(tj, qj)
        assert same_bits(step_e(actions, rewards), step_j(actions, rewards)), i
    assert step_j.replayed == 29


# ----------------------------------------------------------------------------- what the caller keeps


def test_kept_tensors_arrays_and_gradients_keep_their_values():
    net = nn.MLP([3, 4, 2], rng=0)
    opt = optim.Adam(net.parameters(), lr=0.1)

    @jit
    def step(x):
        out = net(x)
        loss = (out * out).mean()
        opt.zero_grad()
        loss.backward()
        return out, loss

    rng = np.random.default_rng(0)
    for _ in range(3):
        step(rng.standard_normal((5, 3)).astype(np.float32))
    out, loss = step(rng.standard_normal((5, 3)).astype(np.float32))
    kept = (out.data.copy(), float(loss.data), out.data[:, 0], net.layers[0].weight.grad)
    kept_grad = kept[3].copy()
    for _ in range(3):
        step(rng.standard_normal((5, 3)).astype(np.float32))
    assert same_bits(out.data, kept[0]) and float(loss.data) == kept[1]
    assert same_bits(kept[2], kept[0][:, 0]) and same_bits(kept[3], kept_grad)
    assert step.replayed >= 5


def test_backward_outside_the_call_raises_a_clear_error():
    w = Tensor(np.ones(3), requires_grad=True)

    @jit
    def step(x):
        h = w * x
        loss = h.sum()
        loss.backward()
        return h

    for _ in range(3):
        h = step(np.arange(3.0))
    with pytest.raises(RuntimeError, match="freed|jit replay"):
        (h * 2).sum().backward()


def test_gradcheck_passes_through_a_jitted_function():
    net = nn.MLP([3, 5, 2], activation="tanh", rng=0).to_dtype(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))
    loss_fn = jit(lambda *_: F.mse_loss(net(x)[np.arange(4), np.array([0, 1, 1, 0])], np.ones(4)))
    with pytest.warns(RuntimeWarning, match="calls no backward"):
        assert gradcheck(loss_fn, net)
    assert loss_fn.replayed > 0   # the finite differences, under no_grad, are replayed


def test_a_custom_op_is_replayed_with_its_own_backward():
    def softsign(x):
        d = 1 + np.abs(x.data)
        return custom_op("softsign", x.data / d, (x,), lambda g: (g / (d * d),))

    def make():
        w = Tensor(np.linspace(-1, 1, 6), requires_grad=True)
        opt = optim.SGD([w], lr=0.5)

        def step(x):
            loss = (softsign(w * x) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data)
        return [w], step

    params_e, step_e, params_j, step_j = twin(make)
    for i in range(10):
        x = np.full(6, 1.0 + i)
        assert same_bits(step_e(x), step_j(x))
    assert same_bits(params_e[0].data, params_j[0].data) and step_j.replayed == 9


def test_what_cannot_be_replayed_runs_eagerly_with_a_warning():
    w = Tensor(np.ones(3), requires_grad=True)
    outside = w * 2.0          # a graph made outside the jitted function

    @jit
    def step(x):
        loss = (outside * x).sum()
        loss.backward()
        return float(loss.data)

    with pytest.warns(RuntimeWarning, match="outside the jitted call"):
        step(np.ones(3))
    for _ in range(10):
        outside = w * 2.0
        w.grad = None
        assert step(np.arange(3.0)) == 6.0 and same_bits(w.grad, np.arange(3.0) * 2)
    assert step.replayed == 0 and not step.programs


def test_an_exception_inside_the_step_leaves_the_jit_usable():
    params, step = _linear_step()
    step = jit(step)
    x, y = np.ones((4, 4), np.float32), np.ones(4, np.float32)
    step(x, y)
    with pytest.raises(ValueError, match="shape"):
        step(x, np.ones(3, np.float32))
    assert np.isfinite(step(x, y)) and step.replayed >= 1


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_anomaly_mode_runs_the_step_eagerly():
    w = Tensor(np.ones(2), requires_grad=True)
    step = jit(lambda x: (w * x).log().sum().backward())
    step(np.ones(2))
    with detect_anomaly(), pytest.raises(Exception, match="log"):
        step(np.array([0.0, 1.0]))


def test_steps_whose_shapes_always_change_back_off_to_eager():
    params, step = _linear_step()
    step = jit(step)
    for n in range(2, 60):
        step(np.ones((n, 4), np.float32), np.ones(n, np.float32))
    assert len(step.programs) <= step.max_programs and step._pause >= 4


def test_program_summary_shows_the_recorded_ops():
    params, step = _linear_step()
    step = jit(step)
    with pytest.raises(TypeError, match="tinygrad_rl.jit"):
        graph.program_summary(step.fn)
    assert "nothing recorded" in graph.program_summary(step)
    for _ in range(2):
        step(np.ones((4, 4), np.float32), np.ones(4, np.float32))
    text = graph.program_summary(step)
    for word in ("Sequential.forward", "MLPBlock", "sum", "mse_loss", "MSELoss", "backward() of #2", "1 backward call"):
        assert word in text


def test_prioritized_replay_gets_this_calls_td_errors_and_reads_each_batchs_weights():
    """Prioritized replay sends the TD errors of each step back as priorities: under replay those are
    this call's (an array kept from an earlier call keeps its values), and the importance weights of
    each batch reach the recorded program as data (changing them changes the loss as eagerly)."""
    import dataclasses

    from algorithms.losses import TD_ERROR
    spec = get_algorithm("dqn_rainbow")
    config = spec.config(hidden=[16, 16])
    nets_of = []

    def make():
        nets = spec.networks(env_spaces("CartPole-v1"), config, 5)
        nets_of.append(nets)
        params = [p for n in trained_nets(nets) for p in nets[n].parameters()]
        opt = optim.Adam(params, lr=3e-3)

        def step(batch):
            loss, terms = spec.loss(batch, nets, config)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.data), terms[TD_ERROR]
        return params, step

    params_e, step_e, params_j, step_j = twin(make)
    batch = spec.loop.sample_batch("CartPole-v1", nets_of[0], config, 32, 0)
    assert batch.weights is not None and batch.discounts is not None
    rng = np.random.default_rng(0)
    kept_e, kept_j = [], []
    for i in range(6):
        weighted = dataclasses.replace(batch, weights=rng.uniform(0.1, 1.0, len(batch)))
        (loss_e, td_e), (loss_j, td_j) = step_e(weighted), step_j(weighted)
        assert loss_e == loss_j and same_bits(td_e, td_j), f"step {i}"
        kept_e.append(td_e)
        kept_j.append(td_j)
    assert all(same_bits(a, b) for a, b in zip(kept_e, kept_j))      # none overwritten by a later call
    assert not any(same_bits(kept_j[0], later) for later in kept_j[1:])
    assert all(same_bits(a.data, b.data) for a, b in zip(params_e, params_j))
    assert step_j.replayed == 5 and step_j.diverged == 0


# ----------------------------------------------------------------------------- the trainers


@pytest.mark.parametrize("algo,env_id,overrides", [
    ("dqn", "CartPole-v1", dict(total_steps=600, learning_starts=100, train_freq=4, batch_size=32,
                                hidden=[32, 32], target_update_interval=50, max_grad_norm=10.0, eval_every=300,
                                eval_episodes=1)),
    ("dqn_rainbow", "CartPole-v1", dict(total_steps=600, learning_starts=100, train_freq=4, batch_size=32,
                                        hidden=[32, 32], target_update_interval=50, max_grad_norm=10.0,
                                        eval_every=300, eval_episodes=1)),
    ("ppo", "CartPole-v1", dict(total_steps=512, n_envs=4, n_steps=32, n_epochs=2, n_minibatches=2,
                                hidden=[16, 16], max_grad_norm=0.5, lr_end_fraction=0.0, target_kl=0.05,
                                eval_every=256, eval_episodes=1)),
    ("sac", "Pendulum-v1", dict(total_steps=400, learning_starts=100, batch_size=32, hidden=[16, 16],
                                eval_every=200, eval_episodes=1)),
    ("td3", "Pendulum-v1", dict(total_steps=400, learning_starts=100, batch_size=32, hidden=[16, 16],
                                max_grad_norm=1.0, eval_every=200, eval_episodes=1)),
])
def test_training_with_the_jit_gives_the_eager_run(algo, env_id, overrides, monkeypatch):
    """The trainers jit their learning step by default; ``jit = false`` turns it off. Both runs of a
    seed end with the same weights, losses and evaluations. SAC and TD3 learn with one optimiser per
    term (the others' nets held fixed during each term's backward); TD3's delayed actor updates take
    one of two recorded paths on alternate steps."""
    import algorithms.loops.training_run as training_run
    from algorithms.configs import apply_overrides, parse_value
    made = []

    def recording_jit(fn, **kwargs):
        made.append(jit(fn, **kwargs))
        return made[-1]
    monkeypatch.setattr(training_run, "jit", recording_jit)
    spec = get_algorithm(algo)
    config = spec.config(**overrides)
    assert config.jit is True and parse_value(spec.config, "jit", "false") is False
    runs = [training_run.train(algo, env_id, apply_overrides(config, {"jit": flag})) for flag in (True, False)]
    assert made[0].replayed > 0.6 * made[0].calls and made[1].replayed == 0 and made[1].calls > 10
    for name, net in runs[0].nets.items():
        if isinstance(net, nn.Module):
            for a, b in zip(net.parameters(), runs[1].nets[name].parameters()):
                assert same_bits(a.data, b.data), name
    assert runs[0].metrics.rows == [dict(r, wall_time=runs[0].metrics.rows[i]["wall_time"])
                                    for i, r in enumerate(runs[1].metrics.rows)]
    assert runs[0].metrics.term_rows == runs[1].metrics.term_rows
    if algo == "td3":                   # policy_delay 2: with and without the actor term
        assert len(made[0].programs) == 2
