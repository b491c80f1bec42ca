"""Where the loops used to live; kept so that ``from algorithms.trainers import train`` (and the other
names below) still works. The loops are now in :mod:`algorithms.loops`, one module each."""
from .loops.actors import greedy_actor
from .loops.episodic import train_episodic
from .loops.metrics_log import METRIC_COLUMNS, TERM_COLUMNS, MetricsLog
from .loops.off_policy import replay_buffer, replay_capacity, train_off_policy
from .loops.off_policy_continuous import train_off_policy_continuous
from .loops.on_policy import train_on_policy
from .loops.seeding import RunSeeds
from .loops.training_run import NonFiniteLossError, TrainingRun, TrainResult, build_networks, env_spaces, train

__all__ = ["RunSeeds", "NonFiniteLossError", "MetricsLog", "METRIC_COLUMNS", "TERM_COLUMNS", "TrainResult",
           "TrainingRun", "build_networks", "env_spaces", "greedy_actor", "train", "train_off_policy",
           "replay_buffer", "replay_capacity", "train_off_policy_continuous", "train_on_policy", "train_episodic"]
