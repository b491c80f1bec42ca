"""The networks the loops build: Q-networks, actor-critics (discrete or Gaussian), off-policy
actors and critics for Box actions (deterministic, tanh-squashed Gaussian). Their action
distributions are in :mod:`algorithms.networks.distributions`, the observation normaliser in
:mod:`algorithms.networks.normalization`.

A network builder has one signature, ``networks(spaces, config, seed) -> dict of nets``, and
the dict's names are what a loss reads (``nets["q_net"]``, ``nets["actor_critic"]``). A net
named ``X_target`` is the target copy of ``X``: the loops never optimise it and update it from
``X`` (hard copy or Polyak averaging). Everything in the dict is saved to ``model.npz``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from tinygrad_rl import Tensor, concatenate, nn, no_grad
from tinygrad_rl.arrays import spawn_seeds

from .distributions import Categorical, DiagGaussian, squashed_normal_log_prob
from .normalization import OBSERVATION_CLIP, RunningMeanStd

__all__ = ["EnvSpaces", "image_encoder",
           "q_networks", "DuelingQNet", "actor_critic_networks", "ActorCritic", "target_pairs",
           "trained_nets", "DeterministicActor", "SquashedGaussianActor", "Critics", "ScalarParameter",
           "td3_networks", "sac_networks"]


@dataclass(frozen=True)
class EnvSpaces:
    """What a network builder needs to know of an env: observation size, action space and its id.

    ``image_shape`` is (C, H, W) for image observations (a 3-D Box, channels first) and () for vectors;
    ``obs_dim`` is then C * H * W. ``image_bytes`` says the image's declared bounds lie in [0, 255], so
    integer pixel values fit a uint8 each (the replay buffer can store them compactly)."""
    obs_dim: int
    discrete: bool
    n_actions: int = 0                 # Discrete(n)
    action_low: tuple = ()             # Box: per-dimension bounds
    action_high: tuple = ()
    env_id: str | None = None          # the gymnasium id (a planner looks up the env's known reward by it)
    image_shape: tuple = ()            # (C, H, W) for image observations, () for vectors
    image_bytes: bool = False          # image bounds within [0, 255]

    @property
    def obs_shape(self) -> tuple:
        """The shape of one observation: (C, H, W) or (obs_dim,)."""
        return self.image_shape or (self.obs_dim,)

    @property
    def action_dim(self) -> int:
        return self.n_actions if self.discrete else len(self.action_low)

    @classmethod
    def of(cls, env: gym.Env) -> "EnvSpaces":
        obs_space, action_space = env.observation_space, env.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"expected a Box observation space (a vector of floats), got {obs_space}; "
                             "wrap discrete observations (envs_wrappers.OneHotObservation)")
        if len(obs_space.shape) not in (1, 3):
            raise ValueError(f"expected a Box observation space of vectors (n,) or channels-first images "
                             f"(C, H, W), got shape {obs_space.shape} ({obs_space})")
        obs_dim = int(np.prod(obs_space.shape))
        env_id = env.spec.id if env.spec is not None else None
        image = {}
        if len(obs_space.shape) == 3:
            image = {"image_shape": tuple(int(n) for n in obs_space.shape),
                     "image_bytes": bool(np.all(obs_space.low >= 0) and np.all(obs_space.high <= 255))}
        if isinstance(action_space, gym.spaces.Discrete):
            return cls(obs_dim, True, n_actions=int(action_space.n), env_id=env_id, **image)
        if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise ValueError(f"expected a Box action space with finite bounds, got {action_space}")
            return cls(obs_dim, False, action_low=tuple(low), action_high=tuple(high), env_id=env_id, **image)
        raise ValueError(f"expected a Discrete or a 1-d Box action space, got {action_space}")


def target_pairs(nets: dict) -> list[tuple[str, str]]:
    """(target name, online name) for every ``X_target`` in ``nets``."""
    return [(name, name[: -len("_target")]) for name in nets
            if name.endswith("_target") and name[: -len("_target")] in nets]


def trained_nets(nets: dict) -> list[str]:
    """Names of the nets a loop optimises: those with parameters that are not targets."""
    return [name for name, net in nets.items()
            if not name.endswith("_target") and isinstance(net, nn.Module) and net.parameters()]


# ----------------------------------------------------------------------------- image observations


def image_encoder(spaces: EnvSpaces, config, seed: int) -> tuple[nn.Sequential | None, int]:
    """(encoder, feature size) for the observations of ``spaces``: for images (C, H, W), a convolution of
    ``config.conv_channels`` filters of ``config.conv_kernel`` x ``config.conv_kernel`` (stride 1, no
    padding, PyTorch's init), a ReLU and a flatten; for vectors, no encoder and the vector's size.

    With the defaults (16 filters 3x3) and ``hidden = [128]`` a network is MinAtar's (Young & Tian 2019,
    ``examples/dqn.py``): conv 16 3x3 -> ReLU -> flatten -> 128 -> ReLU -> outputs.
    """
    if not spaces.image_shape:
        return None, spaces.obs_dim
    channels, height, width = spaces.image_shape
    k, filters = config.conv_kernel, config.conv_channels
    if k > min(height, width):
        raise ValueError(f"conv_kernel={k} is larger than the observation's image of shape {spaces.image_shape} "
                         "(C, H, W); use a kernel of at most min(H, W)")
    conv = nn.Conv2d(channels, filters, k, rng=seed)
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten()), filters * (height - k + 1) * (width - k + 1)


def _check_vector_observations(spaces: EnvSpaces, who: str) -> None:
    if spaces.image_shape:
        raise ValueError(f"{who} take vector observations; this env gives images of shape {spaces.image_shape} "
                         "(the DQN family, a2c and ppo take images)")


# ----------------------------------------------------------------------------- Q-networks


class DuelingQNet(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - (1/|A|) sum_a' A(s, a')  (Wang et al. 2016, "Dueling Network
    Architectures for Deep RL", eq. 9).

    A shared trunk (the hidden layers, each followed by the activation) feeds two linear streams:
    the state value V(s) (one output) and the advantages A(s, .) (one per action). Subtracting the
    mean advantage makes V and A identifiable (adding c to V and -c to A would otherwise give the
    same Q) and leaves argmax_a Q = argmax_a A. Wang et al. give each stream a hidden layer of its
    own on top of Atari's convolutional features; on these small MLPs the streams are the two
    output layers, so a dueling net costs what the plain MLP of the same ``hidden`` costs.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden, activation: str = "relu", seed: int = 0,
                 dtype=np.float32, encoder: nn.Sequential | None = None):
        hidden = list(hidden)
        if not hidden:
            raise ValueError("DuelingQNet: hidden needs at least one layer for the shared trunk")
        trunk_seed, value_seed, advantage_seed = spawn_seeds(seed, 3)
        mlp = nn.MLP([obs_dim, *hidden], activation=activation, rng=trunk_seed, dtype=dtype)
        # With an image encoder, ``obs_dim`` is its feature size and the encoder starts the trunk.
        first = [] if encoder is None else encoder.layers
        self.trunk = nn.Sequential(*first, *mlp.layers, nn.activation(activation))
        self.value = nn.Linear(hidden[-1], 1, rng=value_seed, dtype=dtype)
        self.advantage = nn.Linear(hidden[-1], n_actions, rng=advantage_seed, dtype=dtype)

    def forward(self, obs: Tensor) -> Tensor:
        features = self.trunk(obs)
        advantages = self.advantage(features)
        return self.value(features) + advantages - advantages.mean(axis=1, keepdims=True)


def q_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``q_net`` (observation -> one value per action: an MLP, or a :class:`DuelingQNet` with
    ``config.dueling``; for image observations both start with :func:`image_encoder`) and its
    ``q_net_target`` copy."""
    if not spaces.discrete:
        raise ValueError("Q-networks need a Discrete action space (one output per action); "
                         "use an actor-critic algorithm for Box actions")
    # A vector network is seeded with ``seed`` itself (as before images were taken).
    encoder_seed, head_seed = spawn_seeds(seed, 2) if spaces.image_shape else (None, seed)

    def encoder():
        return image_encoder(spaces, config, encoder_seed)
    if getattr(config, "dueling", False):
        def build():
            conv, features = encoder()
            return DuelingQNet(features, spaces.n_actions, config.hidden, config.activation, head_seed,
                               encoder=conv)
    else:
        def build():
            conv, features = encoder()
            mlp = nn.MLP([features, *config.hidden, spaces.n_actions], activation=config.activation, rng=head_seed)
            return mlp if conv is None else nn.Sequential(*conv.layers, *mlp.layers)
    q_net, target = build(), build()
    nn.copy_params(target, q_net)
    return {"q_net": q_net, "q_net_target": target}


