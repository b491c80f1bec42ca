"""The networks the loops build: Q-networks, actor-critics (discrete or Gaussian), normalisers.

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

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, nn, no_grad
from tinygrad_rl.arrays import spawn_seeds

from .rollout import sample_categorical

__all__ = ["EnvSpaces", "q_networks", "DuelingQNet", "actor_critic_networks", "ActorCritic", "Categorical",
           "DiagGaussian", "RunningMeanStd", "target_pairs", "trained_nets", "observe"]


@dataclass(frozen=True)
class EnvSpaces:
    """What a network builder needs to know of an env: observation size, action space and its id."""
    obs_dim: int
    discrete: bool
    n_actions: int = 0                 # Discrete(n)
    action_low: tuple = ()             # Box: per-dimension bounds
    action_high: tuple = ()
    env_id: str | None = None          # the gymnasium id (a planner looks up the env's known reward by it)

    @property
    def action_dim(self) -> int:
        return self.n_actions if self.discrete else len(self.action_low)

    @classmethod
    def of(cls, env: gym.Env) -> "EnvSpaces":
        obs_space, action_space = env.observation_space, env.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"expected a Box observation space (a vector of floats), got {obs_space}; "
                             "wrap discrete observations (envs_wrappers.OneHotObservation)")
        obs_dim = int(np.prod(obs_space.shape))
        env_id = env.spec.id if env.spec is not None else None
        if isinstance(action_space, gym.spaces.Discrete):
            return cls(obs_dim, True, n_actions=int(action_space.n), env_id=env_id)
        if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise ValueError(f"expected a Box action space with finite bounds, got {action_space}")
            return cls(obs_dim, False, action_low=tuple(low), action_high=tuple(high), env_id=env_id)
        raise ValueError(f"expected a Discrete or a 1-d Box action space, got {action_space}")


def target_pairs(nets: dict) -> list[tuple[str, str]]:
    """(target name, online name) for every ``X_target`` in ``nets``."""
    return [(name, name[: -len("_target")]) for name in nets
            if name.endswith("_target") and name[: -len("_target")] in nets]


def trained_nets(nets: dict) -> list[str]:
    """Names of the nets a loop optimises: those with parameters that are not targets."""
    return [name for name, net in nets.items()
            if not name.endswith("_target") and isinstance(net, nn.Module) and net.parameters()]


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
                 dtype=np.float32):
        hidden = list(hidden)
        if not hidden:
            raise ValueError("DuelingQNet: hidden needs at least one layer for the shared trunk")
        trunk_seed, value_seed, advantage_seed = spawn_seeds(seed, 3)
        mlp = nn.MLP([obs_dim, *hidden], activation=activation, rng=trunk_seed, dtype=dtype)
        self.trunk = nn.Sequential(*mlp.layers, nn.Tanh() if activation == "tanh" else nn.ReLU())
        self.value = nn.Linear(hidden[-1], 1, rng=value_seed, dtype=dtype)
        self.advantage = nn.Linear(hidden[-1], n_actions, rng=advantage_seed, dtype=dtype)

    def forward(self, obs: Tensor) -> Tensor:
        features = self.trunk(obs)
        advantages = self.advantage(features)
        return self.value(features) + advantages - advantages.mean(axis=1, keepdims=True)


def q_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``q_net`` (observation -> one value per action: an MLP, or a :class:`DuelingQNet` with
    ``config.dueling``) and its ``q_net_target`` copy."""
    if not spaces.discrete:
        raise ValueError("Q-networks need a Discrete action space (one output per action); "
                         "use an actor-critic algorithm for Box actions")
    if getattr(config, "dueling", False):
        def build():
            return DuelingQNet(spaces.obs_dim, spaces.n_actions, config.hidden, config.activation, seed)
    else:
        sizes = [spaces.obs_dim, *config.hidden, spaces.n_actions]

        def build():
            return nn.MLP(sizes, activation=config.activation, rng=seed)
    q_net, target = build(), build()
    nn.copy_params(target, q_net)
    return {"q_net": q_net, "q_net_target": target}


# ----------------------------------------------------------------------------- policies


