"""Standard output as the command line writes it: a failed write is one known error, not a traceback.

``tinygrad-rl list > /dev/full`` or a closed stdout makes ``print`` raise ``OSError`` wherever it
happens to flush. :class:`GuardedStdout` wraps ``sys.stdout`` for the length of a command and turns
any such failure into :class:`StdoutError`, so the CLI can tell "the output could not be written"
(exit :data:`OUTPUT_LOST_STATUS`, the status Python itself uses when its final flush of stdout fails)
from a failure of the work itself. Everything else is passed to the wrapped stream. A process started
with descriptor 1 closed (``sys.stdout`` is None) fails at its first write the same way.
"""
from __future__ import annotations

import errno

__all__ = ["StdoutError", "GuardedStdout", "OUTPUT_LOST_STATUS"]

#: Exit status when the work was done but its output could not be written (as CPython's own).
OUTPUT_LOST_STATUS = 120


class StdoutError(OSError):
    """Writing or flushing standard output failed (closed, full, or its reader went away)."""


class GuardedStdout:
    """A stand-in for ``sys.stdout`` whose ``write``/``flush`` raise :class:`StdoutError` on failure."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is None:            # started with descriptor 1 closed: Python set sys.stdout to None
            raise StdoutError(errno.EBADF, "standard output is closed")
        try:
            return self.stream.write(text)
        except OSError as err:
            raise StdoutError(err.errno, err.strerror or str(err)) from None
        except ValueError as err:          # "I/O operation on closed file"
            raise StdoutError(None, str(err)) from None

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except OSError as err:
            raise StdoutError(err.errno, err.strerror or str(err)) from None
        except ValueError as err:
            raise StdoutError(None, str(err)) from None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)
