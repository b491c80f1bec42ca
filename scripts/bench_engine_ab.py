"""Did a change to the engine slow it down? Time the engine at a git revision against the working copy.

The engine (``tinygrad_rl/``) at ``--ref`` is extracted to a temporary folder as the package
``tinygrad_rl_before`` (its imports are relative, so it runs as it was), and the DQN update of
``scripts/bench_engine.py`` is timed three ways in one process, interleaved round by round (before,
after, hand-written NumPy; the order alternates), with one BLAS thread. A noisy shared machine hits
all three alike, so the median over rounds of each round's ratio is what to compare.

    python scripts/bench_engine_ab.py --ref main [--repeats 500] [--rounds 21]
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_engine  # noqa: E402  (the update and the hand-written NumPy floor)

import tinygrad_rl  # noqa: E402


def engine_at(ref: str, folder: Path):
    """The package tinygrad_rl as it was at ``ref``, imported as ``tinygrad_rl_before``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "tinygrad_rl"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "tinygrad_rl").rename(folder / "tinygrad_rl_before")
    sys.path.insert(0, str(folder))
    return importlib.import_module("tinygrad_rl_before")


def update_with(package, sizes, data, seed):
    net = package.nn.MLP(sizes, rng=seed)
    opt = package.optim.Adam(net.parameters(), lr=bench_engine.LR, betas=bench_engine.BETAS, eps=bench_engine.EPS)
    states, actions, targets = data
    rows = np.arange(len(actions))

    def update():
        loss = package.functional.mse_loss(net(states)[rows, actions], targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="git revision of the engine to compare against (default main)")
    parser.add_argument("--repeats", type=int, default=500, help="updates per timed round (default 500)")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = engine_at(args.ref, Path(folder))
        print(f"engine at {args.ref} vs the working copy; median of {args.rounds} rounds x {args.repeats} updates")
        for sizes, batch in bench_engine.CONFIGS:
            data = bench_engine.make_batch(sizes, batch, np.random.default_rng(0))
            updates = {"before": update_with(before, sizes, data, 0), "after": update_with(tinygrad_rl, sizes, data, 0),
                       "numpy": bench_engine.numpy_update(sizes, data, 0)}
            first, second = updates["before"](), updates["after"]()
            if not np.allclose(first.data, second.data, rtol=1e-5):
                raise SystemExit(f"the two engines disagree on the loss: {first.item()} vs {second.item()}")
            for update in updates.values():
                for _ in range(50):
                    update()
            times = {name: [] for name in updates}
            for r in range(args.rounds):
                for name in (list(updates) if r % 2 == 0 else list(reversed(updates))):
                    times[name].append(bench_engine.time_round(updates[name], args.repeats))

            def ratio(a, b):
                return statistics.median(x / y for x, y in zip(times[a], times[b]))
            print(f"{'-'.join(map(str, sizes))} ({batch}): before {statistics.median(times['before']):.1f} us, "
                  f"after {statistics.median(times['after']):.1f} us, NumPy {statistics.median(times['numpy']):.1f} us"
                  f" | before/NumPy {ratio('before', 'numpy'):.3f}, after/NumPy {ratio('after', 'numpy'):.3f},"
                  f" after/before {ratio('after', 'before'):.3f}", flush=True)


if __name__ == "__main__":
    main()
