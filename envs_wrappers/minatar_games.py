"""MinAtar's five games through gymnasium: registered on first request, seeded the gymnasium way, and
giving channels-first float32 frames.

MinAtar (Young & Tian 2019, arXiv:1903.03176; ``pip install -e '.[minatar]'``, GPL-3.0, an optional
extra) registers ``MinAtar/<Game>-v0`` (all 6 actions, as the paper's agents use) and ``-v1`` (the game's
minimal action set) with ``minatar.gym.register_envs()``. Its sticky actions (probability 0.1) and
difficulty ramping are on, as in the paper.
"""
from __future__ import annotations

import gymnasium as gym
from gymnasium.utils import seeding

from envs_wrappers.frames import ChannelsFirstFrames

__all__ = ["MINATAR_NAMESPACE", "MINATAR_GAMES", "is_minatar_id", "register_minatar", "MinAtarSeeding",
           "wrap_minatar"]

#: The namespace MinAtar registers its games under.
MINATAR_NAMESPACE = "MinAtar"
#: The games, as named in their ids.
MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


def is_minatar_id(env_id) -> bool:
    """Whether ``env_id`` names an env in MinAtar's namespace (``MinAtar/<Game>-v<N>``)."""
    return isinstance(env_id, str) and env_id.startswith(MINATAR_NAMESPACE + "/")


def register_minatar(env_id: str = f"{MINATAR_NAMESPACE}/Breakout-v1") -> None:
    """Register MinAtar's games in gymnasium, once per process, so ``env_id`` can be made.

    Without MinAtar installed this raises a one-line ``ValueError`` naming the extra to install.
    """
    if f"{MINATAR_NAMESPACE}/Breakout-v1" in gym.envs.registry:
        return
    try:
        import minatar.gym
    except ImportError:
        raise ValueError(f"{env_id!r} is a MinAtar game and MinAtar is not installed: "
                         "pip install -e '.[minatar]'") from None
    minatar.gym.register_envs()


class MinAtarSeeding(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Seeds the env's ``np_random`` too when ``reset(seed=...)`` is given.

    MinAtar's gym env seeds its game (the only randomness it uses: spawns and sticky actions) from
    ``reset(seed=...)`` but never calls ``gym.Env.reset``, so ``env.np_random`` stays unseeded and
    gymnasium's seeding contract (checked by ``check_env``) does not hold. This completes it.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(self, *, seed=None, options=None):
        observation, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self.env.unwrapped.np_random, _ = seeding.np_random(seed)
        return observation, info


def wrap_minatar(env: gym.Env) -> gym.Env:
    """A MinAtar env as this package gives it: seeded as gymnasium expects, frames (C, 10, 10) float32."""
    return ChannelsFirstFrames(MinAtarSeeding(env))
