"""A training run as a folder: what ``tinygrad-rl train`` writes and ``tinygrad-rl eval`` reads.

    DIR/config.json         algorithm, env id and every hyperparameter (written first)
    DIR/status.json         running (pid) / interrupted / failed (error) / finished
    DIR/metrics.csv         one row per finished episode / evaluation, written as it happens
    DIR/terms.csv           mean of each loss term (and the learning rate) per logging interval
    DIR/model.npz           weights (at each periodic evaluation, then the final weights)
    DIR/checkpoint.json     env step of the weights in model.npz, interrupted or not
    DIR/resume.npz          everything needed to continue (see algorithms.runs.resume); removed once finished
    DIR/eval.json           {"mean_return", "std_return", "episodes"}: 20 deterministic episodes
    DIR/learning_curve.png  episode and evaluation returns against env steps
    DIR/.lock               held (flock) by the process writing the folder
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import gymnasium as gym

from envs_wrappers.registry import check_plain_env_id, make_plain_env

from ..configs import apply_overrides
from ..loops.actors import greedy_actor
from ..loops.env_runner import greedy_episodes_returns
from ..loops.metrics_log import MetricsLog
from ..loops.seeding import RunSeeds
from ..loops.training_run import NonFiniteLossError, build_networks, train
from ..networks import EnvSpaces
from ..registry import get_algorithm
from .checkpoint import load_weights, read_json, remove_stray_temporaries, save_weights, write_json
from .checkpoint_checks import check_checkpoint_values
from .memory_limits import memory_limit
from .plots import plot_learning_curve
from .resources import checkpoint_bytes
from .resume import DEFAULT_CHECKPOINT_SECONDS, RESUME_FILE, Checkpoint, CheckpointError, StopSignals, read_checkpoint
from .run_folder import FolderError, RunFolder, claim
from .summary import reward_threshold
from .tensorboard_log import TensorBoardSink

__all__ = ["FINAL_EVAL_EPISODES", "run_training", "resume_training", "read_run_config", "read_resume_checkpoint",
           "load_run", "evaluate_run", "env_dependency_hint"]

FINAL_EVAL_EPISODES = 20


def env_dependency_hint(env_id: str, err: Exception) -> str:
    """One line for an env that needs a package that is not installed, naming what to install."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "box2d" in first.lower():
        return f"{env_id} needs Box2D, which is not installed; install the extra: pip install -e '.[box2d]'"
    return f"{env_id} needs a package that is not installed: {first}"


def _evaluate(algo: str, env_id: str, nets: dict, episodes: int, seed: int) -> dict:
    env = make_plain_env(env_id)
    try:
        returns = greedy_episodes_returns(env, greedy_actor(algo, nets), episodes, seed)
    finally:
        env.close()
    return {"mean_return": round(float(returns.mean()), 4), "std_return": round(float(returns.std()), 4),
            "episodes": episodes}


def run_training(algo: str, env_id: str, config, out_dir: str | Path | RunFolder, progress: bool = True,
                 checkpoint_every: float | None = DEFAULT_CHECKPOINT_SECONDS, stop: StopSignals | None = None,
                 tensorboard: bool = False) -> dict:
    """Train and write the whole run folder; returns the final evaluation dict.

    ``out_dir`` is claimed first (see :func:`algorithms.runs.run_folder.claim`: a folder another run
    holds, or one with a finished or unfinished run in it, raises ``FolderError``) unless it is an
    already claimed :class:`~algorithms.runs.run_folder.RunFolder`. Ctrl-C (and, within ``stop``,
    SIGTERM) ends training early and everything is still written; the run can then be continued
    with :func:`resume_training`. A non-finite loss re-raises :class:`NonFiniteLossError` after
    writing the metrics and the plot; model.npz then holds the last periodic weights (the last
    good ones), if any were saved. Any failure marks the folder ``failed`` in status.json.
    With ``tensorboard`` the metrics also go to TensorBoard event files in the run folder.
    """
    folder = out_dir if isinstance(out_dir, RunFolder) else claim(out_dir)
    try:
        try:
            write_json(folder.path / "config.json",
                       {"algo": algo, "env_id": env_id, "config": dataclasses.asdict(config)})
            folder.mark("running", env_step=0)
        except OSError as err:   # nothing of the run exists yet: leave nothing behind
            folder.discard()
            raise FolderError(f"cannot write into {folder.path}: {err.strerror or err}") from None
        return _train_into(folder, algo, env_id, config, None, progress, checkpoint_every, stop, tensorboard)
    finally:
        folder.release()


