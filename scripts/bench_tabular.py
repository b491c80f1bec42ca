"""Benchmark: vectorised value iteration against a per-state, per-action Python loop, and TD
episodes per second on Taxi. Ratios are measured in one process, on one machine, back to back.

Value iteration (gamma 0.99, theta 1e-10) on Taxi-v4 and FrozenLake8x8-v1 (slippery):
- loop:       the textbook code -- for every state, for every action, sum over the env's
              transition list ``env.unwrapped.P[s][a]`` in Python (no bootstrap past ``terminated``);
- vectorised: ``algorithms.tabular.value_iteration(P, R, ...)`` on the dense ``tabular_model``.
Both solve the same MDP; their values are checked to agree before anything is timed.
Two ratios are printed: whole solve (the vectorised one includes its one-time model checks and
successor layout, a few passes over the dense P) and per sweep (the part vectorisation changes;
the vectorised sweep is timed on its own, the loop's is its total time / sweeps).

TD: ``algorithms.tabular.q_learning`` on Taxi-v4, episodes and env steps per CPU second, against
a bare env step loop with random actions (the ratio is the TD agent's overhead per env step).
All times are this process's CPU time (``time.process_time``), medians over the rounds.

    python scripts/bench_tabular.py [--rounds 5] [--td-episodes 2000]
"""
from __future__ import annotations

import statistics
import time

import numpy as np
from tabular_plots import OneLineParser, positive_int, run_cli

from algorithms.tabular import EpsilonGreedy, q_learning, value_iteration
from algorithms.tabular.dp import _Backup  # timed on its own for the per-sweep column
from envs_wrappers import make_env, tabular_model

GAMMA, THETA = 0.99, 1e-10


def loop_value_iteration(transitions: dict, n_states: int, n_actions: int, gamma: float,
                         theta: float) -> tuple[list[float], int]:
    """Value iteration as usually first written: Python loops over states, actions, successors."""
    values = [0.0] * n_states
    sweeps = 0
    while True:
        sweeps += 1
        new_values = [0.0] * n_states
        delta = 0.0
        for state in range(n_states):
            best = -float("inf")
            for action in range(n_actions):
                q = 0.0
                for probability, next_state, reward, terminated in transitions[state][action]:
                    q += probability * (reward + (0.0 if terminated else gamma * values[next_state]))
                if q > best:
                    best = q
            new_values[state] = best
            delta = max(delta, abs(best - values[state]))
        values = new_values
        if delta < theta:
            return values, sweeps


def cpu_seconds(function, rounds: int) -> float:
    """Median CPU time of this process over ``rounds`` calls.

    CPU time, not wall time: on the shared machine a run is often descheduled while other
    jobs run, which inflates long runs (the loop) more than short ones (the vectorised solve).
    """
    times = []
    for _ in range(rounds):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return statistics.median(times)


def bench_value_iteration(env_id: str, rounds: int) -> None:
    env = make_env(env_id)
    transitions = env.unwrapped.P
    P, R, terminal = model = tabular_model(env)
    n_states, n_actions = R.shape

    loop_values, loop_sweeps = loop_value_iteration(transitions, n_states, n_actions, GAMMA, THETA)
    result = value_iteration(P, R, GAMMA, THETA)
    # States where an episode can be: the loop never assigns the model's absorbing end states 0.
    gap = np.max(np.abs(np.array(loop_values) - result.values)[model.reachable])
    if gap > 1e-6 or loop_sweeps != result.iterations:
        raise RuntimeError(f"{env_id}: loop and vectorised value iteration disagree "
                           f"(max value gap {gap:.2e}, sweeps {loop_sweeps} vs {result.iterations})")

    loop_time = cpu_seconds(lambda: loop_value_iteration(transitions, n_states, n_actions, GAMMA, THETA),
                               rounds)
    vector_time = cpu_seconds(lambda: value_iteration(P, R, GAMMA, THETA), rounds * 5)
    # One sweep exactly as value_iteration runs it: backup, max over actions, largest change.
    backup = _Backup(P, R, terminal, GAMMA)
    values = result.values.copy()
    sweeps_per_round = 200
    sweep_time = cpu_seconds(
        lambda: [backup.largest_change(backup(values).max(axis=0), values) for _ in range(sweeps_per_round)],
        rounds * 5) / sweeps_per_round
    print(f"{env_id:>17} {str(P.shape):>14} {result.iterations:>6} {loop_time * 1e3:10.1f} "
          f"{vector_time * 1e3:10.2f} {loop_time / vector_time:8.1f}x "
          f"{loop_time / loop_sweeps * 1e6:10.1f} {sweep_time * 1e6:10.1f} "
          f"{loop_time / loop_sweeps / sweep_time:8.1f}x")


def bench_td(episodes: int, rounds: int) -> None:
    env = make_env("Taxi-v4")
    lengths = []

    def train():
        result = q_learning(env, episodes, alpha=0.1, gamma=0.99, exploration=EpsilonGreedy(0.1), seed=0)
        lengths.append(int(result.episode_lengths.sum()))

    td_time = cpu_seconds(train, rounds)
    steps = lengths[-1]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 6, size=steps).tolist()

    def bare_steps():
        env.reset(seed=0)
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    env_time = cpu_seconds(bare_steps, rounds)
    print(f"q_learning on Taxi-v4, {episodes} episodes ({steps} env steps, epsilon 0.1, alpha 0.1): "
          f"{episodes / td_time:,.0f} episodes/s, {steps / td_time:,.0f} steps/s (CPU time); "
          f"bare env with random actions: {steps / env_time:,.0f} steps/s; "
          f"TD time per step / bare env time per step = {td_time / env_time:.2f}")


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=5, help="timed repeats (the median CPU time is printed)")
    parser.add_argument("--td-episodes", type=positive_int, default=2000, help="q_learning episodes on Taxi")
    args = parser.parse_args()
    print(f"value iteration, gamma {GAMMA}, theta {THETA:g}; median CPU time of {args.rounds} runs (vectorised: "
          f"{args.rounds * 5}); 'whole' includes the vectorised solver's one-time setup")
    print(f"{'env':>17} {'P shape':>14} {'sweeps':>6} {'loop ms':>10} {'vector ms':>10} {'whole':>9} "
          f"{'loop us/sw':>10} {'vec us/sw':>10} {'per sweep':>9}")
    for env_id in ("Taxi-v4", "FrozenLake8x8-v1"):
        bench_value_iteration(env_id, args.rounds)
    bench_td(args.td_episodes, max(args.rounds // 2, 1))


if __name__ == "__main__":
    run_cli(main)
