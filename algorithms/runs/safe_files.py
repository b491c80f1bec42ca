"""Opening the files of a run folder as untrusted input: regular files only, never through a symlink,
never blocking, and arrays read only after their declared size has been checked.

A run folder may come from anywhere (a colleague's archive, a download). Every file the CLI opens in
one goes through :func:`open_fd` (or :func:`opener` for ``open(..., opener=opener)``):

- ``O_NOFOLLOW``: a symlink (to a file outside the folder, to ``/dev/zero``...) is refused, not followed;
- ``O_NONBLOCK`` on the open itself, so a FIFO cannot hang it; then ``fstat``: anything but a regular
  file (FIFO, device, socket, directory) is refused;
- for writing, a file with more than one hard link is refused (writing it would change a file outside);
- reads are bounded: :func:`read_bytes` reads at most a given size, :func:`read_npz_arrays` checks each
  ``.npz`` entry's declared shape and dtype (its ``.npy`` header) and the member's inflated size before
  inflating anything, so a 3 GiB array deflated into 3 MB, or a header claiming 8 TiB, is one line.

Every refusal is an :class:`UnsafeFileError` (a ``ValueError``) naming the file and what was expected.
"""
from __future__ import annotations

import errno
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["UnsafeFileError", "open_fd", "opener", "read_bytes", "check_regular_files", "npz_entry_sizes",
           "read_npz_arrays", "MAX_JSON_BYTES"]

#: A JSON file of a run folder (config, status, eval) is a few KiB; anything larger is refused unread.
MAX_JSON_BYTES = 16 * 2 ** 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class UnsafeFileError(ValueError):
    """A file of a run folder is a symlink, not a regular file, hard-linked elsewhere, or too large."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_fd(path: str | Path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """``os.open(path, flags)`` for a regular file only: a symlink is not followed, a FIFO does not
    block the open, a file to be written must have one link. Returns the descriptor (blocking)."""
    writing = bool(flags & _WRITING)
    try:
        # O_NONBLOCK only matters for a FIFO or device (refused below); a regular file ignores it.
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise UnsafeFileError(f"{path} is a symbolic link; a run folder's files are opened only as regular "
                                  "files, never followed out of the folder") from None
        if err.errno == errno.ENXIO:         # a FIFO opened for writing with no reader
            raise UnsafeFileError(f"{path} is {_kind(os.lstat(path).st_mode)}, not a regular file") from None
        if err.errno == errno.EISDIR:
            raise UnsafeFileError(f"{path} is a folder, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if writing and info.st_nlink > 1:
            raise UnsafeFileError(f"{path} has {info.st_nlink} hard links; writing it would change a file outside "
                                  "the run folder")
        if _NONBLOCK and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def opener(path: str, flags: int) -> int:
    """For ``open(path, mode, opener=opener)``: :func:`open_fd` with the flags ``open`` chose."""
    return open_fd(path, flags)


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The content of the regular file ``path``, refused (unread) when it is larger than ``limit`` bytes."""
    fd = open_fd(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise UnsafeFileError(f"{path} is {size:,} bytes, more than the {limit:,} expected of it")
        return f.read(limit + 1)[:limit]


def check_regular_files(folder: str | Path, names) -> None:
    """Each of ``names`` that exists in ``folder`` is a regular file with one link (no symlink, FIFO,
    device, folder or hard link to a file elsewhere); else one :class:`UnsafeFileError`."""
    for name in names:
        path = Path(folder) / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeFileError(f"{path} is a symbolic link; a run folder's files must be regular files (the CLI "
                                  "never follows a link out of the folder)")
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_nlink > 1:
            raise UnsafeFileError(f"{path} has {info.st_nlink} hard links; writing it would change a file outside "
                                  "the run folder")


def _entry_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple[tuple, np.dtype, int]:
    """(shape, dtype, header length) from the ``.npy`` header of one member; only the header is inflated."""
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as err:
            detail = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
            raise UnsafeFileError(f"{where}: entry {info.filename.removesuffix('.npy')!r} is not a plain array "
                                  f"({detail})") from None
        return shape, dtype, f.tell()


def npz_entry_sizes(archive: zipfile.ZipFile, where: str, max_entry_bytes: int, max_total_bytes: int,
                    expected: dict[str, int] | None = None) -> dict[str, tuple[tuple, np.dtype]]:
    """``{name: (shape, dtype)}`` of every entry of an open ``.npz``, each checked before any is read:

    - a plain array (no objects: nothing is unpickled);
    - its declared size (shape x itemsize) at most ``max_entry_bytes`` (or ``expected[name]`` bytes
      when given), and all together at most ``max_total_bytes``;
    - the zip member inflates to exactly the header plus that size, so decompression is bounded by
      what the header declares (``zipfile`` never inflates past a member's ``file_size``).
    """
    entries, total = {}, 0
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if not info.filename.endswith(".npy") or info.is_dir():
            raise UnsafeFileError(f"{where}: member {info.filename!r} is not an .npy array")
        if info.file_size > max_entry_bytes + 2 ** 16:   # header lengths are < 64 KiB for npy 1.0 / 2.0 files
            raise UnsafeFileError(f"{where}: entry {name!r} inflates to {info.file_size:,} bytes, more than the "
                                  f"{max_entry_bytes:,} allowed for one array")
        shape, dtype, header = _entry_header(archive, info, where)
        if dtype.hasobject:
            raise UnsafeFileError(f"{where}: entry {name!r} holds Python objects: not an .npz archive of plain arrays")
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise UnsafeFileError(f"{where}: entry {name!r} declares the shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        limit = max_entry_bytes if expected is None or name not in expected else expected[name]
        if nbytes > limit:
            raise UnsafeFileError(f"{where}: entry {name!r} declares a {dtype} array of shape {shape} "
                                  f"({nbytes:,} bytes), more than the {limit:,} bytes expected")
        if info.file_size != header + nbytes:
            raise UnsafeFileError(f"{where}: entry {name!r} inflates to {info.file_size:,} bytes, but its header "
                                  f"declares {header + nbytes:,}; it is damaged or crafted")
        total += nbytes
        if total > max_total_bytes:
            raise UnsafeFileError(f"{where}: its arrays declare more than {max_total_bytes:,} bytes together, more "
                                  "than this run can hold")
        entries[name] = (shape, dtype)
    return entries


def read_npz_arrays(path: str | Path, max_entry_bytes: int, max_total_bytes: int,
                    expected: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (a regular file, not followed through a symlink), read
    without pickle after :func:`npz_entry_sizes` has checked all of them."""
    fd = open_fd(path)
    with os.fdopen(fd, "rb") as f, zipfile.ZipFile(f) as archive:
        entries = npz_entry_sizes(archive, str(path), max_entry_bytes, max_total_bytes, expected)
        arrays = {}
        for name in entries:
            with archive.open(f"{name}.npy") as member:
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
        return arrays
