"""Ctrl-C while the command line is still importing its modules: one line and exit 130, no traceback.

``python -m algorithms`` and ``tinygrad-rl`` import NumPy, gymnasium and every algorithm before
``main`` runs; a SIGINT then would print a ``KeyboardInterrupt`` traceback from deep inside an import.
Imported first by the package, this module installs (only in a command-line process, only in the
main thread, only over Python's default handler) a SIGINT handler that prints one line and exits
with status 130. :func:`restore_default_interrupt` -- called by ``main`` once the imports are done --
puts Python's own handler back, so from then on Ctrl-C is a ``KeyboardInterrupt`` the CLI reports.
A program that imports ``algorithms`` as a library is left untouched.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["INTERRUPTED_STATUS", "cli_process", "restore_default_interrupt"]

INTERRUPTED_STATUS = 128 + int(signal.SIGINT)


def cli_process() -> bool:
    """This process runs the command line: ``python -m algorithms ...`` or the ``tinygrad-rl`` script."""
    argv = getattr(sys, "orig_argv", sys.argv)
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1] == "algorithms":
        return True
    return os.path.basename(sys.argv[0] if sys.argv else "").startswith("tinygrad-rl")


def _exit_interrupted(signum, frame):
    sys.stderr.write("tinygrad-rl: interrupted by SIGINT while starting; nothing was written\n")
    raise SystemExit(INTERRUPTED_STATUS)


def restore_default_interrupt() -> None:
    """Python's own SIGINT handler again, if this module installed its own."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _exit_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if (cli_process() and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
    signal.signal(signal.SIGINT, _exit_interrupted)
