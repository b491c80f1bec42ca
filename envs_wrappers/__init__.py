"""Environments in, arrays out: GridWorld, tabular models, observation encodings, image frames, make_env."""
import gymnasium as _gym

from envs_wrappers.frames import ChannelsFirstFrames, frame_to_rgb
from envs_wrappers.gridworld import GRIDWORLD_ACTIONS, GridWorld
from envs_wrappers.maze import BlockingMaze, DynaMaze, Maze, ShortcutMaze, scale_layout
from envs_wrappers.observations import BlackjackIndex, DiscretizeObservation, OneHotObservation, one_hot
from envs_wrappers.registry import make_env, resolve_env_id
from envs_wrappers.rollouts import Rollouts, policy_rollouts
from envs_wrappers.tabular_model import TabularModel, tabular_model

#: gymnasium id of the Sutton & Barto gridworld, so make_env("tinygrad_rl/GridWorld-v0") works.
GRIDWORLD_ID = "tinygrad_rl/GridWorld-v0"
if GRIDWORLD_ID not in _gym.envs.registry:
    _gym.register(id=GRIDWORLD_ID, entry_point="envs_wrappers.gridworld:GridWorld", max_episode_steps=1000)

#: gymnasium ids of the chapter-8 planning mazes. No time limit: the book's episodes run until the goal,
#: and the changing mazes count time steps across episodes.
MAZE_IDS = {"DynaMaze": "tinygrad_rl/DynaMaze-v0", "BlockingMaze": "tinygrad_rl/BlockingMaze-v0",
            "ShortcutMaze": "tinygrad_rl/ShortcutMaze-v0"}
for _name, _id in MAZE_IDS.items():
    if _id not in _gym.envs.registry:
        _gym.register(id=_id, entry_point=f"envs_wrappers.maze:{_name}")

__all__ = [
    "GridWorld", "GRIDWORLD_ACTIONS", "GRIDWORLD_ID", "tabular_model", "TabularModel", "make_env",
    "resolve_env_id", "DiscretizeObservation", "BlackjackIndex", "OneHotObservation", "one_hot",
    "policy_rollouts", "Rollouts", "Maze", "DynaMaze", "BlockingMaze", "ShortcutMaze", "MAZE_IDS", "scale_layout",
    "ChannelsFirstFrames", "frame_to_rgb",
]
