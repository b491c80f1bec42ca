"""Two ops of your own with custom_op, checked by gradcheck; then a wrong backward, caught."""
import numpy as np

from tinygrad_rl import GradcheckError, Tensor, custom_op, gradcheck


def softsign(x: Tensor) -> Tensor:
    """softsign(x) = x / (1 + |x|);  d/dx = 1 / (1 + |x|)^2."""
    d = 1 + np.abs(x.data)
    return custom_op("softsign", x.data / d, (x,), lambda g: (g / (d * d),))


def log1p(x: Tensor) -> Tensor:
    """log(1 + x);  d/dx = 1 / (1 + x)."""
    data = x.data
    return custom_op("log1p", np.log1p(data), (x,), lambda g: (g / (1 + data),))


x = np.random.default_rng(0).standard_normal((3, 4))
assert gradcheck(softsign, [x]) and gradcheck(log1p, [np.abs(x)])


def wrong_softsign(x: Tensor) -> Tensor:
    d = 1 + np.abs(x.data)
    return custom_op("softsign", x.data / d, (x,), lambda g: (g / d,))   # the square forgotten


try:
    gradcheck(lambda x: wrong_softsign(x).sum(), [x])
except GradcheckError as error:
    print(f"GradcheckError: {error}")
