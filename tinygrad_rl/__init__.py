"""tinygrad_rl: a minimal reverse-mode autodiff Tensor on NumPy, with nn, optim and gradcheck.

    from tinygrad_rl import Tensor, no_grad, gradcheck, nn, optim
    import tinygrad_rl.functional as F

Every op is a small class in :mod:`tinygrad_rl.ops` reached through :func:`apply`.
"""
from . import arrays, functional, graph, nn, ops, optim
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .gradcheck import GradcheckError, gradcheck
from .graph import custom_op
from .tensor import Tensor, apply, concatenate, einsum, is_grad_enabled, no_grad, one_hot, stack, where

__all__ = ["Tensor", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError", "where",
           "concatenate", "stack", "einsum", "one_hot", "custom_op", "detect_anomaly", "is_anomaly_enabled",
           "AnomalyError", "apply", "ops", "nn", "optim", "functional", "arrays", "graph"]
__version__ = "0.1.0"