def resume_training(run_dir: str | Path | RunFolder, progress: bool = True,
                    checkpoint_every: float | None = DEFAULT_CHECKPOINT_SECONDS, stop: StopSignals | None = None,
                    tensorboard: bool = False) -> dict:
    """Continue the run in ``run_dir`` from its resume checkpoint (from step 0 if it was stopped
    before its first one) and write the whole folder as :func:`run_training` does.

    Raises ``FolderError`` if another process holds the folder or its run has finished, and
    ``ValueError`` (one line) if config.json or resume.npz cannot be used.
    """
    folder = run_dir if isinstance(run_dir, RunFolder) else claim(run_dir, resume=True)
    try:
        if _finished(folder):
            raise FolderError(f"{folder.path} holds a finished run; nothing to resume")
        algo, env_id, config = read_run_config(folder.path)
        checkpoint = read_resume_checkpoint(folder.path, algo, env_id, config)
        try:
            folder.mark("running", env_step=checkpoint.env_step if checkpoint else 0, resumed=True)
        except OSError as err:
            raise FolderError(f"cannot write into {folder.path}: {err.strerror or err}") from None
        return _train_into(folder, algo, env_id, config, checkpoint, progress, checkpoint_every, stop, tensorboard)
    finally:
        folder.release()


def _finished(folder: RunFolder) -> bool:
    """status.json says so, or (a folder written before status.json existed) the final files do."""
    status = folder.status()
    if status is not None:
        return status.get("status") == "finished"
    try:
        saved = read_json(folder.path / "checkpoint.json")
    except (OSError, ValueError):
        return False
    return (folder.path / "eval.json").is_file() and isinstance(saved, dict) and saved.get("interrupted") is False


def read_resume_checkpoint(run_dir: str | Path, algo: str, env_id: str, config) -> Checkpoint | None:
    """The run folder's resume.npz (None if there is none), checked to belong to this run."""
    path = Path(run_dir) / RESUME_FILE
    if not os.path.lexists(path):
        return None
    # Nothing larger than this config's checkpoint can be (twice the estimate) is inflated.
    env = make_plain_env(env_id)
    try:
        spaces, max_episode_steps = EnvSpaces.of(env), env.spec.max_episode_steps if env.spec else None
    finally:
        env.close()
    limit = 2 * checkpoint_bytes(config, spaces, get_algorithm(algo).loop.name)
    checkpoint = read_checkpoint(path, max_bytes=min(limit, memory_limit() or limit))
    if checkpoint.run != {"algo": algo, "env_id": env_id, "config": dataclasses.asdict(config)}:
        raise CheckpointError(f"{path} was written by another run than {Path(run_dir) / 'config.json'} describes "
                              "(config.json was edited, or the file was copied from elsewhere)")
    check_checkpoint_values(checkpoint, config, max_episode_steps)
    return checkpoint


