"""Time one DQN-style update every way we have, in one process, and print the ratios to hand-written NumPy.

The update: MLP forward on a batch of states, Q(s, a) selection, MSE against given targets,
backward, Adam step -- float32 throughout. Each contender cycles through the same eight batches (a
single batch, learned to a loss of ~0 over thousands of updates, fills the moments with subnormal
numbers whose slow arithmetic would depend on each contender's exact rounding). The contenders:

1. ``ours``: the engine (a graph per call, one op object per op, a backward walk);
2. ``numpy``: the same update written by hand in NumPy with manual gradients, the reference;
3. ``numpy floor``: the hand-written update with everything a NumPy replay can do and no Python
   around it (preallocated buffers, flat in-place Adam): the floor for any NumPy-based engine;
4. HIPS ``autograd``, ``jax`` (the whole update as one ``jax.jit``-compiled function, parameters and
   moments donated) and PyTorch, each when installed (``pip install -e ".[compare]"``).

    python scripts/bench_engine.py [--repeats 300] [--rounds 15] [--only mlp|minatar]

Then, at MinAtar's sizes (10x10 frames of 4 channels, Breakout's; batch 32), two more rows with ours,
hand-written NumPy and PyTorch (one thread) only:

- ``MinAtar DQN update``: MinAtar's network (conv 16 3x3 -> ReLU -> flatten -> 128 -> ReLU -> 3 actions),
  the target network's max over the next frames, the Huber loss of Q(s, a), backward, centered RMSprop
  (lr 2.5e-4, alpha 0.95, eps 0.01): the update of ``scripts/minatar_reference_dqn.py``;
- ``conv fwd+bwd``: one conv2d (32, 4, 10, 10) * (16, 4, 3, 3) + bias forward, and the gradients of
  x, W and b for a given upstream gradient.

and a last line, ``its matrix products alone``: the update's matrix products (conv and linear forwards
of both networks, the backward's products) with no Python around them, as a share of our update's time
and of PyTorch's. Every implementation computes those products, so their time bounds how fast any
update can get here: what is left above it is the part an engine can still shave.

Every contender gets one BLAS / XLA / torch thread. Times are this process's CPU time (waiting for
a core on a shared machine is not counted). Each configuration is timed in interleaved rounds (the
order rotating), so a burst of load from other processes hits all alike; the table shows each
contender's median round and its ratio to hand-written NumPy, the median over rounds of that
round's ratio. Before timing, every contender's losses over five updates are checked against
the hand-written update's.
"""
from __future__ import annotations

import os

# One BLAS thread for every contender (PyTorch and XLA are pinned to one thread too). At these
# sizes a second thread only adds synchronisation, and on a loaded 2-core machine it thrashes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import importlib.util
import math
import statistics
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, nn, no_grad, optim

CONFIGS = [  # (layer sizes, batch)
    ((4, 64, 64, 2), 64),
    ((4, 128, 128, 2), 64),
    ((8, 256, 256, 4), 128),
]
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def make_batch(sizes, batch, rng):
    states = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    actions = rng.integers(0, sizes[-1], size=batch)
    targets = rng.standard_normal(batch).astype(np.float32)
    return states, actions, targets


def make_batches(sizes, batch, rng, count: int = 8) -> list:
    return [make_batch(sizes, batch, rng) for _ in range(count)]


def batch_size(data) -> int:
    return len((data if isinstance(data, tuple) else data[0])[1])


def cycle(data):
    """A function returning the next batch of ``data`` (one batch, or a list of them) on each call."""
    batches = [data] if isinstance(data, tuple) else list(data)
    position = [-1]

    def next_batch():
        position[0] = (position[0] + 1) % len(batches)
        return batches[position[0]]
    return next_batch


def init_params(sizes, seed):
    """PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for the hand-written contenders."""
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(n_in)
        Ws.append(rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, n_out).astype(np.float32))
    return Ws, bs


# ----------------------------------------------------------------------------- ours

def engine_step(sizes, batch_data, seed):
    """The update as a user writes it with the engine (``engine_update`` runs it eagerly)."""
    net = nn.MLP(sizes, rng=seed)
    opt = optim.Adam(net.parameters(), lr=LR, betas=BETAS, eps=EPS)
    next_batch = cycle(batch_data)
    rows = np.arange(batch_size(batch_data))

    def update():
        states, actions, targets = next_batch()
        q = net(states)[rows, actions]
        return gradient_step(opt, F.mse_loss(q, targets))
    return update


