"""An op of your own as an op unit: a subclass of Op reached through apply, checked by gradcheck."""
import numpy as np

from tinygrad_rl import Tensor, apply, gradcheck
from tinygrad_rl.ops import Op


class Softsign(Op):
    name = "softsign"                           # x / (1 + |x|)

    def forward(self, x):
        self.d = 1 + np.abs(x)
        return x / self.d

    def backward(self, g):
        return (g / (self.d * self.d),)         # d/dx x / (1 + |x|) = 1 / (1 + |x|)^2


def softsign(x: Tensor) -> Tensor:
    return apply(Softsign, (x,))


x = np.random.default_rng(0).standard_normal((3, 4))
assert gradcheck(softsign, [x])
y = softsign(Tensor(x, requires_grad=True))
print(f"op {y.op!r}, {len(y.parents)} input; gradcheck passes")