def _train_into(folder: RunFolder, algo, env_id, config, checkpoint, progress, checkpoint_every, stop,
                tensorboard) -> dict:
    out = folder.path
    title = f"{algo} on {env_id} (seed {config.seed})"
    sinks = []
    if tensorboard:
        sinks.append(TensorBoardSink(out))
    metrics = MetricsLog(out / "metrics.csv", out / "terms.csv", sinks=sinks, append=checkpoint is not None)
    threshold = reward_threshold(env_id)
    env_step = checkpoint.env_step if checkpoint is not None else 0
    try:
        try:
            result = train(algo, env_id, config, out_dir=out, progress=progress, metrics=metrics,
                           resume_from=checkpoint, checkpoint_every=checkpoint_every, stop=stop)
        except NonFiniteLossError as err:
            metrics.close()
            plot_learning_curve(metrics, out / "learning_curve.png", title + " - stopped: non-finite loss",
                                threshold=threshold)
            env_step = err.step
            raise
        metrics.close()
        env_step = result.env_steps
        if stop is not None:
            stop.defer()                 # the final files are written before a signal takes effect
        if result.interrupted:
            folder.mark("interrupted", env_step=result.env_steps, signal=result.stopped_by)
        save_weights(out / "model.npz", result.nets)
        write_json(out / "checkpoint.json", {"env_step": result.env_steps, "interrupted": result.interrupted})
        summary = _evaluate(algo, env_id, result.nets, FINAL_EVAL_EPISODES, RunSeeds.from_seed(config.seed).eval)
        write_json(out / "eval.json", summary)
        suffix = f" - interrupted at {result.env_steps} steps" if result.interrupted else ""
        plot_learning_curve(metrics, out / "learning_curve.png", title + suffix, threshold=threshold,
                            final_eval={**summary, "env_step": result.env_steps})
        if not result.interrupted:
            folder.mark("finished", env_step=result.env_steps)
            (out / RESUME_FILE).unlink(missing_ok=True)
        remove_stray_temporaries(out)
    except (KeyboardInterrupt, CheckpointError) as err:
        # A second signal during the final files, or a checkpoint whose state does not fit: the
        # folder stays as it was (resumable, or to be inspected), not marked failed. A signal says so
        # in status.json (a run stopped while it was still setting up has no checkpoint to write).
        metrics.close()
        if isinstance(err, KeyboardInterrupt):
            name = str(err) if str(err) in ("SIGINT", "SIGTERM") else "SIGINT"
            _mark_failed(folder, err, env_step, status="interrupted", signal=name)
        raise
    except BaseException as err:
        metrics.close()
        _mark_failed(folder, err, env_step)
        raise
    return {**summary, "env_steps": result.env_steps, "interrupted": result.interrupted,
            **({"stopped_by": result.stopped_by} if result.interrupted else {}),
            **({"resumed_from_step": checkpoint.env_step} if checkpoint is not None else {})}


def _mark_failed(folder: RunFolder, err: BaseException, env_step: int, status: str = "failed", **info) -> None:
    """Mark the folder ``status`` (``failed``, with the error; or ``interrupted``, with ``info``). The
    disk that made the run fail may refuse the temporary file of an atomic write: the status is then
    written in place over the old one."""
    info = info or {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
    try:
        folder.mark(status, env_step=env_step, **info)
    except OSError:
        folder.mark_in_place(status, env_step=env_step, **info)


def read_run_config(run_dir: str | Path) -> tuple[str, str, object]:
    """(algo, env_id, config) of a run folder's config.json, every field validated before use.

    The algorithm must be registered (a plugin's only if the user loaded it with --plugin), the
    env id a plain registered id (never a ``module:`` id, which gymnasium would import), the
    config valid for the algorithm. Any problem is one ``ValueError`` naming the file.
    """
    run = Path(run_dir)
    where = run / "config.json"
    if not os.path.lexists(where):
        raise FileNotFoundError(f"{run} is not a training run folder: config.json is missing")
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
    return algo, env_id, config


def load_run(run_dir: str | Path) -> tuple[str, str, object, dict]:
    """(algo, env_id, config, nets with the saved weights) of a run folder.

    config.json is validated by :func:`read_run_config`; model.npz must be a readable weights
    file for exactly these networks, with finite values. Any problem is one ``ValueError``.
    """
    run = Path(run_dir)
    if not os.path.lexists(run / "model.npz") and (run / "config.json").is_file():
        raise FileNotFoundError(f"{run} is not a training run folder: model.npz is missing")
    algo, env_id, config = read_run_config(run)
    where = run / "config.json"
    try:
        nets = build_networks(algo, env_id, config, seed=0)
    except gym.error.DependencyNotInstalled as err:
        raise ValueError(env_dependency_hint(env_id, err)) from None
    except ValueError as err:
        raise ValueError(f"{where}: {algo} cannot act on {env_id}: {err}") from None
    load_weights(run / "model.npz", nets)
    return algo, env_id, config, nets


def evaluate_run(run_dir: str | Path, episodes: int = FINAL_EVAL_EPISODES, seed: int | None = None) -> dict:
    """Deterministic evaluation of a saved run; with the default seed it reproduces eval.json."""
    algo, env_id, config, nets = load_run(run_dir)
    if seed is None:
        seed = RunSeeds.from_seed(config.seed).eval
    return _evaluate(algo, env_id, nets, episodes, seed)
