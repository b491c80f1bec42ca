"""Deterministic policies of trained networks, one per loop kind: what evaluation, ``eval`` and recording act with.

An actor maps one observation (as the env gives it) to one action (as the env takes it), under ``no_grad``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygrad_rl import Tensor, no_grad

from ..registry import get_algorithm

__all__ = ["q_greedy_actor", "actor_critic_greedy_actor", "box_actor_greedy_actor", "greedy_actor"]


def q_greedy_actor(nets: dict) -> Callable[[np.ndarray], int]:
    """argmax_a Q(s, a) of ``nets["q_net"]``."""
    q_net = nets["q_net"]

    def act(obs: np.ndarray) -> int:
        with no_grad():
            return int(np.argmax(q_net(Tensor(np.asarray(obs, dtype=np.float32)[None])).data[0]))
    return act


def actor_critic_greedy_actor(nets: dict) -> Callable[[np.ndarray], int | np.ndarray]:
    """The policy's mode (argmax of the logits, or the Gaussian mean clipped to the bounds),
    on observations normalised with the saved statistics when the run normalised them."""
    ac, normalizer = nets["actor_critic"], nets.get("obs_normalizer")

    def act(obs: np.ndarray):
        x = np.asarray(obs, dtype=np.float32)[None]
        if normalizer is not None:
            x = normalizer.normalize(x)
        action = ac.dist.to_env(ac.act_deterministic(x))[0]
        return int(action) if np.ndim(action) == 0 else action
    return act


def greedy_actor(algo: str, nets: dict) -> Callable[[np.ndarray], int | np.ndarray]:
    """The deterministic policy of a trained ``algo``, as its loop defines it."""
    return get_algorithm(algo).loop.greedy_actor(nets)


def box_actor_greedy_actor(nets: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The actor's deterministic action (mu(s), or tanh of the Gaussian mean), in the env's bounds."""
    actor = nets["actor"]

    def act(obs: np.ndarray) -> np.ndarray:
        return actor.to_env(actor.act_deterministic(np.asarray(obs, dtype=np.float32)[None]))[0]
    return act

