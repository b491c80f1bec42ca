"""Deep-RL losses: gradchecks in float64 w.r.t. every network parameter, and the targets they
build on hand-made batches (terminated transitions do not bootstrap, truncated ones do)."""
import numpy as np
import pytest

from algorithms.buffers import Rollout, Transitions
from algorithms.losses import (a2c_loss, double_dqn_loss, double_dqn_targets, dqn_loss, dqn_targets,
                               reinforce_loss, standardize)
from tinygrad_rl import Tensor, gradcheck, nn

OBS_DIM, N_ACTIONS, BATCH = 3, 2, 6


def net(out: int, seed: int) -> nn.MLP:
    return nn.MLP([OBS_DIM, 5, out], activation="tanh", rng=seed).to_dtype(np.float64)


def random_transitions(seed: int = 0) -> Transitions:
    rng = np.random.default_rng(seed)
    return Transitions(obs=rng.standard_normal((BATCH, OBS_DIM)), actions=rng.integers(0, N_ACTIONS, BATCH),
                       rewards=rng.standard_normal(BATCH), next_obs=rng.standard_normal((BATCH, OBS_DIM)),
                       terminated=np.array([1, 0, 0, 1, 0, 0], dtype=bool),
                       truncated=np.array([0, 1, 0, 0, 0, 0], dtype=bool))


def random_rollout(seed: int = 1) -> Rollout:
    rng = np.random.default_rng(seed)
    return Rollout(obs=rng.standard_normal((BATCH, OBS_DIM)), actions=rng.integers(0, N_ACTIONS, BATCH),
                   advantages=rng.standard_normal(BATCH), returns=3.0 * rng.standard_normal(BATCH))


# --------------------------------------------------------------------------- gradchecks


@pytest.mark.parametrize("loss_fn", [dqn_loss, double_dqn_loss])
@pytest.mark.parametrize("penalty", ["huber", "mse"])
def test_td_losses_gradcheck_every_online_parameter(loss_fn, penalty):
    q_net, target_net, batch = net(N_ACTIONS, 0), net(N_ACTIONS, 1), random_transitions()
    assert gradcheck(lambda *params: loss_fn(batch, q_net, target_net, 0.9, penalty)[0], q_net.parameters())


@pytest.mark.parametrize("loss_fn", [dqn_loss, double_dqn_loss])
def test_td_targets_carry_no_gradient(loss_fn):
    q_net, target_net, batch = net(N_ACTIONS, 0), net(N_ACTIONS, 1), random_transitions()
    loss, _ = loss_fn(batch, q_net, target_net, 0.9)
    loss.backward()
    assert all(p.grad is None for p in target_net.parameters())
    assert all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in q_net.parameters())


def test_a2c_loss_gradcheck_every_parameter():
    policy, value, batch = net(N_ACTIONS, 2), net(1, 3), random_rollout()
    params = policy.parameters() + value.parameters()
    assert gradcheck(lambda *p: a2c_loss(batch, policy, value, 0.5, 0.01, normalize_advantages=True)[0], params)


@pytest.mark.parametrize("baseline", ["none", "mean", "learned"])
@pytest.mark.parametrize("normalize", [False, True])
def test_reinforce_loss_gradcheck_policy_parameters(baseline, normalize):
    policy, value, batch = net(N_ACTIONS, 4), net(1, 5), random_rollout()
    assert gradcheck(lambda *p: reinforce_loss(batch, policy, value, baseline, normalize)[0], policy.parameters())


def test_reinforce_value_term_gradcheck_and_detached_baseline():
    policy, value, batch = net(N_ACTIONS, 4), net(1, 5), random_rollout()
    # The baseline enters the policy term as a constant: only the value term trains V.
    assert gradcheck(lambda *p: reinforce_loss(batch, policy, value, "learned")[1]["value"], value.parameters())
    _, terms = reinforce_loss(batch, policy, value, "learned")
    terms["policy"].backward()
    assert all(p.grad is None for p in value.parameters())


# --------------------------------------------------------------------------- hand-made targets