# ----------------------------------------------------------------------------- policies


class ActorCritic(nn.Module):
    """A policy pi_theta(a | s) and a value V_phi(s), as two MLPs or one shared trunk with two heads.

    ``forward(obs) -> (policy output, V(s))``: logits for Discrete actions, the Gaussian mean for
    Box actions. ``evaluate(obs, actions) -> (log pi(a|s), entropy, V(s))`` is what losses use.
    Orthogonal init with gain sqrt 2, a policy head of gain 0.01 (a near-uniform start) and a value
    head of gain 1 (Andrychowicz et al. 2021, "What Matters in On-Policy RL", sec. 3.2).
    """

    def __init__(self, spaces: EnvSpaces, hidden, activation: str = "tanh", shared_trunk: bool = False,
                 log_std_init: float = 0.0, seed: int = 0, config=None):
        # (spawn_seeds gives the same first three seeds whatever n: vector networks are as before)
        trunk_seed, policy_seed, value_seed, *encoder_seeds = spawn_seeds(seed, 5)
        hidden = list(hidden)
        out = spaces.action_dim
        self.shared_trunk = bool(shared_trunk)
        # Image observations: each MLP below starts with an image encoder (``config`` sets its conv).
        (first, in_dim), (second, _) = (image_encoder(spaces, config, s) for s in encoder_seeds)
        if self.shared_trunk:
            # The trunk ends in an activation; the heads are single linear layers on its features.
            mlp = nn.MLP([in_dim, *hidden], activation=activation, init="orthogonal",
                         gain=math.sqrt(2), rng=trunk_seed)
            self.trunk = _after(first, nn.Sequential(*mlp.layers, nn.activation(activation)))
            self.policy_head = nn.Linear(hidden[-1], out, init="orthogonal", gain=0.01, rng=policy_seed)
            self.value_head = nn.Linear(hidden[-1], 1, init="orthogonal", gain=1.0, rng=value_seed)
        else:
            self.policy = _after(first, nn.MLP([in_dim, *hidden, out], activation=activation, init="orthogonal",
                                               gain=math.sqrt(2), output_gain=0.01, rng=policy_seed))
            self.value = _after(second, nn.MLP([in_dim, *hidden, 1], activation=activation, init="orthogonal",
                                               gain=math.sqrt(2), output_gain=1.0, rng=value_seed))
        if spaces.discrete:
            self.dist = Categorical()
        else:
            self.log_std = Tensor(np.full(out, log_std_init, dtype=np.float32), requires_grad=True)
            self.dist = DiagGaussian(self.log_std, np.asarray(spaces.action_low), np.asarray(spaces.action_high))

    def policy_output(self, obs: Tensor) -> Tensor:
        if self.shared_trunk:
            return self.policy_head(self.trunk(obs))
        return self.policy(obs)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        if self.shared_trunk:
            features = self.trunk(obs)
            return self.policy_head(features), self.value_head(features).reshape(-1)
        return self.policy(obs), self.value(obs).reshape(-1)

    def evaluate(self, obs: Tensor, actions) -> tuple[Tensor, Tensor, Tensor]:
        """(log pi(a_t | s_t), H[pi(. | s_t)], V(s_t)) for a batch; the entropy may be 0-d (Gaussian)."""
        out, values = self(obs)
        return self.dist.log_prob(out, actions), self.dist.entropy(out), values

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sampled actions for a batch of (normalised) observations, as the policy drew them."""
        with no_grad():
            out = self.policy_output(Tensor(np.asarray(obs, dtype=np.float32))).data
        return self.dist.sample(out, rng)

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        with no_grad():
            out = self.policy_output(Tensor(np.asarray(obs, dtype=np.float32))).data
        return self.dist.mode(out)


def _after(encoder: nn.Sequential | None, net: nn.Sequential) -> nn.Sequential:
    """``net``, preceded by the layers of ``encoder`` when there is one."""
    return net if encoder is None else nn.Sequential(*encoder.layers, *net.layers)


def actor_critic_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``actor_critic`` (see :class:`ActorCritic`; for image observations its networks start with
    :func:`image_encoder`) and, with ``normalize_observations``, the ``obs_normalizer`` whose
    statistics are saved with the weights."""
    nets = {"actor_critic": ActorCritic(spaces, config.hidden, config.activation,
                                        getattr(config, "shared_trunk", False),
                                        getattr(config, "log_std_init", 0.0), seed, config)}
    if getattr(config, "normalize_observations", False):
        nets["obs_normalizer"] = RunningMeanStd(spaces.obs_shape, clip=OBSERVATION_CLIP)
    return nets


