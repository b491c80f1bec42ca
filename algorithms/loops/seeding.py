"""The seeds of one run: networks, env, evaluation and sampling each get their own, all spawned from the
config's ``seed`` (``tinygrad_rl.arrays.spawn_seeds``), so changing how one is used leaves the others alone."""
from __future__ import annotations

from dataclasses import dataclass

from tinygrad_rl.arrays import spawn_seeds

__all__ = ["RunSeeds"]


@dataclass(frozen=True)
class RunSeeds:
    """Independent seeds of one run, all derived from the config's ``seed``."""
    networks: int
    env: int
    eval: int
    sampling: int   # epsilon-greedy / policy sampling and replay sampling

    @classmethod
    def from_seed(cls, seed: int) -> "RunSeeds":
        return cls(*spawn_seeds(seed, 4))

