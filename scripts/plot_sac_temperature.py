"""SAC's temperature over training, from one run folder's terms.csv.

Top: alpha = exp(log_alpha) against env steps (log scale). Bottom: the policy's entropy estimate
-mean log pi(a|s) on the sampled batches, with the target entropy alpha is tuned towards
(``target_entropy_per_dim * |A|``): alpha falls while the entropy is above the target and rises
when it is below (Haarnoja et al. 2018b, sec. 5).

    python scripts/plot_sac_temperature.py runs/sac-Pendulum-v1-seed0 --out runs/figures/sac_temperature.png
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from algorithms.loops.training_run import env_spaces
from algorithms.runs.checkpoint import read_json


def read_terms(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{term: (env steps, values)} of a run folder's terms.csv."""
    columns: dict[str, tuple[list, list]] = {}
    with open(run / "terms.csv", newline="") as f:
        for row in csv.DictReader(f):
            steps, values = columns.setdefault(row["term"], ([], []))
            steps.append(int(row["env_step"]))
            values.append(float(row["value"]))
    return {term: (np.array(s), np.array(v)) for term, (s, v) in columns.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder of `tinygrad-rl train sac ...`")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    run = Path(args.run)
    saved = read_json(run / "config.json")
    if saved.get("algo") != "sac":
        parser.error(f"{run} is a {saved.get('algo')!r} run; this plots SAC's temperature")
    config, env_id = saved["config"], saved["env_id"]
    terms = read_terms(run)
    target = config["target_entropy_per_dim"] * env_spaces(env_id).action_dim

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    steps, log_alpha = terms["log_alpha"]
    top.plot(steps, np.exp(log_alpha), color="tab:purple", label="alpha = exp(log_alpha)")
    top.set_yscale("log")
    top.set_ylabel("temperature alpha")
    top.legend(loc="upper right")
    steps, entropy = terms["entropy"]
    bottom.plot(steps, entropy, color="tab:green", label="policy entropy estimate, -mean log pi(a|s)")
    bottom.axhline(target, color="black", linestyle="--", label=f"target entropy {target:g}")
    bottom.set_ylabel("entropy (nats)")
    bottom.set_xlabel("env steps")
    bottom.legend(loc="upper right")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.suptitle(f"SAC on {env_id} (seed {config['seed']}): the learned temperature\n"
                 f"mean of each episode's updates, from {run.name}/terms.csv", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
