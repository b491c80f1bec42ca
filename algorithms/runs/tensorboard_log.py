"""TensorBoard event files for a training run, written beside metrics.csv as the metrics flow.

    pip install -e ".[tensorboard]"
    tinygrad-rl train dqn CartPole-v1 --tensorboard
    tensorboard --logdir runs                  # every run folder under runs/ is one TensorBoard run

The events are written by tensorboardX's ``SummaryWriter`` (a maintained standalone writer:
no torch or TensorFlow needed); the ``tensorboard`` package reads and shows them.

:class:`TensorBoardSink` is a *sink* of :class:`algorithms.trainers.MetricsLog`: the log calls
``on_row(row)`` for every metrics.csv row, ``on_terms(env_step, terms)`` for every terms.csv
record (each loss term and the learning rate, averaged since the last record), and ``close()``.
Tags:

    train/episode_return, train/episode_length, train/loss, train/epsilon, train/entropy
    eval/mean_return
    loss/<term>            each named term of the loss (loss/total, loss/td, loss/policy, ...)
    optim/learning_rate
    perf/steps_per_second  env steps per wall-clock second, measured over >= 1 s between rows

Every scalar is at its env step, with the values metrics.csv and terms.csv hold.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["TensorBoardSink", "require_tensorboardx", "ROW_TAGS", "TERM_TAGS"]

# metrics.csv column -> TensorBoard tag
ROW_TAGS = {
    "episode_return": "train/episode_return",
    "episode_length": "train/episode_length",
    "loss": "train/loss",
    "epsilon": "train/epsilon",
    "entropy": "train/entropy",
    "eval_return": "eval/mean_return",
}
# terms.csv term -> TensorBoard tag (every other term is loss/<term>)
TERM_TAGS = {"lr": "optim/learning_rate"}
SPEED_TAG = "perf/steps_per_second"
SPEED_MIN_SECONDS = 1.0


def require_tensorboardx() -> None:
    """Raise ImportError saying how to install the writer when tensorboardX is missing."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise ImportError("--tensorboard needs tensorboardX: pip install -e '.[tensorboard]'") from None


class TensorBoardSink:
    """Writes MetricsLog rows and training scalars as TensorBoard scalars into ``logdir``."""

    def __init__(self, logdir: str | Path, flush_secs: int = 10):
        require_tensorboardx()
        from tensorboardX import SummaryWriter
        self.logdir = Path(logdir)
        self.writer = SummaryWriter(logdir=str(self.logdir), flush_secs=flush_secs)
        self._speed_mark = (0, 0.0)     # (env step, wall time) of the last speed point; MetricsLog starts at 0

    def on_terms(self, env_step: int, terms: dict) -> None:
        """Loss terms (and the learning rate, ``lr``) averaged over the updates since the last call."""
        for name, value in terms.items():
            self.writer.add_scalar(TERM_TAGS.get(name, f"loss/{name}"), float(value), env_step)

    def on_row(self, row: dict) -> None:
        """One metrics.csv row (a finished episode or an evaluation)."""
        step = int(row["env_step"])
        for column, tag in ROW_TAGS.items():
            value = row.get(column)
            if value is not None and value != "":
                self.writer.add_scalar(tag, float(value), step)
        wall = row.get("wall_time")
        if wall is not None:
            if float(wall) - self._speed_mark[1] >= SPEED_MIN_SECONDS:
                speed = (step - self._speed_mark[0]) / (float(wall) - self._speed_mark[1])
                self.writer.add_scalar(SPEED_TAG, speed, step)
                self._speed_mark = (step, float(wall))

    def close(self) -> None:
        self.writer.close()