# ----------------------------------------------------------------------------- off-policy actor-critics
#
# The actors act in the box [-1, 1]^|A|: the replay buffer stores those actions and the critics
# read them, whatever the env's bounds; ``to_env`` maps them affinely onto [low, high] when the
# env is stepped. Both actors offer ``explore`` (the behaviour policy, used while training) and
# ``act_deterministic`` (the evaluation policy), on NumPy batches under ``no_grad``.


class _BoxActor(nn.Module):
    """What both actors share: the env's action bounds and the map from [-1, 1] onto them."""

    def __init__(self, spaces: EnvSpaces):
        _check_vector_observations(spaces, "the Box-action actor-critics (td3, ddpg, sac)")
        if spaces.discrete:
            raise ValueError("an off-policy actor-critic for Box actions needs a Box action space; "
                             "use dqn or double_dqn for Discrete actions")
        # Plain arrays, not parameters: the bounds are never trained and not saved.
        self.low = np.asarray(spaces.action_low, dtype=np.float64)
        self.high = np.asarray(spaces.action_high, dtype=np.float64)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """a_env = low + (a + 1) (high - low) / 2 for a in [-1, 1]^|A| (as float32, the Box dtype)."""
        return (self.low + (np.asarray(actions) + 1.0) * 0.5 * (self.high - self.low)).astype(np.float32)

    def _forward_numpy(self, obs: np.ndarray):
        with no_grad():
            return self(Tensor(np.asarray(obs, dtype=np.float32)))


