"""Watch a policy play: deterministic episodes rendered to an animated GIF (or an MP4).

    tinygrad-rl eval RUN --record RUN/episode.gif [--record-episodes 1] [--frame-skip K] [--max-width 320]

Frames come from gymnasium's own ``render_mode="rgb_array"`` (the classic-control envs draw
with pygame: ``pip install -e ".[render]"``), so every env that renders to RGB works, the
toy-text ones included. A band above each frame names the episode, the step and the return
so far; the last frame of an episode also says how it ended (terminated or cut by the time
limit) and is held for a second. GIFs are written by Pillow (one palette for all frames, no
dithering: small files, steady colours); MP4s by imageio with imageio-ffmpeg, when installed
(``pip install -e ".[video]"``).

The episodes are those of the deterministic evaluation: the env is reset with ``seed`` once
and then without a seed (as :func:`algorithms.loops.env_runner.greedy_episodes_returns` does), so the
first K recorded episodes are the first K episodes of ``tinygrad-rl eval`` with that seed.

Which frames are kept: an episode of L steps has L + 1 frames (the reset observation and one
after each step). With ``frame_skip = k`` frames 0, k, 2k, ... are kept, and the last frame
always is, so every episode shows its end.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np

from envs_wrappers import make_env

from ..loops.actors import greedy_actor
from ..loops.seeding import RunSeeds
from .checkpoint import atomic_write
from .experiment import load_run

__all__ = ["Recording", "RunPolicy", "run_policy", "record_episodes", "kept_frame_steps",
           "add_record_arguments", "record_from_args"]

GIF_MAX_FPS = 25            # browsers play GIF frames shorter than 20 ms slower; 25 fps plays as written
END_HOLD_SECONDS = 1.0      # the last frame of each episode stays up this long
PALETTE_COLORS = 128        # one GIF palette for all frames


@dataclass(frozen=True)
class RunPolicy:
    """What a saved run needs to act: its env id, the deterministic policy and its evaluation seed."""
    env_id: str
    act: Callable
    eval_seed: int
    label: str


def run_policy(run_dir: str | Path) -> RunPolicy:
    """The deterministic policy of a run folder (the one place that knows how a run becomes ``act(obs)``)."""
    algo, env_id, config, nets = load_run(run_dir)
    return RunPolicy(env_id, greedy_actor(algo, nets), RunSeeds.from_seed(config.seed).eval,
                     f"{algo} seed {config.seed}")


@dataclass(frozen=True)
class Recording:
    """What was written: the file, each episode's return and length, the frame count and rate."""
    path: Path
    returns: np.ndarray
    lengths: np.ndarray
    frames: int
    fps: float

    def as_dict(self) -> dict:
        return {"path": str(self.path), "returns": [float(r) for r in self.returns],
                "lengths": [int(n) for n in self.lengths], "frames": self.frames, "fps": round(self.fps, 3)}


def kept_frame_steps(length: int, frame_skip: int) -> list[int]:
    """Steps (0 = after reset, ..., ``length``) whose frames are kept: every ``frame_skip``-th and the last."""
    steps = list(range(0, length + 1, frame_skip))
    if steps[-1] != length:
        steps.append(length)
    return steps


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _require_writer(path: Path) -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise ImportError("recording needs Pillow: pip install -e '.[render]'") from None
    if path.suffix.lower() == ".mp4":
        try:
            import imageio  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ImportError(f"writing {path.name} needs imageio and imageio-ffmpeg "
                              "(pip install -e '.[video]'); or record to a .gif") from None


def _render(env, env_id: str) -> np.ndarray:
    try:
        frame = env.render()
    except gym.error.DependencyNotInstalled as err:
        raise RuntimeError(f"rendering {env_id} needs an extra package: {str(err).splitlines()[0]} "
                           "(pip install -e '.[render]')") from None
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{env_id}: render() gave an array of shape {frame.shape} and dtype {frame.dtype}; "
                         "expected an RGB image (H, W, 3) of uint8")
    return frame


