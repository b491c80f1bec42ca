"""The DQN family's Rainbow components: n-step replay, the sum-tree and prioritized replay, the
weighted n-step TD loss (gradchecks in float64 for every combination with dueling heads and Double
DQN), and the off-policy loop with all of them switched on."""
import itertools

import numpy as np
import pytest

from algorithms.buffers import PrioritizedReplayBuffer, ReplayBuffer, SumTree, Transitions, bootstrap_discounts
from algorithms.configs import OffPolicyConfig
from algorithms.loops.training_run import train
from algorithms.losses import TD_ERROR, double_dqn_loss, double_dqn_targets, dqn_loss, dqn_targets, td_loss
from algorithms.networks import DuelingQNet, EnvSpaces, q_networks
from algorithms.presets import load_preset
from algorithms.registry import register_algorithm, unregister_algorithm
from algorithms.runs.resume import read_checkpoint, write_checkpoint
from tinygrad_rl import Tensor, gradcheck, nn

OBS_DIM, N_ACTIONS, BATCH, GAMMA = 3, 3, 7, 0.9


# --------------------------------------------------------------------------- n-step replay


def play_episodes(buffer, lengths, ends, seed=0):
    """Feed episodes of the given lengths; obs = (episode, t, 0); ``ends[k]`` is "terminated" or
    "truncated" for episode k. Returns the rewards per episode."""
    rng = np.random.default_rng(seed)
    rewards = []
    for episode, (length, end) in enumerate(zip(lengths, ends)):
        r = rng.standard_normal(length)
        rewards.append(r)
        for t in range(length):
            last = t == length - 1
            buffer.add(np.array([episode, t, 0.0]), t % N_ACTIONS, r[t], np.array([episode, t + 1, 0.0]),
                       terminated=last and end == "terminated", truncated=last and end == "truncated")
    return rewards


@pytest.mark.parametrize("n", [1, 3, 5])
def test_no_n_step_transition_crosses_an_episode_boundary(n):
    lengths, ends = [4, 1, 7, 2, 6], ["terminated", "truncated", "truncated", "terminated", "terminated"]
    buffer = ReplayBuffer(100, (3,), n_step=n, gamma=GAMMA)
    rewards = play_episodes(buffer, lengths, ends)
    assert len(buffer) == sum(lengths)                   # one transition per env step, none lost
    for i in range(len(buffer)):
        episode, t = buffer.obs[i, :2].astype(int)
        next_episode, next_t = buffer.next_obs[i, :2].astype(int)
        m = next_t - t
        assert next_episode == episode                   # never into the next episode
        assert m == min(n, lengths[episode] - t) >= 1    # n steps, fewer only at the episode's end
        reaches_end = t + m == lengths[episode]
        assert buffer.terminated[i] == (reaches_end and ends[episode] == "terminated")
        assert buffer.truncated[i] == (reaches_end and ends[episode] == "truncated")
        expected = np.sum(GAMMA ** np.arange(m) * rewards[episode][t:t + m])
        assert buffer.rewards[i] == pytest.approx(expected, rel=1e-6, abs=1e-6)
        # gamma^m * V(s_{t+m}): 0 after a termination, kept through a time-limit truncation
        assert buffer.discounts[i] == pytest.approx(0.0 if buffer.terminated[i] else GAMMA ** m, rel=1e-12)
        assert buffer.actions[i] == t % N_ACTIONS