class DeterministicActor(_BoxActor):
    """mu_phi(s) = tanh(MLP(s)) in [-1, 1]^|A|: the deterministic policy of DDPG and TD3.

    Exploring, it acts clip(mu(s) + N(0, exploration_noise^2), -1, 1): Gaussian noise whose std is
    a fraction of half the action range once mapped to the env (Fujimoto et al. 2018, sec. 6.1,
    use N(0, 0.1) with the bounds scaled to [-1, 1]; the clip keeps the action inside the box).
    """

    def __init__(self, spaces: EnvSpaces, hidden, activation: str = "relu", exploration_noise: float = 0.1,
                 seed: int = 0):
        super().__init__(spaces)
        self.net = nn.MLP([spaces.obs_dim, *hidden, spaces.action_dim], activation=activation, rng=seed)
        self.exploration_noise = float(exploration_noise)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs).tanh()

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        return self._forward_numpy(obs).data

    def explore(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu = self.act_deterministic(obs)
        return np.clip(mu + self.exploration_noise * rng.standard_normal(mu.shape), -1.0, 1.0).astype(np.float32)


class SquashedGaussianActor(_BoxActor):
    """pi_phi(a | s): a = tanh(u), u ~ N(mu_phi(s), diag sigma_phi(s)^2), the SAC policy.

    One MLP outputs (mu, log sigma) for each action dimension; log sigma is clipped to
    [LOG_STD_MIN, LOG_STD_MAX] = [-20, 2] (as the reference implementations do, so sigma can
    neither vanish nor blow up). ``sample(obs, eps)`` is the reparameterised draw
    a = tanh(mu + sigma * eps) with its log-probability (Haarnoja et al. 2018b, eq. 8 and
    appendix C); the evaluation policy is the mean action tanh(mu).
    """

    LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

    def __init__(self, spaces: EnvSpaces, hidden, activation: str = "relu", seed: int = 0):
        super().__init__(spaces)
        self.action_dim = spaces.action_dim
        self.net = nn.MLP([spaces.obs_dim, *hidden, 2 * spaces.action_dim], activation=activation, rng=seed)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(mu(s), log sigma(s)), each of shape (batch, |A|)."""
        out = self.net(obs)
        n = self.action_dim
        return out[:, :n], out[:, n:].clip(self.LOG_STD_MIN, self.LOG_STD_MAX)

    def sample(self, obs: Tensor, eps: np.ndarray) -> tuple[Tensor, Tensor]:
        """(a, log pi(a | s)) for a = tanh(mu(s) + sigma(s) * eps), eps ~ N(0, I) given: a
        differentiable function of the parameters (the reparameterisation trick)."""
        mean, log_std = self(obs)
        u = mean + log_std.exp() * np.asarray(eps, dtype=mean.dtype)
        return u.tanh(), squashed_normal_log_prob(mean, log_std, u)

    def act_deterministic(self, obs: np.ndarray) -> np.ndarray:
        return np.tanh(self._forward_numpy(obs)[0].data)

    def explore(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean, log_std = (t.data for t in self._forward_numpy(obs))
        return np.tanh(mean + np.exp(log_std) * rng.standard_normal(mean.shape)).astype(np.float32)


class Critics(nn.Module):
    """n Q-functions Q_i(s, a), each an MLP of the concatenated (s, a); ``forward`` returns the
    list [Q_1(s, a), ..., Q_n(s, a)] of (batch,) Tensors. ``a`` is in the actor's [-1, 1] scale.
    Two give TD3's and SAC's clipped double Q (Fujimoto et al. 2018, sec. 4.2)."""

    def __init__(self, spaces: EnvSpaces, hidden, n: int = 2, activation: str = "relu", seed: int = 0):
        sizes = [spaces.obs_dim + spaces.action_dim, *hidden, 1]
        self.q = [nn.MLP(sizes, activation=activation, rng=s) for s in spawn_seeds(seed, n)]

    def forward(self, obs, actions) -> list[Tensor]:
        x = concatenate([obs, actions], axis=-1)
        return [q(x).reshape(-1) for q in self.q]

    def first(self, obs, actions) -> Tensor:
        """Q_1(s, a) alone (TD3's and DDPG's actor term reads only the first critic)."""
        return self.q[0](concatenate([obs, actions], axis=-1)).reshape(-1)


class ScalarParameter(nn.Module):
    """One trainable number, e.g. SAC's log alpha; ``forward()`` returns it as a 0-d Tensor."""

    def __init__(self, value: float):
        self.value = Tensor(np.asarray(value, dtype=np.float32), requires_grad=True)

    def forward(self) -> Tensor:
        return self.value


def _critic_and_target(spaces: EnvSpaces, config, seed: int) -> dict:
    critic = Critics(spaces, config.hidden, config.n_critics, config.activation, seed)
    target = Critics(spaces, config.hidden, config.n_critics, config.activation, seed)
    nn.copy_params(target, critic)
    return {"critic": critic, "critic_target": target}


def td3_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``actor`` (a :class:`DeterministicActor`), ``critic`` (``n_critics`` Q-functions) and their
    ``actor_target`` and ``critic_target`` copies: TD3's and DDPG's networks."""
    actor_seed, critic_seed = spawn_seeds(seed, 2)
    actor = DeterministicActor(spaces, config.hidden, config.activation,
                               getattr(config, "exploration_noise", 0.1), actor_seed)
    actor_target = DeterministicActor(spaces, config.hidden, config.activation, 0.0, actor_seed)
    nn.copy_params(actor_target, actor)
    return {"actor": actor, "actor_target": actor_target, **_critic_and_target(spaces, config, critic_seed)}


def sac_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``actor`` (a :class:`SquashedGaussianActor`), ``critic`` (``n_critics`` Q-functions), its
    ``critic_target`` copy and ``log_alpha`` (a :class:`ScalarParameter`, log of ``alpha_init``)."""
    actor_seed, critic_seed = spawn_seeds(seed, 2)
    return {"actor": SquashedGaussianActor(spaces, config.hidden, config.activation, actor_seed),
            **_critic_and_target(spaces, config, critic_seed),
            "log_alpha": ScalarParameter(math.log(config.alpha_init))}