class _Captioner:
    """Resize a frame to at most ``max_width`` pixels wide and put a two-line caption band above it."""

    def __init__(self, frame_shape: tuple, max_width: int | None):
        from PIL import ImageFont
        height, width = frame_shape[:2]
        scale = min(1.0, max_width / width) if max_width else 1.0
        # even sizes: the H.264 encoder needs them and GIF does not mind
        self.size = (2 * max(1, round(width * scale / 2)), 2 * max(1, round(height * scale / 2)))
        self.line = max(16, round(0.06 * self.size[0]))
        self.band = 2 * self.line + 4
        self.fonts = {size: ImageFont.load_default(size=size) for size in range(6, round(0.8 * self.line) + 1)}

    def font_for(self, text: str):
        """The largest font (at most 0.8 of a line) in which ``text`` fits the frame's width: a narrow
        frame (MinAtar's 160 pixels) gets smaller letters rather than a cut caption."""
        for size in sorted(self.fonts, reverse=True):
            if self.fonts[size].getlength(text) <= self.size[0] - 8:
                return self.fonts[size]
        return self.fonts[min(self.fonts)]

    def __call__(self, frame: np.ndarray, lines: tuple[str, str]) -> np.ndarray:
        from PIL import Image, ImageDraw
        image = Image.fromarray(frame)
        if image.size != self.size:
            image = image.resize(self.size, Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (self.size[0], self.size[1] + self.band), (32, 32, 32))
        canvas.paste(image, (0, self.band))
        draw = ImageDraw.Draw(canvas)
        for i, text in enumerate(lines):
            draw.text((4, 2 + self.line * i + self.line // 2), text, fill=(255, 255, 255), font=self.font_for(text),
                      anchor="lm")
        return np.asarray(canvas)


def _shared_palette(frames: list[np.ndarray], colors: int = PALETTE_COLORS):
    """One palette for the whole GIF: octree quantisation of up to 16 frames spread over the recording.

    A palette per frame makes colours flicker and compresses worse; without dithering, flat
    areas stay flat, which LZW (GIF's compression) encodes in few bytes.
    """
    from PIL import Image
    picks = np.linspace(0, len(frames) - 1, num=min(16, len(frames))).round().astype(int)
    sample = Image.fromarray(np.concatenate([frames[i] for i in picks], axis=0))
    return sample.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def _write_frames(path: Path, frames: list[np.ndarray], durations_ms: list[float], fps: float) -> None:
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image
        palette = _shared_palette(frames)
        images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        durations = [10 * max(2, round(d / 10)) for d in durations_ms]      # GIF delays are whole centiseconds
        atomic_write(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                    duration=durations, loop=0))
    elif suffix == ".mp4":
        import imageio.v3 as iio  # its FFMPEG plugin runs imageio-ffmpeg's ffmpeg
        # a video has one frame rate: the held end frames are repeated instead
        repeated = [frame for frame, d in zip(frames, durations_ms) for _ in range(max(1, round(d * fps / 1000)))]
        tmp = path.with_name(f".{path.name}.tmp.mp4")      # ffmpeg writes to a path, then we rename
        try:
            iio.imwrite(tmp, np.stack(repeated), plugin="FFMPEG", fps=fps, macro_block_size=2)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        raise ValueError(f"record file must end in .gif or .mp4, got {path.name!r}")


def record_episodes(env_id: str, act: Callable, path: str | Path, episodes: int = 1, seed: int = 0,
                    frame_skip: int | None = None, max_width: int | None = 320, fps: float | None = None,
                    label: str = "", env_kwargs: dict | None = None, max_steps: int = 1000) -> Recording:
    """Play ``episodes`` episodes of ``env_id`` with the deterministic ``act(obs) -> action`` and write them.

    ``frame_skip`` defaults to the smallest k with render_fps / k <= 25 (CartPole's 50 fps -> 2,
    the toy-text envs' 4 fps -> 1); ``fps`` defaults to render_fps / frame_skip so the file plays
    in real time. ``max_width`` shrinks wider frames (aspect kept; None keeps the env's size).
    ``label`` (e.g. the algorithm) starts each caption. ``env_kwargs`` go to ``gymnasium.make``.
    An env without a time limit (CliffWalking) is stopped after ``max_steps`` steps per episode,
    so a policy that never ends an episode still gives a file of bounded size.
    """
    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"record file must end in .gif or .mp4, got {path.name!r}")
    _require_writer(path)
    episodes = _check_int("episodes", episodes, 1)
    seed = _check_int("seed", seed, 0)
    if max_width is not None:
        max_width = _check_int("max_width", max_width, 16)
    # rgb_array rendering never opens a window; without a display SDL would print an error on close
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = make_env(env_id, render_mode="rgb_array", **(env_kwargs or {}))
    try:
        max_steps = _check_int("max_steps", max_steps, 1)
        has_limit = env.spec is not None and env.spec.max_episode_steps is not None
        render_fps = float(env.metadata.get("render_fps") or 30)
        frame_skip = (max(1, math.ceil(render_fps / GIF_MAX_FPS)) if frame_skip is None
                      else _check_int("frame_skip", frame_skip, 1))
        fps = render_fps / frame_skip if fps is None else float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a float > 0, got {fps!r}")
        frames, durations, returns, lengths = [], [], [], []
        captioner = None
        prefix = f"{label} | " if label else ""
        obs, _ = env.reset(seed=seed)
        for episode in range(episodes):
            if episode > 0:
                obs, _ = env.reset()
            total, step, done, ending = 0.0, 0, False, ""
            while True:
                if done or step % frame_skip == 0:
                    frame = _render(env, env_id)
                    captioner = captioner or _Captioner(frame.shape, max_width)
                    caption = (f"{prefix}episode {episode + 1}/{episodes}", f"step {step} | return {total:g}{ending}")
                    frames.append(captioner(frame, caption))
                    durations.append(1000.0 / fps if not done else 1000.0 * END_HOLD_SECONDS)
                if done:
                    break
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                step += 1
                stopped = not has_limit and step >= max_steps
                done = terminated or truncated or stopped
                ending = (" (terminated)" if terminated else " (time limit)" if truncated
                          else f" (stopped at {max_steps} steps)" if stopped else "")
            returns.append(total)
            lengths.append(step)
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_frames(path, frames, durations, fps)
    return Recording(path, np.asarray(returns), np.asarray(lengths, dtype=np.int64), len(frames), fps)


# --------------------------------------------------------------------------- CLI hooks (tinygrad-rl eval)


def add_record_arguments(parser) -> None:
    """``--record FILE`` and its options, for ``tinygrad-rl eval``."""
    group = parser.add_argument_group("recording (needs the render extra: pip install -e '.[render]')")
    group.add_argument("--record", metavar="FILE", help="also render deterministic episodes to FILE (.gif, or "
                       ".mp4 with imageio-ffmpeg installed), the return drawn on the frames")
    group.add_argument("--record-episodes", type=str, default="1", help="episodes to record (default 1)")
    group.add_argument("--frame-skip", type=str, help="keep every k-th frame (default: the smallest k giving "
                       f"<= {GIF_MAX_FPS} fps, e.g. 2 for CartPole)")
    group.add_argument("--max-width", type=str, default="320", help="shrink wider frames to this many pixels "
                       "(default 320; 0 keeps the env's size)")


def record_from_args(args, run_dir: str | Path, seed: int | None) -> dict | None:
    """Record what ``args`` ask for (None without ``--record``); raises ValueError on a bad option."""
    if getattr(args, "record", None) is None:
        return None

    def as_int(name: str, text, low: int):
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an int >= {low}, got {text!r}") from None
        if value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value}")
        return value

    episodes = as_int("--record-episodes", args.record_episodes, 1)
    frame_skip = None if args.frame_skip is None else as_int("--frame-skip", args.frame_skip, 1)
    max_width = as_int("--max-width", args.max_width, 0) or None
    if max_width is not None and max_width < 16:
        raise ValueError(f"--max-width must be 0 (keep the size) or an int >= 16, got {max_width}")
    if Path(args.record).suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"--record file must end in .gif or .mp4, got {args.record!r}")
    policy = run_policy(run_dir)
    recording = record_episodes(policy.env_id, policy.act, args.record, episodes=episodes,
                                seed=policy.eval_seed if seed is None else seed, frame_skip=frame_skip,
                                max_width=max_width, label=policy.label)
    return recording.as_dict()
