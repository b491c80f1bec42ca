"""``make_env``: ``gymnasium.make`` that survives version bumps and names the closest ids on a typo.

MinAtar games (``MinAtar/Breakout-v1``, ...; the optional ``minatar`` extra) are registered on first
request, and every env built here from such an id gives channels-first float32 frames
(:func:`~envs_wrappers.minatar_games.wrap_minatar`).
"""
from __future__ import annotations

import difflib
import warnings

import gymnasium as gym
from gymnasium.envs.registration import find_highest_version, get_env_id, parse_env_id

from envs_wrappers.minatar_games import is_minatar_id, register_minatar, wrap_minatar

__all__ = ["make_env", "resolve_env_id", "check_plain_env_id", "make_plain_env", "make_plain_vec_env"]

# Ids already resolved to a newer version, so the notice is given once per id per process.
_announced_resolutions: set[str] = set()


def _closest_ids(env_id: str, n: int = 5) -> list[str]:
    return difflib.get_close_matches(env_id, list(gym.envs.registry.keys()), n=n, cutoff=0.4)


def _with_frames(env_id: str, env: gym.Env) -> gym.Env:
    return wrap_minatar(env) if is_minatar_id(env_id) else env


def resolve_env_id(env_id: str) -> str:
    """The registered id to build for ``env_id``.

    An id registered as is comes back unchanged. An id whose name is registered only under a
    newer version (``Taxi-v3`` when gymnasium 1.4 has ``Taxi-v4``, ``CliffWalking-v0`` when it
    has ``CliffWalking-v1``) resolves to the newest registered version, with a ``UserWarning``
    the first time each id is resolved. Anything else raises ``ValueError`` listing the closest
    registered ids (``difflib`` similarity).
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"make_env: env id must be a non-empty string, got {env_id!r}")
    if is_minatar_id(env_id):
        register_minatar(env_id)
    if env_id in gym.envs.registry:
        return env_id
    try:
        namespace, name, version = parse_env_id(env_id)
    except gym.error.Error as err:
        raise ValueError(f"make_env: {env_id!r} is not a valid gymnasium id ({err}); "
                         f"closest registered ids: {_closest_ids(env_id)}") from err
    newest = find_highest_version(namespace, name)
    if newest is None:
        unversioned = get_env_id(namespace, name, None)
        if version is None or unversioned not in gym.envs.registry:
            raise ValueError(f"make_env: unknown environment id {env_id!r}; "
                             f"closest registered ids: {_closest_ids(env_id)}")
        resolved = unversioned
    elif version is not None and version > newest:
        raise ValueError(f"make_env: {env_id!r} asks for version v{version} but the installed "
                         f"gymnasium {gym.__version__} has at most v{newest} of {name!r}; "
                         f"closest registered ids: {_closest_ids(env_id)}")
    else:
        resolved = get_env_id(namespace, name, newest)
    if env_id not in _announced_resolutions:
        _announced_resolutions.add(env_id)
        warnings.warn(f"make_env: {env_id!r} is not registered in gymnasium {gym.__version__}; "
                      f"using {resolved!r}, the version it has", UserWarning, stacklevel=3)
    return resolved


def make_env(env_id: str, **kwargs) -> gym.Env:
    """``gymnasium.make(resolve_env_id(env_id), **kwargs)``; a MinAtar game comes with channels-first frames.

    >>> env = make_env("Taxi-v3")          # gymnasium 1.4: builds Taxi-v4, warns once
    >>> make_env("Taxy-v3")                # ValueError: ... closest registered ids: ['Taxi-v4', ...]
    """
    resolved = resolve_env_id(env_id)
    return _with_frames(resolved, gym.make(resolved, **kwargs))


def check_plain_env_id(env_id) -> str:
    """``env_id`` if it is a plain id registered in gymnasium, else ``ValueError``.

    gymnasium imports the module named before a colon (``"module:Env-v0"``) when making an env,
    so an id read from a file must never carry one: it would run that module's code.
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env id must be a non-empty string, got {env_id!r}")
    if ":" in env_id:
        raise ValueError(f"env id {env_id!r} names a module to import ('module:' prefix); "
                         "only plain registered ids are accepted")
    if is_minatar_id(env_id):
        register_minatar(env_id)
    if env_id not in gym.envs.registry:
        raise ValueError(f"unknown environment id {env_id!r}; closest registered ids: {_closest_ids(env_id)}")
    return env_id


def make_plain_env(env_id, **kwargs) -> gym.Env:
    """``gymnasium.make`` of a plain registered id (:func:`check_plain_env_id`): the one way the deep
    trainers build an env, since their ids come from the command line, configs and run folders.
    A MinAtar game comes with channels-first float32 frames."""
    return _with_frames(env_id, gym.make(check_plain_env_id(env_id), **kwargs))


def make_plain_vec_env(env_id, num_envs: int) -> gym.vector.VectorEnv:
    """``num_envs`` copies of a plain registered id (:func:`check_plain_env_id`), stepped in turn."""
    wrappers = [wrap_minatar] if is_minatar_id(env_id) else None
    return gym.make_vec(check_plain_env_id(env_id), num_envs=num_envs, vectorization_mode="sync", wrappers=wrappers)
