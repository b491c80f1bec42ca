"""An ensemble of probabilistic networks: the learned dynamics model of PETS.

Each member e is an MLP that maps an input x (a normalised state-action pair) to a diagonal
Gaussian over the state change, N(mu_e(x), diag exp(l_e(x))), l = log sigma^2 (Chua et al. 2018,
"Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics Models", sec. 4).
The members differ by their initial weights and by the bootstrap sample of the data each is
trained on, so where the data is, they agree, and away from it, they disagree: their spread is the
model's *epistemic* uncertainty, each member's sigma the *aleatoric* noise.

The E members are evaluated together: every weight is a stacked (E, fan_in, fan_out) tensor and
each layer is one batched matrix product over inputs of shape (E, B, fan_in), so training and
planning cost one product per layer, not one per member.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_rl import Tensor, nn
from tinygrad_rl.arrays import make_rng

__all__ = ["ProbabilisticEnsemble", "soft_bounded_logvar", "gaussian_nll"]

_LOG_2PI = math.log(2.0 * math.pi)


def soft_bounded_logvar(raw: Tensor, max_logvar: Tensor, min_logvar: Tensor) -> Tensor:
    """The output log-variance, kept smoothly inside (min_logvar, max_logvar):

        l = max_logvar - softplus(max_logvar - raw)
        l = min_logvar + softplus(l - min_logvar)

    (Chua et al. 2018, appendix A.1). softplus(z) = log(1 + e^z) is a smooth max(0, z), so the
    first line is a smooth min(raw, max_logvar), the second a smooth max(., min_logvar): l lies in
    (min_logvar, min_logvar + softplus(max_logvar - min_logvar)), an upper end within
    e^-(max_logvar - min_logvar) of max_logvar. Both are differentiable everywhere with a gradient
    that fades smoothly instead of a clip's step to zero. The
    variance can neither collapse (a member claiming certainty where it has one sample) nor blow
    up (a member explaining every error as noise) far outside the range the data supports.
    """
    bounded_above = max_logvar - (max_logvar - raw).softplus()
    return min_logvar + (bounded_above - min_logvar).softplus()


def gaussian_nll(mean: Tensor, logvar: Tensor, target) -> Tensor:
    """-log N(target; mean, exp(logvar)) = ((target - mean)^2 e^{-logvar} + logvar + log 2 pi) / 2, elementwise."""
    error = mean - target
    return 0.5 * (error * error * (-logvar).exp() + logvar + _LOG_2PI)


class ProbabilisticEnsemble(nn.Module):
    """E probabilistic MLPs of the same shape, ``forward(x) -> (mean, logvar)``.

    ``x`` is (E, B, in_dim) (member e sees row block e) or (B, in_dim) (every member sees the
    same rows); ``mean`` and ``logvar`` are (E, B, out_dim). The log-variance goes through
    :func:`soft_bounded_logvar` with ``max_logvar`` and ``min_logvar`` learned per output
    dimension and shared by the members (initialised to 0.5 and -10, as in PETS; the loss pulls
    the bounds towards each other with a small penalty so they stay informative).
    """

    def __init__(self, n_members: int, in_dim: int, out_dim: int, hidden, activation: str = "relu",
                 seed: int | np.random.Generator | None = 0, max_logvar: float = 0.5, min_logvar: float = -10.0,
                 dtype=np.float32):
        for name, n in (("n_members", n_members), ("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
                raise ValueError(f"ProbabilisticEnsemble: {name} must be a positive int, got {n!r}")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"ProbabilisticEnsemble: activation must be relu or tanh, got {activation!r}")
        if not min_logvar < max_logvar:
            raise ValueError(f"ProbabilisticEnsemble: need min_logvar < max_logvar, got {min_logvar}, {max_logvar}")
        rng = make_rng(seed)
        self.n_members, self.in_dim, self.out_dim = int(n_members), int(in_dim), int(out_dim)
        self.activation = activation
        sizes = [self.in_dim, *hidden, 2 * self.out_dim]
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # PyTorch's nn.Linear default init, drawn independently for each member.
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(Tensor(rng.uniform(-bound, bound, (self.n_members, fan_in, fan_out)).astype(dtype),
                                       requires_grad=True))
            self.biases.append(Tensor(rng.uniform(-bound, bound, (self.n_members, 1, fan_out)).astype(dtype),
                                      requires_grad=True))
        self.max_logvar = Tensor(np.full(self.out_dim, max_logvar, dtype=dtype), requires_grad=True)
        self.min_logvar = Tensor(np.full(self.out_dim, min_logvar, dtype=dtype), requires_grad=True)

    def forward(self, x) -> tuple[Tensor, Tensor]:
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.weights[0].dtype))
        if h.ndim not in (2, 3) or h.shape[-1] != self.in_dim or (h.ndim == 3 and h.shape[0] != self.n_members):
            raise ValueError(f"ProbabilisticEnsemble: expected inputs of shape (B, {self.in_dim}) or "
                             f"({self.n_members}, B, {self.in_dim}), got {h.shape}")
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = h @ weight + bias                       # (E, B, fan_in) @ (E, fan_in, fan_out)
            if i < last:
                h = h.relu() if self.activation == "relu" else h.tanh()
        mean, raw_logvar = h[..., :self.out_dim], h[..., self.out_dim:]
        return mean, soft_bounded_logvar(raw_logvar, self.max_logvar, self.min_logvar)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`forward` on plain arrays, for planning: the same function, no graph, and the
        elementwise steps done in place (a plan makes thousands of these calls on (E, N, hidden)
        arrays, where allocating every intermediate costs as much as the products)."""
        h = np.asarray(x, dtype=self.weights[0].dtype)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = np.matmul(h, weight.data)
            h += bias.data
            if i < last:
                if self.activation == "relu":
                    np.maximum(h, 0.0, out=h)
                else:
                    np.tanh(h, out=h)
        max_logvar, min_logvar = self.max_logvar.data, self.min_logvar.data
        bounded_above = max_logvar - np.logaddexp(0.0, max_logvar - h[..., self.out_dim:])
        return h[..., :self.out_dim], min_logvar + np.logaddexp(0.0, bounded_above - min_logvar)

    def __repr__(self) -> str:
        hidden = [w.shape[2] for w in self.weights[:-1]]
        return (f"ProbabilisticEnsemble({self.n_members} members, {self.in_dim} -> {hidden} -> "
                f"2 x {self.out_dim}, {self.activation})")