def gradient_step(opt, loss):
    """zero_grad, backward, step; returns the loss."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def engine_update(sizes, batch_data, seed):
    return engine_step(sizes, batch_data, seed)


# ----------------------------------------------------------------------------- hand-written NumPy

def numpy_update(sizes, batch_data, seed):
    Ws, bs = init_params(sizes, seed)
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    next_batch = cycle(batch_data)
    n = batch_size(batch_data)
    rows = np.arange(n)
    step = [0]

    def update():
        states, actions, targets = next_batch()
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


def numpy_floor_update(sizes, batch_data, seed):
    """The update written by hand with everything a NumPy replay can do and no Python around it:
    preallocated buffers (``out=``), the relu forward against an array of zeros, gradients written
    into Adam's flat gradient buffer, the engine's flat in-place Adam. Not a contender: the floor
    any NumPy-based engine stays above."""
    net = nn.MLP(sizes, rng=seed)
    opt = optim.Adam(net.parameters(), lr=LR, betas=BETAS, eps=EPS)
    next_batch = cycle(batch_data)
    n = batch_size(batch_data)
    rows = np.arange(n)
    Ws, bs = [layer.weight.data for layer in net.layers[::2]], [layer.bias.data for layer in net.layers[::2]]
    hs = [np.empty((n, width), np.float32) for width in sizes[1:]]
    zeros = [np.zeros((n, width), np.float32) for width in sizes[1:]]
    masks = [np.empty((n, width), bool) for width in sizes[1:-1]]
    gs = [np.empty((n, width), np.float32) for width in sizes[1:]]
    slots = [optim.gradient_slot(p) for p in opt.params]
    gWs, gbs = slots[0::2], slots[1::2]
    diff, half = np.empty(n, np.float32), np.empty(n, np.float32)
    layers = len(Ws)

    def update():
        states, actions, targets = next_batch()
        x = states
        for i in range(layers):
            np.matmul(x, Ws[i], out=hs[i])
            np.add(hs[i], bs[i], out=hs[i])
            if i < layers - 1:
                np.maximum(hs[i], zeros[i], out=hs[i])
            x = hs[i]
        np.subtract(hs[-1][rows, actions], targets, out=diff)
        loss = np.add.reduce(diff * diff) / n
        np.multiply(diff, np.float32(2 / n), out=half)
        g = gs[-1]
        g.fill(0)
        np.add.at(g, (rows, actions), half)
        for i in range(layers - 1, -1, -1):
            np.add.reduce(g, axis=0, out=gbs[i])
            np.matmul(states.T if i == 0 else hs[i - 1].T, g, out=gWs[i])
            if i:
                np.matmul(g, Ws[i].T, out=gs[i - 1])
                np.greater(hs[i - 1], 0, out=masks[i - 1])
                g = np.multiply(gs[i - 1], masks[i - 1], out=gs[i - 1])
        opt.step_count += 1
        opt._update(opt.flat, opt.flat_grad)
        return loss
    return update


# ----------------------------------------------------------------------------- HIPS autograd

def autograd_update(sizes, batch_data, seed):
    import autograd.numpy as anp
    from autograd import value_and_grad
    Ws, bs = init_params(sizes, seed)
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    next_batch = cycle(batch_data)
    rows = np.arange(batch_size(batch_data))
    layers = len(Ws)

    def loss_fn(params, states, actions, targets):
        h = states
        for i in range(layers):
            h = anp.dot(h, params[i]) + params[layers + i]
            if i < layers - 1:
                h = anp.maximum(h, 0.0)
        diff = h[rows, actions] - targets
        return anp.mean(diff * diff)
    loss_and_grads = value_and_grad(loss_fn)
    step = [0]

    def update():
        loss, grads = loss_and_grads(params, *next_batch())
        step[0] += 1
        c1, c2 = 1 - BETAS[0] ** step[0], 1 - BETAS[1] ** step[0]
        for p, gp, mp, vp in zip(params, grads, m, v):
            mp *= BETAS[0]
            mp += (1 - BETAS[0]) * gp
            vp *= BETAS[1]
            vp += (1 - BETAS[1]) * gp * gp
            p -= (LR * (mp / c1) / (np.sqrt(vp / c2) + EPS)).astype(p.dtype)
        return loss
    return update


# ----------------------------------------------------------------------------- JAX

def jax_update(sizes, batch_data, seed):
    import jax
    import jax.numpy as jnp
    Ws, bs = init_params(sizes, seed)
    params = [jnp.asarray(p) for p in Ws + bs]
    on_device = [tuple(jnp.asarray(a) for a in batch) for batch in ([batch_data] if isinstance(batch_data, tuple)
                                                                     else batch_data)]
    next_batch = cycle(on_device)
    rows = jnp.arange(len(on_device[0][1]))
    layers = len(Ws)

    def loss_fn(params, states, actions, targets):
        h = states
        for i in range(layers):
            h = h @ params[i] + params[layers + i]
            if i < layers - 1:
                h = jnp.maximum(h, 0.0)
        diff = h[rows, actions] - targets
        return jnp.mean(diff * diff)

    @jax.jit
    def step(params, m, v, t, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        t = t + 1
        c1, c2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        m = [BETAS[0] * mp + (1 - BETAS[0]) * g for mp, g in zip(m, grads)]
        v = [BETAS[1] * vp + (1 - BETAS[1]) * g * g for vp, g in zip(v, grads)]
        params = [p - LR * (mp / c1) / (jnp.sqrt(vp / c2) + EPS) for p, mp, vp in zip(params, m, v)]
        return params, m, v, t, loss
    step = jax.jit(step.__wrapped__, donate_argnums=(0, 1, 2))
    state = [params, [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params], jnp.float32(0)]

    def update():
        *state[:], loss = step(*state, next_batch())
        return loss.block_until_ready()   # the loss is needed now, as a training loop needs it
    return update


# ----------------------------------------------------------------------------- PyTorch

def torch_update(sizes, batch_data, seed):
    import torch
    torch.set_num_threads(1)
    layers = []
    for i, (W, b) in enumerate(zip(*init_params(sizes, seed))):
        layers.append(torch.nn.Linear(*W.shape))
        with torch.no_grad():  # the same initial weights as the others (torch stores W transposed)
            layers[-1].weight.copy_(torch.from_numpy(W.T.copy()))
            layers[-1].bias.copy_(torch.from_numpy(b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=BETAS, eps=EPS)
    next_batch = cycle([(torch.from_numpy(s), torch.from_numpy(a).long(), torch.from_numpy(t))
                        for s, a, t in ([batch_data] if isinstance(batch_data, tuple) else batch_data)])

    def update():
        states, actions, targets = next_batch()
        q = net(states).gather(1, actions[:, None]).squeeze(1)
        loss = torch.nn.functional.mse_loss(q, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return update


# ----------------------------------------------------------------------------- MinAtar sizes

MINATAR_CHANNELS, MINATAR_ACTIONS, MINATAR_BATCH = 4, 3, 32
RMS = dict(lr=2.5e-4, alpha=0.95, eps=0.01)
GAMMA = 0.99


def minatar_batches(rng, count: int = 8) -> list:
    """(frames, actions, rewards, next frames, terminal) batches of 0/1 frames, about 20% of cells on."""
    def frames():
        return (rng.random((MINATAR_BATCH, MINATAR_CHANNELS, 10, 10)) < 0.2).astype(np.float32)
    return [(frames(), rng.integers(0, MINATAR_ACTIONS, MINATAR_BATCH),
             rng.integers(0, 2, MINATAR_BATCH).astype(np.float32), frames(),
             (rng.random(MINATAR_BATCH) < 0.1).astype(np.float32)) for _ in range(count)]


def minatar_params(seed: int) -> list:
    """[conv W (16, C, 3, 3), conv b, fc W (1024, 128), fc b, out W (128, A), out b], PyTorch's default init."""
    rng = np.random.default_rng(seed)
    shapes = [((16, MINATAR_CHANNELS, 3, 3), MINATAR_CHANNELS * 9), ((16,), MINATAR_CHANNELS * 9),
              ((1024, 128), 1024), ((128,), 1024), ((128, MINATAR_ACTIONS), 128), ((MINATAR_ACTIONS,), 128)]
    return [rng.uniform(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), shape).astype(np.float32)
            for shape, fan_in in shapes]