class Categorical:
    """pi(a | s) = softmax(logits)[a] over a Discrete action space."""

    def log_prob(self, logits: Tensor, actions) -> Tensor:
        return F.categorical_log_prob(logits, np.asarray(actions, dtype=np.int64))

    def entropy(self, logits: Tensor) -> Tensor:
        return F.categorical_entropy(logits)

    def sample(self, logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return sample_categorical(logits, rng)

    def mode(self, logits: np.ndarray) -> np.ndarray:
        return np.argmax(logits, axis=-1)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return actions


class DiagGaussian:
    """pi(a | s) = N(a; mu(s), diag sigma^2) with a state-independent log sigma parameter.

    log pi(a | s) = sum_i log N(a_i; mu_i, sigma_i^2); H = sum_i (1/2 + log(2 pi)/2 + log sigma_i).
    The env receives the sample clipped to the action bounds; the log-prob is of the unclipped
    sample (the one the policy drew), as in Stable-Baselines3 and CleanRL.
    """

    def __init__(self, log_std: Tensor, low: np.ndarray, high: np.ndarray):
        self.log_std, self.low, self.high = log_std, low, high

    def log_prob(self, mean: Tensor, actions) -> Tensor:
        actions = np.asarray(actions, dtype=mean.dtype)
        if actions.shape != mean.shape:
            raise ValueError(f"DiagGaussian.log_prob: actions shape {actions.shape} != mean shape {mean.shape}")
        return F.normal_log_prob(mean, self.log_std, actions).sum(axis=-1)

    def entropy(self, mean: Tensor) -> Tensor:
        """The entropy, the same for every state (sigma does not depend on s): a 0-d Tensor."""
        return F.normal_entropy(self.log_std).sum()

    def sample(self, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return mean + np.exp(self.log_std.data) * rng.standard_normal(mean.shape)

    def mode(self, mean: np.ndarray) -> np.ndarray:
        return mean

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return np.clip(actions, self.low, self.high)


class ActorCritic(nn.Module):
    """A policy pi_theta(a | s) and a value V_phi(s), as two MLPs or one shared trunk with two heads.

    ``forward(obs) -> (policy output, V(s))``: logits for Discrete actions, the Gaussian mean for
    Box actions. ``evaluate(obs, actions) -> (log pi(a|s), entropy, V(s))`` is what losses use.
    Orthogonal init with gain sqrt 2, a policy head of gain 0.01 (a near-uniform start) and a value
    head of gain 1 (Andrychowicz et al. 2021, "What Matters in On-Policy RL", sec. 3.2).
    """

    def __init__(self, spaces: EnvSpaces, hidden, activation: str = "tanh", shared_trunk: bool = False,
                 log_std_init: float = 0.0, seed: int = 0):
        trunk_seed, policy_seed, value_seed = spawn_seeds(seed, 3)
        hidden = list(hidden)
        out = spaces.action_dim
        self.shared_trunk = bool(shared_trunk)
        if self.shared_trunk:
            # The trunk ends in an activation; the heads are single linear layers on its features.
            mlp = nn.MLP([spaces.obs_dim, *hidden], activation=activation, init="orthogonal",
                         gain=math.sqrt(2), rng=trunk_seed)
            self.trunk = nn.Sequential(*mlp.layers, nn.Tanh() if activation == "tanh" else nn.ReLU())
            self.policy_head = nn.Linear(hidden[-1], out, init="orthogonal", gain=0.01, rng=policy_seed)
            self.value_head = nn.Linear(hidden[-1], 1, init="orthogonal", gain=1.0, rng=value_seed)
        else:
            self.policy = nn.MLP([spaces.obs_dim, *hidden, out], activation=activation, init="orthogonal",
                                 gain=math.sqrt(2), output_gain=0.01, rng=policy_seed)
            self.value = nn.MLP([spaces.obs_dim, *hidden, 1], activation=activation, init="orthogonal",
                                gain=math.sqrt(2), output_gain=1.0, rng=value_seed)
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


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al. 1979, parallel update).

    ``normalize(x) = (x - mean) / sqrt(var + eps)``. Its state (mean, var, count) goes into
    ``model.npz`` with the weights, so evaluation normalises exactly as training ended.
    """

    def __init__(self, shape: tuple = (), eps: float = 1e-8):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = np.array(1e-4)     # a tiny prior count keeps the first update finite
        self.eps = eps

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, *self.mean.shape)
        if x.shape[0] == 0:
            return
        batch_mean, batch_var, n = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.var, self.count = m2 / total, np.array(total)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / np.sqrt(self.var + self.eps)).astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.asarray(self.count, dtype=np.float64)}

    def load_state_dict(self, state: dict) -> None:
        missing = {"mean", "var", "count"} - set(state)
        if missing:
            raise ValueError(f"RunningMeanStd.load_state_dict: missing keys {sorted(missing)}")
        mean, var = np.asarray(state["mean"], np.float64), np.asarray(state["var"], np.float64)
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(f"RunningMeanStd.load_state_dict: shapes {mean.shape}, {var.shape} != {self.mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)):
            raise ValueError("RunningMeanStd.load_state_dict: mean/var must be finite and var >= 0")
        self.mean, self.var = mean, var
        self.count = np.asarray(state["count"], np.float64)


def actor_critic_networks(spaces: EnvSpaces, config, seed: int) -> dict:
    """``actor_critic`` (see :class:`ActorCritic`) and, with ``normalize_observations``, the
    ``obs_normalizer`` whose statistics are saved with the weights."""
    nets = {"actor_critic": ActorCritic(spaces, config.hidden, config.activation,
                                        getattr(config, "shared_trunk", False),
                                        getattr(config, "log_std_init", 0.0), seed)}
    if getattr(config, "normalize_observations", False):
        nets["obs_normalizer"] = RunningMeanStd((spaces.obs_dim,))
    return nets


def observe(nets: dict, obs: np.ndarray, update: bool = True) -> np.ndarray:
    """Observations as the networks see them: normalised (and the statistics updated with
    ``update``) when ``nets`` has an ``obs_normalizer``, else as float32."""
    normalizer = nets.get("obs_normalizer")
    if normalizer is None:
        return np.asarray(obs, dtype=np.float32)
    if update:
        normalizer.update(obs)
    return normalizer.normalize(obs)
