"""Hyperparameters of the deep-RL trainers, one dataclass per loop, validated in one place.

A preset (``algorithms/presets/<env>.toml``) fills a dataclass; ``key=value`` overrides
change one field at a time, parsed to the field's declared type. An algorithm with
hyperparameters of its own subclasses its loop's dataclass and adds fields (and checks in
``validate``); its loss reads them from the config it is given.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

__all__ = ["CommonConfig", "ReplayConfig", "OffPolicyConfig", "RainbowConfig", "ContinuousOffPolicyConfig",
           "TD3Config", "DDPGConfig", "SACConfig", "OnPolicyConfig", "PPOConfig", "EpisodicConfig", "parse_value",
           "apply_overrides"]


@dataclass
class CommonConfig:
    """Settings every trainer shares."""
    total_steps: int = 50_000          # env steps of training
    seed: int = 0
    gamma: float = 0.99
    lr: float = 1e-3
    lr_end_fraction: float = 1.0       # lr decays linearly to lr * this at total_steps (1 = constant)
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "relu"
    max_grad_norm: float = 0.0         # 0 = no gradient-norm clipping
    eval_every: int = 10_000           # env steps between evaluations (and checkpoints)
    eval_episodes: int = 5             # deterministic episodes per periodic evaluation
    # Image observations (a 3-D Box, channels first): the networks of the DQN family, a2c and ppo start
    # with one convolution of conv_channels filters conv_kernel x conv_kernel, then the hidden layers.
    conv_channels: int = 16
    conv_kernel: int = 3
    # Ignored, kept so run folders and overrides written while the engine had a jit still load:
    # the learning step always runs the eager engine (the jit bought 1.0-1.13x on whole training).
    jit: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field, its value and what is valid."""
        _check(self.total_steps > 0, "total_steps", self.total_steps, "an int > 0")
        _check(self.seed >= 0, "seed", self.seed, "an int >= 0")
        _check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "a float in [0, 1]")
        _check(self.lr > 0.0, "lr", self.lr, "a float > 0")
        _check(0.0 <= self.lr_end_fraction <= 1.0, "lr_end_fraction", self.lr_end_fraction, "a float in [0, 1]")
        _check(len(self.hidden) > 0 and all(h > 0 for h in self.hidden), "hidden", self.hidden,
               "a non-empty list of positive ints, e.g. 64,64")
        _check(self.activation in ("relu", "tanh"), "activation", self.activation, "relu or tanh")
        _check(self.max_grad_norm >= 0.0, "max_grad_norm", self.max_grad_norm, "a float >= 0 (0 = off)")
        _check(self.eval_every > 0, "eval_every", self.eval_every, "an int > 0")
        _check(self.eval_episodes > 0, "eval_episodes", self.eval_episodes, "an int > 0")
        _check(self.conv_channels > 0, "conv_channels", self.conv_channels, "an int > 0")
        _check(self.conv_kernel > 0, "conv_kernel", self.conv_kernel,
               "an int > 0 (at most the height and width of the image)")


@dataclass
class ReplayConfig(CommonConfig):
    """What every replay-based loop shares: the buffer, when and how often to update, Polyak tau."""
    buffer_size: int = 50_000
    batch_size: int = 64
    learning_starts: int = 1_000       # env steps of random acting before the first update
    train_freq: int = 4                # env steps between training phases
    gradient_steps: int = 1            # updates per training phase
    tau: float = 1.0                   # target update: 1 = hard copy, < 1 = Polyak averaging

    def validate(self) -> None:
        super().validate()
        _check(self.buffer_size > 0, "buffer_size", self.buffer_size, "an int > 0")
        _check(self.batch_size > 0, "batch_size", self.batch_size, "an int > 0")
        _check(self.learning_starts >= 0, "learning_starts", self.learning_starts, "an int >= 0")
        _check(self.train_freq > 0, "train_freq", self.train_freq, "an int > 0")
        _check(self.gradient_steps > 0, "gradient_steps", self.gradient_steps, "an int > 0")
        _check(0.0 < self.tau <= 1.0, "tau", self.tau, "a float in (0, 1]")


