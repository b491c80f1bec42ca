"""Observation normalisation: running mean and variance of a stream (Chan et al. 1979's parallel update),
and the observations as the networks see them."""
from __future__ import annotations

import numpy as np

__all__ = ["RunningMeanStd", "OBSERVATION_CLIP", "observe"]


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al. 1979, parallel update).

    ``normalize(x) = (x - mean) / sqrt(var + eps)``, clipped to ``[-clip, clip]`` when ``clip``
    is given. Its state (mean, var, count) goes into ``model.npz`` with the weights, so evaluation
    normalises exactly as training ended.
    """

    def __init__(self, shape: tuple = (), eps: float = 1e-8, clip: float | None = None):
        if clip is not None and not clip > 0:
            raise ValueError(f"RunningMeanStd: clip must be a float > 0 or None, got {clip!r}")
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = np.array(1e-4)     # a tiny prior count keeps the first update finite
        self.eps = eps
        self.clip = clip

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, *self.mean.shape)
        if x.shape[0] == 0:
            return
        batch_mean, batch_var, n = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.var, self.count = m2 / total, np.array(total)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / np.sqrt(self.var + self.eps)
        if self.clip is not None:
            z = np.clip(z, -self.clip, self.clip)
        return z.astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.asarray(self.count, dtype=np.float64)}

    def load_state_dict(self, state: dict) -> None:
        missing = {"mean", "var", "count"} - set(state)
        if missing:
            raise ValueError(f"RunningMeanStd.load_state_dict: missing keys {sorted(missing)}")
        mean, var = np.asarray(state["mean"], np.float64), np.asarray(state["var"], np.float64)
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(f"RunningMeanStd.load_state_dict: shapes {mean.shape}, {var.shape} != {self.mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)):
            raise ValueError("RunningMeanStd.load_state_dict: mean/var must be finite and var >= 0")
        self.mean, self.var = mean, var
        self.count = np.asarray(state["count"], np.float64)


# Normalised observations are clipped to +-10 standard deviations (as Stable-Baselines3's
# VecNormalize does): a feature constant so far (a lander's leg contact before its first
# touchdown) has variance ~0, and its first other value can be thousands of deviations away
# (3,153 in an A2C LunarLander run), saturating every tanh unit it feeds.
OBSERVATION_CLIP = 10.0


def observe(nets: dict, obs: np.ndarray, update: bool = True) -> np.ndarray:
    """Observations as the networks see them: normalised (and the statistics updated with
    ``update``) when ``nets`` has an ``obs_normalizer``, else as float32."""
    normalizer = nets.get("obs_normalizer")
    if normalizer is None:
        return np.asarray(obs, dtype=np.float32)
    if update:
        normalizer.update(obs)
    return normalizer.normalize(obs)

