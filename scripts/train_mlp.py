"""Train a small MLP with the engine on a toy regression and print the falling loss.

    python scripts/train_mlp.py [--steps 500] [--seed 0]

Fits y = sin(3 x1) + x2^2 on 256 random points with an MLP 2-64-64-1, Adam and MSE:
the smallest end-to-end use of Tensor, nn, optim and functional.
"""
import argparse

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import nn, optim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps <= 0:
        parser.error(f"--steps must be > 0, got {args.steps}")
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-1, 1, size=(256, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) + x[:, 1:] ** 2).astype(np.float32)
    net = nn.MLP([2, 64, 64, 1], rng=rng)
    opt = optim.Adam(net.parameters(), lr=3e-3)
    for step in range(1, args.steps + 1):
        loss = F.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 1 or step % max(args.steps // 10, 1) == 0:
            print(f"step {step:5d}  mse {loss.item():.6f}")


if __name__ == "__main__":
    main()