@dataclass
class OffPolicyConfig(ReplayConfig):
    """DQN-family loop: epsilon-greedy acting, replay, target network."""
    target_update_interval: int = 500  # env steps between target updates
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.1  # fraction of total_steps over which epsilon decays
    loss: str = "huber"                # TD error penalty: huber or mse
    # Rainbow components (Hessel et al. 2018); each composes with the others and with double_dqn.
    n_step: int = 1                    # n-step returns: sum of n discounted rewards, then gamma^n * max Q
    dueling: bool = False              # dueling head: Q = V + A - mean(A)
    prioritized: bool = False          # proportional prioritized replay (sum-tree)
    priority_alpha: float = 0.6        # P(i) proportional to p_i^alpha
    priority_beta_start: float = 0.4   # importance-weight exponent, annealed linearly to 1 at total_steps
    priority_eps: float = 1e-6         # p_i = |TD error| + eps
    optimizer: str = "adam"            # adam, rmsprop or centered_rmsprop (the last two with the two below)
    rmsprop_alpha: float = 0.95        # RMSprop's decay of the squared-gradient average (Mnih et al. 2015)
    rmsprop_eps: float = 0.01
    obs_storage: str = "auto"          # replay observations: float32, uint8, or auto (uint8 for images in [0, 255])

    def validate(self) -> None:
        super().validate()
        _check(self.target_update_interval > 0, "target_update_interval", self.target_update_interval,
               "an int > 0")
        for name in ("epsilon_start", "epsilon_end"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "a float in [0, 1]")
        _check(0.0 < self.exploration_fraction <= 1.0, "exploration_fraction", self.exploration_fraction,
               "a float in (0, 1]")
        _check(self.loss in ("huber", "mse"), "loss", self.loss, "huber or mse")
        _check(self.n_step >= 1, "n_step", self.n_step, "an int >= 1 (1 = one-step TD)")
        _check(self.priority_alpha >= 0.0, "priority_alpha", self.priority_alpha, "a float >= 0 (0 = uniform)")
        _check(0.0 <= self.priority_beta_start <= 1.0, "priority_beta_start", self.priority_beta_start,
               "a float in [0, 1]")
        _check(self.priority_eps > 0.0, "priority_eps", self.priority_eps, "a float > 0")
        _check(self.optimizer in ("adam", "rmsprop", "centered_rmsprop"), "optimizer", self.optimizer,
               "adam, rmsprop or centered_rmsprop")
        _check(0.0 <= self.rmsprop_alpha < 1.0, "rmsprop_alpha", self.rmsprop_alpha, "a float in [0, 1)")
        _check(self.rmsprop_eps > 0.0, "rmsprop_eps", self.rmsprop_eps, "a float > 0")
        _check(self.obs_storage in ("auto", "float32", "uint8"), "obs_storage", self.obs_storage,
               "auto, float32 or uint8")


@dataclass
class RainbowConfig(OffPolicyConfig):
    """The off-policy loop with the Rainbow components on by default (Hessel et al. 2018: n = 3,
    alpha 0.5, beta 0.4 -> 1); any of them can be switched off again like every other field."""
    n_step: int = 3
    dueling: bool = True
    prioritized: bool = True
    priority_alpha: float = 0.5


