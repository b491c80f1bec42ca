"""Sutton & Barto's gridworld (Example 4.1) as a ``gymnasium.Env``."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["GridWorld", "GRIDWORLD_ACTIONS"]

#: Action index -> (name, row change, column change).
GRIDWORLD_ACTIONS = (("up", -1, 0), ("right", 0, 1), ("down", 1, 0), ("left", 0, -1))


class GridWorld(gym.Env):
    """An ``size`` x ``size`` grid; the top-left and bottom-right cells are terminal.

    States are numbered row-major, ``s = row * size + col`` (S&B number the non-terminal cells
    1..14; here the terminal corners are states 0 and ``size**2 - 1``). Actions: 0 up, 1 right,
    2 down, 3 left. Every step costs -1; a move off the grid leaves the state unchanged.
    Entering a corner terminates the episode. Episodes start uniformly in a non-terminal cell.

    The dynamics are exposed like gymnasium's toy-text envs, as
    ``P[s][a] = [(probability, next_state, reward, terminated)]``, so ``tabular_model`` reads
    this env and FrozenLake/Taxi/CliffWalking the same way. A corner's own transitions are
    terminated self-loops with reward 0, as in FrozenLake's holes.

    Reference: Sutton & Barto (2018), Example 4.1 and Figure 4.1.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, size: int = 4, render_mode: str | None = None):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 2:
            raise ValueError(f"GridWorld: size must be an int >= 2, got {size!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"GridWorld: render_mode must be one of {self.metadata['render_modes']} "
                             f"or None, got {render_mode!r}")
        self.size = int(size)
        self.render_mode = render_mode
        n_states = self.size * self.size
        self.terminal_states = (0, n_states - 1)
        self.observation_space = spaces.Discrete(n_states)
        self.action_space = spaces.Discrete(len(GRIDWORLD_ACTIONS))
        self.initial_state_distrib = np.ones(n_states) / (n_states - len(self.terminal_states))
        self.initial_state_distrib[list(self.terminal_states)] = 0.0
        self.P = {s: {a: [self._transition(s, a)] for a in range(len(GRIDWORLD_ACTIONS))}
                  for s in range(n_states)}
        self.s = int(np.flatnonzero(self.initial_state_distrib)[0])
        self.lastaction: int | None = None

    def _transition(self, state: int, action: int) -> tuple[float, int, float, bool]:
        if state in self.terminal_states:
            return (1.0, state, 0.0, True)
        row, col = divmod(state, self.size)
        _, d_row, d_col = GRIDWORLD_ACTIONS[action]
        new_row, new_col = row + d_row, col + d_col
        if not (0 <= new_row < self.size and 0 <= new_col < self.size):
            new_row, new_col = row, col
        next_state = new_row * self.size + new_col
        return (1.0, next_state, -1.0, next_state in self.terminal_states)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.s = int(self.np_random.choice(self.observation_space.n, p=self.initial_state_distrib))
        self.lastaction = None
        if self.render_mode == "human":
            self.render()
        return self.s, {"prob": 1.0}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"GridWorld.step: action must be an int in [0, {self.action_space.n}), "
                             f"got {action!r}")
        probability, next_state, reward, terminated = self.P[self.s][int(action)][0]
        self.s = next_state
        self.lastaction = int(action)
        if self.render_mode == "human":
            self.render()
        return next_state, reward, terminated, False, {"prob": probability}

    def render(self) -> str | None:
        """Text grid: ``T`` terminal, ``x`` the agent, ``.`` an empty cell; the last action below."""
        rows = []
        for row in range(self.size):
            cells = []
            for col in range(self.size):
                state = row * self.size + col
                cells.append("x" if state == self.s else "T" if state in self.terminal_states else ".")
            rows.append(" ".join(cells))
        if self.lastaction is not None:
            rows.append(f"({GRIDWORLD_ACTIONS[self.lastaction][0]})")
        text = "\n".join(rows) + "\n"
        if self.render_mode == "human":
            print(text)
            return None
        return text
