"""Saving and loading runs without ever leaving a half-written file.

Weights go to ``.npz`` (read back with ``allow_pickle=False``), everything else to JSON.
Each file is written to a temporary file in the same directory and renamed into place:
``os.replace`` is atomic on POSIX, so a reader (or a crash) sees the old file or the new
one, never a mixture.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from .memory_limits import memory_limit
from .safe_files import MAX_JSON_BYTES, UnsafeFileError, open_fd, read_bytes, read_npz_arrays

__all__ = ["atomic_write", "write_json", "read_json", "save_weights", "load_weights", "weights_state",
           "load_weights_state", "read_npz", "remove_stray_temporaries"]

_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{16}\.tmp")
_NPY_MAGIC = b"\x93NUMPY"


def atomic_write(path: str | Path, write: Callable, mode: str = "wb") -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    # Not tempfile.mkstemp: it creates files 0600. Mode 0666 filtered by the umask gives the
    # temporary file (and so the renamed result) the permissions a plain open() would.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:          # name the file asked for, not the temporary beside it
        raise type(err)(err.errno, err.strerror, str(path)) from None
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
        return json.loads(read_bytes(path, MAX_JSON_BYTES))     # a regular file, not followed through a symlink
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a JSON file") from None


def save_weights(path: str | Path, nets: dict) -> None:
    """Store every network's ``state_dict()`` in one npz, keys ``"<net>/<param>"``."""
    arrays = weights_state(nets)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def weights_state(nets: dict) -> dict[str, np.ndarray]:
    """``{"<net>/<param>": array}`` of every network in ``nets`` (what model.npz holds)."""
    return {f"{net_name}/{key}": np.asarray(value)
            for net_name, net in nets.items() for key, value in net.state_dict().items()}


def read_npz(path: str | Path, what: str = "weights", max_bytes: int | None = None,
             expected: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read without pickle.

    Whatever is wrong with the file (missing, empty, truncated, random bytes, object arrays, a
    plain ``.npy``) becomes one ``ValueError`` (``FileNotFoundError`` if it is missing) that says
    what the file should have been; nothing read is ever unpickled. The file must be a regular
    file (no symlink, FIFO or device), and no entry is inflated before its declared size has been
    checked: at most ``expected[name]`` bytes for a name given there, and at most ``max_bytes``
    (default: the memory limit, see :mod:`algorithms.resources`) for one entry and for all together.
    """
    path = Path(path)
    limit = max_bytes if max_bytes is not None else memory_limit()
    limit = limit if limit is not None else 2 ** 63
    try:
        fd = open_fd(path)
        with os.fdopen(fd, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:                          # a plain .npy: one array
            raise ValueError(f"{path} is not a {what} file: it holds one array, not an .npz archive")
        if not magic:
            raise EOFError("No data left in file")
        if not magic.startswith(b"PK"):
            raise ValueError("not an .npz archive of plain arrays: it would have to be unpickled")
        return read_npz_arrays(path, limit, limit, expected)
    except UnsafeFileError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a {what} file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        if str(err).startswith(f"{path} is not a {what} file"):
            raise
        raise ValueError(f"{path} is not a readable {what} file ({_damage(err)}); it is corrupt or not "
                         "written by tinygrad-rl") from None


def _damage(err: BaseException) -> str:
    """A short description of what np.load found wrong, never NumPy's advice to unpickle."""
    if isinstance(err, EOFError) or "no data left" in str(err).lower():
        return "empty or cut short"
    if isinstance(err, (zipfile.BadZipFile, zlib.error)):
        return "not a complete .npz archive: truncated or damaged"
    if isinstance(err, ValueError) and "pickle" in str(err).lower():
        return "not an .npz archive of plain arrays"
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return type(err).__name__


def load_weights(path: str | Path, nets: dict, allow_nonfinite: bool = False) -> None:
    """Load weights saved by :func:`save_weights` into ``nets`` (shapes are checked by the nets).

    Any problem is one ``ValueError`` naming the file: unreadable (see :func:`read_npz`), weights
    for other networks, or NaN/inf values (refused unless ``allow_nonfinite=True``).
    """
    # Each entry may hold at most its network's array in 8-byte numbers; all of them, the networks' size.
    expected = {key: 8 * value.size for key, value in weights_state(nets).items()}
    limit = max(sum(expected.values()), 2 ** 16)
    load_weights_state(nets, read_npz(path, max_bytes=limit, expected=expected), str(path), allow_nonfinite)


def load_weights_state(nets: dict, arrays: dict[str, np.ndarray], where: str, allow_nonfinite: bool = False) -> None:
    """Load ``{"<net>/<param>": array}`` (see :func:`weights_state`) into ``nets``; errors name ``where``.

    A module with an empty ``state_dict()`` (no parameters, no statistics) saved no arrays and needs none."""
    states = {}
    nets = {net_name: net for net_name, net in nets.items() if net.state_dict()}
    for net_name in nets:
        prefix = f"{net_name}/"
        states[net_name] = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
        if not states[net_name]:
            raise ValueError(f"{where} holds no weights for {net_name!r}; it has keys {sorted(arrays)[:6]}")
        if not allow_nonfinite:
            for key, value in states[net_name].items():
                if not np.issubdtype(value.dtype, np.number):
                    raise ValueError(f"{where}: {net_name}/{key} is not numeric (dtype {value.dtype})")
                if not np.isfinite(value).all():
                    raise ValueError(f"{where}: {net_name}/{key} holds NaN or inf (the run diverged); "
                                     "refusing to use these weights")
    for net_name, net in nets.items():
        try:
            net.load_state_dict(states[net_name], **({"allow_nonfinite": True} if allow_nonfinite else {}))
        except ValueError as err:
            raise ValueError(f"{where} does not fit the networks of this run's config.json ({net_name}: "
                             f"{str(err).removeprefix('load_state_dict: ')})") from None


def remove_stray_temporaries(folder: str | Path) -> list[str]:
    """Delete the temporary files that :func:`atomic_write` leaves when a process is killed
    mid-write (``.<name>.<16 hex>.tmp``); returns their names. Call it only while no other
    process writes into ``folder`` (e.g. holding the run folder's lock)."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        if _TEMPORARY.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed
