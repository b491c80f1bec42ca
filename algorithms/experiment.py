"""A training run as a folder: what ``tinygrad-rl train`` writes and ``tinygrad-rl eval`` reads.

    DIR/config.json         algorithm, env id and every hyperparameter (written first)
    DIR/metrics.csv         one row per finished episode / evaluation, written as it happens
    DIR/terms.csv           mean of each loss term (and the learning rate) per logging interval
    DIR/model.npz           weights (periodic checkpoints, then the final weights)
    DIR/checkpoint.json     env step of the weights in model.npz, interrupted or not
    DIR/eval.json           {"mean_return", "std_return", "episodes"}: 20 deterministic episodes
    DIR/learning_curve.png  episode and evaluation returns against env steps
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym

from envs_wrappers.registry import check_plain_env_id

from .checkpoint import load_weights, read_json, save_weights, write_json
from .configs import apply_overrides
from .plots import plot_learning_curve
from .registry import get_algorithm
from .rollout import greedy_episodes_returns
from .summary import reward_threshold
from .trainers import MetricsLog, NonFiniteLossError, RunSeeds, build_networks, greedy_actor, train

__all__ = ["FINAL_EVAL_EPISODES", "run_training", "load_run", "evaluate_run"]

FINAL_EVAL_EPISODES = 20


def _evaluate(algo: str, env_id: str, nets: dict, episodes: int, seed: int) -> dict:
    env = gym.make(env_id)
    try:
        returns = greedy_episodes_returns(env, greedy_actor(algo, nets), episodes, seed)
    finally:
        env.close()
    return {"mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": episodes}


def run_training(algo: str, env_id: str, config, out_dir: str | Path, progress: bool = True,
                 tensorboard: bool = False) -> dict:
    """Train and write the whole run folder; returns the final evaluation dict.

    Ctrl-C during training ends it early and everything is still written. A non-finite loss
    re-raises :class:`NonFiniteLossError` after writing the metrics and the plot; model.npz
    then holds the last periodic checkpoint (the last good weights), if one was made.
    With ``tensorboard`` the metrics also go to TensorBoard event files in the run folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"algo": algo, "env_id": env_id, "config": dataclasses.asdict(config)})
    sinks = []
    if tensorboard:
        from .tensorboard_log import TensorBoardSink
        sinks.append(TensorBoardSink(out))
    metrics = MetricsLog(out / "metrics.csv", out / "terms.csv", sinks=sinks)
    threshold = reward_threshold(env_id)
    title = f"{algo} on {env_id} (seed {config.seed})"
    try:
        result = train(algo, env_id, config, out_dir=out, progress=progress, metrics=metrics)
    except NonFiniteLossError:
        metrics.close()
        plot_learning_curve(metrics, out / "learning_curve.png", title + " - stopped: non-finite loss",
                            threshold=threshold)
        raise
    metrics.close()
    save_weights(out / "model.npz", result.nets)
    write_json(out / "checkpoint.json", {"env_step": result.env_steps, "interrupted": result.interrupted})
    summary = _evaluate(algo, env_id, result.nets, FINAL_EVAL_EPISODES, RunSeeds.from_seed(config.seed).eval)
    write_json(out / "eval.json", summary)
    suffix = f" - interrupted at {result.env_steps} steps" if result.interrupted else ""
    plot_learning_curve(metrics, out / "learning_curve.png", title + suffix, threshold=threshold,
                        final_eval={**summary, "env_step": result.env_steps})
    return {**summary, "env_steps": result.env_steps, "interrupted": result.interrupted}


def load_run(run_dir: str | Path) -> tuple[str, str, object, dict]:
    """(algo, env_id, config, nets with the saved weights) of a run folder.

    Every field of config.json is validated before use: the algorithm must be registered (a
    plugin's only if the user loaded it with --plugin), the env id a plain registered id (never
    a ``module:`` id, which gymnasium would import), the config valid for the algorithm.
    """
    run = Path(run_dir)
    for name in ("config.json", "model.npz"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run} is not a training run folder: {name} is missing")
    where = run / "config.json"
    saved = read_json(where)
    if not isinstance(saved, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(saved).__name__}")
    algo, env_id, values = saved.get("algo"), saved.get("env_id"), saved.get("config", {})
    try:
        spec = get_algorithm(algo) if isinstance(algo, str) else None
    except KeyError as err:
        raise ValueError(f"{where}: {str(err).strip(chr(34))}") from None
    if spec is None:
        raise ValueError(f"{where}: 'algo' must be an algorithm name, got {algo!r}")
    try:
        check_plain_env_id(env_id)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{where}: 'config' must be an object, got {type(values).__name__}")
    try:
        config = apply_overrides(spec.config(), values)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{where}: {str(err).strip(chr(34))}") from None
    nets = build_networks(algo, env_id, config, seed=0)
    load_weights(run / "model.npz", nets)
    return algo, env_id, config, nets


def evaluate_run(run_dir: str | Path, episodes: int = FINAL_EVAL_EPISODES, seed: int | None = None) -> dict:
    """Deterministic evaluation of a saved run; with the default seed it reproduces eval.json."""
    algo, env_id, config, nets = load_run(run_dir)
    if seed is None:
        seed = RunSeeds.from_seed(config.seed).eval
    return _evaluate(algo, env_id, nets, episodes, seed)
