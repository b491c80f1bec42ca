"""Sutton & Barto's planning mazes (chapter 8) as ``gymnasium.Env``: the Dyna maze, the blocking
maze and the shortcut maze, whose walls move after a given number of time steps."""
from __future__ import annotations

from collections import deque
from typing import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs_wrappers.gridworld import GRIDWORLD_ACTIONS

__all__ = ["Maze", "DynaMaze", "BlockingMaze", "ShortcutMaze", "DYNA_MAZE_LAYOUT", "BLOCKING_MAZE_LAYOUTS",
           "SHORTCUT_MAZE_LAYOUTS", "scale_layout"]

#: Figure 8.2: 6 x 9, start S in row 2 of column 0, goal G in the top-right corner; shortest path 14 steps.
DYNA_MAZE_LAYOUT = (
    ".......#G",
    "..#....#.",
    "S.#....#.",
    "..#......",
    ".....#...",
    ".........",
)

#: Figure 8.4: the gap in the wall is on the right (shortest path 10 steps), then on the left (16 steps).
BLOCKING_MAZE_LAYOUTS = (
    ("........G",
     ".........",
     ".........",
     "########.",
     ".........",
     "...S....."),
    ("........G",
     ".........",
     ".........",
     ".########",
     ".........",
     "...S....."),
)

#: Figure 8.5: the gap is on the left (16 steps), then a second one opens on the right (10 steps).
SHORTCUT_MAZE_LAYOUTS = (
    BLOCKING_MAZE_LAYOUTS[1],
    ("........G",
     ".........",
     ".........",
     ".#######.",
     ".........",
     "...S....."),
)

_CELL_CHARACTERS = set(".#SG")


