"""Seeded short runs of every registered algorithm, reduced to digests of what they wrote.

A restructuring (moving modules, redesigning the engine) must not change a single number a run
produces. This script trains each algorithm for a few thousand env steps from a fixed seed with
the ``tinygrad-rl train`` command, and hashes what the run folder holds:

- ``model.npz``: every array's name, dtype, shape and bytes (not the zip container, whose entries
  carry a timestamp);
- ``metrics.csv`` and ``terms.csv``: every row, without the ``wall_time`` column and without the
  rows of terms that time the code (``planning_ms_per_step``);
- ``eval.json``: the final evaluation.

    python scripts/record_run_digests.py --check     # compare with tests/data/run_digests.json
    python scripts/record_run_digests.py --write     # record them anew (only when a change is meant)

``tests/test_run_digests.py`` runs the same commands and compares with the stored digests.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIGEST_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "run_digests.json"
STEPS = 2000
SEED = 0
# (algorithm, env id, overrides): every registered algorithm once, PPO also with a Gaussian policy.
# The overrides make every run learn within STEPS (TD3/DDPG/SAC start updating at step 1,500 instead
# of their presets' 100-10,000) and keep each under a few seconds (smaller networks, a small CEM).
SMALL_CONTINUOUS = ("learning_starts=1500", "hidden=64,64", "batch_size=64")
RUNS = (
    ("dqn", "CartPole-v1", ()), ("double_dqn", "CartPole-v1", ()), ("dqn_rainbow", "CartPole-v1", ()),
    ("a2c", "CartPole-v1", ()), ("ppo", "CartPole-v1", ()), ("ppo", "Pendulum-v1", ()),
    ("reinforce", "CartPole-v1", ()),
    ("td3", "Pendulum-v1", SMALL_CONTINUOUS), ("ddpg", "Pendulum-v1", SMALL_CONTINUOUS),
    ("sac", "Pendulum-v1", SMALL_CONTINUOUS),
    ("pets", "Pendulum-v1", ("random_steps=200", "train_every=600", "model_epochs=2", "population=16",
                             "elites=4", "horizon=5", "cem_iterations=2")),
)
WALL_CLOCK_COLUMNS = {"wall_time"}
# Terms that time the code rather than compute anything (rows of terms.csv): PETS logs its planning time.
WALL_CLOCK_TERMS = {"planning_ms_per_step"}


def run_key(algo: str, env_id: str) -> str:
    return f"{algo}/{env_id}"


def train_command(algo: str, env_id: str, out: Path, sets: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "algorithms", "train", algo, env_id, "--steps", str(STEPS),
               "--seed", str(SEED), "--out", str(out), "--no-progress", "--json"]
    for item in sets:
        command += ["--set", item]
    return command


def digest_npz(path: Path) -> str:
    h = hashlib.sha256()
    with np.load(path, allow_pickle=False) as archive:
        for name in sorted(archive.files):
            array = archive[name]
            h.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def digest_csv(path: Path) -> str:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    keep = [i for i, name in enumerate(header) if name not in WALL_CLOCK_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    term = header.index("term") if "term" in header else None
    for row in rows:
        if term is not None and row[term] in WALL_CLOCK_TERMS:
            continue
        writer.writerow([row[i] for i in keep])
    return hashlib.sha256(out.getvalue().encode()).hexdigest()


def digest_run_folder(folder: Path) -> dict:
    return {"model.npz": digest_npz(folder / "model.npz"),
            "metrics.csv": digest_csv(folder / "metrics.csv"),
            "terms.csv": digest_csv(folder / "terms.csv"),
            "eval.json": hashlib.sha256((folder / "eval.json").read_bytes()).hexdigest()}


def digest_run(algo: str, env_id: str, workdir: Path, sets: tuple[str, ...] = ()) -> dict:
    out = workdir / f"{algo}-{env_id}"
    done = subprocess.run(train_command(algo, env_id, out, sets), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{algo} on {env_id} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return digest_run_folder(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"record the digests into {DIGEST_FILE}")
    mode.add_argument("--check", action="store_true", help="compare fresh runs with the stored digests")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every train command (e.g. jit=false on an engine that has a jit)")
    args = parser.parse_args(argv)
    digests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for algo, env_id, sets in RUNS:
            start = time.perf_counter()
            digests[run_key(algo, env_id)] = digest_run(algo, env_id, Path(tmp), sets + tuple(args.sets))
            print(f"{run_key(algo, env_id):28s} ran in {time.perf_counter() - start:5.1f} s", flush=True)
    if args.write:
        DIGEST_FILE.parent.mkdir(parents=True, exist_ok=True)
        DIGEST_FILE.write_text(json.dumps({"steps": STEPS, "seed": SEED, "runs": digests}, indent=2) + "\n")
        print(f"wrote {len(digests)} digests to {DIGEST_FILE}")
        return 0
    stored = json.loads(DIGEST_FILE.read_text())["runs"]
    differ = [key for key in digests if digests[key] != stored.get(key)]
    for key in digests:
        print(f"{key:28s} {'differs' if key in differ else 'same'}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
