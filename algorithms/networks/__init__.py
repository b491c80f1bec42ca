"""The networks the loops build, their action distributions and the observation normaliser.

- :mod:`~algorithms.networks.architectures`: ``networks(spaces, config, seed) -> dict of nets`` builders
  and the modules they build (Q-networks, actor-critics, Box-action actors and critics);
- :mod:`~algorithms.networks.distributions`: categorical, diagonal Gaussian and tanh-squashed Gaussian;
- :mod:`~algorithms.networks.normalization`: :class:`RunningMeanStd` and :func:`observe`.
"""
from .architectures import (
    ActorCritic,
    Critics,
    DeterministicActor,
    DuelingQNet,
    EnvSpaces,
    ScalarParameter,
    SquashedGaussianActor,
    actor_critic_networks,
    image_encoder,
    q_networks,
    sac_networks,
    target_pairs,
    td3_networks,
    trained_nets,
)
from .distributions import (
    Categorical,
    DiagGaussian,
    log_one_minus_tanh_squared,
    sample_categorical,
    squashed_normal_log_prob,
)
from .normalization import OBSERVATION_CLIP, RunningMeanStd, observe

__all__ = ["EnvSpaces", "image_encoder",
           "q_networks", "DuelingQNet", "actor_critic_networks", "ActorCritic", "Categorical",
           "DiagGaussian", "RunningMeanStd", "OBSERVATION_CLIP", "target_pairs", "trained_nets", "observe",
           "DeterministicActor", "SquashedGaussianActor", "Critics", "ScalarParameter", "sample_categorical",
           "log_one_minus_tanh_squared", "squashed_normal_log_prob", "td3_networks", "sac_networks"]
