"""tinygrad_rl: a minimal reverse-mode autodiff Tensor on NumPy, with nn, optim and gradcheck.

    from tinygrad_rl import Tensor, no_grad, gradcheck, nn, optim
    import tinygrad_rl.functional as F
"""
from . import arrays, functional, nn, optim
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor, concatenate, einsum, is_grad_enabled, no_grad, one_hot, stack, where

__all__ = ["Tensor", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError", "where",
           "concatenate", "stack", "einsum", "one_hot", "nn", "optim", "functional", "arrays"]
__version__ = "0.1.0"
