"""What a run will need, estimated from its config before anything is allocated, and the limit it must fit.

The memory of a deep run is dominated by a few items, each computable from the config and the env's
spaces alone (no network is built, no env copied):

- the replay buffer of an off-policy config: ``min(buffer_size, total_steps)`` transitions;
- the networks: every MLP ``[inputs, *hidden, outputs]`` the loop keeps (online and target copies),
  their gradients and the optimiser's two moment buffers;
- one batch: the sampled rows (off-policy ``batch_size``; on-policy ``n_envs x n_steps``) and the
  activations of a forward and backward pass over them;
- the env copies of a vectorised loop (``n_envs``), counted at :data:`ENV_COPY_BYTES` each.

Image observations (C, H, W) go through a convolution of ``conv_channels`` filters first: its weights are
counted, and the MLP's input is the convolution's output, not the frame.

:func:`check_run` refuses (one :class:`ResourceError` that gives the estimate) a run whose estimate is
above the memory limit: by default :data:`DEFAULT_MEMORY_FRACTION` of the physical memory, else
``--memory-limit`` or the ``TINYGRAD_RL_MEMORY_LIMIT`` environment variable (see
:mod:`algorithms.runs.memory_limits`); or above the memory available now; or, given the run's folder,
whose checkpoints would not fit on the disk that holds it (two of them: the old one stays until the new
one is complete). This one estimate is the only one: nothing builds a network to size a run.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..loops.off_policy import replay_nbytes
from .memory_limits import DEFAULT_MEMORY_FRACTION, MEMORY_LIMIT_ENV, ResourceError, describe_bytes

__all__ = ["ENV_COPY_BYTES", "MAX_TOTAL_STEPS", "RUN_FILES_BYTES", "estimate_memory", "checkpoint_bytes",
           "available_memory", "check_run"]

#: A gymnasium env object of a vector env (the classic-control ones take a few KiB; Box2D ones more).
ENV_COPY_BYTES = 256 * 1024
#: More env steps than this would take centuries at the speed of a NumPy loop; refused as a typo.
MAX_TOTAL_STEPS = 10 ** 12
#: Room on the disk for a run's files besides its checkpoints (metrics, config, status, the curve's figure).
RUN_FILES_BYTES = 16 * 2 ** 20
_FLOAT = 4                      # networks and observations are float32
_ACTIVATION_COPIES = 4          # forward output, its gradient, and the elementwise temporaries between
#: Networks of the shape [inputs, *hidden, outputs] each loop keeps (online and target copies).
_NETWORKS = {"off_policy": 2, "off_policy_continuous": 6, "on_policy": 2, "episodic": 2, "model_based": 8}


def _mlp_params(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _encoder(config, spaces) -> tuple[int, int]:
    """(parameters, output features) of the convolution in front of image observations; (0, obs_dim) else."""
    if not spaces.image_shape:
        return 0, spaces.obs_dim
    channels, height, width = spaces.image_shape
    k, filters = int(config.conv_kernel), int(config.conv_channels)
    return filters * (channels * k * k + 1), filters * max(height - k + 1, 1) * max(width - k + 1, 1)


def estimate_memory(config, spaces, loop: str) -> dict[str, int]:
    """Bytes of each big item of a run of ``config`` on an env of ``spaces`` (see the module docstring)."""
    hidden = [int(h) for h in config.hidden]
    encoder_params, features = _encoder(config, spaces)
    inputs = features + (0 if spaces.discrete else spaces.action_dim)           # a critic sees the action
    outputs = max(spaces.action_dim, 1) * (2 if not spaces.discrete else 1)     # Gaussian: mean and log-std
    params = encoder_params + _mlp_params([inputs, *hidden, outputs + 1])
    networks = _NETWORKS.get(loop, 2)
    items = {"networks": _FLOAT * params * (networks + 3)}        # the copies, plus gradient and two moments
    rows = 1
    if hasattr(config, "buffer_size"):
        items["replay buffer"] = replay_nbytes(config, spaces)
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


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable; None if unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_run(config, spaces, loop: str, limit: int | None, out: str | Path | None = None) -> dict[str, int]:
    """Refuse, in one line giving the estimate, a run of an absurd length, above ``limit`` bytes or the
    memory available now, or (given its folder ``out``) one whose checkpoints would not fit on the disk
    holding ``out``; returns the estimate."""
    if int(config.total_steps) > MAX_TOTAL_STEPS:
        raise ResourceError(f"total_steps must be at most {MAX_TOTAL_STEPS:.0e} env steps, got {config.total_steps!r}")
    items = estimate_memory(config, spaces, loop)
    total = sum(items.values())
    parts = ", ".join(f"{name} {describe_bytes(n)}" for name, n in sorted(items.items(), key=lambda kv: -kv[1]))
    if limit is not None and total > limit:
        raise ResourceError(f"this run needs about {describe_bytes(total)} of memory, but only {describe_bytes(limit)} "
                            f"is allowed ({parts}; raise the limit with --memory-limit or ${MEMORY_LIMIT_ENV}, by "
                            f"default {DEFAULT_MEMORY_FRACTION:.0%} of the physical memory)")
    available = available_memory()
    if available is not None and total > available:
        raise ResourceError(f"this run needs about {describe_bytes(total)} of memory, but only "
                            f"{describe_bytes(available)} is available now ({parts})")
    if out is not None:
        needed = 2 * checkpoint_bytes(config, spaces, loop) + RUN_FILES_BYTES
        try:
            free = shutil.disk_usage(_existing_ancestor(Path(out))).free
        except OSError:
            return items
        if needed > free:
            raise ResourceError(f"the run's checkpoints need about {describe_bytes(needed)} of disk space, but the "
                                f"disk holding {out} has {describe_bytes(free)} free")
    return items
