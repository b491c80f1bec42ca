"""What prioritized replay costs: env steps per second of the DQN CartPole preset with uniform and
with prioritized replay, measured in the same process, alternating, so both see the same load.

Each round trains the preset (``tinygrad-rl train dqn CartPole-v1``'s settings) for ``--steps``
env steps once with ``prioritized = false`` and once with ``prioritized = true`` (no periodic
evaluation inside the timed region); the order alternates between rounds. Times are this process's
CPU time (waiting for a core on a shared machine is not counted; one BLAS thread). Reported: the median
over rounds of each, and the cost of prioritized replay as the fraction of uniform replay's env
steps per second it loses. Also printed: the replay operations alone per gradient step (sample
and, for prioritized replay, the priority update) on a full buffer of the preset's size.

    nice -n 10 python scripts/bench_replay.py --steps 20000 --rounds 3
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from algorithms.buffers import PrioritizedReplayBuffer, ReplayBuffer
from algorithms.loops.training_run import train
from algorithms.presets import load_preset
from algorithms.runs.threads import single_blas_thread


def steps_per_second(prioritized: bool, steps: int, seed: int) -> float:
    config = load_preset("dqn", "CartPole-v1", {"total_steps": steps, "seed": seed, "eval_every": steps + 1,
                                                "prioritized": prioritized})
    start = time.process_time()
    result = train("dqn", "CartPole-v1", config)
    return result.env_steps / (time.process_time() - start)


def replay_operations_us(capacity: int, batch_size: int, repeats: int = 2000) -> dict[str, float]:
    """Microseconds per gradient step spent in the buffer, uniform vs prioritized."""
    rng = np.random.default_rng(0)
    uniform = ReplayBuffer(capacity, (4,), gamma=0.99)
    prioritized = PrioritizedReplayBuffer(capacity, (4,), gamma=0.99)
    for i in range(capacity):
        for buffer in (uniform, prioritized):
            buffer.add(rng.standard_normal(4), i % 2, 1.0, rng.standard_normal(4), False, False)
    start = time.process_time()
    for _ in range(repeats):
        uniform.sample(batch_size, rng)
    uniform_us = (time.process_time() - start) / repeats * 1e6
    errors = rng.standard_normal((repeats, batch_size))
    start = time.process_time()
    for k in range(repeats):
        batch = prioritized.sample(batch_size, rng, beta=0.5)
        prioritized.update_priorities(batch.indices, errors[k])
    return {"uniform sample": uniform_us,
            "prioritized sample + update": (time.process_time() - start) / repeats * 1e6}


@single_blas_thread
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per timed run (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="uniform/prioritized pairs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.rounds <= 0:
        parser.error(f"--steps and --rounds must be > 0, got {args.steps}, {args.rounds}")
    preset = load_preset("dqn", "CartPole-v1")
    ops = replay_operations_us(preset.buffer_size, preset.batch_size)
    print(f"replay per gradient step (buffer {preset.buffer_size:,}, batch {preset.batch_size}): "
          + ", ".join(f"{name} {us:.0f} us" for name, us in ops.items()), flush=True)
    rates = {False: [], True: []}
    for round_ in range(args.rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for prioritized in order:
            rate = steps_per_second(prioritized, args.steps, args.seed)
            rates[prioritized].append(rate)
            print(f"round {round_ + 1}: {'prioritized' if prioritized else 'uniform'} replay "
                  f"{rate:,.0f} env steps/s", flush=True)
    uniform, prioritized = np.median(rates[False]), np.median(rates[True])
    print(f"median over {args.rounds} rounds: uniform {uniform:,.0f} env steps/s, prioritized {prioritized:,.0f} "
          f"env steps/s; prioritized replay costs {1 - prioritized / uniform:.1%} of uniform replay's env steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
