"""Reproduce the committed tabular comparison (docs/benchmark/tabular/report.md).

Q-learning, SARSA, Expected SARSA and Monte Carlo control on FrozenLake-v1, CliffWalking and
Taxi, 10 seeds each, from the sweep file docs/benchmark/tabular.toml:

    python scripts/benchmark_tabular.py                       # local process pool, all cores
    python scripts/benchmark_tabular.py --backend ray         # the same on a local Ray
    python scripts/benchmark_tabular.py --out runs/tabular    # somewhere else

Any other ``tinygrad-rl benchmark`` option (--workers, --address, --no-progress) passes through.
Rerunning resumes: finished runs in OUT/runs.jsonl are kept and skipped.

After the sweep it writes OUT/optimal_reference.md: the optimal policy (value iteration on the
env's model) scored by the same evaluation as the learned policies (same episodes, same eval
seeds), so a reader sees what the best possible score is under the env's threshold.
"""
import sys
from pathlib import Path

import numpy as np

from algorithms.benchmark.cli import main
from algorithms.benchmark.records import write_text_atomic
from algorithms.benchmark.runners import TABULAR_DEFAULTS, TABULAR_EVAL_MAX_STEPS, make_tabular_env, solve_threshold
from algorithms.benchmark.sweep import load_sweep_file, parse_seeds
from algorithms.tabular import UnifiedAgent
from algorithms.tabular.dp import value_iteration
from envs_wrappers import tabular_model
from tinygrad_rl.arrays import spawn_seeds

REPO = Path(__file__).resolve().parent.parent
SWEEP_FILE = REPO / "docs" / "benchmark" / "tabular.toml"
DEFAULT_OUT = REPO / "docs" / "benchmark" / "tabular"


def optimal_reference(seeds: tuple[int, ...]) -> str:
    """Markdown table: value iteration's greedy policy under each env's benchmark evaluation."""
    lines = ["# Optimal-policy reference", "",
             "Value iteration on the env's exact model (`envs_wrappers.tabular_model`, the benchmark's gamma), "
             "its greedy policy evaluated exactly as the learned ones: the same number of episodes and the "
             f"same evaluation seed for each of the {len(seeds)} seeds. The spread is the evaluation's own noise.", "",
             "| env | gamma | optimal policy's score, mean over seeds [min, max] | threshold | seeds at or above it |",
             "|---|---|---|---|---|"]
    for env_id, defaults in TABULAR_DEFAULTS.items():
        env = make_tabular_env(env_id, defaults.params["max_episode_steps"])
        model = tabular_model(env)
        solution = value_iteration(model.P, model.R, defaults.params["gamma"], terminal=model.terminal)
        n_states = env.observation_space.n
        agent = UnifiedAgent("q_learning", n_states=n_states, n_actions=env.action_space.n)
        agent.Q = solution.q_values[:n_states]
        scores = np.array([agent.evaluate(env, defaults.params["eval_episodes"], seed=spawn_seeds(seed, 2)[1],
                                          max_steps=TABULAR_EVAL_MAX_STEPS).mean() for seed in seeds])
        env.close()
        threshold = solve_threshold(env_id)
        lines.append(f"| {env_id} | {defaults.params['gamma']} | {scores.mean():.3f} [{scores.min():.3f}, "
                     f"{scores.max():.3f}] | {threshold:g} | {int(np.sum(scores >= threshold))}/{len(seeds)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    extra = sys.argv[1:]
    out = Path(extra[extra.index("--out") + 1]) if "--out" in extra else DEFAULT_OUT
    status = main(["--sweep", str(SWEEP_FILE), *([] if "--out" in extra else ["--out", str(out)]), *extra])
    if status in (0, 1):
        reference = optimal_reference(parse_seeds(load_sweep_file(SWEEP_FILE)["seeds"]))
        write_text_atomic(out / "optimal_reference.md", reference)
        print(reference)
    sys.exit(status)
