"""What a run will need, estimated from its config before anything is allocated, and the limit it must fit.

The memory of a deep run is dominated by a few items, each computable from the config and the env's
spaces alone (no network is built, no env copied):

- the replay buffer of an off-policy config: ``min(buffer_size, total_steps)`` transitions;
- the networks: every MLP ``[inputs, *hidden, outputs]`` the loop keeps (online and target copies),
  their gradients and the optimiser's two moment buffers;
- one batch: the sampled rows (off-policy ``batch_size``; on-policy ``n_envs x n_steps``) and the
  activations of a forward and backward pass over them;
- the env copies of a vectorised loop (``n_envs``), counted at :data:`ENV_COPY_BYTES` each.

:func:`check_run` refuses (one :class:`ResourceError` that gives the estimate) a run whose estimate is
above the memory limit: by default :data:`DEFAULT_MEMORY_FRACTION` of the physical memory, else
``--memory-limit`` or the ``TINYGRAD_RL_MEMORY_LIMIT`` environment variable (``2GiB``, ``500MB``,
``1e9``, ``50%``). The same limit caps every array read from a run folder.
"""
from __future__ import annotations

import math
import os
import re

from .buffers import ReplayBuffer

__all__ = ["ResourceError", "MEMORY_LIMIT_ENV", "DEFAULT_MEMORY_FRACTION", "ENV_COPY_BYTES", "MAX_TOTAL_STEPS",
           "physical_memory", "parse_memory", "memory_limit", "estimate_memory", "checkpoint_bytes", "check_run",
           "describe_bytes"]

MEMORY_LIMIT_ENV = "TINYGRAD_RL_MEMORY_LIMIT"
DEFAULT_MEMORY_FRACTION = 0.8
#: A gymnasium env object of a vector env (the classic-control ones take a few KiB; Box2D ones more).
ENV_COPY_BYTES = 256 * 1024
#: More env steps than this would take centuries at the speed of a NumPy loop; refused as a typo.
MAX_TOTAL_STEPS = 10 ** 12
_FLOAT = 4                      # networks and observations are float32
_ACTIVATION_COPIES = 4          # forward output, its gradient, and the elementwise temporaries between
#: Networks of the shape [inputs, *hidden, outputs] each loop keeps (online and target copies).
_NETWORKS = {"off_policy": 2, "off_policy_continuous": 6, "on_policy": 2, "episodic": 2, "model_based": 8}
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


def _mlp_params(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def estimate_memory(config, spaces, loop: str) -> dict[str, int]:
    """Bytes of each big item of a run of ``config`` on an env of ``spaces`` (see the module docstring)."""
    hidden = [int(h) for h in config.hidden]
    inputs = spaces.obs_dim + (0 if spaces.discrete else spaces.action_dim)      # a critic sees the action
    outputs = max(spaces.action_dim, 1) * (2 if not spaces.discrete else 1)     # Gaussian: mean and log-std
    params = _mlp_params([inputs, *hidden, outputs + 1])
    networks = _NETWORKS.get(loop, 2)
    items = {"networks": _FLOAT * params * (networks + 3)}        # the copies, plus gradient and two moments
    rows = 1
    if hasattr(config, "buffer_size"):
        capacity = min(int(config.buffer_size), int(config.total_steps))
        actions = {} if spaces.discrete else {"action_shape": (spaces.action_dim,), "action_dtype": "float32"}
        items["replay buffer"] = ReplayBuffer.nbytes(capacity, (spaces.obs_dim,), **actions)
        rows = int(config.batch_size)
    if hasattr(config, "n_envs"):
        rows = int(config.n_envs) * int(getattr(config, "n_steps", 1))
        items["env copies"] = ENV_COPY_BYTES * int(config.n_envs)
    batch_row = 2 * spaces.obs_dim + 8           # obs, next obs, action, reward, flags, log-prob, value...
    activations = _ACTIVATION_COPIES * (sum(hidden) + inputs + outputs) * min(networks, 4)
    items["batch"] = _FLOAT * rows * (batch_row + activations)
    return items


def checkpoint_bytes(config, spaces, loop: str) -> int:
    """An upper estimate of a resume checkpoint's arrays (buffer, networks, optimiser state, batch-size state)."""
    items = estimate_memory(config, spaces, loop)
    return items.get("replay buffer", 0) + items["networks"] + items["batch"] + 2 ** 20


def check_run(config, spaces, loop: str, limit: int | None) -> dict[str, int]:
    """Refuse, in one line giving the estimate, a run above ``limit`` bytes or of an absurd length;
    returns the estimate."""
    if int(config.total_steps) > MAX_TOTAL_STEPS:
        raise ResourceError(f"total_steps must be at most {MAX_TOTAL_STEPS:.0e} env steps, got {config.total_steps!r}")
    items = estimate_memory(config, spaces, loop)
    total = sum(items.values())
    if limit is not None and total > limit:
        parts = ", ".join(f"{name} {describe_bytes(n)}" for name, n in sorted(items.items(), key=lambda kv: -kv[1]))
        raise ResourceError(f"this run needs about {describe_bytes(total)} of memory, but only {describe_bytes(limit)} "
                            f"is allowed ({parts}; raise the limit with --memory-limit or ${MEMORY_LIMIT_ENV}, by "
                            f"default {DEFAULT_MEMORY_FRACTION:.0%} of the physical memory)")
    return items
