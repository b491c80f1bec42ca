"""The off-policy loop for Discrete actions: epsilon-greedy acting into a replay buffer (uniform or
prioritized, n-step), updates on sampled batches, target networks (DQN and its family)."""
from __future__ import annotations

import numpy as np

from envs_wrappers.registry import make_plain_env
from tinygrad_rl import nn
from tinygrad_rl.arrays import linear_schedule

from ..buffers import PrioritizedReplayBuffer, ReplayBuffer
from ..configs import OffPolicyConfig
from ..losses import TD_ERROR
from ..networks import EnvSpaces, target_pairs
from ..runs.resume import LoopState
from .actors import q_greedy_actor
from .training_run import TrainingRun

__all__ = ["replay_buffer", "replay_capacity", "replay_obs_dtype", "train_off_policy"]


def replay_buffer(config: OffPolicyConfig, obs_shape: tuple, capacity: int | None = None,
                  obs_dtype=np.float32) -> ReplayBuffer:
    """The off-policy loop's buffer: uniform or prioritized (``config.prioritized``), storing
    ``config.n_step``-step transitions discounted with ``config.gamma``; ``capacity`` transitions
    (default :func:`replay_capacity`), observations as ``obs_dtype`` (:func:`replay_obs_dtype`)."""
    capacity = replay_capacity(config) if capacity is None else capacity
    if config.prioritized:
        return PrioritizedReplayBuffer(capacity, obs_shape, obs_dtype, n_step=config.n_step, gamma=config.gamma,
                                       alpha=config.priority_alpha, eps=config.priority_eps)
    return ReplayBuffer(capacity, obs_shape, obs_dtype, n_step=config.n_step, gamma=config.gamma)


def replay_obs_dtype(config, spaces: EnvSpaces) -> type:
    """How the replay buffer stores observations: ``config.obs_storage`` (float32 or uint8), or for
    ``auto`` uint8 when they are images whose declared bounds lie in [0, 255] (MinAtar's 0/1 frames:
    a quarter of the memory; a non-integer value is refused when added), float32 otherwise. A config
    without the field (the Box-action loops) stores float32."""
    storage = getattr(config, "obs_storage", "float32")
    if storage == "auto":
        return np.uint8 if spaces.image_shape and spaces.image_bytes else np.float32
    return np.uint8 if storage == "uint8" else np.float32


def train_off_policy(run: TrainingRun) -> int:
    """Replay-based loop: epsilon-greedy acting on ``nets["q_net"]`` into a replay buffer;
    ``gradient_steps`` updates every ``train_freq`` env steps once ``learning_starts`` have passed,
    each on a :class:`~algorithms.buffers.Transitions` batch of ``batch_size`` rows; every
    ``X_target`` net copied from ``X`` (tau = 1) or Polyak-averaged every ``target_update_interval``
    env steps. Returns env steps taken.

    The batch always carries ``discounts`` (gamma^n, 0 after a termination; n = ``n_step``). With
    ``prioritized`` it is drawn by :class:`~algorithms.buffers.PrioritizedReplayBuffer` with
    importance ``weights`` (beta annealed linearly from ``priority_beta_start`` to 1 over the run),
    and the loss must return a ``td_error`` array (:data:`algorithms.losses.TD_ERROR`) among its terms
    (a per-row output, not logged): the loop sets the sampled rows' priorities to |td_error| + eps.

    Resuming keeps the buffer whole (its rows, the steps waiting in the n-step window, the
    priorities); the episode the checkpoint interrupted cannot continue, so its waiting steps are
    stored as cut by a time limit (:meth:`~algorithms.buffers.ReplayBuffer.cut_episode`)."""
    c: OffPolicyConfig = run.config
    if not run.spaces.discrete:
        raise ValueError(f"{run.algo} acts epsilon-greedily on Q-values and needs a Discrete action space; "
                         f"{run.env_id} has Box actions")
    act_greedy = q_greedy_actor(run.nets)
    targets = target_pairs(run.nets)
    env = make_plain_env(run.env_id)
    env.action_space.seed(run.env_seed)
    buffer = run.keep("replay", replay_buffer(c, env.observation_space.shape,
                                              obs_dtype=replay_obs_dtype(c, run.spaces)))
    if run.resumed:
        buffer.cut_episode()    # the interrupted episode's env is gone: its last steps end it, truncated
    loop = run.keep("loop", LoopState(step=0, last_loss=None))
    epsilon = linear_schedule(c.epsilon_start, c.epsilon_end, max(1, int(c.exploration_fraction * c.total_steps)))
    beta = linear_schedule(c.priority_beta_start, 1.0, c.total_steps)
    obs, _ = env.reset(seed=run.reset_seed)
    episode_return, episode_length, last_loss, step = 0.0, 0, loop.last_loss, loop.step
    try:
        for step in range(loop.step + 1, c.total_steps + 1):
            eps = epsilon(step)
            if step <= c.learning_starts or run.rng.random() < eps:
                action = int(run.rng.integers(run.spaces.n_actions))
            else:
                action = act_greedy(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            episode_return += float(reward)
            episode_length += 1
            obs = next_obs
            if terminated or truncated:
                run.episode_done(step, episode_return, episode_length, loss=last_loss, epsilon=round(eps, 4))
                run.flush_terms(step)
                obs, _ = env.reset()
                episode_return, episode_length = 0.0, 0
            if step > c.learning_starts and len(buffer) > 0:
                if step % c.train_freq == 0:
                    for _ in range(c.gradient_steps):
                        batch = buffer.sample(c.batch_size, run.rng, beta=beta(step))
                        loss, terms = run.learn(step, batch)
                        last_loss = round(loss, 6)
                        if c.prioritized:
                            td_error = terms.get(TD_ERROR)
                            if td_error is None:
                                raise ValueError(f"{run.algo}: prioritized replay needs the loss to return the "
                                                 f"per-row TD errors as terms[{TD_ERROR!r}] (see td_loss)")
                            buffer.update_priorities(batch.indices, td_error)
                if step % c.target_update_interval == 0:
                    for target, online in targets:
                        nn.polyak_update(run.nets[target], run.nets[online], c.tau)
            run.advance(step, 1)
            loop.step, loop.last_loss = step, last_loss
            run.safe_point(step, episode_boundary=episode_length == 0)
    finally:
        env.close()
    return step


def replay_capacity(config: OffPolicyConfig) -> int:
    """Transitions the replay buffer allocates: ``buffer_size``, or ``total_steps`` when fewer
    (a run never stores more, and sampling only ever sees the stored rows)."""
    return min(config.buffer_size, config.total_steps)


def replay_nbytes(config, spaces: EnvSpaces) -> int:
    """Bytes the replay buffer of ``config`` on an env of ``spaces`` takes when full, without allocating
    it: :func:`replay_capacity` rows of observations stored as :func:`replay_obs_dtype`, Discrete
    actions one int64 a row, Box actions one float32 per dimension."""
    actions = {} if spaces.discrete else {"action_shape": (spaces.action_dim,), "action_dtype": np.float32}
    return ReplayBuffer.nbytes(replay_capacity(config), spaces.obs_shape, replay_obs_dtype(config, spaces), **actions)

