"""A tiny image env for the tests that need pixels but not MinAtar: Catch on a 6x6 board.

A ball starts in a random column of the top row and falls one row per step; the agent moves a paddle
along the bottom row (0: left, 1: stay, 2: right). When the ball reaches the bottom row the episode
ends, with reward +1 if the paddle is under it and -1 otherwise. Observations are channels-first
float32 frames (2, 6, 6) of 0/1 values: channel 0 the ball, channel 1 the paddle, as MinAtar's frames.
A uniformly random policy catches about one ball in three; a policy that follows the ball, every one.
"""
import gymnasium as gym
import numpy as np

SIZE = 6
CATCH_ID = "TinyCatch-v0"


class TinyCatch(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2, SIZE, SIZE), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def _frame(self) -> np.ndarray:
        frame = np.zeros((2, SIZE, SIZE), dtype=np.float32)
        frame[0, self.ball_row, self.ball_col] = 1.0
        frame[1, SIZE - 1, self.paddle] = 1.0
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball_row, self.ball_col = 0, int(self.np_random.integers(SIZE))
        self.paddle = SIZE // 2
        return self._frame(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, SIZE - 1))
        self.ball_row += 1
        done = self.ball_row == SIZE - 1
        reward = (1.0 if self.paddle == self.ball_col else -1.0) if done else 0.0
        return self._frame(), reward, done, False, {}


def register_catch() -> str:
    """Register :class:`TinyCatch` under ``CATCH_ID`` (once) and return the id."""
    if CATCH_ID not in gym.envs.registry:
        gym.register(CATCH_ID, entry_point=TinyCatch, max_episode_steps=50)
    return CATCH_ID