def test_n_step_window_holds_back_until_full_and_ring_overwrites_oldest():
    buffer = ReplayBuffer(4, (3,), n_step=3, gamma=0.5)
    for t in range(2):
        buffer.add(np.array([0, t, 0.0]), 0, 1.0, np.array([0, t + 1, 0.0]), False, False)
    assert len(buffer) == 0                              # 2 < n steps seen: nothing complete yet
    buffer.add(np.array([0, 2, 0.0]), 0, 1.0, np.array([0, 3, 0.0]), False, False)
    assert len(buffer) == 1 and buffer.rewards[0] == pytest.approx(1 + 0.5 + 0.25)
    assert buffer.discounts[0] == pytest.approx(0.125) and buffer.next_obs[0, 1] == 3
    for t in range(3, 8):
        buffer.add(np.array([0, t, 0.0]), 0, 1.0, np.array([0, t + 1, 0.0]), False, t == 7)
    assert len(buffer) == 4                              # 8 transitions through 4 slots
    assert sorted(buffer.obs[:, 1].astype(int)) == [4, 5, 6, 7]
    batch = buffer.sample(5, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.discounts, buffer.discounts[batch.indices])


def test_one_step_buffer_discounts_are_gamma_unless_terminated():
    buffer = ReplayBuffer(5, (3,), gamma=GAMMA)
    play_episodes(buffer, [2, 2], ["terminated", "truncated"])
    np.testing.assert_allclose(buffer.discounts[:4], [GAMMA, 0.0, GAMMA, GAMMA])
    batch = buffer.sample(6, np.random.default_rng(1))
    np.testing.assert_allclose(bootstrap_discounts(batch, GAMMA), GAMMA * (1.0 - batch.terminated))
    no_gamma = ReplayBuffer(5, (3,))                     # one-step rows without gamma: the loss supplies it
    play_episodes(no_gamma, [2], ["terminated"])
    assert no_gamma.sample(2, np.random.default_rng(0)).discounts is None


def through_a_checkpoint(state: dict, tmp_path) -> dict:
    """``state`` written to a resume checkpoint and read back (arrays in the npz, numbers as JSON)."""
    write_checkpoint(tmp_path / "resume.npz", {"replay": state}, {"run": "test"}, 0, False)
    return read_checkpoint(tmp_path / "resume.npz").parts["replay"]


def test_buffer_state_dict_round_trip_includes_the_open_n_step_window(tmp_path):
    a = ReplayBuffer(6, (3,), n_step=3, gamma=GAMMA)
    play_episodes(a, [5, 4], ["terminated", "truncated"])
    for t in range(2):                                   # an episode still open: 2 steps in the window
        a.add(np.array([9, t, 0.0]), 1, 1.0, np.array([9, t + 1, 0.0]), False, False)
    state = through_a_checkpoint(a.state_dict(), tmp_path)
    assert len(state["window_actions"]) == 2
    b = ReplayBuffer(6, (3,), n_step=3, gamma=GAMMA)
    b.load_state_dict(state)
    for buf in (a, b):
        buf.add(np.array([9, 2, 0.0]), 1, 1.0, np.array([9, 3, 0.0]), True, False)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)
    with pytest.raises(ValueError, match="n_step=3, this buffer has 2"):
        ReplayBuffer(6, (3,), n_step=2, gamma=GAMMA).load_state_dict(state)
    with pytest.raises(ValueError, match="gamma"):
        ReplayBuffer(6, (3,), n_step=3, gamma=0.5).load_state_dict(state)
    with pytest.raises(ValueError, match="window_obs has shape"):
        b.load_state_dict({**state, "window_obs": state["window_obs"][:1]})


def test_cut_episode_stores_the_open_window_as_truncated():
    """A resumed run cannot continue the interrupted episode: its waiting steps are stored with the
    returns up to the cut and a bootstrap discount gamma^m, and the next add starts a new episode."""
    buffer = ReplayBuffer(8, (3,), n_step=3, gamma=GAMMA)
    for t in range(2):
        buffer.add(np.array([0, t, 0.0]), 1, 1.0 + t, np.array([0, t + 1, 0.0]), False, False)
    assert len(buffer) == 0
    buffer.cut_episode()
    assert len(buffer) == 2
    np.testing.assert_allclose(buffer.rewards[:2], [1.0 + GAMMA * 2.0, 2.0])
    np.testing.assert_allclose(buffer.discounts[:2], [GAMMA ** 2, GAMMA])
    np.testing.assert_array_equal(buffer.next_obs[:2], [[0, 2, 0], [0, 2, 0]])
    assert buffer.truncated[:2].all() and not buffer.terminated[:2].any()
    buffer.cut_episode()                                 # nothing waiting: nothing stored
    buffer.add(np.array([1, 0, 0.0]), 0, 5.0, np.array([1, 1, 0.0]), True, False)
    assert len(buffer) == 3 and buffer.rewards[2] == 5.0 and buffer.discounts[2] == 0.0


