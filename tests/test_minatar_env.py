"""MinAtar through envs_wrappers: ids resolved on request, channels-first float32 frames, gymnasium's
check_env, seeding, vector envs, pictures of frames, and a one-line error without the extra."""
from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from envs_wrappers import ChannelsFirstFrames, frame_to_rgb
from envs_wrappers.frames import FRAME_PALETTE
from envs_wrappers.minatar_games import MINATAR_GAMES, is_minatar_id
from envs_wrappers.registry import check_plain_env_id, make_env, make_plain_env, make_plain_vec_env

CHANNELS = {"Asterix": 4, "Breakout": 4, "Freeway": 7, "Seaquest": 10, "SpaceInvaders": 6}


@pytest.fixture
def minatar():
    return pytest.importorskip("minatar")


def _rollout(env, seed, actions):
    observations = [env.reset(seed=seed)[0]]
    for action in actions:
        obs, _, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        if terminated or truncated:
            observations.append(env.reset()[0])
    return observations


@pytest.mark.parametrize("game", MINATAR_GAMES)
def test_frames_are_the_games_frames_channels_first_float32(minatar, game):
    env_id = f"MinAtar/{game}-v1"
    env, raw = make_env(env_id), gym.make(env_id)
    channels = CHANNELS[game]
    assert env.observation_space == spaces.Box(0.0, 1.0, (channels, 10, 10), np.float32)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=200)
    wrapped, plain = _rollout(env, 3, actions), _rollout(raw, 3, actions)
    for obs, frame in zip(wrapped, plain):
        assert obs.dtype == np.float32 and obs.shape == (channels, 10, 10) and obs.flags.c_contiguous
        assert frame.dtype == bool and frame.shape == (10, 10, channels)
        np.testing.assert_array_equal(obs, frame.transpose(2, 0, 1).astype(np.float32))
    assert any(obs.any() for obs in wrapped)


@pytest.mark.parametrize("game", MINATAR_GAMES)
def test_minatar_envs_pass_gymnasiums_check_env(minatar, game):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "wrapped env" and "no render fps" notices, not failures
        check_env(make_env(f"MinAtar/{game}-v1"))
        if game == "Breakout":
            check_env(make_plain_env(f"MinAtar/{game}-v0"))


def test_same_seed_same_episode_and_other_seeds_differ(minatar):
    env = make_plain_env("MinAtar/SpaceInvaders-v1")
    actions = np.random.default_rng(1).integers(env.action_space.n, size=300)
    first, again, other = (_rollout(env, seed, actions) for seed in (5, 5, 6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    env.reset(seed=5)
    state = env.unwrapped.np_random.bit_generator.state
    env.reset(seed=5)
    assert env.unwrapped.np_random.bit_generator.state == state


def test_ids_resolve_through_the_registry(minatar):
    assert check_plain_env_id("MinAtar/Breakout-v1") == "MinAtar/Breakout-v1"
    assert make_env("MinAtar/Breakout-v1").action_space == spaces.Discrete(3)       # the minimal action set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)                       # "v0 is out of date"
        assert make_env("MinAtar/Breakout-v0").action_space == spaces.Discrete(6)   # all six actions
    with pytest.raises(ValueError, match=r"'MinAtar/Breakot-v1'.*'MinAtar/Breakout-v1'"):
        make_env("MinAtar/Breakot-v1")
    with pytest.raises(ValueError, match=r"'MinAtar/Breakout-v9'"):
        check_plain_env_id("MinAtar/Breakout-v9")
    assert is_minatar_id("MinAtar/Seaquest-v1") and not is_minatar_id("CartPole-v1") and not is_minatar_id(None)


def test_vector_env_gives_batches_of_channels_first_frames(minatar):
    envs = make_plain_vec_env("MinAtar/Breakout-v1", 3)
    obs, _ = envs.reset(seed=0)
    assert envs.single_observation_space == spaces.Box(0.0, 1.0, (4, 10, 10), np.float32)
    assert obs.shape == (3, 4, 10, 10) and obs.dtype == np.float32
    obs, *_ = envs.step(np.zeros(3, dtype=np.int64))
    assert obs.shape == (3, 4, 10, 10) and obs.dtype == np.float32
    envs.close()


def test_rgb_array_render_draws_the_current_frame_scaled_up(minatar):
    env = make_env("MinAtar/Breakout-v1", render_mode="rgb_array")
    with pytest.raises(gym.error.ResetNeeded):
        env.render()
    obs, _ = env.reset(seed=0)
    picture = env.render()
    assert picture.shape == (160, 160, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture, frame_to_rgb(obs))
    obs, *_ = env.step(1)
    np.testing.assert_array_equal(env.render(), frame_to_rgb(obs))
    assert env.metadata["render_fps"] > 0


def test_without_minatar_the_error_is_one_line_naming_the_extra(monkeypatch):
    for env_id in [key for key in gym.envs.registry if key.startswith("MinAtar/")]:
        monkeypatch.delitem(gym.envs.registry, env_id)
    monkeypatch.setitem(sys.modules, "minatar", None)          # import minatar now raises ImportError
    monkeypatch.setitem(sys.modules, "minatar.gym", None)
    for build in (make_env, make_plain_env, check_plain_env_id):
        with pytest.raises(ValueError, match=r"^'MinAtar/Breakout-v1' is a MinAtar game and MinAtar is not "
                                             r"installed: pip install -e '\.\[minatar\]'$") as info:
            build("MinAtar/Breakout-v1")
        assert "\n" not in str(info.value)
    assert make_env("CartPole-v1").observation_space.shape == (4,)     # other ids are untouched


# ----------------------------------------------------------------------------- frames without MinAtar

def test_frame_to_rgb_colours_cells_by_their_highest_channel():
    frame = np.zeros((3, 10, 10), np.float32)
    frame[0, 0, 0] = 1.0
    frame[2, 1, 1] = 1.0
    frame[0, 2, 2] = frame[1, 2, 2] = 1.0
    picture = frame_to_rgb(frame, scale=4)
    assert picture.shape == (40, 40, 3) and picture.dtype == np.uint8
    assert (picture[0:4, 0:4] == FRAME_PALETTE[0]).all()
    assert (picture[4:8, 4:8] == FRAME_PALETTE[2]).all()
    assert (picture[8:12, 8:12] == FRAME_PALETTE[1]).all()
    np.testing.assert_array_equal(frame_to_rgb(frame.astype(bool), scale=4), picture)   # bool frames alike
    assert frame_to_rgb(frame).shape == (160, 160, 3)
    picture[0:12, 0:12] = 0
    assert not picture.any()                                           # every other cell is black


@pytest.mark.parametrize("frame, scale, message", [
    (np.zeros((10, 10)), 16, r"frame_to_rgb: expected a channels-first frame \(C, H, W\), got shape \(10, 10\)"),
    (np.zeros((11, 10, 10)), 16, r"frame_to_rgb: a frame of shape \(11, 10, 10\) has 11 channels"),
    (np.zeros((4, 10, 10)), 0, r"frame_to_rgb: scale must be an int >= 1, got 0"),
])
def test_frame_to_rgb_rejects_bad_frames(frame, scale, message):
    with pytest.raises(ValueError, match=message):
        frame_to_rgb(frame, scale)


def test_channels_first_frames_rejects_non_image_spaces():
    with pytest.raises(ValueError, match=r"ChannelsFirstFrames: expected a Box observation space of \(H, W, C\)"):
        ChannelsFirstFrames(gym.make("CartPole-v1"))