def minatar_engine_update(batches, seed):
    def network():
        net = nn.Sequential(nn.Conv2d(MINATAR_CHANNELS, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 128),
                            nn.ReLU(), nn.Linear(128, MINATAR_ACTIONS))
        net.load_state_dict(dict(zip(net.state_dict(), minatar_params(seed))))
        return net
    q_net, target = network(), network()
    opt = optim.RMSprop(q_net.parameters(), centered=True, **RMS)
    next_batch, rows = cycle(batches), np.arange(MINATAR_BATCH)

    def update():
        frames, actions, rewards, next_frames, terminal = next_batch()
        with no_grad():
            y = rewards + GAMMA * (1 - terminal) * target(next_frames).data.max(axis=1)
        return gradient_step(opt, F.huber_loss(q_net(frames)[rows, actions], y))
    return update


def numpy_conv_forward(x, w, b):
    """Y = W P + b per sample, P the im2col patches (N, C*3*3, 64) of x (N, C, 10, 10): (Y, P)."""
    windows = sliding_window_view(x, (3, 3), axis=(2, 3))                       # (N, C, 8, 8, 3, 3)
    cols = np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(len(x), -1, 64)
    return w.reshape(len(w), -1) @ cols + b[:, None], cols


def numpy_conv_input_grad(dy, w, x_shape):
    """col2im(W^T dY): every patch entry's gradient added back onto the pixel it was copied from."""
    dcols = (w.reshape(len(w), -1).T @ dy).reshape(*x_shape[:2], 3, 3, 8, 8)
    gx = np.zeros(x_shape, np.float32)
    for i in range(3):
        for j in range(3):
            gx[:, :, i:i + 8, j:j + 8] += dcols[:, :, i, j]
    return gx


