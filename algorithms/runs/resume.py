"""Resumable training: the state a run declares, the checkpoint that holds it, and when it is written.

**One mechanism for every loop.** A run's state is a set of named *parts*; a part is any object
with ``state_dict() -> dict`` and ``load_state_dict(dict)``. The run declares its own (networks,
optimiser, sampling RNG, metrics files, evaluation counters); a loop declares the rest with
``run.keep(name, obj)`` before its first step -- its replay buffer, a reward scaler, its counters
in a :class:`LoopState` -- and calls ``run.safe_point(step)`` wherever everything it declared is
consistent. On a fresh run ``keep`` returns ``obj`` unchanged; on a resumed run it first loads the
saved state into it, so the loop continues where the checkpoint left it::

    buffer = run.keep("replay", ReplayBuffer(capacity, obs_shape))
    loop = run.keep("loop", LoopState(step=0, last_loss=None))
    for step in range(loop.step + 1, total + 1):
        ...
        loop.step = step
        run.safe_point(step, episode_boundary=done)

A loop that never calls ``safe_point`` still works; it is just never checkpointed mid-run (a
resumed run then starts again from step 0).

**The checkpoint** is one ``resume.npz`` written through :func:`~algorithms.runs.checkpoint.atomic_write`:
every array a part returns is stored as ``<part>/<key>``, every other value (ints, floats, strings,
None, lists, dicts, e.g. an RNG's bit-generator state) goes into one JSON document stored beside
them as a string array. Nothing is pickled; it is read back with ``allow_pickle=False``.

**When.** ``safe_point`` writes a checkpoint once ``every`` seconds (default 60) have passed since
the last one, preferring a point between episodes (``episode_boundary=True``); a loop that is never
between episodes for long is checkpointed mid-episode once the checkpoint is ``every / 2`` seconds
(at least 5 s) overdue. The state a loop keeps is what a checkpoint restores; gymnasium envs cannot
be saved, so a resumed loop starts fresh episodes, reset with :meth:`Checkpointer.reset_seed` --
a seed derived from the run's env seed and the checkpoint's step, so two resumes from one
checkpoint run the same episodes. Writing a checkpoint reads the state and changes nothing, so a
run's results do not depend on when (or whether) it was checkpointed.

**Stopping.** :class:`StopSignals` turns SIGINT and SIGTERM into a request that ``safe_point``
honours: it writes a checkpoint there and raises :class:`TrainingStopped` (a ``KeyboardInterrupt``,
which the trainers already treat as "stop and return what you have"). A second signal stops at once.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write, load_weights_state, read_npz, weights_state

__all__ = ["RESUME_FILE", "DEFAULT_CHECKPOINT_SECONDS", "CheckpointError", "LoopState", "RngState", "NetsState",
           "Checkpoint", "Checkpointer", "TrainingStopped", "StopSignals", "write_checkpoint", "read_checkpoint",
           "signal_exit_status"]

RESUME_FILE = "resume.npz"
DEFAULT_CHECKPOINT_SECONDS = 60.0
FORMAT = 1
_META = "__meta__"
_MIN_PATIENCE_SECONDS = 5.0      # mid-episode checkpoint once this (or every/2) overdue
_STOP_GRACE_SECONDS = 2.0        # a stop request waits this long for the end of an episode


class CheckpointError(ValueError):
    """A resume checkpoint cannot be used: unreadable, from another run, or missing a part."""


class TrainingStopped(KeyboardInterrupt):
    """Raised at a safe point after a stop request (SIGINT/SIGTERM); the checkpoint is written."""


# ----------------------------------------------------------------------------- parts


class LoopState:
    """A loop's own counters as attributes (``state.step``, ``state.last_loss``...), saved with the run.

    Values may be numbers, strings, None, lists, dicts or NumPy arrays. On load the saved state
    must have exactly the fields the loop declared (a different loop wrote it otherwise).
    """

    def __init__(self, **fields):
        vars(self).update(fields)

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(vars(self)):
            raise CheckpointError(f"the checkpoint's loop state has fields {sorted(state)}, this loop keeps "
                                  f"{sorted(vars(self))}")
        vars(self).update(state)

    def __repr__(self) -> str:
        return f"LoopState({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class RngState:
    """A ``np.random.Generator`` as a part: its bit generator's state (a JSON-able dict)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def state_dict(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("bit_generator")
        expected = type(self.rng.bit_generator).__name__
        if not isinstance(saved, dict) or saved.get("bit_generator") != expected:
            raise CheckpointError(f"the checkpoint holds no {expected} state for this generator")
        self.rng.bit_generator.state = saved


