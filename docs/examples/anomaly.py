"""Anomaly mode names the op where an inf was born: here sqrt's backward at 0."""
import numpy as np

from tinygrad_rl import AnomalyError, Tensor, detect_anomaly

x = Tensor(np.array([4.0, 0.0, 1.0]), requires_grad=True)
try:
    with detect_anomaly():
        y = x.sqrt()                  # sqrt(0) = 0: the forward pass is finite
        loss = (y * 2).sum()
        loss.backward()               # d sqrt(x)/dx = 1 / (2 sqrt(x)) = inf at 0
except AnomalyError as error:
    print(f"AnomalyError: {error}")
