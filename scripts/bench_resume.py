"""What resuming costs: the time to write one resume checkpoint with a full replay buffer, and the
slowdown of a DQN run from checkpointing at the default interval.

    python scripts/bench_resume.py                      # CartPole DQN preset, 150,000 steps, A B B A
    python scripts/bench_resume.py --steps 60000 --order AB

1. A checkpoint as a DQN run on CartPole writes it: the preset's networks (4-256-256-2 and its target),
   Adam's moments, a full 100,000-transition replay buffer (filled by a random policy), RNG and loop
   state; written ``--writes`` times into ``--dir`` (default: a temporary folder under runs/, so
   on the disk runs go to), then read back once. Prints the median write time and the file size.
2. The same DQN run (the CartPole preset, ``--steps`` env steps) trained in this process with resume
   checkpoints every 60 s (the default: "B") and without any ("A", ``checkpoint_every=None``), in the
   order ``--order`` to spread machine drift over both; both write the same run folder files otherwise.
   Prints the wall and CPU time of each run, the ratios B / A of the means, and the time spent
   inside the checkpoint writes of the B runs (the part of the difference that is the checkpoints
   themselves, fsync waits included).

Single BLAS thread, as training always runs. On a shared machine the wall times of identical runs
differ by several percent (other processes), so read the ratios together with the accounted
checkpoint time; the CPU-time ratio is the steadier of the two.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from algorithms.buffers import ReplayBuffer  # noqa: E402
from algorithms.loops.metrics_log import MetricsLog  # noqa: E402
from algorithms.loops.training_run import build_networks, train  # noqa: E402
from algorithms.networks import trained_nets  # noqa: E402
from algorithms.presets import load_preset  # noqa: E402
from algorithms.runs.resume import (  # noqa: E402
    DEFAULT_CHECKPOINT_SECONDS,
    Checkpointer,
    LoopState,
    NetsState,
    RngState,
    read_checkpoint,
    write_checkpoint,
)
from tinygrad_rl import optim  # noqa: E402


def full_buffer(env_id: str, capacity: int, seed: int) -> ReplayBuffer:
    env = gym.make(env_id)
    buffer = ReplayBuffer(capacity, env.observation_space.shape)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    while len(buffer) < capacity:
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated, truncated)
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    return buffer


def checkpoint_write_time(folder: Path, writes: int) -> None:
    config = load_preset("dqn", "CartPole-v1")
    nets = build_networks("dqn", "CartPole-v1", config, seed=0)
    params = [p for name in trained_nets(nets) for p in nets[name].parameters()]
    optimizer = optim.Adam(params, lr=config.lr)
    buffer = full_buffer("CartPole-v1", 100_000, seed=0)
    parts = {"networks": NetsState(nets), "optimizer": optimizer, "rng": RngState(np.random.default_rng(0)),
             "replay": buffer, "loop": LoopState(step=100_000, last_loss=0.5)}
    run = {"algo": "dqn", "env_id": "CartPole-v1", "config": {}}
    path = folder / "resume.npz"
    times = []
    for _ in range(writes):
        start = time.perf_counter()
        write_checkpoint(path, {name: part.state_dict() for name, part in parts.items()}, run, 100_000, False)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    read_checkpoint(path)
    read_time = time.perf_counter() - start
    size = path.stat().st_size
    print(f"checkpoint with a full 100,000-transition CartPole buffer: {size / 2**20:.1f} MiB "
          f"(buffer {ReplayBuffer.nbytes(100_000, (4,)) / 2**20:.1f} MiB), "
          f"write median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}, {writes} writes, fsync included), read {read_time:.3f} s")


def dqn_run(folder: Path, steps: int, checkpoint_every) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, seconds inside checkpoint writes, checkpoints written) of one DQN run."""
    config = load_preset("dqn", "CartPole-v1", {"total_steps": steps})
    spent = {"seconds": 0.0, "count": 0}
    real_save = Checkpointer.save

    def timed_save(self, step, done=False):
        start = time.perf_counter()
        real_save(self, step, done)
        if self.path is not None:
            spent["seconds"] += time.perf_counter() - start
            spent["count"] += 1
    Checkpointer.save = timed_save
    try:
        folder.mkdir(parents=True)
        metrics = MetricsLog(folder / "metrics.csv", folder / "terms.csv")
        start, cpu_start = time.perf_counter(), time.process_time()
        train("dqn", "CartPole-v1", config, out_dir=folder, metrics=metrics, checkpoint_every=checkpoint_every)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        metrics.close()
    finally:
        Checkpointer.save = real_save
    return wall, cpu, spent["seconds"], spent["count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150_000, help="env steps of each DQN run")
    parser.add_argument("--order", default="ABBA", help="A = no checkpoints, B = default interval")
    parser.add_argument("--writes", type=int, default=10, help="checkpoint writes to time")
    parser.add_argument("--dir", default="runs", help="where the temporary folders go")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-resume-") as tmp:
        tmp = Path(tmp)
        checkpoint_write_time(tmp, args.writes)
        walls, cpus, inside = {"A": [], "B": []}, {"A": [], "B": []}, []
        for i, kind in enumerate(args.order):
            every = None if kind == "A" else DEFAULT_CHECKPOINT_SECONDS
            wall, cpu, seconds, count = dqn_run(tmp / f"run{i}{kind}", args.steps, every)
            walls[kind].append(wall)
            cpus[kind].append(cpu)
            if kind == "B":
                inside.append((seconds, count))
            print(f"run {i + 1} ({kind}: {'no checkpoints' if kind == 'A' else 'every 60 s'}): {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU" + (f", {count} checkpoints in {seconds:.2f} s" if kind == "B" else ""), flush=True)
        a, b = statistics.mean(walls["A"]), statistics.mean(walls["B"])
        a_cpu, b_cpu = statistics.mean(cpus["A"]), statistics.mean(cpus["B"])
        in_b = statistics.mean(s for s, _ in inside)
        print(f"DQN CartPole, {args.steps:,} steps, checkpoints every {DEFAULT_CHECKPOINT_SECONDS:.0f} s vs none: "
              f"wall {b:.1f} / {a:.1f} s = {b / a:.4f} ({100 * (b / a - 1):+.2f} %); "
              f"CPU {b_cpu:.1f} / {a_cpu:.1f} s = {b_cpu / a_cpu:.4f} ({100 * (b_cpu / a_cpu - 1):+.2f} %); "
              f"time inside checkpoint writes {in_b:.2f} s = {100 * in_b / b:.3f} % of a run")


if __name__ == "__main__":
    main()
