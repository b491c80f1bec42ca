"""Replay buffer, vector-env rollouts under gymnasium's next-step autoreset, and A2C's GAE batch."""
import gymnasium as gym
import numpy as np
import pytest

from algorithms.buffers import ReplayBuffer
from algorithms.loops.env_runner import VectorEnvRunner, greedy_episodes_returns
from algorithms.loops.on_policy import on_policy_rollout
from algorithms.networks import sample_categorical
from tinygrad_rl import Tensor


def test_replay_buffer_ring_overwrites_oldest_and_keeps_flags_apart():
    buf = ReplayBuffer(3, (2,))
    for i in range(5):
        buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), terminated=(i == 3), truncated=(i == 4))
    assert len(buf) == 3
    assert sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0]          # 0 and 1 were overwritten
    slot_of = {r: k for k, r in enumerate(buf.rewards.tolist())}
    assert buf.terminated[slot_of[3.0]] and not buf.truncated[slot_of[3.0]]
    assert buf.truncated[slot_of[4.0]] and not buf.terminated[slot_of[4.0]]
    np.testing.assert_array_equal(buf.next_obs[slot_of[4.0]], [5, 5])


def test_replay_buffer_sampling_is_uniform_and_reproducible():
    buf = ReplayBuffer(10, (1,))
    for i in range(10):
        buf.add([i], 0, float(i), [i], False, False)
    a = buf.sample(5000, np.random.default_rng(7))
    b = buf.sample(5000, np.random.default_rng(7))
    np.testing.assert_array_equal(a.rewards, b.rewards)
    counts = np.bincount(a.rewards.astype(int), minlength=10)
    assert counts.min() > 400 and counts.max() < 600            # 500 expected per slot
    np.testing.assert_array_equal(a.obs[:, 0], a.rewards)         # rows stay aligned


def test_replay_buffer_errors():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, (2,))
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2, (2,)).sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"obs shape \(3,\)"):
        ReplayBuffer(2, (2,)).add(np.zeros(3), 0, 0.0, np.zeros(2), False, False)


def collect(num_envs=3, steps=400, max_episode_steps=None, seed=0):
    kwargs = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="sync", **kwargs)
    runner = VectorEnvRunner(envs, seed=seed)
    rng = np.random.default_rng(seed)
    out = [runner.step(rng.integers(0, 2, num_envs)) for _ in range(steps)]
    envs.close()
    return runner, out


def test_next_step_autoreset_no_transition_crosses_an_episode_boundary():
    runner, steps = collect()
    n_invalid = 0
    for t in range(len(steps) - 1):
        cur, nxt = steps[t], steps[t + 1]
        for i in range(3):
            ended = cur.terminated[i] or cur.truncated[i]
            if not cur.valid[i]:
                n_invalid += 1
                # the autoreset call: reward 0, no flags, and it leads to a fresh episode
                assert cur.rewards[i] == 0 and not ended
                assert np.all(np.abs(cur.next_obs[i]) <= 0.05)     # CartPole's reset range
            elif ended:
                assert not nxt.valid[i]                           # the next call is the autoreset
            else:
                np.testing.assert_array_equal(cur.next_obs[i], nxt.obs[i])
                assert nxt.valid[i]
    assert n_invalid >= 10
    # episode bookkeeping counts only real transitions: CartPole pays 1 per step
    valid_rewards = sum(s.rewards[s.valid].sum() for s in steps)
    finished = sum(r for r, _ in runner.finished)
    assert finished <= valid_rewards and all(r == length for r, length in runner.finished)
    assert len(runner.finished) == sum(((s.terminated | s.truncated) & s.valid).sum() for s in steps)


def test_truncated_step_returns_final_obs_not_reset_obs():
    _, steps = collect(num_envs=1, steps=30, max_episode_steps=5)
    truncated = [s for s in steps if s.truncated[0] and s.valid[0]]
    assert len(truncated) >= 4 and not any(s.terminated[0] for s in truncated)
    # next_obs of a truncated step is the episode's 5th-step observation (what V must bootstrap
    # from), never the reset observation that the following autoreset call returns.
    resets = [s.next_obs[0] for s in steps if not s.valid[0]]
    finals = [s.next_obs[0] for s in truncated]
    assert not any(np.array_equal(f, r) for f in finals for r in resets)


class IdentityValue:
    """V(s) = s[0] and log pi = 0, as an actor_critic for checking the rollout arithmetic."""

    def __call__(self, obs):
        return Tensor(np.zeros(obs.shape[0])), Tensor(obs.data[:, 0] * 1.0)

    def evaluate(self, obs, actions):
        out, values = self(obs)
        return out, out, values


def test_on_policy_rollout_bootstraps_truncation_drops_autoreset_rows():
    # One env, 4 steps: normal, truncated (final obs 10), autoreset row, normal.
    obs = np.array([[1.0], [2.0], [10.0], [0.0]])
    next_obs = np.array([[2.0], [10.0], [0.0], [3.0]])
    columns = {"obs": obs[:, None], "next_obs": next_obs[:, None], "actions": np.array([[0], [1], [0], [1]]),
               "rewards": np.array([[1.0], [1.0], [0.0], [1.0]]), "terminated": np.zeros((4, 1), dtype=bool),
               "truncated": np.array([[False], [True], [False], [False]]),
               "valid": np.array([[True], [True], [False], [True]])}
    rollout = on_policy_rollout(columns, IdentityValue(), gamma=0.5, lam=1.0)
    assert len(rollout) == 3
    np.testing.assert_array_equal(rollout.obs[:, 0], [1.0, 2.0, 0.0])
    # t=1 truncated: A = 1 + 0.5 * V(final obs = 10) - 2 = 4, no look-ahead past the end
    # t=0: delta = 1 + 0.5*2 - 1 = 1, A = 1 + 0.5 * 4 = 3;  t=3: A = 1 + 0.5 * 3 - 0 = 2.5
    np.testing.assert_allclose(rollout.advantages, [3.0, 4.0, 2.5])
    np.testing.assert_allclose(rollout.returns, rollout.advantages + rollout.obs[:, 0])
    np.testing.assert_allclose(rollout.values, rollout.obs[:, 0])
    np.testing.assert_array_equal(rollout[np.array([2, 0])].actions, [1, 0])


def test_sample_categorical_matches_softmax_and_is_seeded():
    logits = np.log(np.array([[0.2, 0.5, 0.3]])).repeat(20000, axis=0)
    a = sample_categorical(logits, np.random.default_rng(3))
    np.testing.assert_array_equal(a, sample_categorical(logits, np.random.default_rng(3)))
    np.testing.assert_allclose(np.bincount(a, minlength=3) / len(a), [0.2, 0.5, 0.3], atol=0.015)


def test_greedy_evaluation_is_reproducible():
    env = gym.make("CartPole-v1")
    act = lambda obs: int(obs[2] > 0)  # noqa: E731  (push towards the pole's lean)
    r1 = greedy_episodes_returns(env, act, 3, seed=5)
    r2 = greedy_episodes_returns(env, act, 3, seed=5)
    np.testing.assert_array_equal(r1, r2)
    assert r1.mean() > 30          # the lean heuristic balances far longer than random (~22)