def test_replay_buffer_bad_arguments():
    with pytest.raises(ValueError, match="n_step=3 needs the discount gamma"):
        ReplayBuffer(4, (3,), n_step=3)
    with pytest.raises(ValueError, match="n_step must be a positive int"):
        ReplayBuffer(4, (3,), n_step=0, gamma=0.9)
    with pytest.raises(ValueError, match="gamma must be in"):
        ReplayBuffer(4, (3,), gamma=1.5)


# --------------------------------------------------------------------------- sum-tree and prioritized replay


@pytest.mark.parametrize("top_level", [0, 1, 8], ids=["walk-from-root", "top-level-1", "top-level-is-leaves"])
def test_sum_tree_finds_the_leaf_whose_prefix_interval_holds_u(top_level):
    tree = SumTree(5, top_level=top_level)               # padded to 8 leaves, 3 of them always 0
    p = np.array([1.0, 2.0, 0.0, 3.0, 4.0])
    tree.update(np.arange(5), p)
    assert tree.total == 10.0 and tree.size == 8 and tree.depth == 3
    u = np.linspace(0.0, 10.0, 2001)[:-1]                # every point of [0, 10) on a fine grid
    expected = np.searchsorted(np.cumsum(p), u, side="right")
    np.testing.assert_array_equal(tree.find(u), expected)
    assert 2 not in tree.find(u)                         # a zero leaf is never found
    assert tree.find([10.0])[0] == 4                     # the top of the range: the last positive leaf
    # Changing leaves keeps every kept inner node the sum of its children (set, update, rebuild agree).
    tree.set(0, 5.0)
    tree.update([3, 3, 1], [9.0, 0.5, 0.25])             # a repeated index keeps its last value
    np.testing.assert_allclose(tree[np.arange(5)], [5.0, 0.25, 0.0, 0.5, 4.0])
    assert tree.total == pytest.approx(9.75)
    nodes = tree.nodes.copy()
    tree.rebuild()
    np.testing.assert_array_equal(tree.nodes, nodes)
    inner = np.arange(1 << tree.top, tree.size)
    np.testing.assert_allclose(tree.nodes[inner], tree.nodes[2 * inner] + tree.nodes[2 * inner + 1])


def test_large_sum_tree_agrees_with_a_cumulative_sum_search():
    rng = np.random.default_rng(0)
    p = rng.exponential(size=3000) * (rng.random(3000) > 0.2)        # a fifth of the leaves are 0
    tree = SumTree(3000)                                             # depth 12: 8 levels as one cumsum, 4 walked
    tree.update(np.arange(3000), p)
    assert tree.total == pytest.approx(p.sum(), rel=1e-12)
    u = rng.random(20_000) * p.sum()
    np.testing.assert_array_equal(tree.find(u), np.searchsorted(np.cumsum(p), u, side="right"))