def scale_layout(layout: Sequence[str], row_factor: int, col_factor: int) -> tuple[str, ...]:
    """Every cell becomes a ``row_factor`` x ``col_factor`` block of the same kind.

    Walls and the goal become blocks (so the maze keeps its structure at a finer resolution, as in
    the mazes of Peng & Williams (1993) behind S&B Example 8.4); the start stays one cell, the
    top-left cell of its block. The number of open cells grows by ``row_factor * col_factor``.
    """
    for name, factor in (("row_factor", row_factor), ("col_factor", col_factor)):
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"scale_layout: {name} must be an int >= 1, got {factor!r}")
    scaled = []
    for row in layout:
        block_row = "".join(("." if cell == "S" else cell) * col_factor for cell in row)
        scaled.extend([block_row] * row_factor)
    start_row = next(r for r, row in enumerate(layout) if "S" in row) * row_factor
    start_col = layout[start_row // row_factor].index("S") * col_factor
    line = scaled[start_row]
    scaled[start_row] = line[:start_col] + "S" + line[start_col + 1:]
    return tuple(scaled)


class Maze(gym.Env):
    """A gridworld maze: ``.`` open, ``#`` wall, ``S`` start, ``G`` goal (one or more cells).

    States are numbered row-major, ``s = row * n_cols + col``, walls included (wall cells are
    never occupied, but keeping their numbers lets walls open and close without renumbering).
    Actions: 0 up, 1 right, 2 down, 3 left. A move into a wall or off the grid leaves the state
    unchanged. Every reward is 0 except on entering a goal cell: +1, and the episode terminates.
    Every episode starts at S. With ``gamma < 1`` the optimal policies are the shortest paths.

    Changing mazes: ``layouts`` is a sequence of layouts of one shape and ``change_at`` the total
    number of time steps (counted across episodes) after which each next layout takes over,
    e.g. ``change_at=(1000,)`` switches to ``layouts[1]`` after the 1000th step. The count and
    the first layout are restored by ``reset(seed=...)`` (a seeded reset starts a new run) or
    ``reset(options={"restart": True})``; a plain ``reset()`` starts a new episode and keeps them.
    An agent standing in a cell that becomes a wall stays there until it moves out.

    The current dynamics are exposed like gymnasium's toy-text envs, as
    ``P[s][a] = [(1.0, next_state, reward, terminated)]`` (rebuilt when the walls change), so
    ``tabular_model`` and ``TabularResult.greedy_path`` read this env like FrozenLake. Goal cells
    are terminated self-loops with reward 0; wall cells are self-loops.

    Reference: Sutton & Barto (2018), section 8.2 (Figure 8.2) and section 8.3 (Figures 8.4, 8.5).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, layouts: Sequence[Sequence[str]] | Sequence[str] = DYNA_MAZE_LAYOUT,
                 change_at: Sequence[int] = (), render_mode: str | None = None):
        if isinstance(layouts, (list, tuple)) and layouts and isinstance(layouts[0], str):
            layouts = (layouts,)
        self.layouts = tuple(tuple(layout) for layout in layouts)
        self.change_at = tuple(change_at)
        self._check_layouts()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"{type(self).__name__}: render_mode must be one of {self.metadata['render_modes']} "
                             f"or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.n_rows, self.n_cols = len(self.layouts[0]), len(self.layouts[0][0])
        self.observation_space = spaces.Discrete(self.n_rows * self.n_cols)
        self.action_space = spaces.Discrete(len(GRIDWORLD_ACTIONS))
        self.total_steps = 0
        self._set_layout(0)
        self.s = self.start_state
        self.lastaction: int | None = None

    def _check_layouts(self) -> None:
        name = type(self).__name__
        if not self.layouts:
            raise ValueError(f"{name}: need at least one layout, got none")
        shape = (len(self.layouts[0]), len(self.layouts[0][0]) if self.layouts[0] else 0)
        for index, layout in enumerate(self.layouts):
            if not layout or any(len(row) != shape[1] or not row for row in layout) or len(layout) != shape[0]:
                raise ValueError(f"{name}: layout {index} must be non-empty rows of equal length, "
                                 f"shaped like layout 0 {shape}, got rows of lengths {[len(r) for r in layout]}")
            text = "".join(layout)
            if set(text) - _CELL_CHARACTERS:
                raise ValueError(f"{name}: layout {index} has characters {sorted(set(text) - _CELL_CHARACTERS)}; "
                                 f"expected only '.', '#', 'S', 'G'")
            if text.count("S") != 1 or "G" not in text:
                raise ValueError(f"{name}: layout {index} needs exactly one 'S' and at least one 'G', "
                                 f"got {text.count('S')} and {text.count('G')}")
        if len(self.change_at) != len(self.layouts) - 1:
            raise ValueError(f"{name}: change_at needs one step count per layout change "
                             f"({len(self.layouts) - 1}), got {self.change_at!r}")
        previous = 0
        for step in self.change_at:
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step <= previous:
                raise ValueError(f"{name}: change_at must be increasing positive ints, got {self.change_at!r}")
            previous = step

    # ------------------------------------------------------------------ layout and model

    def _set_layout(self, index: int) -> None:
        self.layout_index = index
        cells = "".join(self.layouts[index])
        self.walls = np.array([c == "#" for c in cells])
        self.goals = np.array([c == "G" for c in cells])
        self.start_state = cells.index("S")
        self.P = {s: {a: [self._transition(s, a)] for a in range(len(GRIDWORLD_ACTIONS))}
                  for s in range(self.n_rows * self.n_cols)}

    def _transition(self, state: int, action: int) -> tuple[float, int, float, bool]:
        if self.goals[state]:
            return (1.0, state, 0.0, True)
        row, col = divmod(state, self.n_cols)
        _, d_row, d_col = GRIDWORLD_ACTIONS[action]
        new_row, new_col = row + d_row, col + d_col
        next_state = new_row * self.n_cols + new_col
        if not (0 <= new_row < self.n_rows and 0 <= new_col < self.n_cols) or self.walls[next_state]:
            next_state = state
        reached = bool(self.goals[next_state])
        return (1.0, next_state, 1.0 if reached else 0.0, reached)

    @property
    def open_states(self) -> np.ndarray:
        """Indices of the cells that are not walls in the current layout (goal cells included)."""
        return np.flatnonzero(~self.walls)

    def shortest_path_length(self) -> int:
        """Fewest steps from S to a goal in the current layout (breadth-first search)."""
        distance = {self.start_state: 0}
        frontier = deque([self.start_state])
        while frontier:
            state = frontier.popleft()
            if self.goals[state]:
                return distance[state]
            for action in range(len(GRIDWORLD_ACTIONS)):
                next_state = self.P[state][action][0][1]
                if next_state not in distance:
                    distance[next_state] = distance[state] + 1
                    frontier.append(next_state)
        raise ValueError(f"{type(self).__name__}: no goal is reachable from the start in layout {self.layout_index}")

    def greedy_path_length(self, Q: np.ndarray, max_steps: int | None = None) -> int | None:
        """Steps the greedy policy of ``Q`` (lowest action index among ties) takes from S to a goal
        in the current layout, or ``None`` if it has not arrived after ``max_steps`` (default: the
        number of cells, more than any path that does not cycle)."""
        Q = np.asarray(Q)
        if Q.shape != (self.observation_space.n, self.action_space.n):
            raise ValueError(f"greedy_path_length: Q must have shape "
                             f"{(self.observation_space.n, self.action_space.n)}, got {Q.shape}")
        policy = Q.argmax(axis=1)
        state = self.start_state
        for steps in range(1, (max_steps or self.observation_space.n) + 1):
            _, state, _, done = self.P[state][int(policy[state])][0]
            if done:
                return steps
        return None

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or (options or {}).get("restart", False):
            self.total_steps = 0
            if self.layout_index != 0:
                self._set_layout(0)
        self.s = self.start_state
        self.lastaction = None
        if self.render_mode == "human":
            self.render()
        return self.s, {"prob": 1.0}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"{type(self).__name__}.step: action must be an int in [0, {self.action_space.n}), "
                             f"got {action!r}")
        probability, next_state, reward, terminated = self.P[self.s][int(action)][0]
        self.s = next_state
        self.lastaction = int(action)
        self.total_steps += 1
        if self.layout_index < len(self.change_at) and self.total_steps == self.change_at[self.layout_index]:
            self._set_layout(self.layout_index + 1)
        if self.render_mode == "human":
            self.render()
        return next_state, reward, terminated, False, {"prob": probability}

    def render(self) -> str | None:
        """Text maze: ``#`` wall, ``G`` goal, ``S`` start, ``x`` the agent, ``.`` open; last action below."""
        rows = []
        for row in range(self.n_rows):
            cells = []
            for col in range(self.n_cols):
                state = row * self.n_cols + col
                cells.append("x" if state == self.s else "#" if self.walls[state] else "G" if self.goals[state]
                             else "S" if state == self.start_state else ".")
            rows.append("".join(cells))
        if self.lastaction is not None:
            rows.append(f"({GRIDWORLD_ACTIONS[self.lastaction][0]})")
        text = "\n".join(rows) + "\n"
        if self.render_mode == "human":
            print(text)
            return None
        return text


class DynaMaze(Maze):
    """The maze of S&B Figure 8.2 (6 x 9, 47 open cells, shortest path 14 steps).

    ``resolution=(row_factor, col_factor)`` refines every cell into a block (``scale_layout``),
    as in the mazes of growing size of S&B Example 8.4: 47 * row_factor * col_factor open cells.
    """

    def __init__(self, resolution: tuple[int, int] = (1, 1), render_mode: str | None = None):
        if not isinstance(resolution, (tuple, list)) or len(resolution) != 2:
            raise ValueError(f"DynaMaze: resolution must be (row_factor, col_factor), got {resolution!r}")
        super().__init__(scale_layout(DYNA_MAZE_LAYOUT, *resolution), render_mode=render_mode)


class BlockingMaze(Maze):
    """S&B Figure 8.4: after ``change_at`` steps (1000 in the book) the short path on the right is
    blocked and a longer one opens on the left (shortest path 10, then 16 steps)."""

    def __init__(self, change_at: int = 1000, render_mode: str | None = None):
        super().__init__(BLOCKING_MAZE_LAYOUTS, change_at=(change_at,), render_mode=render_mode)


class ShortcutMaze(Maze):
    """S&B Figure 8.5: after ``change_at`` steps (3000 in the book) a shortcut opens on the right
    while the long path on the left stays open (shortest path 16, then 10 steps)."""

    def __init__(self, change_at: int = 3000, render_mode: str | None = None):
        super().__init__(SHORTCUT_MAZE_LAYOUTS, change_at=(change_at,), render_mode=render_mode)
