"""Time one DQN-style update three ways in one process and print the ratios.

The update: MLP forward on a batch of states, Q(s, a) selection, MSE against fixed targets,
backward, Adam step — float32 throughout.

1. tinygrad_rl (the engine),
2. the same update written by hand in NumPy with manual gradients: the floor for any NumPy engine,
3. PyTorch on the CPU with one thread, when torch is installed (``pip install torch==2.13.0``).

    python scripts/bench_engine.py [--repeats 2000] [--rounds 5]

Each configuration is timed in interleaved rounds (A, B, C, A, B, C, ...) and the median
round is reported, so a burst of load from other processes hits all three alike.
"""
from __future__ import annotations

import os

# One BLAS thread for every contender (PyTorch is pinned to one thread too). At these sizes a
# second BLAS thread only adds synchronisation, and on a loaded 2-core machine it thrashes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import statistics
import time

import numpy as np

from tinygrad_rl import Tensor, nn, optim
import tinygrad_rl.functional as F

CONFIGS = [  # (layer sizes, batch)
    ((4, 128, 128, 2), 64),
    ((4, 64, 64, 2), 64),
    ((8, 256, 256, 4), 128),
]
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def make_batch(sizes, batch, rng):
    states = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    actions = rng.integers(0, sizes[-1], size=batch)
    targets = rng.standard_normal(batch).astype(np.float32)
    return states, actions, targets


# ----------------------------------------------------------------------------- ours

def engine_update(sizes, batch_data, seed):
    net = nn.MLP(sizes, rng=seed)
    opt = optim.Adam(net.parameters(), lr=LR, betas=BETAS, eps=EPS)
    states, actions, targets = batch_data
    rows = np.arange(len(actions))

    def update():
        q = net(states)[rows, actions]
        loss = F.mse_loss(q, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return update


# ----------------------------------------------------------------------------- hand-written NumPy

def numpy_update(sizes, batch_data, seed):
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(n_in)
        Ws.append(rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, n_out).astype(np.float32))
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    states, actions, targets = batch_data
    rows = np.arange(len(actions))
    n = len(actions)
    step = [0]

    def update():
        # forward
        acts = [states]
        h = states
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = h @ W + b
            if i < len(Ws) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        q_sa = h[rows, actions]
        diff = q_sa - targets
        loss = np.mean(diff * diff)
        # backward
        g = np.zeros_like(h)
        g[rows, actions] = (2.0 / n) * diff
        gWs, gbs = [None] * len(Ws), [None] * len(Ws)
        for i in range(len(Ws) - 1, -1, -1):
            gWs[i] = acts[i].T @ g
            gbs[i] = g.sum(axis=0)
            if i > 0:
                g = (g @ Ws[i].T) * (acts[i] > 0)
        # Adam
        step[0] += 1
        t = step[0]
        c1, c2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        for p, gp, mp, vp in zip(params, gWs + gbs, m, v):
            mp *= BETAS[0]
            mp += (1 - BETAS[0]) * gp
            vp *= BETAS[1]
            vp += (1 - BETAS[1]) * gp * gp
            p -= LR * (mp / c1) / (np.sqrt(vp / c2) + EPS)
        return loss
    return update


# ----------------------------------------------------------------------------- PyTorch

def torch_update(sizes, batch_data, seed):
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=BETAS, eps=EPS)
    states, actions, targets = (torch.from_numpy(a) for a in batch_data)
    actions = actions.long()

    def update():
        q = net(states).gather(1, actions[:, None]).squeeze(1)
        loss = torch.nn.functional.mse_loss(q, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return update


def time_round(update, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        update()
    return (time.perf_counter() - start) / repeats * 1e6


def check_same_update(sizes, batch_data):
    """Sanity check before timing: the engine and the hand-written update agree on the losses."""
    ours, hand = engine_update(sizes, batch_data, 0), numpy_update(sizes, batch_data, 0)
    for _ in range(5):
        a, b = float(ours().item()), float(hand())
        if not math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6):
            raise SystemExit(f"engine loss {a} != hand-written loss {b}: the two updates differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1000, help="updates per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per implementation")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("(torch not installed: PyTorch column skipped; pip install torch==2.13.0 for it)")

    print(f"{'network':>16} {'batch':>5} {'ours us':>9} {'numpy us':>9} {'torch us':>9} "
          f"{'ours/numpy':>10} {'ours/torch':>10}")
    for sizes, batch in CONFIGS:
        batch_data = make_batch(sizes, batch, np.random.default_rng(0))
        check_same_update(sizes, batch_data)
        impls = {"ours": engine_update(sizes, batch_data, 0), "numpy": numpy_update(sizes, batch_data, 0)}
        if have_torch:
            impls["torch"] = torch_update(sizes, batch_data, 0)
        for update in impls.values():  # warm-up
            time_round(update, max(args.repeats // 10, 1))
        times = {name: [] for name in impls}
        for _ in range(args.rounds):
            for name, update in impls.items():
                times[name].append(time_round(update, args.repeats))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        torch_us = f"{med['torch']:9.1f}" if have_torch else f"{'-':>9}"
        ratio_torch = f"{med['ours'] / med['torch']:10.2f}" if have_torch else f"{'-':>10}"
        print(f"{'-'.join(map(str, sizes)):>16} {batch:>5} {med['ours']:9.1f} {med['numpy']:9.1f} "
              f"{torch_us} {med['ours'] / med['numpy']:10.2f} {ratio_torch}")
    print("ratios < 1 mean ours is faster; targets: ours/numpy <= 1.3, ours/torch <= 0.5")


if __name__ == "__main__":
    main()
