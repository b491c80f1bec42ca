"""Deep-RL losses under the one contract loss(batch, nets, config): gradchecks in float64 w.r.t.
every network parameter (discrete and Gaussian policies, separate and shared trunks), and the
targets and terms on hand-made batches (terminated transitions do not bootstrap, truncated do)."""
import dataclasses

import numpy as np
import pytest

from algorithms.buffers import Episodes, Rollout, Transitions
from algorithms.configs import EpisodicConfig, OffPolicyConfig, OnPolicyConfig, PPOConfig
from algorithms.losses import (
    a2c_loss,
    double_dqn_loss,
    double_dqn_targets,
    dqn_loss,
    dqn_targets,
    ppo_loss,
    reinforce_loss,
    standardize,
)
from algorithms.networks import ActorCritic, Categorical, EnvSpaces
from tinygrad_rl import Tensor, gradcheck, nn, no_grad

OBS_DIM, N_ACTIONS, BATCH = 3, 2, 6
DISCRETE = EnvSpaces(OBS_DIM, True, n_actions=N_ACTIONS)
BOX = EnvSpaces(OBS_DIM, False, action_low=(-1.0, -2.0), action_high=(1.0, 2.0))


def net(out: int, seed: int) -> nn.MLP:
    return nn.MLP([OBS_DIM, 5, out], activation="tanh", rng=seed).to_dtype(np.float64)


def q_nets(seed: int = 0) -> dict:
    return {"q_net": net(N_ACTIONS, seed), "q_net_target": net(N_ACTIONS, seed + 1)}


def actor_critic(spaces=DISCRETE, shared_trunk=False, seed=2) -> ActorCritic:
    ac = ActorCritic(spaces, [5, 4], "tanh", shared_trunk=shared_trunk, log_std_init=-0.3, seed=seed)
    ac.to_dtype(np.float64)
    # Larger head weights than the near-zero policy-head init, so every term has a real gradient.
    for p in ac.parameters():
        p.data[...] = np.random.default_rng(seed).standard_normal(p.shape) * 0.5
    return ac


def random_transitions(seed: int = 0) -> Transitions:
    rng = np.random.default_rng(seed)
    return Transitions(obs=rng.standard_normal((BATCH, OBS_DIM)), actions=rng.integers(0, N_ACTIONS, BATCH),
                       rewards=rng.standard_normal(BATCH), next_obs=rng.standard_normal((BATCH, OBS_DIM)),
                       terminated=np.array([1, 0, 0, 1, 0, 0], dtype=bool),
                       truncated=np.array([0, 1, 0, 0, 0, 0], dtype=bool))


def random_actions(spaces, rng):
    if spaces.discrete:
        return rng.integers(0, N_ACTIONS, BATCH)
    return rng.standard_normal((BATCH, spaces.action_dim))


def random_rollout(ac: ActorCritic, spaces=DISCRETE, seed: int = 1, log_ratio_offsets=None) -> Rollout:
    """A rollout whose old log-probs are the current ones shifted by ``log_ratio_offsets``
    (so the PPO ratio r_t = exp(-offset_t) is known)."""
    rng = np.random.default_rng(seed)
    obs, actions = rng.standard_normal((BATCH, OBS_DIM)), random_actions(spaces, rng)
    with no_grad():
        log_prob, _, values = ac.evaluate(Tensor(obs), actions)
    offsets = np.zeros(BATCH) if log_ratio_offsets is None else np.asarray(log_ratio_offsets)
    return Rollout(obs=obs, actions=actions, log_probs=log_prob.data + offsets, values=values.data + 0.3,
                   advantages=rng.standard_normal(BATCH), returns=3.0 * rng.standard_normal(BATCH))


def random_episodes(seed: int = 1) -> Episodes:
    rng = np.random.default_rng(seed)
    return Episodes(obs=rng.standard_normal((BATCH, OBS_DIM)), actions=rng.integers(0, N_ACTIONS, BATCH),
                    returns=3.0 * rng.standard_normal(BATCH))


