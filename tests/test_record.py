"""`tinygrad-rl eval RUN --record FILE`: deterministic episodes rendered to a GIF (or MP4)."""
import json

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from algorithms.loops.env_runner import greedy_episodes_returns
from algorithms.runs.cli import main
from algorithms.runs.record import kept_frame_steps, record_episodes, run_policy
from algorithms.tabular import value_iteration
from envs_wrappers import make_env, tabular_model


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def test_kept_frames_are_every_kth_and_the_last():
    assert kept_frame_steps(5, 1) == [0, 1, 2, 3, 4, 5]
    assert kept_frame_steps(7, 3) == [0, 3, 6, 7]
    assert kept_frame_steps(6, 3) == [0, 3, 6]
    assert kept_frame_steps(0, 2) == [0]


def test_cli_records_cartpole_episodes_of_the_evaluation(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "400", "--out", str(run_dir), "--no-progress",
                 "--set", "hidden=16", "--set", "learning_starts=100", "--set", "eval_every=400",
                 "--set", "eval_episodes=1"]) == 0
    capsys.readouterr()
    gif = tmp_path / "play.gif"
    assert main(["eval", str(run_dir), "--episodes", "3", "--record", str(gif), "--record-episodes", "2",
                 "--frame-skip", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    recording = result["recording"]
    # the recorded episodes are the evaluation's first ones (same seed, deterministic policy)
    policy = run_policy(run_dir)
    env = gym.make("CartPole-v1")
    expected = greedy_episodes_returns(env, policy.act, 2, policy.eval_seed)
    assert recording["returns"] == list(expected)
    assert recording["lengths"] == [int(r) for r in expected]          # CartPole: +1 per step
    frames = gif_frames(gif)
    assert len(frames) == recording["frames"] == sum(n + 1 for n in recording["lengths"])
    assert frames[0].shape[1] == 320                                 # shrunk to --max-width 320
    # every frame differs from the one before (the caption's step counter moves), so none was merged
    assert all(np.any(a != b) for a, b in zip(frames, frames[1:]))


def test_frozenlake_gif_from_a_value_iteration_policy(tmp_path):
    env = make_env("FrozenLake-v1")
    P, R, terminal = tabular_model(env)
    policy = value_iteration(P, R, 0.99).policy
    gif = tmp_path / "frozenlake.gif"
    recording = record_episodes("FrozenLake-v1", lambda s: int(policy[s]), gif, episodes=3, seed=4)
    expected = greedy_episodes_returns(gym.make("FrozenLake-v1"), lambda s: int(policy[s]), 3, 4)
    np.testing.assert_array_equal(recording.returns, expected)
    assert recording.fps == 4.0                                  # toy-text renders at 4 fps: no frame skipped
    frames = gif_frames(gif)
    assert len(frames) == recording.frames == int(np.sum(recording.lengths + 1))
    assert frames[0].shape[1] == 256                             # narrower than 320: kept at its size


def test_frame_skip_keeps_the_counted_frames_and_mp4_is_written(tmp_path):
    act = lambda obs: int(obs[2] > 0)                            # noqa: E731  (lean towards the pole)
    recording = record_episodes("CartPole-v1", act, tmp_path / "cp.gif", episodes=2, seed=0, frame_skip=3,
                                max_width=160)
    frames = gif_frames(tmp_path / "cp.gif")
    assert len(frames) == sum(len(kept_frame_steps(int(n), 3)) for n in recording.lengths)
    assert frames[0].shape[1] == 160 and recording.fps == pytest.approx(50 / 3)
    import imageio.v3 as iio
    video = record_episodes("CartPole-v1", act, tmp_path / "cp.mp4", episodes=1, seed=0, max_width=160)
    assert iio.improps(tmp_path / "cp.mp4", plugin="FFMPEG").shape[0] >= video.frames


def test_bad_record_options_are_named(tmp_path, capsys):
    with pytest.raises(ValueError, match="must end in .gif or .mp4"):
        record_episodes("CartPole-v1", lambda o: 0, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="frame_skip must be an int >= 1, got 0"):
        record_episodes("CartPole-v1", lambda o: 0, tmp_path / "x.gif", frame_skip=0)
    assert not list(tmp_path.iterdir())
    assert main(["eval", str(tmp_path / "none"), "--record", str(tmp_path / "x.gif")]) == 2
    assert "not a training run folder" in capsys.readouterr().err
