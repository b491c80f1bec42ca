"""Saving and loading runs without ever leaving a half-written file.

Weights go to ``.npz`` (read back with ``allow_pickle=False``), everything else to JSON.
Each file is written to a temporary file in the same directory and renamed into place:
``os.replace`` is atomic on POSIX, so a reader (or a crash) sees the old file or the new
one, never a mixture.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["atomic_write", "write_json", "read_json", "save_weights", "load_weights"]


def atomic_write(path: str | Path, write: Callable, mode: str = "wb") -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    # Not tempfile.mkstemp: it creates files 0600. Mode 0666 filtered by the umask gives the
    # temporary file (and so the renamed result) the permissions a plain open() would.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # The rename did not happen: remove the partial temp file, keep the old ``path``.
        os.unlink(tmp)
        raise


def write_json(path: str | Path, obj) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2) + "\n"), mode="w")


def read_json(path: str | Path):
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None


def save_weights(path: str | Path, nets: dict) -> None:
    """Store every network's ``state_dict()`` in one npz, keys ``"<net>/<param>"``."""
    arrays = {f"{net_name}/{key}": np.asarray(value)
              for net_name, net in nets.items() for key, value in net.state_dict().items()}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_weights(path: str | Path, nets: dict) -> None:
    """Load weights saved by :func:`save_weights` into ``nets`` (shapes are checked by the nets)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read weights from {path}: {err}") from None
    for net_name, net in nets.items():
        prefix = f"{net_name}/"
        state = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
        if not state:
            raise ValueError(f"{path} holds no weights for {net_name!r}; it has keys {sorted(arrays)[:6]}")
        net.load_state_dict(state)