@dataclass
class ContinuousOffPolicyConfig(ReplayConfig):
    """Off-policy actor-critic loop for Box actions (SAC, TD3, DDPG): uniform random actions for
    ``learning_starts`` steps, then the actor's exploration; ``gradient_steps`` updates every
    ``train_freq`` env steps; the actor (and the targets, Polyak-averaged with ``tau``) updated on
    every ``policy_delay``-th of them. Defaults are Stable-Baselines3's SAC/TD3 defaults."""
    buffer_size: int = 1_000_000
    batch_size: int = 256
    learning_starts: int = 100
    train_freq: int = 1
    gradient_steps: int = 1
    tau: float = 0.005
    lr: float = 3e-4
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    n_critics: int = 2                 # Q-networks; the targets use the minimum over them
    policy_delay: int = 1              # critic updates per actor (and target) update

    def validate(self) -> None:
        super().validate()
        _check(self.n_critics >= 1, "n_critics", self.n_critics, "an int >= 1")
        _check(self.policy_delay >= 1, "policy_delay", self.policy_delay, "an int >= 1")


@dataclass
class TD3Config(ContinuousOffPolicyConfig):
    """TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing, delayed actor updates.
    Noise scales are fractions of half the action range (the actor acts in [-1, 1]^|A|)."""
    lr: float = 1e-3
    policy_delay: int = 2
    target_noise: float = 0.2          # std of the smoothing noise on the target action (0 = off)
    target_noise_clip: float = 0.5     # the smoothing noise is clipped to +-this
    exploration_noise: float = 0.1     # std of the Gaussian noise added when acting

    def validate(self) -> None:
        super().validate()
        _check(self.target_noise >= 0.0, "target_noise", self.target_noise, "a float >= 0 (0 = off)")
        _check(self.target_noise_clip > 0.0, "target_noise_clip", self.target_noise_clip, "a float > 0")
        _check(self.exploration_noise >= 0.0, "exploration_noise", self.exploration_noise, "a float >= 0")


@dataclass
class DDPGConfig(TD3Config):
    """DDPG (Lillicrap et al. 2016) as TD3 with its three changes switched off: one critic, no
    target policy smoothing, the actor updated on every critic update."""
    n_critics: int = 1
    target_noise: float = 0.0
    policy_delay: int = 1


@dataclass
class SACConfig(ContinuousOffPolicyConfig):
    """SAC (Haarnoja et al. 2018b): entropy temperature alpha learned towards a target entropy of
    ``target_entropy_per_dim * |A|`` (the paper's -|A|), or fixed at ``alpha_init``."""
    alpha_init: float = 1.0            # initial temperature (Stable-Baselines3's "auto" starts at 1)
    learn_alpha: bool = True
    target_entropy_per_dim: float = -1.0

    def validate(self) -> None:
        super().validate()
        _check(self.alpha_init > 0.0, "alpha_init", self.alpha_init, "a float > 0")