# --------------------------------------------------------------------------- gradchecks


@pytest.mark.parametrize("loss_fn", [dqn_loss, double_dqn_loss])
@pytest.mark.parametrize("penalty", ["huber", "mse"])
def test_td_losses_gradcheck_every_online_parameter(loss_fn, penalty):
    nets, batch = q_nets(), random_transitions()
    config = OffPolicyConfig(gamma=0.9, loss=penalty)
    assert gradcheck(lambda *params: loss_fn(batch, nets, config)[0], nets["q_net"].parameters())


@pytest.mark.parametrize("loss_fn", [dqn_loss, double_dqn_loss])
def test_td_targets_carry_no_gradient(loss_fn):
    nets, batch = q_nets(), random_transitions()
    loss, _ = loss_fn(batch, nets, OffPolicyConfig(gamma=0.9))
    loss.backward()
    assert all(p.grad is None for p in nets["q_net_target"].parameters())
    assert all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in nets["q_net"].parameters())


@pytest.mark.parametrize("spaces", [DISCRETE, BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared-trunk"])
def test_a2c_loss_gradcheck_every_parameter(spaces, shared_trunk):
    ac = actor_critic(spaces, shared_trunk)
    batch, config = random_rollout(ac, spaces), OnPolicyConfig(value_coef=0.5, entropy_coef=0.01)
    params = dict(ac.named_parameters())
    assert ("log_std" in params) == (not spaces.discrete)
    assert any(name.startswith("trunk") for name in params) == shared_trunk
    assert gradcheck(lambda *p: a2c_loss(batch, {"actor_critic": ac}, config)[0], list(params.values()))


@pytest.mark.parametrize("spaces", [DISCRETE, BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("clip_range_vf", [0.0, 0.2])
def test_ppo_loss_gradcheck_with_ratios_inside_and_outside_the_clip_range(spaces, clip_range_vf):
    ac = actor_critic(spaces, shared_trunk=False)
    # log r_t = -offset_t: ratios 1, 1.11, 0.90 inside [0.8, 1.2]; 1.65, 0.61, 2.7 outside it.
    offsets = np.array([0.0, -0.1, 0.1, -0.5, 0.5, -1.0])
    batch = random_rollout(ac, spaces, log_ratio_offsets=offsets)
    config = PPOConfig(clip_range=0.2, clip_range_vf=clip_range_vf, entropy_coef=0.01)
    _, terms = ppo_loss(batch, {"actor_critic": ac}, config)
    assert terms["clip_fraction"].item() == pytest.approx(3 / 6)
    assert gradcheck(lambda *p: ppo_loss(batch, {"actor_critic": ac}, config)[0], ac.parameters())


def test_ppo_clipped_rows_send_no_policy_gradient_in_the_direction_they_are_clipped():
    ac = actor_critic(DISCRETE)
    batch = random_rollout(ac, log_ratio_offsets=np.full(BATCH, -1.0))   # every ratio e = 2.7 > 1.2
    batch = dataclasses.replace(batch, advantages=np.ones(BATCH))        # A > 0: the clip binds
    config = PPOConfig(normalize_advantages=False, value_coef=0.0, entropy_coef=0.0)
    loss, terms = ppo_loss(batch, {"actor_critic": ac}, config)
    loss.backward()
    assert all(np.all(p.grad == 0) for p in ac.policy.parameters())
    assert terms["approx_kl"].item() == pytest.approx(np.e - 1 - 1.0)


def test_ppo_at_the_old_policy_equals_the_a2c_policy_gradient():
    # At r = 1 the clipped surrogate's gradient is the vanilla policy gradient (Schulman 2017, sec. 3).
    ac = actor_critic(DISCRETE)
    batch = random_rollout(ac)
    ppo_config = PPOConfig(value_coef=0.0, entropy_coef=0.0)
    a2c_config = OnPolicyConfig(value_coef=0.0, entropy_coef=0.0)
    loss, terms = ppo_loss(batch, {"actor_critic": ac}, ppo_config)
    assert terms["approx_kl"].item() == pytest.approx(0.0, abs=1e-12)
    loss.backward()
    ppo_grads = [p.grad.copy() for p in ac.parameters()]
    ac.zero_grad()
    a2c_loss(batch, {"actor_critic": ac}, a2c_config)[0].backward()
    for g_ppo, p in zip(ppo_grads, ac.parameters()):
        np.testing.assert_allclose(g_ppo, p.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("baseline", ["none", "mean", "learned"])
@pytest.mark.parametrize("normalize", [False, True])
def test_reinforce_loss_gradcheck_every_parameter(baseline, normalize):
    ac, batch = actor_critic(DISCRETE), random_episodes()
    config = EpisodicConfig(baseline=baseline, normalize_returns=normalize)
    assert gradcheck(lambda *p: reinforce_loss(batch, {"actor_critic": ac}, config)[0], ac.policy.parameters())
    if baseline == "learned":
        # The baseline enters the policy term as a stop-gradient constant, so finite differences of
        # the whole loss w.r.t. V's parameters would see it move: V is checked on its own term.
        assert gradcheck(lambda *p: reinforce_loss(batch, {"actor_critic": ac}, config)[1]["value"],
                         ac.value.parameters())


def test_reinforce_learned_baseline_is_detached_in_the_policy_term():
    ac, batch = actor_critic(DISCRETE), random_episodes()
    _, terms = reinforce_loss(batch, {"actor_critic": ac}, EpisodicConfig(baseline="learned"))
    terms["policy"].backward()
    assert all(p.grad is None for p in ac.value.parameters())


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
    nets = {"q_net": online, "q_net_target": TableNet([[0.0, 0.0], [2.0, 5.0]])}
    batch = hand_batch()
    batch = Transitions(np.random.default_rng(0).standard_normal((3, OBS_DIM)), batch.actions, batch.rewards,
                        np.ones((3, OBS_DIM)), batch.terminated, batch.truncated)
    q = online(Tensor(batch.obs)).data[np.arange(3), batch.actions]
    y = np.array([1.0, 1.0 + 0.9 * 5.0, 0.5 + 0.9 * 5.0])
    loss, terms = dqn_loss(batch, nets, OffPolicyConfig(gamma=0.9, loss="mse"))
    assert loss.item() == pytest.approx(np.mean((q - y) ** 2), rel=1e-10)
    assert set(terms) == {"td", "td_error"}          # td_error: per-row y - Q(s, a), for prioritized replay
    np.testing.assert_allclose(terms["td_error"], y - q, rtol=1e-10)
    d = np.abs(q - y)
    huber = np.where(d <= 1.0, 0.5 * d ** 2, d - 0.5).mean()
    assert dqn_loss(batch, nets, OffPolicyConfig(gamma=0.9, loss="huber"))[0].item() == pytest.approx(huber, rel=1e-10)


class FixedActorCritic:
    """pi = softmax(logits) and V = value in every state, as an actor_critic net for hand checks."""

    def __init__(self, logits, value=0.0):
        self.logits, self.value, self.dist = np.asarray(logits, dtype=np.float64), value, Categorical()

    def evaluate(self, obs: Tensor, actions):
        logits = Tensor(np.broadcast_to(self.logits, (obs.shape[0], len(self.logits))).copy(), requires_grad=True)
        values = Tensor(np.full(obs.shape[0], self.value), requires_grad=True)
        return self.dist.log_prob(logits, actions), self.dist.entropy(logits), values


def test_reinforce_mean_baseline_matches_hand_computation():
    batch = Episodes(obs=np.zeros((3, 1)), actions=np.array([0, 1, 1]), returns=np.array([3.0, 1.0, 2.0]))
    log_pi = np.log(np.array([0.25, 0.75]))
    config = EpisodicConfig(baseline="mean", normalize_returns=False)
    loss, terms = reinforce_loss(batch, {"actor_critic": FixedActorCritic(np.log([1.0, 3.0]))}, config)
    expected = -np.mean(log_pi[batch.actions] * (batch.returns - 2.0))
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    assert set(terms) == {"policy"}


def test_a2c_loss_terms_match_hand_computation():
    batch = Rollout(obs=np.zeros((2, 1)), actions=np.array([1, 0]), log_probs=np.zeros(2), values=np.zeros(2),
                    advantages=np.array([2.0, -1.0]), returns=np.array([1.0, 0.0]))
    config = OnPolicyConfig(value_coef=0.5, entropy_coef=0.1, normalize_advantages=False)
    loss, terms = a2c_loss(batch, {"actor_critic": FixedActorCritic(np.log([1.0, 3.0]), value=0.5)}, config)
    p = np.array([0.25, 0.75])
    policy = -np.mean(np.log(p[[1, 0]]) * np.array([2.0, -1.0]))
    value_term = np.mean((0.5 - np.array([1.0, 0.0])) ** 2)
    entropy = -np.sum(p * np.log(p))
    assert terms["policy"].item() == pytest.approx(policy)
    assert terms["value"].item() == pytest.approx(value_term)
    assert terms["entropy"].item() == pytest.approx(entropy)
    assert loss.item() == pytest.approx(policy + 0.5 * value_term - 0.1 * entropy)


def test_ppo_value_clipping_matches_hand_computation():
    # V = 0.5 everywhere; old values 0 and 1; returns 2 and 2; clip c = 0.2.
    batch = Rollout(obs=np.zeros((2, 1)), actions=np.array([1, 0]), log_probs=np.log([0.75, 0.25]),
                    values=np.array([0.0, 1.0]), advantages=np.array([1.0, 1.0]), returns=np.array([2.0, 2.0]))
    config = PPOConfig(clip_range_vf=0.2, normalize_advantages=False, entropy_coef=0.0)
    _, terms = ppo_loss(batch, {"actor_critic": FixedActorCritic(np.log([1.0, 3.0]), value=0.5)}, config)
    # Row 0: clipped V = 0 + 0.2 = 0.2 -> max((1.5)^2, (1.8)^2); row 1: clipped V = 1 - 0.2 = 0.8 -> max(1.5^2, 1.2^2).
    assert terms["value"].item() == pytest.approx((1.8 ** 2 + 1.5 ** 2) / 2)
    assert terms["policy"].item() == pytest.approx(-1.0)       # ratios 1: -mean(A)
    assert terms["approx_kl"].item() == pytest.approx(0.0, abs=1e-12)


def test_gaussian_log_prob_entropy_and_clipped_env_actions():
    ac = actor_critic(BOX)
    obs = np.random.default_rng(0).standard_normal((4, OBS_DIM))
    actions = np.array([[0.1, -3.0], [2.0, 0.0], [-0.5, 0.5], [0.0, 0.0]])
    with no_grad():
        log_prob, entropy, _ = ac.evaluate(Tensor(obs), actions)
        mean = ac.policy(Tensor(obs)).data
    sigma = np.exp(ac.log_std.data)
    expected = (-0.5 * ((actions - mean) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(axis=1)
    np.testing.assert_allclose(log_prob.data, expected, rtol=1e-12)
    assert entropy.item() == pytest.approx(np.sum(0.5 + 0.5 * np.log(2 * np.pi) + np.log(sigma)))
    np.testing.assert_array_equal(ac.dist.to_env(actions), [[0.1, -2.0], [1.0, 0.0], [-0.5, 0.5], [0.0, 0.0]])


def test_standardize_and_bad_arguments():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    z = standardize(x)
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="penalty"):
        dqn_loss(random_transitions(), q_nets(), OffPolicyConfig(loss="l1"))
    with pytest.raises(ValueError, match="baseline"):
        reinforce_loss(random_episodes(), {"actor_critic": actor_critic()}, EpisodicConfig(baseline="median"))
