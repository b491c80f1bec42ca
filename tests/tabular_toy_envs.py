"""Tiny gymnasium envs whose values are known in closed form, for the tabular tests."""
import gymnasium as gym
import numpy as np


class RandomWalk(gym.Env):
    """Sutton & Barto Example 6.2 with actions: states 0..n+1, both ends terminal, start in the middle.

    Action 0 moves left, action 1 right; reward 1 only on entering the right end. Under the
    uniformly random policy, with gamma = 1, V(s) = s / (n + 1) for the inner states s = 1..n.
    """

    def __init__(self, n_inner: int = 5):
        self.n_inner = n_inner
        self.observation_space = gym.spaces.Discrete(n_inner + 2)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = (self.n_inner + 1) // 2
        return self.state, {}

    def step(self, action):
        self.state += 1 if action == 1 else -1
        at_right_end = self.state == self.n_inner + 1
        return self.state, float(at_right_end), at_right_end or self.state == 0, False, {}

    def exact_values(self, gamma: float) -> np.ndarray:
        """V under the uniform random policy: solve V = r + gamma * P V over the inner states."""
        n = self.n_inner
        transition = np.zeros((n, n))
        reward = np.zeros(n)
        for i in range(n):  # inner state i + 1
            if i > 0:
                transition[i, i - 1] = 0.5
            if i < n - 1:
                transition[i, i + 1] = 0.5
        reward[-1] = 0.5  # half of the moves from the last inner state enter the rewarding end
        inner = np.linalg.solve(np.eye(n) - gamma * transition, reward)
        return np.concatenate([[0.0], inner, [0.0]])


class EndlessCorridor(gym.Env):
    """One state, one action, reward 1 forever; only a time limit ends an episode (truncation).

    With gamma < 1 and bootstrapping on truncation, V = Q = 1 / (1 - gamma) for any time limit.
    """
    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 1.0, False, False, {}
