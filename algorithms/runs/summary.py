"""What a finished ``tinygrad-rl train`` says: the run's result in plain words (or one JSON line).

    dqn on CartPole-v1, seed 0: 50,000 env steps in 52.3 s (956 env steps/s, training and final evaluation).
    Final evaluation: mean return 487.9 ± 12.1 (std) over 20 deterministic episodes.
    Solved: yes, the mean reaches CartPole-v1's reward threshold of 475 (gymnasium's env spec).
    Run folder: runs/dqn-CartPole-v1-seed0
    Next: ...

A resumed run says how many env steps this session ran and divides those (not the run's total) by
this session's time. The "Next:" commands repeat the ``--plugin`` options the run was trained with, so
they work for a plugin's algorithm too.

"Solved" is the mean evaluation return against gymnasium's ``EnvSpec.reward_threshold``;
an env whose spec has none is said to have none, and nothing is claimed.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import gymnasium as gym

from .checkpoint import read_json

__all__ = ["reward_threshold", "training_summary", "format_training_summary", "training_report"]


def reward_threshold(env_id: str) -> float | None:
    """gymnasium's ``reward_threshold`` for ``env_id`` (None when its spec has none or the id is unknown)."""
    try:
        threshold = gym.spec(env_id).reward_threshold
    except gym.error.Error:
        return None
    return None if threshold is None else float(threshold)


def training_summary(run_dir: str | Path, result: dict, wall_time: float) -> dict:
    """The numbers of a finished run: eval.json and config.json of ``run_dir``, env steps and
    interruption from ``result`` (what :func:`algorithms.runs.experiment.run_training` returned), and the
    ``wall_time`` in seconds that training and the final evaluation took."""
    run = Path(run_dir)
    saved = read_json(run / "config.json")
    evaluation = read_json(run / "eval.json")
    env_id = saved["env_id"]
    threshold = reward_threshold(env_id)
    env_steps = int(result["env_steps"])
    resumed_from = int(result.get("resumed_from_step", 0))
    session_steps = env_steps - resumed_from
    return {
        "algo": saved["algo"], "env_id": env_id, "seed": saved.get("config", {}).get("seed"),
        "mean_return": evaluation["mean_return"], "std_return": evaluation["std_return"],
        "episodes": evaluation["episodes"], "reward_threshold": threshold,
        "solved": None if threshold is None else bool(evaluation["mean_return"] >= threshold),
        "env_steps": env_steps, "total_steps": saved.get("config", {}).get("total_steps"),
        "interrupted": bool(result.get("interrupted", False)), "stopped_by": result.get("stopped_by"),
        "wall_time_s": round(wall_time, 3),
        "resumed_from_step": resumed_from, "session_env_steps": session_steps,
        "steps_per_second": round(session_steps / wall_time, 1) if wall_time > 0 else None,
        "out": str(run),
    }


def _quote(path) -> str:
    return shlex.quote(str(path))


def format_training_summary(info: dict, tensorboard: bool = False, plugins: list[str] | tuple = ()) -> str:
    """``info`` (from :func:`training_summary`) as a few lines of plain words and the next commands;
    ``plugins`` are the ``--plugin`` values the run was trained with, repeated in those commands."""
    run, env_id = Path(info["out"]), info["env_id"]
    speed = f", {info['steps_per_second']:,.0f} env steps/s" if info["steps_per_second"] else ""
    resumed_from = info.get("resumed_from_step", 0)
    if resumed_from:
        lines = [f"{info['algo']} on {env_id}, seed {info['seed']}: resumed at env step {resumed_from:,}; "
                 f"{info['session_env_steps']:,} env steps in this session in {info['wall_time_s']:.1f} s{speed} "
                 f"(training and final evaluation), {info['env_steps']:,} in all."]
    else:
        lines = [f"{info['algo']} on {env_id}, seed {info['seed']}: {info['env_steps']:,} env steps in "
                 f"{info['wall_time_s']:.1f} s{speed} (training and final evaluation)."]
    if info["interrupted"]:
        by = {"SIGTERM": "SIGTERM", "SIGINT": "Ctrl-C"}.get(info.get("stopped_by") or "SIGINT", info.get("stopped_by"))
        lines.append(f"Interrupted ({by}) at {info['env_steps']:,} of "
                     f"{info['total_steps']:,} env steps: the evaluation below is of the weights at that point.")
    lines.append(f"Final evaluation: mean return {info['mean_return']:.1f} ± {info['std_return']:.1f} (std) "
                 f"over {info['episodes']} deterministic episodes.")
    threshold = info["reward_threshold"]
    if threshold is None:
        lines.append(f"Solved: not defined, gymnasium's spec of {env_id} has no reward threshold.")
    elif info["solved"]:
        lines.append(f"Solved: yes, the mean reaches {env_id}'s reward threshold of {threshold:g} "
                     "(gymnasium's env spec).")
    else:
        lines.append(f"Solved: no, the mean is below {env_id}'s reward threshold of {threshold:g} "
                     "(gymnasium's env spec).")
    lines.append(f"Run folder: {run}")
    q = _quote(run)
    plugin = "".join(f" --plugin {_quote(p)}" for p in plugins)
    next_steps = [("continue training", f"tinygrad-rl train --resume {q}{plugin}")] if info["interrupted"] else []
    next_steps += [
        ("evaluate on more episodes", f"tinygrad-rl eval {q} --episodes 100{plugin}"),
        ("look at the learning curve", f"{_quote(run / 'learning_curve.png')}"),
        ("watch it play", f"tinygrad-rl eval {q} --record {_quote(run / 'episode.gif')}{plugin}"),
        ("compare with other runs", f"tinygrad-rl plot {q} OTHER_RUN ... --out {_quote(run.parent / 'compare.png')}"),
    ]
    if tensorboard:
        next_steps.append(("see it in TensorBoard", f"tensorboard --logdir {_quote(run.parent)}"))
    width = max(len(what) for what, _ in next_steps) + 1
    lines.append("Next:")
    lines.extend(f"  {(what + ':').ljust(width)}  {command}" for what, command in next_steps)
    return "\n".join(lines)


def training_report(run_dir: str | Path, result: dict, wall_time: float, as_json: bool = False,
                    tensorboard: bool = False, plugins: list[str] | tuple = ()) -> str:
    """What ``tinygrad-rl train`` prints: the plain-words summary, or with ``as_json`` one JSON line
    (the keys of ``result``, i.e. mean_return, std_return, episodes, env_steps, interrupted, and
    out, plus wall_time_s, steps_per_second, reward_threshold and solved; a resumed run adds
    resumed_from_step and session_env_steps, and its steps_per_second is this session's)."""
    info = training_summary(run_dir, result, wall_time)
    if as_json:
        keys = ("out", "wall_time_s", "steps_per_second", "reward_threshold", "solved")
        keys += ("session_env_steps",) if info["resumed_from_step"] else ()
        extra = {k: info[k] for k in keys}
        return json.dumps({**result, **extra})
    return format_training_summary(info, tensorboard=tensorboard, plugins=plugins)
