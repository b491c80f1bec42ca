"""Batch arrays as the losses use them: standardised, or as constants of a Tensor's dtype."""
from __future__ import annotations

import numpy as np

from tinygrad_rl import Tensor

__all__ = ["standardize", "constant_like"]


def standardize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(x - mean x) / (std x + eps); a batch of one is only centred (its std is 0)."""
    return (x - x.mean()) / (x.std() + eps)


def constant_like(x, like: Tensor) -> np.ndarray:
    """A batch array as a constant of ``like``'s dtype (no gradient flows into it)."""
    return np.asarray(x).astype(like.dtype, copy=False)

