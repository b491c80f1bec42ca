"""RL algorithms on the tinygrad_rl engine: deep algorithms as losses plugged into shared loops
through one registry (:func:`register_algorithm`), and tabular methods (:mod:`algorithms.tabular`).

    from algorithms import register_algorithm, OffPolicyConfig
    register_algorithm("my_dqn", loss=my_loss, loop="off_policy", config=MyConfig, presets="dqn")
"""
from . import startup  # noqa: F401, I001  (first: Ctrl-C while the rest is imported is one line, exit 130)
from . import builtin  # noqa: F401, I001  (registers the built-in algorithms)
from .configs import CommonConfig, EpisodicConfig, OffPolicyConfig, OnPolicyConfig, PPOConfig, RainbowConfig
from .registry import (
    AlgorithmSpec,
    Loop,
    algorithm_names,
    get_algorithm,
    load_plugin,
    register_algorithm,
    unregister_algorithm,
)

__all__ = ["register_algorithm", "unregister_algorithm", "get_algorithm", "algorithm_names", "load_plugin",
           "AlgorithmSpec", "Loop", "CommonConfig", "OffPolicyConfig", "RainbowConfig", "OnPolicyConfig",
           "PPOConfig", "EpisodicConfig"]
