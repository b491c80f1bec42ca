"""envs_wrappers: make_env, GridWorld, tabular_model, observation encodings."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from envs_wrappers import (
    BlackjackIndex,
    DiscretizeObservation,
    GridWorld,
    OneHotObservation,
    make_env,
    one_hot,
    policy_rollouts,
    registry,
    tabular_model,
)

# --------------------------------------------------------------------------- make_env

def test_make_env_resolves_replaced_version_and_warns_once():
    registry._announced_resolutions.discard("Taxi-v3")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = make_env("Taxi-v3")
        second = make_env("Taxi-v3")
    assert first.spec.id == second.spec.id == "Taxi-v4"
    notices = [w for w in caught if "Taxi-v3" in str(w.message)]
    assert len(notices) == 1 and "Taxi-v4" in str(notices[0].message)


def test_make_env_cliffwalking_v0_and_current_ids():
    registry._announced_resolutions.discard("CliffWalking-v0")
    with pytest.warns(UserWarning, match="'CliffWalking-v1'"):
        assert make_env("CliffWalking-v0").spec.id == "CliffWalking-v1"
    assert make_env("FrozenLake-v1", is_slippery=False).spec.kwargs["is_slippery"] is False


@pytest.mark.parametrize("bad_id, expected", [("Taxy-v3", "Taxi-v4"), ("Taxi-v9", "Taxi-v4"),
                                              ("FrozenLak-v1", "FrozenLake-v1")])
def test_make_env_unknown_id_lists_closest(bad_id, expected):
    with pytest.raises(ValueError, match=expected) as info:
        make_env(bad_id)
    assert bad_id in str(info.value)


# --------------------------------------------------------------------------- GridWorld

def test_gridworld_dynamics_and_render():
    env = GridWorld(render_mode="ansi")
    env.reset(seed=0)
    env.s = 1                                   # top row, next to the terminal corner
    assert env.step(0)[:4] == (1, -1.0, False, False)   # up: off the grid, stays
    assert env.step(3)[:4] == (0, -1.0, True, False)    # left: into the corner, terminates
    env.s = 14
    assert env.step(1)[:3] == (15, -1.0, True)
    assert env.render().splitlines()[0] == "T . . ."
    with pytest.raises(ValueError, match="action"):
        env.step(4)
    with pytest.raises(ValueError, match="size"):
        GridWorld(size=1)


def test_gridworld_resets_to_nonterminal_states_uniformly():
    env = GridWorld(size=5)
    starts = np.array([env.reset(seed=seed)[0] for seed in range(600)])
    assert set(starts.tolist()) == set(range(1, 24))
    assert env.reset(seed=7)[0] == GridWorld(size=5).reset(seed=7)[0]


# --------------------------------------------------------------------------- tabular_model

@pytest.mark.parametrize("make", [
    GridWorld, lambda: make_env("FrozenLake-v1"), lambda: make_env("FrozenLake8x8-v1"),
    lambda: make_env("Taxi-v4"), lambda: make_env("CliffWalking-v1"),
    lambda: make_env("Taxi-v4", is_rainy=True)])
def test_tabular_model_is_a_valid_absorbing_model(make):
    env = make()
    P, R, terminal = model = tabular_model(env)
    S, A = model.n_states, model.n_actions
    assert P.shape == (S, A, S) and R.shape == (S, A) and terminal.shape == (S,)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, atol=1e-12)
    assert terminal.any() and (P >= 0).all()
    idx = np.flatnonzero(terminal)
    np.testing.assert_array_equal(P[idx, :, idx], 1.0)
    np.testing.assert_array_equal(R[terminal], 0.0)
    assert model.end_state is None and model.n_env_states == env.observation_space.n


@pytest.mark.parametrize("env_id, action_probs", [
    ("FrozenLake-v1", None), ("Taxi-v4", None),
    ("CliffWalking-v1", [0.25, 0.4, 0.2, 0.15])])    # drift right so the goal gets reached
def test_tabular_model_matches_real_transitions(env_id, action_probs):
    """Every step of a random real episode is possible in the model; it terminates exactly
    when the model says the next state is terminal; deterministic rewards equal R."""
    env = make_env(env_id)
    P, R, terminal = model = tabular_model(env)
    rng = np.random.default_rng(0)
    state, _ = env.reset(seed=0)
    n_terminations = 0
    for _ in range(3000):
        action = int(rng.choice(model.n_actions, p=action_probs))
        next_state, reward, terminated, truncated, _ = env.step(action)
        assert P[state, action, next_state] > 0
        assert terminated == terminal[next_state]
        if env_id != "FrozenLake-v1":        # deterministic envs: R is the reward itself
            assert R[state, action] == reward
        n_terminations += terminated
        state = env.reset()[0] if terminated or truncated else next_state
    assert n_terminations > 0


def test_taxi_dropoff_ends_the_episode_in_the_model():
    env = make_env("Taxi-v4")
    P, R, terminal = model = tabular_model(env)
    base = env.unwrapped
    # Passenger in the taxi (index 4), taxi at destination 0 = (0, 0): drop-off pays 20 and ends.
    state = base.encode(0, 0, 4, 0)
    done_state = base.encode(0, 0, 0, 0)
    assert P[state, 5, done_state] == 1.0 and R[state, 5] == 20
    assert terminal[done_state] and not model.reachable[done_state]
    assert terminal.sum() == 4 and model.reachable.sum() == 400   # passenger != destination


def test_tabular_model_appends_end_state_when_a_done_target_is_reachable():
    """Two-state chain where 'terminated' lands in the start state itself: only an extra
    absorbing state can carry the episode end."""
    class Loop(gym.Env):
        observation_space = spaces.Discrete(2)
        action_space = spaces.Discrete(1)

        def __init__(self):
            self.initial_state_distrib = np.array([1.0, 0.0])
            self.P = {0: {0: [(1.0, 1, 1.0, False)]}, 1: {0: [(0.5, 0, 2.0, True), (0.5, 1, 0.0, False)]}}

    model = tabular_model(Loop())
    P, R, terminal = model
    assert model.end_state == 2 and model.n_env_states == 2
    np.testing.assert_allclose(P[1, 0], [0.0, 0.5, 0.5])
    np.testing.assert_allclose(P[2, 0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(R[:, 0], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(terminal, [False, False, True])


def test_tabular_model_rejects_envs_without_a_table():
    with pytest.raises(ValueError, match="unwrapped.P"):
        tabular_model(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="fickle"):
        tabular_model(make_env("Taxi-v4", fickle_passenger=True))


# --------------------------------------------------------------------------- observations

def _cartpole_discretized():
    return DiscretizeObservation(gym.make("CartPole-v1"), bins=(3, 4, 5, 6),
                                 low=(-2.4, -3.0, -0.2, -3.5), high=(2.4, 3.0, 0.2, 3.5))


def test_discretize_observation_bins_and_flattening():
    env = _cartpole_discretized()
    assert env.observation_space == spaces.Discrete(3 * 4 * 5 * 6)
    np.testing.assert_array_equal(env.bin_indices(np.array([-2.4, -3.0, -0.2, -3.5])), [0, 0, 0, 0])
    np.testing.assert_array_equal(env.bin_indices(np.array([0.0, 0.0, 0.0, 0.0])), [1, 2, 2, 3])
    # Out-of-range values land in the open-ended edge bins.
    np.testing.assert_array_equal(env.bin_indices(np.array([9.0, -9.0, 1.0, 99.0])), [2, 0, 4, 5])
    assert env.observation(np.array([0.0, 0.0, 0.0, 0.0])) == np.ravel_multi_index((1, 2, 2, 3), (3, 4, 5, 6))
    batch = env.observation(np.array([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 1.0, 99.0]]))
    assert batch.tolist() == [env.observation(np.zeros(4)), env.observation(np.array([9.0, -9.0, 1.0, 99.0]))]
    for index in (0, 17, 359):
        assert env.observation(env.bin_centers(index)) == index
    obs, _ = env.reset(seed=3)
    assert isinstance(obs, int) and 0 <= obs < 360 and env.reset(seed=3)[0] == obs


def test_discretize_single_observation_path_matches_the_batch_path():
    env = _cartpole_discretized()
    observations = np.random.default_rng(0).uniform(-5, 5, size=(2000, 4)).astype(np.float32)
    batch = env.observation(observations)
    singles = [env.observation(o) for o in observations]
    assert all(isinstance(i, int) for i in singles)
    assert singles == batch.tolist() == np.ravel_multi_index(tuple(env.bin_indices(observations).T),
                                                             (3, 4, 5, 6)).tolist()


def test_discretize_observation_bad_input():
    with pytest.raises(ValueError, match="finite"):
        DiscretizeObservation(gym.make("CartPole-v1"), bins=4)
    for bad_bins in (0, (3, 4), 2.5):
        with pytest.raises(ValueError, match="bins must be one positive int or 4"):
            DiscretizeObservation(gym.make("CartPole-v1"), bins=bad_bins, low=-1.0, high=1.0)
    with pytest.raises(ValueError, match="low < high"):
        DiscretizeObservation(gym.make("CartPole-v1"), bins=3, low=1.0, high=-1.0)
    with pytest.raises(ValueError, match="Box"):
        DiscretizeObservation(gym.make("FrozenLake-v1"))


def test_blackjack_index_round_trip_and_wrapper():
    assert all(BlackjackIndex.encode(BlackjackIndex.decode(i)) == i for i in range(BlackjackIndex.n_states))
    assert BlackjackIndex.decode(BlackjackIndex.encode((21, 10, 1))) == (21, 10, 1)
    env = BlackjackIndex(gym.make("Blackjack-v1"))
    obs, _ = env.reset(seed=5)
    raw, _ = gym.make("Blackjack-v1").reset(seed=5)
    assert obs == BlackjackIndex.encode(raw) and env.observation_space == spaces.Discrete(704)
    with pytest.raises(ValueError, match="outside"):
        BlackjackIndex.encode((32, 1, 0))
    with pytest.raises(ValueError, match="704"):
        BlackjackIndex.decode(704)
    with pytest.raises(ValueError, match="Blackjack"):
        BlackjackIndex(gym.make("FrozenLake-v1"))


def test_one_hot_encodings():
    np.testing.assert_array_equal(one_hot(2, 4), [0, 0, 1, 0])
    assert one_hot(np.array([0, 3]), 4).shape == (2, 4)
    with pytest.raises(ValueError, match="index"):
        one_hot(4, 4)
    env = OneHotObservation(make_env("FrozenLake-v1"))
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (16,) and obs[0] == 1.0 and obs.sum() == 1.0


# --------------------------------------------------------------------------- rollouts

def test_policy_rollouts_are_seeded_and_checked():
    env = make_env("FrozenLake-v1", is_slippery=False)
    right_then_down = np.array([2, 2, 1, 0, 1, 0, 1, 0, 2, 2, 1, 0, 0, 2, 2, 0])   # S->G on the 4x4 map
    rollouts = policy_rollouts(env, right_then_down, 3, seed=0)
    np.testing.assert_array_equal(rollouts.lengths, [6, 6, 6])
    np.testing.assert_array_equal(rollouts.last_rewards, [1.0, 1.0, 1.0])
    assert rollouts.terminated.all() and (rollouts.start_states == 0).all()
    slippery = make_env("FrozenLake-v1")
    first, second = (policy_rollouts(slippery, right_then_down, 20, seed=5) for _ in range(2))
    np.testing.assert_array_equal(first.lengths, second.lengths)
    always_left = np.zeros(16, dtype=int)                    # never terminates: TimeLimit truncates
    assert not policy_rollouts(env, always_left, 1, seed=0).terminated[0]
    with pytest.raises(ValueError, match="shape"):
        policy_rollouts(env, np.zeros(5, dtype=int), 1, seed=0)
    with pytest.raises(ValueError, match="TimeLimit"):
        policy_rollouts(GridWorld(), np.zeros(16, dtype=int), 1, seed=0)
