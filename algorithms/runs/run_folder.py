"""A run folder as something one process owns: claimed atomically, marked with its status, checked first.

- **Claim.** A folder is created with ``os.mkdir`` (atomic: of two processes asking for the same
  name, one gets it) and locked with an advisory ``flock`` on ``DIR/.lock`` for the whole run. The
  operating system drops the lock when the process ends, however it ends (even ``kill -9``), so a
  lock is never stale. ``claim_next_free`` takes ``base``, ``base-2``, ``base-3``... -- the first
  it can create and lock; ``claim`` takes exactly the folder asked for (``--out``, ``--resume``)
  or says who holds it.
- **Status.** ``status.json`` says ``running`` (with the pid), ``interrupted``, ``failed`` (with
  the error) or ``finished``. A folder whose run failed can be claimed again for a new run (its
  run files are removed first); a folder that was killed or interrupted holds a run to resume.
- The checks of memory and disk space before anything is written are
  :func:`algorithms.runs.resources.check_run`'s.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from .checkpoint import read_json, remove_stray_temporaries, write_json
from .memory_limits import describe_bytes as format_bytes
from .safe_files import UnsafeFileError, check_regular_files, open_fd, read_bytes

__all__ = ["LOCK_FILE", "STATUS_FILE", "RUN_FILES", "FolderError", "RunFolder", "claim", "claim_next_free",
           "try_lock", "format_bytes"]

LOCK_FILE = ".lock"
MAX_STATUS_BYTES = 4096          # one block: overwriting it in place needs no free space
STATUS_FILE = "status.json"
#: Every file a training run writes (a failed run's folder is cleared of exactly these when reused).
RUN_FILES = ("config.json", "metrics.csv", "terms.csv", "model.npz", "checkpoint.json", "resume.npz", "eval.json",
             "learning_curve.png", STATUS_FILE)


class FolderError(ValueError):
    """The output folder cannot be used: taken, in use, not a folder, not writable, too small."""


class RunFolder:
    """A claimed run folder: the lock is held until :meth:`release` (or the process ends)."""

    def __init__(self, path: Path, fd: int, created: list[Path]):
        self.path, self._fd, self._created = path, fd, created

    @property
    def created(self) -> bool:
        """This process made the folder (so :meth:`discard` may remove it)."""
        return bool(self._created)

    def status(self) -> dict | None:
        """The content of status.json, or None (no status yet, or unreadable)."""
        return _read_status(self.path)

    def mark(self, status: str, **info) -> None:
        """Write status.json: ``running`` / ``interrupted`` / ``failed`` / ``finished`` plus ``info``.
        Marking it ``running`` (the run is accepted) also writes this process's pid into the lock file."""
        write_json(self.path / STATUS_FILE, {"status": status, "pid": os.getpid(), **info})
        if status == "running" and self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def mark_in_place(self, status: str, **info) -> None:
        """:meth:`mark` for a full disk: overwrite status.json's own blocks (a temporary file for an
        atomic rename could not be created), then cut it to the new length."""
        if "error" in info:
            info["error"] = str(info["error"])[:MAX_STATUS_BYTES // 4]
        text = json.dumps({"status": status, "pid": os.getpid(), **info}, indent=2) + "\n"
        fd = open_fd(self.path / STATUS_FILE, os.O_WRONLY | os.O_CREAT)
        try:
            os.pwrite(fd, text.encode(), 0)
            os.ftruncate(fd, len(text.encode()))
            os.fsync(fd)
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Remove what this process created -- the folder and any parents it made -- when the run
        could not start; a folder that existed before is only emptied of run files."""
        self.release()
        for name in (*RUN_FILES, LOCK_FILE):
            (self.path / name).unlink(missing_ok=True)
        remove_stray_temporaries(self.path)
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_status(path: Path) -> dict | None:
    """status.json checked field by field: None if there is none, one FolderError if it is not ours."""
    where = path / STATUS_FILE
    try:
        status = read_json(where)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise FolderError(f"{where} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    states = ("running", "interrupted", "failed", "finished")
    if not isinstance(status, dict) or status.get("status") not in states:
        found = status.get("status") if isinstance(status, dict) else status
        raise FolderError(f"{where}: 'status' must be one of {', '.join(states)}, got {str(found)[:60]!r}")
    for key in ("pid", "env_step"):
        value = status.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FolderError(f"{where}: {key!r} must be an int >= 0, got {str(value)[:60]!r}")
    return status


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:          # Windows: lock the first byte of the file instead
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _unlock(fd: int) -> None:
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_UN)
    except ImportError:
        import msvcrt
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _holder(path: Path) -> str:
    try:
        pid = read_bytes(path / LOCK_FILE, 64).decode("ascii").strip()
    except (OSError, ValueError):
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _try_lock(path: Path, created: list[Path]) -> RunFolder | None:
    """Lock ``path`` (an existing folder); None if another process holds it.

    The lock file is created new (``O_EXCL``); one left by an earlier run (its lock went with its
    process) is reused only if it is the folder's own regular file: a symlink, FIFO, device or a file
    hard-linked elsewhere is refused (FolderError) before anything is written."""
    try:
        fd = open_fd(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        try:
            fd = open_fd(path / LOCK_FILE, os.O_RDWR)
        except UnsafeFileError as err:
            raise FolderError(f"cannot lock {path}: {err}") from None
    try:
        if not _lock(fd):
            os.close(fd)
            return None
    except BaseException:
        os.close(fd)
        raise
    return RunFolder(path, fd, created)


def _make_folder(path: Path) -> list[Path]:
    """Create ``path`` (and missing parents) with an exclusive mkdir; returns what was created,
    innermost first. Raises FileExistsError if ``path`` exists, FolderError if it cannot be made."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except FileExistsError:
                missing.remove(folder)
        os.mkdir(path)
    except FileExistsError:
        raise
    except OSError as err:
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:
                break
        raise FolderError(f"cannot create the output folder {path}: {err.strerror or err}") from None
    return [path, *missing]


def try_lock(path: str | Path) -> RunFolder | None:
    """Lock the existing folder ``path`` for this process (None if another process holds it)."""
    return _try_lock(Path(path), [])


def claim_next_free(base: str | Path) -> RunFolder:
    """The first of ``base``, ``base-2``, ``base-3``... that this process creates and locks."""
    base = Path(base)
    n = 1
    while True:
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        n += 1
        try:
            created = _make_folder(candidate)
        except FileExistsError:
            continue
        folder = _try_lock(candidate, created)
        if folder is not None:
            return folder
        # another process claimed it with --out between our mkdir and our lock: it is theirs


def claim(path: str | Path, resume: bool = False) -> RunFolder:
    """Claim exactly ``path``: for a new run (missing, empty, or holding a failed run whose files
    are then removed) or, with ``resume``, a folder holding an unfinished run."""
    path = Path(path)
    created: list[Path] = []
    if not resume:
        try:
            created = _make_folder(path)
        except FileExistsError:
            pass
    if not path.is_dir():
        raise FolderError(f"{path} is not a folder" if path.exists() else f"{path} does not exist")
    if resume and not os.path.lexists(path / "config.json"):     # no lock file left in a folder of something else
        raise FolderError(f"{path} is not a training run folder: config.json is missing")
    try:
        folder = _try_lock(path, created)
    except OSError as err:
        raise FolderError(f"cannot use the output folder {path}: {err.strerror or err}") from None
    if folder is None:
        raise FolderError(f"{path} is in use by {_holder(path)} (a run is writing into it); wait for it to end "
                          "or choose another folder")
    try:
        check_regular_files(path, RUN_FILES)
        remove_stray_temporaries(path)
        if not resume:
            _check_reusable(path)
        else:
            _read_status(path)               # checked before anything else of the folder is read
    except UnsafeFileError as err:
        folder.release()
        raise FolderError(str(err)) from None
    except BaseException:
        folder.release()
        raise
    return folder


def _check_reusable(path: Path) -> None:
    contents = sorted(p.name for p in path.iterdir() if p.name != LOCK_FILE)
    if not contents:
        return
    status = _read_status(path)
    foreign = [name for name in contents if name not in RUN_FILES]
    if status is not None and status.get("status") == "failed" and not foreign:
        for name in contents:
            (path / name).unlink()
        return
    state = status.get("status") if status is not None else None
    if state in ("running", "interrupted"):
        raise FolderError(f"--out {path} already exists and holds an unfinished run ({state}); continue it with "
                          f"`tinygrad-rl train --resume {path}`, or choose a new folder")
    if state == "finished":
        raise FolderError(f"--out {path} already exists and holds a finished run; choose a new folder")
    raise FolderError(f"--out {path} already exists and is not an empty folder; choose a new one")
