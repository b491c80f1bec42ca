"""Image observations: channels-last boolean frames (MinAtar's 10x10xC) to channels-first float32, and back
to a picture.

MinAtar (Young & Tian 2019, "MinAtar: An Atari-inspired testbed for thorough and reproducible
reinforcement learning experiments", arXiv:1903.03176) gives each game as a (10, 10, C) boolean frame,
one channel per kind of object (paddle, ball, trail, bricks, ...). Convolutions here take NCHW, so
:class:`ChannelsFirstFrames` converts every frame ONCE, as it leaves the env, to (C, 10, 10) float32;
buffers, networks and losses then never convert again.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["ChannelsFirstFrames", "frame_to_rgb", "FRAME_PALETTE"]

#: One colour per channel (matplotlib's "tab10", as uint8 RGB); empty cells are black.
FRAME_PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
], dtype=np.uint8)


def frame_to_rgb(frame, scale: int = 16) -> np.ndarray:
    """A channels-first frame (C, H, W) as an RGB picture (H*scale, W*scale, 3) of uint8.

    A cell takes the colour of its highest-numbered active channel (``FRAME_PALETTE[c]``; channels
    drawn later cover earlier ones, as in MinAtar's own display), black where no channel is active;
    each cell becomes a ``scale`` x ``scale`` square, so a 10x10 frame becomes 160x160 at the default.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3:
        raise ValueError(f"frame_to_rgb: expected a channels-first frame (C, H, W), got shape {frame.shape}")
    if not 1 <= frame.shape[0] <= len(FRAME_PALETTE):
        raise ValueError(f"frame_to_rgb: a frame of shape {frame.shape} has {frame.shape[0]} channels; "
                         f"the palette has colours for 1 to {len(FRAME_PALETTE)}")
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"frame_to_rgb: scale must be an int >= 1, got {scale!r}")
    channels = frame.shape[0]
    on = frame > 0.5
    cell = np.max(on * np.arange(1, channels + 1).reshape(-1, 1, 1), axis=0)     # 0 = empty, c + 1 = channel c
    palette = np.concatenate([np.zeros((1, 3), np.uint8), FRAME_PALETTE[:channels]])
    return palette[cell].repeat(scale, axis=0).repeat(scale, axis=1)


class ChannelsFirstFrames(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """(H, W, C) frames (boolean or in [0, 1]) to (C, H, W) float32 in [0, 1], converted once per step.

    With ``render_mode="rgb_array"``, :meth:`render` draws the current frame with :func:`frame_to_rgb`
    (``scale`` pixels per cell), so a recorder gets an RGB uint8 picture for any such env.
    """

    def __init__(self, env: gym.Env, scale: int = 16, render_fps: int = 20):
        gym.utils.RecordConstructorArgs.__init__(self, scale=scale, render_fps=render_fps)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 3:
            raise ValueError(f"ChannelsFirstFrames: expected a Box observation space of (H, W, C) frames, "
                             f"got {space}")
        if not (np.all(space.low >= 0) and np.all(space.high <= 1)):
            raise ValueError(f"ChannelsFirstFrames: expected frames in [0, 1], got bounds "
                             f"[{np.min(space.low)}, {np.max(space.high)}] of {space}")
        height, width, channels = space.shape
        self.observation_space = spaces.Box(0.0, 1.0, shape=(channels, height, width), dtype=np.float32)
        self.metadata = {**env.metadata, "render_fps": env.metadata.get("render_fps") or render_fps}
        if "rgb_array" not in self.metadata.get("render_modes", []):
            self.metadata["render_modes"] = [*self.metadata.get("render_modes", []), "rgb_array"]
        self.scale = scale
        self._frame: np.ndarray | None = None

    def observation(self, observation) -> np.ndarray:
        frame = np.asarray(observation)
        if frame.shape != self.env.observation_space.shape:
            raise ValueError(f"ChannelsFirstFrames: the env gave a frame of shape {frame.shape}, its observation "
                             f"space says {self.env.observation_space.shape}")
        self._frame = np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32)
        return self._frame

    def render(self):
        if self.render_mode != "rgb_array":
            return self.env.render()
        if self._frame is None:
            raise gym.error.ResetNeeded("ChannelsFirstFrames: call reset() before render()")
        return frame_to_rgb(self._frame, self.scale)
