"""Every value of a resume checkpoint checked against the run's config before anything is restored.

A checkpoint comes from a run folder, which is untrusted: its JSON index can hold any value where an
env step, a counter or a loss should be. :func:`check_checkpoint_values` looks at the counters every
loop shares (the checkpoint's env step, the run's own state, the loop's ``LoopState``, the metrics
sizes, the optimisers' step counts, the replay buffer's fill) and raises one
:class:`~algorithms.resume.CheckpointError` naming the value and what was expected -- before the
folder is marked running and before metrics.csv is cut back, so a refused checkpoint leaves the
folder as it was.
"""
from __future__ import annotations

import math

import numpy as np

from .resume import Checkpoint, CheckpointError

__all__ = ["max_env_step", "check_checkpoint_values"]


def max_env_step(config, max_episode_steps: int | None) -> int:
    """The largest env step a run of ``config`` can reach: ``total_steps``, plus what the last update
    may overrun -- a rollout of the vectorised loop ends within ``n_envs`` steps, an episodic update
    finishes its episode (at most the env's time limit, else another ``total_steps``)."""
    total = int(config.total_steps)
    if hasattr(config, "n_envs"):
        return total + int(config.n_envs)
    if hasattr(config, "episodes_per_update"):
        return total + (int(max_episode_steps) if max_episode_steps else total)
    return total


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(value):
    """A 0-d array's Python value (optimiser state arrives as arrays), else the value."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _expect(ok: bool, where: str, name: str, value, expected: str) -> None:
    if not ok:
        text = repr(value)
        shown = text[:60] + "..." if len(text) > 60 else text
        raise CheckpointError(f"{where}: {name} must be {expected}, got {shown}")


def check_checkpoint_values(checkpoint: Checkpoint, config, max_episode_steps: int | None = None) -> None:
    """Type- and range-check the values of ``checkpoint`` (see the module docstring); CheckpointError if one is off."""
    where, step = str(checkpoint.path), checkpoint.env_step
    limit = max_env_step(config, max_episode_steps)
    _expect(_is_count(step) and step <= limit, where, "the env step", step, f"an int in [0, {limit}] "
            f"(total_steps is {config.total_steps})")
    parts = checkpoint.parts
    run = parts.get("run")
    if run is not None:
        _expect(run.get("env_steps") == step and _is_count(run.get("env_steps")), where, "run/env_steps",
                run.get("env_steps"), f"the checkpoint's env step {step}")
        _expect(_is_count(run.get("next_eval")) and run.get("next_eval", 0) > 0, where, "run/next_eval",
                run.get("next_eval"), "an int > 0")
        for key in ("last_eval", "last_entropy"):
            _expect(run.get(key) is None or _is_number(run.get(key)), where, f"run/{key}", run.get(key),
                    "None or a finite number")
        returns = run.get("recent_returns")
        _expect(isinstance(returns, list) and len(returns) <= 20 and all(map(_is_number, returns)), where,
                "run/recent_returns", returns, "a list of at most 20 finite numbers")
        sums, counts = run.get("term_sums"), run.get("term_counts")
        _expect(isinstance(sums, dict) and all(isinstance(k, str) and _is_number(v) for k, v in sums.items()),
                where, "run/term_sums", sums, "a dict of finite numbers")
        _expect(isinstance(counts, dict) and set(counts) == set(sums) and all(map(_is_count, counts.values())),
                where, "run/term_counts", counts, "a dict of ints >= 0 with the keys of run/term_sums")
    loop = parts.get("loop")
    if loop is not None:
        if "step" in loop:
            _expect(_is_count(loop["step"]) and loop["step"] == step, where, "loop/step", loop["step"],
                    f"the checkpoint's env step {step}")
        for key, value in loop.items():
            if isinstance(value, bool) or value is None or isinstance(value, (str, list, dict, np.ndarray)):
                continue
            _expect(_is_number(value) and (not isinstance(value, int) or value >= 0), where, f"loop/{key}", value,
                    "a finite number (an int counter >= 0)")
    metrics = parts.get("metrics")
    if metrics is not None:
        for key in ("metrics_bytes", "terms_bytes"):
            _expect(metrics.get(key) is None or (_is_count(metrics.get(key)) and metrics[key] > 0), where,
                    f"metrics/{key}", metrics.get(key), "None or an int > 0")
        _expect(_is_number(metrics.get("elapsed")) and metrics.get("elapsed") >= 0, where, "metrics/elapsed",
                metrics.get("elapsed"), "a finite number of seconds >= 0")
    for name, state in parts.items():
        if name == "optimizer" or name.startswith("optimizer_"):
            count = _scalar(state.get("step_count"))
            _expect(isinstance(count, (int, np.integer)) and count >= 0, where, f"{name}/step_count", count,
                    "an int >= 0")
            lr = _scalar(state.get("lr"))
            _expect(_is_number(lr) and lr >= 0, where, f"{name}/lr", lr, "a finite number >= 0")
    replay = parts.get("replay")
    if replay is not None:
        _expect(_is_count(replay.get("size")) and replay["size"] <= max(step, 0), where, "replay/size",
                replay.get("size"), f"an int in [0, {step}] (no more transitions than env steps)")