def minatar_numpy_update(batches, seed):
    params = minatar_params(seed)
    target = [p.copy() for p in params]
    square_avg, grad_avg = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    next_batch, rows = cycle(batches), np.arange(MINATAR_BATCH)

    def forward(p, x):
        conv, cols = numpy_conv_forward(x, p[0], p[1])
        h1 = np.maximum(conv, 0).reshape(len(x), -1)
        h2 = np.maximum(h1 @ p[2] + p[3], 0)
        return h2 @ p[4] + p[5], (cols, conv, h1, h2)

    def update():
        frames, actions, rewards, next_frames, terminal = next_batch()
        y = rewards + GAMMA * (1 - terminal) * forward(target, next_frames)[0].max(axis=1)
        q, (cols, conv, h1, h2) = forward(params, frames)
        d = q[rows, actions] - y
        loss = np.where(np.abs(d) <= 1, 0.5 * d * d, np.abs(d) - 0.5).mean()
        dq = np.zeros_like(q)
        dq[rows, actions] = np.clip(d, -1, 1) / len(d)           # d Huber / d q, mean over the batch
        dh2 = (dq @ params[4].T) * (h2 > 0)
        dh1 = (dh2 @ params[2].T) * (h1 > 0)
        dconv = dh1.reshape(conv.shape)
        grads = [(dconv @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(params[0].shape), dconv.sum(axis=(0, 2)),
                 h1.T @ dh2, dh2.sum(axis=0), h2.T @ dq, dq.sum(axis=0)]
        a = RMS["alpha"]
        for p, g, v, m in zip(params, grads, square_avg, grad_avg):     # centered RMSprop
            v *= a
            v += (1 - a) * g * g
            m *= a
            m += (1 - a) * g
            p -= RMS["lr"] * g / (np.sqrt(v - m * m) + RMS["eps"])
        return loss
    return update


def minatar_torch_update(batches, seed):
    import torch
    torch.set_num_threads(1)

    def network():
        net = torch.nn.Sequential(torch.nn.Conv2d(MINATAR_CHANNELS, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(1024, 128), torch.nn.ReLU(), torch.nn.Linear(128, MINATAR_ACTIONS))
        with torch.no_grad():                                  # torch stores a Linear's W as (out, in)
            for param, value in zip(net.parameters(), minatar_params(seed)):
                param.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
        return net
    q_net, target = network(), network()
    opt = torch.optim.RMSprop(q_net.parameters(), centered=True, **RMS)
    next_batch = cycle([tuple(torch.from_numpy(a) for a in batch) for batch in batches])

    def update():
        frames, actions, rewards, next_frames, terminal = next_batch()
        with torch.no_grad():
            y = rewards + GAMMA * (1 - terminal) * target(next_frames).max(1).values
        loss = torch.nn.functional.smooth_l1_loss(q_net(frames).gather(1, actions[:, None]).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return update


def minatar_products(batches, seed):
    """Only the matrix products of one MinAtar DQN update, no Python around them: the conv and linear
    forwards of the online and target networks, and the backward's products (each weight's gradient
    and the gradient passed down to the layer below). Every implementation of the update computes these,
    so their time is a floor for any of them on this BLAS."""
    params = minatar_params(seed)
    frames = batches[0][0]
    windows = sliding_window_view(frames, (3, 3), axis=(2, 3))
    cols = np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(MINATAR_BATCH, -1, 64)
    w_conv = params[0].reshape(16, -1)
    h1 = np.maximum(w_conv @ cols, 0).reshape(MINATAR_BATCH, -1)
    h2 = np.maximum(h1 @ params[2], 0)
    dq = np.ones((MINATAR_BATCH, MINATAR_ACTIONS), np.float32)

    def products():
        for _ in range(2):                                   # online and target forward
            y = (w_conv @ cols).reshape(MINATAR_BATCH, -1) @ params[2] @ params[4]
        dh2 = dq @ params[4].T
        dh1 = dh2 @ params[2].T
        grads = (h2.T @ dq, h1.T @ dh2, dh1.reshape(MINATAR_BATCH, 16, 64) @ cols.transpose(0, 2, 1),
                 w_conv.T @ dh1.reshape(MINATAR_BATCH, 16, 64))
        return y, grads
    return products


def minatar_floor(repeats: int, rounds: int) -> None:
    """How much of the update is matrix products: the products alone against our update and PyTorch's,
    interleaved rounds, medians."""
    batches = minatar_batches(np.random.default_rng(0))
    calls = {"products": minatar_products(batches, 0), "ours": minatar_engine_update(batches, 0)}
    if importlib.util.find_spec("torch") is not None:
        calls["torch"] = minatar_torch_update(batches, 0)
    names = list(calls)
    times = interleaved_times(calls, repeats, rounds, warmup=max(repeats // 5, 5))
    shares = ", ".join(f"{statistics.median(p / t for p, t in zip(times['products'], times[n])):.2f} of "
                       f"{'our' if n == 'ours' else 'PyTorch' + chr(39) + 's'} update" for n in names[1:])
    print(f"{'its matrix products alone':>24} {statistics.median(times['products']):7.1f} us: {shares}", flush=True)


def conv_inputs(seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((MINATAR_BATCH, MINATAR_CHANNELS, 10, 10)) < 0.2).astype(np.float32)
    w, b = minatar_params(seed)[:2]
    return x, w, b, rng.standard_normal((MINATAR_BATCH, 16, 8, 8)).astype(np.float32)


def conv_engine(batches, seed):
    x, w, b, g = (Tensor(a, requires_grad=True) for a in conv_inputs(seed))

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv2d(x, w, b)
        y.backward(g.data)
        return np.float32((y.data * g.data).sum())
    return step


def conv_numpy(batches, seed):
    x, w, b, g = conv_inputs(seed)

    def step():
        y, cols = numpy_conv_forward(x, w, b)
        dy = g.reshape(len(x), 16, 64)
        grads = ((dy @ cols.transpose(0, 2, 1)).sum(axis=0), dy.sum(axis=(0, 2)), numpy_conv_input_grad(dy, w, x.shape))
        assert grads[2].shape == x.shape
        return np.float32((y.reshape(g.shape) * g).sum())
    return step


def conv_torch(batches, seed):
    import torch
    torch.set_num_threads(1)
    x, w, b = (torch.from_numpy(a).requires_grad_() for a in conv_inputs(seed)[:3])
    g = torch.from_numpy(conv_inputs(seed)[3])

    def step():
        x.grad = w.grad = b.grad = None
        y = torch.nn.functional.conv2d(x, w, b)
        y.backward(g)
        return (y.detach() * g).sum()
    return step


MINATAR_ROWS = {  # label: {contender: builder}
    "MinAtar DQN update (32)": {"ours": minatar_engine_update, "numpy": minatar_numpy_update,
                                "torch": minatar_torch_update},
    "conv fwd+bwd (32)": {"ours": conv_engine, "numpy": conv_numpy, "torch": conv_torch},
}


def minatar_table(repeats: int, rounds: int) -> None:
    """The two MinAtar rows: median us per call and the ratio to hand-written NumPy, interleaved rounds."""
    names = ["ours", "numpy"] + (["torch"] if importlib.util.find_spec("torch") is not None else [])
    print("\nMinAtar sizes: median us per call (ratio to hand-written NumPy); ours / torch in the last column")
    print(f"{'':>24} " + " ".join(f"{n:>15}" for n in names) + f"{'ours/torch':>12}")
    batches = minatar_batches(np.random.default_rng(0))
    for label, builders in MINATAR_ROWS.items():
        calls = {name: builders[name](batches, 0) for name in names}
        first = {name: float(calls[name]().item()) for name in names}     # the same first loss, or <y, g>
        for name, value in first.items():
            if not math.isclose(value, first["numpy"], rel_tol=1e-3, abs_tol=1e-5):
                raise SystemExit(f"{label}: {name} gives {value}, hand-written NumPy {first['numpy']}")
        times = interleaved_times(calls, repeats, rounds, warmup=max(repeats // 5, 5))
        cells = [f"{statistics.median(times[n]):7.1f} "
                 f"({statistics.median(t / h for t, h in zip(times[n], times['numpy'])):4.2f})" for n in names]
        versus = (f"{statistics.median(a / b for a, b in zip(times['ours'], times['torch'])):12.2f}"
                  if "torch" in names else "")
        print(f"{label:>24} " + " ".join(f"{c:>15}" for c in cells) + versus, flush=True)
    minatar_floor(repeats, rounds)


CONTENDERS = {"ours": engine_update, "numpy": numpy_update, "numpy floor": numpy_floor_update,
              "autograd": autograd_update, "jax": jax_update, "torch": torch_update}
MODULE = {"autograd": "autograd", "jax": "jax", "torch": "torch"}


def interleaved_times(calls: dict, repeats: int, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each call's microseconds per call in ``rounds`` rounds of ``repeats`` calls, after ``warmup``
    calls each; the order rotates every round, so a burst of load from other processes hits all alike."""
    names = list(calls)
    for call in calls.values():
        time_round(call, warmup)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(time_round(calls[name], repeats))
    return times


def time_round(update, repeats: int) -> float:
    """Microseconds of this process's CPU time per update (time spent waiting for a core on a shared
    machine is not counted; a single-threaded update uses one core the whole time it runs)."""
    start = time.process_time()
    for _ in range(repeats):
        update()
    return (time.process_time() - start) / repeats * 1e6


def check_same_update(sizes, batch_data, names):
    """Sanity check before timing: every contender's first losses agree with the hand-written
    update's."""
    hand = numpy_update(sizes, batch_data, 0)
    ours = engine_update(sizes, batch_data, 0)
    others = {name: CONTENDERS[name](sizes, batch_data, 0) for name in names if name not in ("numpy", "ours")}
    for _ in range(5):
        reference = float(hand())
        for name, update in {"ours": ours, **others}.items():
            value = float(update().item())
            if not math.isclose(value, reference, rel_tol=1e-4, abs_tol=1e-6):
                raise SystemExit(f"{name}'s loss {value} != hand-written loss {reference}: the updates differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="updates per timed round (a third for 8-256-256-4)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per contender")
    parser.add_argument("--only", choices=("mlp", "minatar"), default=None,
                        help="only the MLP table or only the MinAtar rows (default: both)")
    args = parser.parse_args()
    if args.only != "minatar":
        mlp_table(args)
    if args.only != "mlp":
        minatar_table(max(args.repeats // 3, 1), args.rounds)


def mlp_table(args) -> None:
    names = [n for n in CONTENDERS if n not in MODULE or importlib.util.find_spec(MODULE[n]) is not None]
    missing = [n for n in CONTENDERS if n not in names]
    if missing:
        print(f"(not installed, skipped: {', '.join(missing)}; pip install -e '.[compare]' for them)")
    print("median us per update (ratio to hand-written NumPy: median over rounds of that round's ratio)")
    print(f"{'network (batch)':>20} " + " ".join(f"{n:>15}" for n in names))
    for sizes, batch in CONFIGS:
        batch_data = make_batches(sizes, batch, np.random.default_rng(0))
        check_same_update(sizes, batch_data, names)
        updates = {name: CONTENDERS[name](sizes, batch_data, 0) for name in names}
        repeats = max(args.repeats // (3 if sizes[1] >= 256 else 1), 1)
        times = interleaved_times(updates, repeats, args.rounds, warmup=max(repeats // 5, 5))  # warm-up: JAX compiles
        cells = []
        for name in names:
            ratio = statistics.median(t / h for t, h in zip(times[name], times["numpy"]))
            cells.append(f"{statistics.median(times[name]):7.1f} ({ratio:4.2f})")
        label = f"{'-'.join(map(str, sizes))} ({batch})"
        print(f"{label:>20} " + " ".join(f"{c:>15}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
