"""The memory limit a run must fit, and sizes in words.

The limit is, by default, :data:`DEFAULT_MEMORY_FRACTION` of the physical memory, else ``--memory-limit``
or the ``TINYGRAD_RL_MEMORY_LIMIT`` environment variable (``2GiB``, ``500MB``, ``1e9``, ``50%``). It caps
the estimate of a run before anything is allocated (:mod:`algorithms.runs.resources`) and every array
read from a run folder (:mod:`algorithms.runs.checkpoint`).
"""
from __future__ import annotations

import math
import os
import re

__all__ = ["ResourceError", "MEMORY_LIMIT_ENV", "DEFAULT_MEMORY_FRACTION", "physical_memory", "parse_memory",
           "memory_limit", "describe_bytes"]

MEMORY_LIMIT_ENV = "TINYGRAD_RL_MEMORY_LIMIT"
DEFAULT_MEMORY_FRACTION = 0.8
_UNITS = {"": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "m": 10 ** 6, "mb": 10 ** 6, "g": 10 ** 9, "gb": 10 ** 9,
          "t": 10 ** 12, "tb": 10 ** 12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


class ResourceError(ValueError):
    """A run would need more memory than the limit allows (or more env steps than can be meant)."""


def describe_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def physical_memory() -> int | None:
    """Bytes of physical memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def parse_memory(text: str, what: str = "--memory-limit") -> int:
    """Bytes from ``2GiB``, ``500MB``, ``1e9`` or ``50%`` (of the physical memory)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(%|[kmgt]?i?b?)\s*", str(text).lower())
    if match is None or (match.group(2) not in _UNITS and match.group(2) != "%"):
        raise ResourceError(f"{what} must be a size such as 2GiB, 500MB, 1e9 (bytes) or 50%, got {text!r}")
    number = float(match.group(1))
    if match.group(2) == "%":
        total = physical_memory()
        if total is None or not 0 < number <= 100:
            raise ResourceError(f"{what} {text!r}: a percentage must be in (0, 100] on a system that reports its "
                                "physical memory")
        return int(total * number / 100)
    value = number * _UNITS[match.group(2)]
    if not (math.isfinite(value) and value >= 1):
        raise ResourceError(f"{what} must be at least 1 byte, got {text!r}")
    return int(value)


def memory_limit(override: str | None = None) -> int | None:
    """The memory a run may take: ``override`` (``--memory-limit``), else ``$TINYGRAD_RL_MEMORY_LIMIT``,
    else :data:`DEFAULT_MEMORY_FRACTION` of the physical memory (None if unknown)."""
    if override is not None:
        return parse_memory(override)
    if os.environ.get(MEMORY_LIMIT_ENV):
        return parse_memory(os.environ[MEMORY_LIMIT_ENV], MEMORY_LIMIT_ENV)
    total = physical_memory()
    return None if total is None else int(total * DEFAULT_MEMORY_FRACTION)