class NetsState:
    """A dict of networks as a part (the arrays model.npz holds); NaN/inf weights are refused."""

    def __init__(self, nets: dict):
        self.nets = nets

    def state_dict(self) -> dict:
        return weights_state(self.nets)

    def load_state_dict(self, state: dict) -> None:
        load_weights_state(self.nets, state, "the checkpoint's networks")


# ----------------------------------------------------------------------------- the file


@dataclass
class Checkpoint:
    """A resume checkpoint read from disk: which run wrote it, its env step, and each part's state."""
    path: Path
    run: dict                       # {"algo", "env_id", "config"} of the run that wrote it
    env_step: int
    done: bool                      # training had finished (only the final files were left to write)
    parts: dict[str, dict]


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint (use arrays, numbers, strings, "
                    "None, lists or dicts)")


def write_checkpoint(path: str | Path, parts: dict[str, dict], run: dict, env_step: int, done: bool) -> None:
    """Write ``{part: state_dict}`` to ``path`` atomically (see the module docstring for the layout)."""
    arrays, values = {}, {}
    for name, state in parts.items():
        values[name] = {}
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"{name}/{key}"] = value
            else:
                values[name][key] = value
    meta = {"format": FORMAT, "run": run, "env_step": int(env_step), "done": bool(done), "values": values,
            "arrays": sorted(arrays)}
    arrays[_META] = np.array(json.dumps(meta, default=_to_json))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_checkpoint(path: str | Path, max_bytes: int | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`write_checkpoint`; any damage is one :class:`CheckpointError`.
    No array is read before its declared size is checked against ``max_bytes`` (see ``read_npz``)."""
    path = Path(path)
    try:
        arrays = read_npz(path, what="resume checkpoint", max_bytes=max_bytes)
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    meta = None
    if _META in arrays and arrays[_META].dtype.kind == "U" and arrays[_META].ndim == 0:
        try:
            meta = json.loads(str(arrays.pop(_META)))
        except (ValueError, RecursionError):
            meta = None
    valid = (isinstance(meta, dict) and meta.get("format") == FORMAT and isinstance(meta.get("values"), dict)
             and all(isinstance(v, dict) for v in meta["values"].values()) and isinstance(meta.get("run"), dict)
             and isinstance(meta.get("env_step"), int) and meta["env_step"] >= 0
             and isinstance(meta.get("done"), bool) and meta.get("arrays") == sorted(arrays))
    if not valid:
        raise CheckpointError(f"{path} is not a tinygrad-rl resume checkpoint (its index is missing, "
                              "damaged or of another format)")
    values, run = meta["values"], meta["run"]
    parts = {name: dict(state) for name, state in values.items()}
    for key, value in arrays.items():
        name, _, field = key.partition("/")
        parts.setdefault(name, {})[field] = value
    return Checkpoint(path, run, meta["env_step"], bool(meta["done"]), parts)


# ----------------------------------------------------------------------------- the run's checkpointer


class Checkpointer:
    """The parts of one run, written to ``path`` at safe points; restored from ``resume_from``.

    ``path=None`` (a run without an output folder) keeps parts and honours stop requests but
    writes nothing. ``run`` identifies the run (algo, env id, config); a checkpoint of another
    run is refused.
    """

    def __init__(self, path: str | Path | None, run: dict, every: float = DEFAULT_CHECKPOINT_SECONDS,
                 resume_from: Checkpoint | None = None, stop: "StopSignals | None" = None):
        if not (isinstance(every, (int, float)) and not math.isnan(every) and every >= 0):
            raise ValueError(f"checkpoint interval must be a number of seconds >= 0, got {every!r}")
        if resume_from is not None and resume_from.run != run:
            diff = sorted(k for k in set(run) | set(resume_from.run) if run.get(k) != resume_from.run.get(k))
            raise CheckpointError(f"{resume_from.path} was written by another run (its {', '.join(diff)} "
                                  "differ from config.json)")
        self.path = Path(path) if path is not None else None
        self.run, self.every, self.resume_from, self.stop = run, float(every), resume_from, stop
        self.parts: dict[str, object] = {}
        self.last_save = time.monotonic()
        self.saved_step: int | None = resume_from.env_step if resume_from is not None else None
        self._checked_unclaimed = False

    @property
    def done(self) -> bool:
        """Resumed from a checkpoint written after training had finished."""
        return self.resume_from is not None and self.resume_from.done

    def reset_seed(self, seed: int) -> int:
        """The seed for the first env reset: ``seed`` on a fresh run; on a resumed run a seed drawn
        from (``seed``, checkpoint step), so the fresh episodes differ from the first ones but are
        the same on every resume from this checkpoint."""
        if self.resume_from is None:
            return seed
        return int(np.random.SeedSequence([seed, self.resume_from.env_step]).generate_state(1)[0])

    def keep(self, name: str, obj):
        """Declare ``obj`` part of the checkpoint as ``name``; on a resumed run load its saved state first."""
        if not isinstance(name, str) or not name or "/" in name or name == _META:
            raise ValueError(f"a checkpoint part needs a name without '/', got {name!r}")
        if name in self.parts:
            raise ValueError(f"checkpoint part {name!r} is declared twice")
        if not (callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))):
            raise TypeError(f"checkpoint part {name!r} needs state_dict() and load_state_dict(), "
                            f"got a {type(obj).__name__}")
        self.parts[name] = obj
        if self.resume_from is not None:
            saved = self.resume_from.parts.get(name)
            if saved is None:
                raise CheckpointError(f"{self.resume_from.path} holds no state for {name!r} (written by another "
                                      "loop or version)")
            try:
                obj.load_state_dict(saved)
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointError(f"{self.resume_from.path}: cannot restore {name!r}: {err}") from None
        return obj

    def safe_point(self, step: int, episode_boundary: bool = True) -> None:
        """The loop's declared state is consistent at ``step``: checkpoint if due, stop if asked."""
        if not self._checked_unclaimed:
            self._check_all_parts_claimed()
            if self.stop is not None:
                self.stop.defer()            # from now on a signal waits for a safe point
        now = time.monotonic()
        requested = self.stop is not None and self.stop.signum is not None
        if requested:
            if episode_boundary or now - self.stop.time >= _STOP_GRACE_SECONDS:
                if self.path is not None and self.saved_step != step:
                    self.save(step)
                raise TrainingStopped(f"stopped by {signal.Signals(self.stop.signum).name} at env step {step}")
            return
        if self.path is None:
            return
        overdue = now - self.last_save - self.every
        if overdue >= 0 and (episode_boundary or overdue >= max(self.every / 2, _MIN_PATIENCE_SECONDS)):
            self.save(step)

    def save(self, step: int, done: bool = False) -> None:
        """Write every part's state now (at env step ``step``)."""
        if self.path is None:
            return
        write_checkpoint(self.path, {name: obj.state_dict() for name, obj in self.parts.items()}, self.run,
                         step, done)
        self.saved_step, self.last_save = step, time.monotonic()

    def _check_all_parts_claimed(self) -> None:
        self._checked_unclaimed = True
        if self.resume_from is not None and not self.done:
            unclaimed = sorted(set(self.resume_from.parts) - set(self.parts))
            if unclaimed:
                raise CheckpointError(f"{self.resume_from.path} holds state this loop does not declare "
                                      f"({', '.join(unclaimed)}): written by another loop or version")


# ----------------------------------------------------------------------------- signals


class StopSignals:
    """Within ``with StopSignals() as stop:``, SIGINT and SIGTERM ask the run to stop.

    While deferring (a loop has reached its first safe point, or training is over and the final
    files are being written) the first signal only sets ``signum`` (and ``time``); ``safe_point``
    then stops the loop cleanly. Otherwise, or on a second signal, it raises ``KeyboardInterrupt``
    at once. Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self.time: float = 0.0
        self._deferring = False
        self._previous: dict = {}

    def defer(self, on: bool = True) -> None:
        self._deferring = on

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum, self.time = signum, time.monotonic()
            if self._deferring:
                return
        raise KeyboardInterrupt(f"{signal.Signals(signum).name}")

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def exit_status(self) -> int:
        """128 + the signal number, as a shell reports a process ended by it (130 for a bare Ctrl-C)."""
        return signal_exit_status(self.signum)


def signal_exit_status(signum: int | None) -> int:
    """128 + ``signum`` (SIGINT when None: a KeyboardInterrupt not raised by a handled signal)."""
    return 128 + int(signum if signum is not None else signal.SIGINT)