def test_prioritized_sampling_distribution_equals_the_priorities_exactly():
    # alpha = 1 and priorities 1, 2, 3, 4 (total 10). Stratified sampling with 10 rows draws one
    # prefix sum from each of [0,1), [1,2), ..., [9,10): each segment lies inside one leaf's
    # interval, so whatever the random draws, slot i is sampled exactly p_i times.
    buffer = PrioritizedReplayBuffer(4, (3,), gamma=GAMMA, alpha=1.0, eps=0.5)
    play_episodes(buffer, [4], ["truncated"])
    buffer.update_priorities(np.arange(4), [0.5, -1.5, 2.5, -3.5])     # p = |delta| + 0.5 = 1, 2, 3, 4
    np.testing.assert_allclose(buffer.probabilities(np.arange(4)), [0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    for seed in range(5):
        batch = buffer.sample(10, np.random.default_rng(seed), beta=0.5)
        np.testing.assert_array_equal(np.bincount(batch.indices, minlength=4), [1, 2, 3, 4])
        # w_i = (N P(i))^-beta / max_j w_j: the rarest slot (P = 0.1) has the largest weight.
        w = (4 * np.array([0.1, 0.2, 0.3, 0.4])[batch.indices]) ** -0.5
        np.testing.assert_allclose(batch.weights, w / w.max(), rtol=1e-9)
        np.testing.assert_array_equal(batch.obs[:, 1], batch.indices)    # rows stay aligned with slots


def test_prioritized_sampling_frequencies_follow_p_to_the_alpha():
    alpha = 0.6
    buffer = PrioritizedReplayBuffer(8, (3,), gamma=GAMMA, alpha=alpha)
    play_episodes(buffer, [6], ["terminated"])
    errors = np.array([0.5, 3.0, 0.0, 1.0, 8.0, 0.1])
    buffer.update_priorities(np.arange(6), errors)
    expected = (errors + buffer.eps) ** alpha / np.sum((errors + buffer.eps) ** alpha)
    np.testing.assert_allclose(buffer.probabilities(np.arange(6)), expected, rtol=1e-12)
    rng = np.random.default_rng(3)
    counts = sum(np.bincount(buffer.sample(64, rng).indices, minlength=6) for _ in range(500))
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.01)   # 32,000 draws
    assert buffer.max_priority == pytest.approx(8.0 + buffer.eps)


def test_new_transitions_get_the_largest_priority_so_far():
    buffer = PrioritizedReplayBuffer(8, (3,), gamma=GAMMA, alpha=0.5)
    play_episodes(buffer, [3], ["terminated"])
    np.testing.assert_allclose(buffer.tree[np.arange(3)], 1.0)     # p_max starts at 1
    buffer.update_priorities([0, 1], [4.0, 0.0])
    play_episodes(buffer, [1], ["terminated"])
    assert buffer.tree[3] == pytest.approx((4.0 + buffer.eps) ** 0.5)


def test_prioritized_state_dict_round_trip_samples_the_same(tmp_path):
    a = PrioritizedReplayBuffer(16, (3,), n_step=2, gamma=GAMMA)
    play_episodes(a, [9, 5], ["terminated", "truncated"])
    a.update_priorities(np.arange(10), np.linspace(0.0, 3.0, 10))
    b = PrioritizedReplayBuffer(16, (3,), n_step=2, gamma=GAMMA)
    b.load_state_dict(through_a_checkpoint(a.state_dict(), tmp_path))
    assert b.max_priority == a.max_priority
    x, y = a.sample(32, np.random.default_rng(4), 0.7), b.sample(32, np.random.default_rng(4), 0.7)
    np.testing.assert_array_equal(x.indices, y.indices)
    np.testing.assert_array_equal(x.weights, y.weights)
    np.testing.assert_array_equal(a.tree.nodes, b.tree.nodes)
    with pytest.raises(ValueError, match="missing keys"):
        b.load_state_dict(ReplayBuffer(16, (3,), n_step=2, gamma=GAMMA).state_dict())


def test_prioritized_replay_bad_arguments():
    buffer = PrioritizedReplayBuffer(4, (3,), gamma=GAMMA)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(2, np.random.default_rng(0))
    play_episodes(buffer, [2], ["terminated"])
    with pytest.raises(ValueError, match="beta must be in"):
        buffer.sample(2, np.random.default_rng(0), beta=1.5)
    uniform = ReplayBuffer(4, (3,), gamma=GAMMA)
    play_episodes(uniform, [2], ["terminated"])
    with pytest.raises(ValueError, match=r"ReplayBuffer.sample: beta must be in"):
        uniform.sample(2, np.random.default_rng(0), beta=-0.1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        uniform.sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="TD errors must be finite"):
        buffer.update_priorities([0], [np.nan])
    with pytest.raises(ValueError, match=r"slots must be in \[0, 2\)"):
        buffer.update_priorities([3], [1.0])
    with pytest.raises(ValueError, match="alpha"):
        PrioritizedReplayBuffer(4, (3,), gamma=GAMMA, alpha=-1.0)
    with pytest.raises(ValueError, match="values must be finite and >= 0"):
        SumTree(4).update([0], [-1.0])


# --------------------------------------------------------------------------- the weighted n-step TD loss


def mlp(seed):
    return nn.MLP([OBS_DIM, 5, N_ACTIONS], activation="tanh", rng=seed).to_dtype(np.float64)


def dueling(seed):
    return DuelingQNet(OBS_DIM, N_ACTIONS, [5, 4], "tanh", seed=seed).to_dtype(np.float64)


def q_nets(kind: str) -> dict:
    make = dueling if kind == "dueling" else mlp
    return {"q_net": make(0), "q_net_target": make(1)}


def batch_of(n_step: int, prioritized: bool, seed: int = 0) -> Transitions:
    """Random rows as the buffer would give them: n-step discounts gamma^m (0 after a termination)
    and, with prioritized replay, importance weights in (0, 1]."""
    rng = np.random.default_rng(seed)
    terminated = np.array([1, 0, 0, 1, 0, 0, 0], dtype=bool)
    truncated = np.array([0, 1, 0, 0, 0, 1, 0], dtype=bool)
    m = np.minimum(n_step, np.array([1, 2, 3, 2, 3, 1, 3]))       # shorter windows where episodes ended
    m[~(terminated | truncated)] = n_step
    return Transitions(obs=rng.standard_normal((BATCH, OBS_DIM)), actions=rng.integers(0, N_ACTIONS, BATCH),
                       rewards=rng.standard_normal(BATCH), next_obs=rng.standard_normal((BATCH, OBS_DIM)),
                       terminated=terminated, truncated=truncated,
                       discounts=np.where(terminated, 0.0, GAMMA ** m),
                       weights=rng.uniform(0.2, 1.0, BATCH) if prioritized else None)


COMBINATIONS = list(itertools.product([dqn_loss, double_dqn_loss], [1, 3], ["mlp", "dueling"], [False, True],
                                      ["huber", "mse"]))


@pytest.mark.parametrize("loss_fn, n_step, net, prioritized, penalty", COMBINATIONS,
                         ids=[f"{f.__name__}-n{n}-{k}-{'per' if p else 'uniform'}-{pen}"
                              for f, n, k, p, pen in COMBINATIONS])
def test_weighted_n_step_td_loss_gradcheck_every_combination(loss_fn, n_step, net, prioritized, penalty):
    nets, batch = q_nets(net), batch_of(n_step, prioritized)
    config = OffPolicyConfig(gamma=GAMMA, loss=penalty, n_step=n_step, dueling=net == "dueling",
                             prioritized=prioritized)
    params = nets["q_net"].parameters()
    assert gradcheck(lambda *p: loss_fn(batch, nets, config)[0], params)
    loss, terms = loss_fn(batch, nets, config)
    loss.backward()
    assert all(p.grad is None for p in nets["q_net_target"].parameters())     # targets carry no gradient
    assert terms[TD_ERROR].shape == (BATCH,) and isinstance(terms[TD_ERROR], np.ndarray)


def test_dueling_head_gradcheck_and_mean_subtracted_advantage():
    net = dueling(3)
    obs = np.random.default_rng(0).standard_normal((BATCH, OBS_DIM))
    names = [name for name, _ in net.named_parameters()]
    assert any(n.startswith("value") for n in names) and any(n.startswith("advantage") for n in names)
    assert gradcheck(lambda *p: net(Tensor(obs)), net.parameters())             # the whole Q matrix
    features = net.trunk(Tensor(obs))
    v, a = net.value(features).data, net.advantage(features).data
    q = net(Tensor(obs)).data
    np.testing.assert_allclose(q, v + a - a.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(q.mean(axis=1), v[:, 0], rtol=1e-10, atol=1e-12)   # mean_a Q = V
    np.testing.assert_array_equal(q.argmax(axis=1), a.argmax(axis=1))
    built = q_networks(EnvSpaces(OBS_DIM, True, n_actions=N_ACTIONS), OffPolicyConfig(dueling=True, hidden=[8]), 0)
    assert isinstance(built["q_net"], DuelingQNet)
    np.testing.assert_array_equal(built["q_net"](Tensor(obs)).data, built["q_net_target"](Tensor(obs)).data)


class TableNet:
    """Q(s, .) = table[s] for observations holding the state index in column 0."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)

    def __call__(self, obs: Tensor) -> Tensor:
        return Tensor(self.table[obs.data[:, 0].astype(int)])


def test_n_step_targets_use_the_batch_discounts():
    # Three 3-step rows landing in state 1 (Q_target = [2, 5], Q_online = [4, 3]): a full window,
    # a window cut by truncation after 2 steps (gamma^2 bootstrap), a termination (no bootstrap).
    batch = Transitions(obs=np.zeros((3, 1)), actions=np.array([0, 1, 0]), rewards=np.array([2.0, 1.5, 1.0]),
                        next_obs=np.ones((3, 1)), terminated=np.array([False, False, True]),
                        truncated=np.array([False, True, False]),
                        discounts=np.array([GAMMA ** 3, GAMMA ** 2, 0.0]))
    online, target = TableNet([[0.0, 0.0], [4.0, 3.0]]), TableNet([[0.0, 0.0], [2.0, 5.0]])
    np.testing.assert_allclose(dqn_targets(batch, target, GAMMA), [2.0 + GAMMA ** 3 * 5, 1.5 + GAMMA ** 2 * 5, 1.0])
    np.testing.assert_allclose(double_dqn_targets(batch, online, target, GAMMA),
                               [2.0 + GAMMA ** 3 * 2, 1.5 + GAMMA ** 2 * 2, 1.0])


def test_weighted_loss_and_td_error_match_hand_computation():
    q_net = mlp(0)
    batch = batch_of(3, prioritized=True, seed=2)
    targets = np.random.default_rng(5).standard_normal(BATCH) * 2
    loss, terms = td_loss(batch, q_net, targets, "huber")
    q = q_net(Tensor(batch.obs)).data[np.arange(BATCH), batch.actions]
    d = np.abs(q - targets)
    huber = np.where(d <= 1.0, 0.5 * d ** 2, d - 0.5)
    assert loss.item() == pytest.approx(np.mean(batch.weights * huber), rel=1e-12)
    np.testing.assert_allclose(terms[TD_ERROR], targets - q, rtol=1e-12)
    uniform = Transitions(batch.obs, batch.actions, batch.rewards, batch.next_obs, batch.terminated, batch.truncated)
    assert td_loss(uniform, q_net, targets, "mse")[0].item() == pytest.approx(np.mean((q - targets) ** 2), rel=1e-12)
    with pytest.raises(ValueError, match="weights shape"):
        bad = Transitions(batch.obs, batch.actions, batch.rewards, batch.next_obs, batch.terminated,
                          batch.truncated, weights=np.ones(3))
        td_loss(bad, q_net, targets)


# --------------------------------------------------------------------------- the loop with everything on

TINY = dict(total_steps=1_500, hidden=[16], learning_starts=200, train_freq=4, gradient_steps=1, batch_size=16,
            target_update_interval=100, eval_every=1_500, eval_episodes=1, buffer_size=1_000)


def test_off_policy_loop_trains_with_every_component_and_is_reproducible():
    overrides = dict(TINY, n_step=3, dueling=True, prioritized=True, seed=2)
    runs = [train("double_dqn", "CartPole-v1", load_preset("double_dqn", "CartPole-v1", overrides))
            for _ in range(2)]
    assert runs[0].env_steps == 1_500 and isinstance(runs[0].nets["q_net"], DuelingQNet)
    losses = [[row["loss"] for row in r.metrics.rows if row.get("loss") is not None] for r in runs]
    assert losses[0] and losses[0] == losses[1]
    assert runs[0].last_eval == runs[1].last_eval
    assert {row["term"] for row in runs[0].metrics.term_rows} == {"total", "td", "lr"}   # td_error is not logged


def test_prioritized_replay_needs_a_loss_that_returns_td_errors():
    def scalar_only_loss(batch, nets, config):
        loss, terms = dqn_loss(batch, nets, config)
        return loss, {"td": terms["td"]}

    register_algorithm("dqn_without_td_error", loss=scalar_only_loss, loop="off_policy", replace=True)
    try:
        config = load_preset("dqn_without_td_error", "CartPole-v1", dict(TINY, prioritized=True))
        with pytest.raises(ValueError, match="needs the loss to return the per-row TD errors"):
            train("dqn_without_td_error", "CartPole-v1", config)
        train("dqn_without_td_error", "CartPole-v1", load_preset("dqn_without_td_error", "CartPole-v1", TINY))
    finally:
        unregister_algorithm("dqn_without_td_error")


@pytest.mark.parametrize("key, value, expected", [("n_step", 0, "an int >= 1"), ("priority_alpha", -0.5, ">= 0"),
                                                  ("priority_beta_start", 1.5, "in [0, 1]"),
                                                  ("priority_eps", 0.0, "> 0")])
def test_rainbow_switches_are_validated(key, value, expected):
    with pytest.raises(ValueError, match=f"invalid {key}=.*{expected.replace('[', '.').replace(']', '.')}"):
        OffPolicyConfig(**{key: value}).validate()


def test_rainbow_resumes_from_a_mid_episode_checkpoint_with_its_n_step_window_and_priorities(tmp_path, monkeypatch):
    """A checkpoint written in the middle of an episode holds the n-step steps still waiting and the
    priorities set by the TD errors; two resumes from it run the same steps to the same weights."""
    import csv
    import dataclasses
    import shutil

    import algorithms.runs.resume as resume
    from algorithms import registry
    from algorithms.runs.checkpoint import read_npz
    from algorithms.runs.experiment import resume_training, run_training

    spec = registry.get_algorithm("dqn_rainbow")
    calls = {"n": 0}

    def crashing_loss(*args):
        calls["n"] += 1
        if calls["n"] > 25:
            raise RuntimeError("injected crash")
        return spec.loss(*args)

    config = load_preset("dqn_rainbow", "CartPole-v1", dict(TINY, total_steps=400, learning_starts=100,
                                                            eval_every=200))
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(resume, "_MIN_PATIENCE_SECONDS", 0.0)   # with checkpoint_every=0: at every safe point
        patch.setitem(registry._ALGORITHMS, "dqn_rainbow", dataclasses.replace(spec, loss=crashing_loss))
        with pytest.raises(RuntimeError, match="injected crash"):
            run_training("dqn_rainbow", "CartPole-v1", config, run, progress=False, checkpoint_every=0)
    replay = read_checkpoint(run / "resume.npz").parts["replay"]
    assert 0 < len(replay["window_actions"]) < config.n_step               # caught mid-episode
    assert replay["priorities"].shape == (replay["size"],) and len(np.unique(replay["priorities"])) > 2
    shutil.copytree(run, tmp_path / "copy")
    first = resume_training(run, progress=False, checkpoint_every=0)
    second = resume_training(tmp_path / "copy", progress=False, checkpoint_every=0)
    assert first == second and not first["interrupted"]

    def rows(folder):
        with open(folder / "metrics.csv", newline="") as f:
            return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(f)]
    assert rows(run) == rows(tmp_path / "copy")
    a, b = read_npz(run / "model.npz"), read_npz(tmp_path / "copy" / "model.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