class TableNet:
    """Q(s, .) = table[s] for observations holding the state index in column 0."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)

    def __call__(self, obs: Tensor) -> Tensor:
        return Tensor(self.table[obs.data[:, 0].astype(int)])


def hand_batch() -> Transitions:
    # Three transitions, all landing in state 1 where Q_target = [2, 5] and Q_online = [4, 3].
    return Transitions(obs=np.zeros((3, 1)), actions=np.array([0, 1, 0]), rewards=np.array([1.0, 1.0, 0.5]),
                       next_obs=np.ones((3, 1)),
                       terminated=np.array([True, False, False]), truncated=np.array([False, True, False]))


def test_dqn_target_terminated_does_not_bootstrap_truncated_does():
    target_net = TableNet([[0.0, 0.0], [2.0, 5.0]])
    y = dqn_targets(hand_batch(), target_net, gamma=0.9)
    np.testing.assert_allclose(y, [1.0, 1.0 + 0.9 * 5.0, 0.5 + 0.9 * 5.0])


def test_double_dqn_target_online_selects_target_evaluates():
    online, target = TableNet([[0.0, 0.0], [4.0, 3.0]]), TableNet([[0.0, 0.0], [2.0, 5.0]])
    y = double_dqn_targets(hand_batch(), online, target, gamma=0.9)
    # argmax of the online net in state 1 is action 0, evaluated by the target net: 2.
    np.testing.assert_allclose(y, [1.0, 1.0 + 0.9 * 2.0, 0.5 + 0.9 * 2.0])


def test_dqn_loss_value_matches_hand_computation():
    online = net(N_ACTIONS, 0)
    target = TableNet([[0.0, 0.0], [2.0, 5.0]])
    batch = hand_batch()
    batch = Transitions(np.random.default_rng(0).standard_normal((3, OBS_DIM)), batch.actions, batch.rewards,
                        np.ones((3, OBS_DIM)), batch.terminated, batch.truncated)
    q = online(Tensor(batch.obs)).data[np.arange(3), batch.actions]
    y = np.array([1.0, 1.0 + 0.9 * 5.0, 0.5 + 0.9 * 5.0])
    loss, terms = dqn_loss(batch, online, target, 0.9, penalty="mse")
    assert loss.item() == pytest.approx(np.mean((q - y) ** 2), rel=1e-10)
    assert set(terms) == {"td"}
    d = np.abs(q - y)
    huber = np.where(d <= 1.0, 0.5 * d ** 2, d - 0.5).mean()
    assert dqn_loss(batch, online, target, 0.9, penalty="huber")[0].item() == pytest.approx(huber, rel=1e-10)


def fixed_policy(logits):
    logits = np.asarray(logits, dtype=np.float64)
    return lambda obs: Tensor(np.broadcast_to(logits, (obs.shape[0], len(logits))).copy(), requires_grad=True)


def test_reinforce_mean_baseline_matches_hand_computation():
    batch = Rollout(obs=np.zeros((3, 1)), actions=np.array([0, 1, 1]), advantages=np.zeros(3),
                    returns=np.array([3.0, 1.0, 2.0]))
    log_pi = np.log(np.array([0.25, 0.75]))
    loss, terms = reinforce_loss(batch, fixed_policy(np.log([1.0, 3.0])), baseline="mean", normalize_returns=False)
    weights = batch.returns - 2.0
    expected = -np.mean(log_pi[batch.actions] * weights)
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    assert set(terms) == {"policy"}


def test_a2c_loss_terms_match_hand_computation():
    batch = Rollout(obs=np.zeros((2, 1)), actions=np.array([1, 0]), advantages=np.array([2.0, -1.0]),
                    returns=np.array([1.0, 0.0]))
    value = lambda obs: Tensor(np.full((obs.shape[0], 1), 0.5))  # noqa: E731
    loss, terms = a2c_loss(batch, fixed_policy(np.log([1.0, 3.0])), value, value_coef=0.5, entropy_coef=0.1)
    p = np.array([0.25, 0.75])
    policy = -np.mean(np.log(p[[1, 0]]) * np.array([2.0, -1.0]))
    value_term = np.mean((0.5 - np.array([1.0, 0.0])) ** 2)
    entropy = -np.sum(p * np.log(p))
    assert terms["policy"].item() == pytest.approx(policy)
    assert terms["value"].item() == pytest.approx(value_term)
    assert terms["entropy"].item() == pytest.approx(entropy)
    assert loss.item() == pytest.approx(policy + 0.5 * value_term - 0.1 * entropy)


def test_standardize_and_bad_arguments():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    z = standardize(x)
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="penalty"):
        dqn_loss(random_transitions(), net(N_ACTIONS, 0), net(N_ACTIONS, 1), 0.9, penalty="l1")
    with pytest.raises(ValueError, match="baseline"):
        reinforce_loss(random_rollout(), net(N_ACTIONS, 0), None, baseline="median")
    with pytest.raises(ValueError, match="value_net"):
        reinforce_loss(random_rollout(), net(N_ACTIONS, 0), None, baseline="learned")