@dataclass
class OnPolicyConfig(CommonConfig):
    """On-policy loop: n_envs vector envs x n_steps per rollout, GAE advantages, then
    n_epochs passes of n_minibatches updates over the rollout (A2C: 1 x 1; PPO: more)."""
    n_envs: int = 8
    n_steps: int = 16
    n_epochs: int = 1
    n_minibatches: int = 1
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    normalize_advantages: bool = True  # standardise A_t within each minibatch
    optimizer: str = "adam"            # adam or rmsprop
    adam_eps: float = 1e-8
    shared_trunk: bool = False         # one trunk with policy and value heads
    normalize_observations: bool = False   # running mean/std of observations (saved with the weights)
    normalize_rewards: bool = False    # rewards / running std of the discounted return
    log_std_init: float = 0.0          # Box actions: initial log sigma of the Gaussian policy
    target_kl: float = 0.0             # stop a rollout's epochs once approx KL exceeds this (0 = off)

    def validate(self) -> None:
        super().validate()
        _check(self.n_envs > 0, "n_envs", self.n_envs, "an int > 0")
        _check(self.n_steps > 0, "n_steps", self.n_steps, "an int > 0")
        _check(self.n_epochs > 0, "n_epochs", self.n_epochs, "an int > 0")
        _check(0 < self.n_minibatches <= self.n_envs * self.n_steps, "n_minibatches", self.n_minibatches,
               f"an int in [1, n_envs * n_steps = {self.n_envs * self.n_steps}]")
        _check(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", self.gae_lambda, "a float in [0, 1]")
        _check(self.value_coef >= 0.0, "value_coef", self.value_coef, "a float >= 0")
        _check(self.entropy_coef >= 0.0, "entropy_coef", self.entropy_coef, "a float >= 0")
        _check(self.optimizer in ("adam", "rmsprop"), "optimizer", self.optimizer, "adam or rmsprop")
        _check(self.adam_eps > 0.0, "adam_eps", self.adam_eps, "a float > 0")
        _check(-20.0 <= self.log_std_init <= 2.0, "log_std_init", self.log_std_init, "a float in [-20, 2]")
        _check(self.target_kl >= 0.0, "target_kl", self.target_kl, "a float >= 0 (0 = off)")


@dataclass
class PPOConfig(OnPolicyConfig):
    """PPO (Schulman et al. 2017): the clipped surrogate and optional value clipping."""
    n_envs: int = 8
    n_steps: int = 128
    n_epochs: int = 4
    n_minibatches: int = 4
    clip_range: float = 0.2            # epsilon of the clipped ratio
    clip_range_vf: float = 0.0         # value clipping around the old values (0 = off)
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    lr: float = 3e-4

    def validate(self) -> None:
        super().validate()
        _check(0.0 < self.clip_range < 1.0, "clip_range", self.clip_range, "a float in (0, 1)")
        _check(self.clip_range_vf >= 0.0, "clip_range_vf", self.clip_range_vf, "a float >= 0 (0 = off)")


@dataclass
class EpisodicConfig(CommonConfig):
    """REINFORCE loop: whole episodes, Monte Carlo returns."""
    episodes_per_update: int = 4
    baseline: str = "learned"          # none, mean or learned (a value network)
    normalize_returns: bool = True
    value_coef: float = 0.5

    def validate(self) -> None:
        super().validate()
        _check(self.episodes_per_update > 0, "episodes_per_update", self.episodes_per_update, "an int > 0")
        _check(self.baseline in ("none", "mean", "learned"), "baseline", self.baseline,
               "none, mean or learned")
        _check(self.value_coef >= 0.0, "value_coef", self.value_coef, "a float >= 0")


@dataclass
class ModelBasedConfig(CommonConfig):
    """Model-based loop: an ensemble dynamics model fitted on all data, CEM planning with it.

    The defaults are a cheap PETS (Chua et al. 2018 use populations of 400-500, horizons of 25-30,
    5 CEM iterations, 20 particles and 200-unit networks), the Pendulum preset's values. ``gamma``
    is not used: the planner sums the rewards over its horizon undiscounted, as PETS does.
    """
    total_steps: int = 5_000
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"           # smooth dynamics; and NumPy's in-place tanh is cheaper than relu's max
    ensemble_size: int = 5             # E probabilistic networks, each on its own bootstrap of the data
    random_steps: int = 200            # uniformly random actions before the first model fit
    train_every: int = 200             # env steps between model fits (after random_steps)
    model_epochs: int = 5              # passes over each member's bootstrap sample per fit
    model_batch_size: int = 32         # rows per member per gradient step
    horizon: int = 25                  # planning horizon H (env steps)
    population: int = 200              # CEM candidates per iteration
    elites: int = 20                   # best candidates refitted per iteration
    cem_iterations: int = 3
    cem_alpha: float = 0.1             # weight of the old mean and variance in each CEM update
    particles: int = 5                 # trajectory samples per candidate (a multiple of ensemble_size)

    def validate(self) -> None:
        super().validate()
        for name in ("ensemble_size", "train_every", "model_epochs", "model_batch_size", "horizon",
                     "population", "cem_iterations", "particles"):
            _check(getattr(self, name) > 0, name, getattr(self, name), "an int > 0")
        _check(self.random_steps >= 1, "random_steps", self.random_steps,
               "an int >= 1 (the first model needs data)")
        _check(0 < self.elites <= self.population, "elites", self.elites,
               f"an int in [1, population = {self.population}]")
        _check(0.0 <= self.cem_alpha < 1.0, "cem_alpha", self.cem_alpha, "a float in [0, 1)")
        _check(self.particles % self.ensemble_size == 0, "particles", self.particles,
               f"a multiple of ensemble_size = {self.ensemble_size} (each member carries particles / E of them)")



@dataclass
class PETSConfig(ModelBasedConfig):
    """PETS: the loss's own hyperparameter, the weight of the log-variance bound penalty."""
    logvar_bound_coef: float = 0.01    # PETS appendix A.1

    def validate(self) -> None:
        super().validate()
        _check(self.logvar_bound_coef >= 0.0, "logvar_bound_coef", self.logvar_bound_coef, "a float >= 0")


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ValueError(f"invalid {name}={value!r}: expected {expected}")


def _type_name(kind) -> str:
    """The name parse_value and apply_overrides know a field type by: "int", "float", "bool", "str",
    "list[int]"; any other type by its repr (its values are then passed through as strings)."""
    if kind in (int, float, bool, str):
        return kind.__name__
    if typing.get_origin(kind) is list and typing.get_args(kind) == (int,):
        return "list[int]"
    return kind if isinstance(kind, str) else repr(kind)


def _field_types(config_cls: type) -> dict[str, str]:
    """{field: type name} of a config dataclass, whatever its module's annotation style.

    A field's ``type`` is the class itself (``int``) in a module without ``from __future__ import
    annotations`` and the string ``"int"`` in one with it, so the annotations are resolved to types
    first (``typing.get_type_hints``, in each class's own module), then named."""
    try:
        hints = typing.get_type_hints(config_cls)
    except (NameError, TypeError) as err:
        raise TypeError(f"{config_cls.__name__}: cannot resolve its field annotations ({err}); a config field "
                        "must be annotated int, float, bool, str or list[int]") from None
    return {f.name: _type_name(hints.get(f.name, f.type)) for f in dataclasses.fields(config_cls)}


def parse_value(config_cls: type, key: str, text: str):
    """Parse the string ``text`` to the declared type of ``config_cls.key``."""
    types = _field_types(config_cls)
    if key not in types:
        raise KeyError(f"unknown key {key!r}; valid keys: {', '.join(sorted(types))}")
    kind = types[key]
    try:
        if kind == "int":
            text = text.replace("_", "")
            if "e" in text.lower() and float(text).is_integer():   # 1e5 = 100000
                return int(float(text))
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "1")
        if kind == "list[int]":
            parts = text.strip().strip("[]").split(",")
            return [int(p) for p in parts if p.strip()]
        return text
    except ValueError:
        raise ValueError(f"invalid value {text!r} for {key}: expected {kind}") from None


def apply_overrides(config: CommonConfig, values: dict) -> CommonConfig:
    """A copy of ``config`` with ``values`` (key -> already-typed value) set, then validated."""
    types = _field_types(type(config))
    values = dict(values)
    for key, value in list(values.items()):
        if key not in types:
            raise KeyError(f"unknown key {key!r}; valid keys: {', '.join(sorted(types))}")
        kind = types[key]
        expected = {"int": int, "float": (int, float), "bool": bool, "str": str, "list[int]": list}.get(kind, object)
        if not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool)):
            raise ValueError(f"invalid value {value!r} for {key}: expected {kind}")
        if kind == "float":
            if not math.isfinite(value):
                raise ValueError(f"invalid value {value!r} for {key}: expected a finite float")
            values[key] = float(value)
        if kind == "list[int]" and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"invalid value {value!r} for {key}: expected a list of ints")
    config = dataclasses.replace(config, **values)
    config.validate()
    return config
