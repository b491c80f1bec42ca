"""Deep RL algorithms as loss functions over the engine's Tensor.

Every loss has one contract::

    loss(batch, nets, config) -> (scalar Tensor, {term name: scalar Tensor})

``batch`` is what the algorithm's loop collected, ``nets`` the dict of its networks and
``config`` its config dataclass, from which the loss reads its own hyperparameters. The terms
are logged by name, and a trainer can say which one went non-finite. Targets are built
without a graph (stop-gradient); only the online networks receive gradients.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, no_grad

from .buffers import ContinuousTransitions, Episodes, Rollout, Transitions, bootstrap_discounts

__all__ = ["TD_ERROR", "dqn_targets", "double_dqn_targets", "td_loss", "dqn_loss", "double_dqn_loss",
           "reinforce_loss", "a2c_loss", "ppo_loss", "standardize", "td3_targets", "td3_loss", "sac_targets",
           "sac_loss"]

_TD_PENALTIES = ("huber", "mse")

#: Name under which the TD losses return their per-row TD errors (a NumPy array, not a logged
#: term); the off-policy loop pops it from the terms and sends |TD error| back as priorities.
TD_ERROR = "td_error"


def dqn_targets(batch: Transitions, target_net, gamma: float) -> np.ndarray:
    """y = R + d * max_a' Q_target(s', a'), with R the (n-step) reward and d the row's discount.

    One-step rows: d = gamma * (1 - terminated). n-step rows carry d = gamma^n, 0 after a
    termination (``batch.discounts``). Truncated rows bootstrap (the state still had a future);
    terminated ones do not.
    """
    with no_grad():
        next_q = target_net(Tensor(batch.next_obs)).data
    return batch.rewards + bootstrap_discounts(batch, gamma) * next_q.max(axis=1)


def double_dqn_targets(batch: Transitions, q_net, target_net, gamma: float) -> np.ndarray:
    """y = R + d * Q_target(s', argmax_a' Q_online(s', a')), R and d as in :func:`dqn_targets`.

    The online network selects the action and the target network evaluates it, which
    removes the max operator's upward bias (van Hasselt et al. 2016, "Deep RL with Double
    Q-learning", eq. 4).
    """
    with no_grad():
        best = q_net(Tensor(batch.next_obs)).data.argmax(axis=1)
        next_q = target_net(Tensor(batch.next_obs)).data
    rows = np.arange(len(batch))
    return batch.rewards + bootstrap_discounts(batch, gamma) * next_q[rows, best]


def td_loss(batch: Transitions, q_net, targets: np.ndarray, penalty: str = "huber"):
    """The weighted TD loss every DQN-family algorithm shares:

        L = (1/B) sum_i w_i rho(Q(s_i, a_i) - y_i)

    rho is the Huber function (delta = 1) or the square; w_i are the importance-sampling weights
    of prioritized replay (``batch.weights``; all 1 for uniform replay, when L is the plain mean).
    Besides the logged term ``td`` (= L) the terms hold ``td_error``: the per-row TD errors
    y_i - Q(s_i, a_i) as a new NumPy array on every call (no graph, not logged), which the
    off-policy loop turns into new priorities |td_error| + eps.
    """
    if penalty not in _TD_PENALTIES:
        raise ValueError(f"TD penalty must be one of {_TD_PENALTIES}, got {penalty!r}")
    q = q_net(Tensor(batch.obs))
    q_taken = q[np.arange(len(batch)), batch.actions]
    targets = np.asarray(targets).astype(q.dtype, copy=False)
    if targets.shape != q_taken.shape:
        raise ValueError(f"td_loss: targets shape {targets.shape} != Q(s, a) shape {q_taken.shape}")
    d = q_taken - targets
    per_row = F.huber(d) if penalty == "huber" else d * d
    if batch.weights is not None:
        weights = np.asarray(batch.weights).astype(q.dtype, copy=False)
        if weights.shape != per_row.shape:
            raise ValueError(f"td_loss: weights shape {weights.shape} != batch shape {per_row.shape}")
        per_row = per_row * weights
    loss = per_row.mean()
    return loss, {"td": loss, TD_ERROR: targets - q_taken.data}


def dqn_loss(batch: Transitions, nets: dict, config):
    """L(theta) = (1/B) sum_i w_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`dqn_targets`.

    rho is the Huber function (delta = 1) or the square (``config.loss``). Mnih et al. (2015),
    "Human-level control through deep reinforcement learning", Algorithm 1; with n-step rows
    and prioritized weights from the batch it is the loss of the Rainbow components (Hessel et
    al. 2018). Returns the terms of :func:`td_loss` (``td``, and the ``td_error`` array).
    """
    targets = dqn_targets(batch, nets["q_net_target"], config.gamma)
    return td_loss(batch, nets["q_net"], targets, config.loss)


def double_dqn_loss(batch: Transitions, nets: dict, config):
    """L(theta) = (1/B) sum_i w_i rho(Q_theta(s_i, a_i) - y_i), y from :func:`double_dqn_targets`."""
    targets = double_dqn_targets(batch, nets["q_net"], nets["q_net_target"], config.gamma)
    return td_loss(batch, nets["q_net"], targets, config.loss)


def standardize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(x - mean x) / (std x + eps); a batch of one is only centred (its std is 0)."""
    return (x - x.mean()) / (x.std() + eps)


def _fixed(x, like: Tensor) -> np.ndarray:
    """A batch array as a constant of ``like``'s dtype (no gradient flows into it)."""
    return np.asarray(x).astype(like.dtype, copy=False)


def reinforce_loss(batch: Episodes, nets: dict, config):
    """REINFORCE with a baseline b(s) (Williams 1992; Sutton & Barto 2018, sec. 13.4):

        w_t = G_t - b(s_t)   with b = 0 ("none"), mean_t G_t ("mean") or V_phi(s_t) ("learned")
        L   = -mean_t[ log pi_theta(a_t | s_t) * w_t ] + value_coef * mean_t (V_phi(s_t) - G_t)^2

    ``batch.returns`` holds the Monte Carlo returns G_t. With ``config.normalize_returns`` the
    weights w_t are standardised within the batch. The value term exists only for the learned
    baseline; w_t never carries gradient.
    """
    baseline = config.baseline
    if baseline not in ("none", "mean", "learned"):
        raise ValueError(f"baseline must be 'none', 'mean' or 'learned', got {baseline!r}")
    returns = np.asarray(batch.returns, dtype=np.float64)
    log_prob, _, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    terms = {}
    if baseline == "learned":
        weights = returns - values.data
        terms["value"] = F.mse_loss(values, _fixed(returns, values))
    else:
        weights = returns - returns.mean() if baseline == "mean" else returns
    if config.normalize_returns:
        weights = standardize(weights)
    terms["policy"] = -(log_prob * _fixed(weights, log_prob)).mean()
    loss = terms["policy"] + config.value_coef * terms["value"] if "value" in terms else terms["policy"]
    return loss, terms


def a2c_loss(batch: Rollout, nets: dict, config):
    """Advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep RL", alg. S3):

        L = -mean_t[ log pi_theta(a_t | s_t) * A_t ]            (policy term)
            + value_coef   * mean_t (V_phi(s_t) - R_t)^2         (value term)
            - entropy_coef * mean_t H[pi_theta(. | s_t)]         (entropy bonus)

    A_t are GAE advantages and R_t = A_t + V_old(s_t) their value targets, both fixed arrays in
    ``batch``. With ``config.normalize_advantages`` A_t is standardised within the batch.
    """
    advantages = np.asarray(batch.advantages, dtype=np.float64)
    if config.normalize_advantages:
        advantages = standardize(advantages)
    log_prob, entropy, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    terms = {
        "policy": -(log_prob * _fixed(advantages, log_prob)).mean(),
        "value": F.mse_loss(values, _fixed(batch.returns, values)),
        "entropy": entropy.mean(),
    }
    loss = terms["policy"] + config.value_coef * terms["value"] - config.entropy_coef * terms["entropy"]
    return loss, terms


def ppo_loss(batch: Rollout, nets: dict, config):
    """PPO's clipped objective (Schulman et al. 2017, "Proximal Policy Optimization", eq. 7 and 9):

        r_t     = pi_theta(a_t | s_t) / pi_old(a_t | s_t) = exp(log pi_theta - log pi_old)
        L_clip  = -mean_t min( r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t )
        L_value = mean_t max( (V(s_t) - R_t)^2, (V_old + clip(V(s_t) - V_old, -c, c) - R_t)^2 )
        L       = L_clip + value_coef * L_value - entropy_coef * mean_t H[pi_theta(. | s_t)]

    A_t is standardised within the minibatch when ``config.normalize_advantages``; the value
    clipping (the max term) applies only when ``config.clip_range_vf > 0``. Also returned, for
    logging and the target-KL stop, without gradient: ``approx_kl`` = mean((r - 1) - log r),
    an unbiased, non-negative estimator of KL(pi_old || pi_theta) (Schulman 2020, "Approximating
    KL divergence"), and ``clip_fraction``, the share of rows whose ratio left [1 - eps, 1 + eps].
    """
    advantages = np.asarray(batch.advantages, dtype=np.float64)
    if config.normalize_advantages:
        advantages = standardize(advantages)
    log_prob, entropy, values = nets["actor_critic"].evaluate(Tensor(batch.obs), batch.actions)
    log_ratio = log_prob - _fixed(batch.log_probs, log_prob)
    ratio = log_ratio.exp()
    adv = _fixed(advantages, ratio)
    eps = config.clip_range
    surrogate = (ratio * adv).minimum(ratio.clip(1.0 - eps, 1.0 + eps) * adv)
    returns = _fixed(batch.returns, values)
    value_error = (values - returns) ** 2
    if config.clip_range_vf > 0:
        old = _fixed(batch.values, values)
        clipped = old + (values - old).clip(-config.clip_range_vf, config.clip_range_vf)
        value_error = value_error.maximum((clipped - returns) ** 2)
    terms = {"policy": -surrogate.mean(), "value": value_error.mean(), "entropy": entropy.mean()}
    loss = terms["policy"] + config.value_coef * terms["value"] - config.entropy_coef * terms["entropy"]
    r = ratio.data.astype(np.float64)
    terms["approx_kl"] = Tensor(np.mean((r - 1.0) - np.log(r)))
    terms["clip_fraction"] = Tensor(np.mean(np.abs(r - 1.0) > eps))
    return loss, terms


# ----------------------------------------------------------------------------- off-policy actor-critics
# Actions are in the actors' [-1, 1]^|A| scale (see algorithms.networks); every target is computed
# under no_grad, and each term is named after the optimiser that applies it.


def _minimum(values: list):
    """The elementwise minimum of a list of Tensors (or arrays): min_i Q_i."""
    return reduce(lambda a, b: a.minimum(b) if isinstance(a, Tensor) else np.minimum(a, b), values)


def td3_targets(batch: ContinuousTransitions, nets: dict, config) -> np.ndarray:
    """y = r + gamma (1 - terminated) min_i Q_target_i(s', a~'),
    a~' = clip(mu_target(s') + clip(sigma eps', -c, c), -1, 1)  (sigma = 0: a~' = mu_target(s')).

    eps' is ``batch.next_noise``, sigma ``config.target_noise``, c ``config.target_noise_clip``
    (Fujimoto et al. 2018, eq. 10 for the clipped double Q and sec. 5.3 for the smoothing)."""
    with no_grad():
        next_obs = Tensor(batch.next_obs)
        next_actions = nets["actor_target"](next_obs).data
        if config.target_noise > 0:
            c = config.target_noise_clip
            next_actions = np.clip(next_actions + np.clip(config.target_noise * batch.next_noise, -c, c), -1.0, 1.0)
        next_q = _minimum([q.data for q in nets["critic_target"](next_obs, next_actions.astype(next_obs.dtype))])
    return batch.rewards + config.gamma * (1.0 - batch.terminated) * next_q


def td3_loss(batch: ContinuousTransitions, nets: dict, config):
    """TD3 (Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic
    Methods", Algorithm 1), two terms with their own optimisers:

        critic = sum_i mean_j (Q_i(s_j, a_j) - y_j)^2       y from :func:`td3_targets` (no gradient)
        actor  = -mean_j Q_1(s_j, mu(s_j))                  the deterministic policy gradient (eq. 1)

    The actor term is there only when ``batch.update_actor`` (delayed policy updates, sec. 5.2:
    the loop sets it on every ``policy_delay``-th critic update). DDPG (Lillicrap et al. 2016,
    Algorithm 1) is this loss with one critic, no target smoothing and a delay of 1
    (:class:`~algorithms.configs.DDPGConfig`). Also returned: ``q``, the mean of Q_1(s, a) (logged).
    """
    obs = Tensor(batch.obs)
    q = nets["critic"](obs, batch.actions)
    y = _fixed(td3_targets(batch, nets, config), q[0])
    terms = {"critic": reduce(lambda a, b: a + b, [F.mse_loss(q_i, y) for q_i in q])}
    if batch.update_actor:
        terms["actor"] = -nets["critic"].first(obs, nets["actor"](obs)).mean()
    loss = terms["critic"] + terms["actor"] if "actor" in terms else terms["critic"]
    terms["q"] = Tensor(q[0].data.mean())
    return loss, terms


def sac_targets(batch: ContinuousTransitions, nets: dict, alpha: float, gamma: float) -> np.ndarray:
    """y = r + gamma (1 - terminated) ( min_i Q_target_i(s', a') - alpha log pi(a' | s') ),
    a' = tanh(mu(s') + sigma(s') eps') drawn from the current policy with eps' = ``batch.next_noise``:
    the soft state value V(s') = E_a'[Q(s', a') - alpha log pi(a' | s')] (Haarnoja et al. 2018b,
    eq. 3) inside the soft Bellman backup, with the clipped double Q of Fujimoto et al. (2018)."""
    with no_grad():
        next_obs = Tensor(batch.next_obs)
        next_actions, next_log_prob = nets["actor"].sample(next_obs, batch.next_noise)
        next_q = _minimum([q.data for q in nets["critic_target"](next_obs, next_actions)])
        soft_value = next_q - alpha * next_log_prob.data
    return batch.rewards + gamma * (1.0 - batch.terminated) * soft_value


def sac_loss(batch: ContinuousTransitions, nets: dict, config):
    """SAC with a learned temperature (Haarnoja et al. 2018b, "Soft Actor-Critic Algorithms and
    Applications"), three terms with their own optimisers, alpha = exp(log_alpha):

        critic = 1/2 sum_i mean_j (Q_i(s_j, a_j) - y_j)^2                     J_Q, eq. 5 (y: :func:`sac_targets`)
        actor  = mean_j [ alpha log pi(a~_j | s_j) - min_i Q_i(s_j, a~_j) ]    J_pi, eq. 7 with a~ reparameterised (eq. 8):
                 a~_j = tanh(mu(s_j) + sigma(s_j) eps_j), eps = ``batch.noise``
        alpha  = -mean_j log_alpha (log pi(a~_j | s_j) + H_target)             J(alpha), eq. 18, H_target = -|A| by default

    alpha is a constant in the critic and actor terms and log pi(a~ | s) a constant in the alpha
    term. The alpha term is written in log alpha, as in the authors' implementation (softlearning)
    and Stable-Baselines3: its gradient is eq. 18's divided by alpha > 0 (same sign, same fixed
    point, where the policy's entropy equals H_target). ``actor`` and ``alpha`` are there only when
    ``batch.update_actor``; ``alpha`` only with ``config.learn_alpha`` (else alpha stays at
    ``alpha_init``). Also returned for logging: ``log_alpha``, ``entropy`` (-mean log pi(a~ | s)) and
    ``q`` (the mean of Q_1(s, a)).
    """
    log_alpha = nets["log_alpha"]()
    alpha = float(np.exp(log_alpha.data))
    obs = Tensor(batch.obs)
    q = nets["critic"](obs, batch.actions)
    y = _fixed(sac_targets(batch, nets, alpha, config.gamma), q[0])
    terms = {"critic": 0.5 * reduce(lambda a, b: a + b, [F.mse_loss(q_i, y) for q_i in q])}
    if batch.update_actor:
        actions, log_prob = nets["actor"].sample(obs, batch.noise)
        terms["actor"] = (alpha * log_prob - _minimum(nets["critic"](obs, actions))).mean()
        if config.learn_alpha:
            target_entropy = config.target_entropy_per_dim * batch.actions.shape[-1]
            terms["alpha"] = -(log_alpha * _fixed(log_prob.data + target_entropy, log_alpha)).mean()
        terms["entropy"] = Tensor(-log_prob.data.mean())
    loss = reduce(lambda a, b: a + b, [terms[name] for name in ("critic", "actor", "alpha") if name in terms])
    terms["log_alpha"] = Tensor(log_alpha.data.copy())
    terms["q"] = Tensor(q[0].data.mean())
    return loss, terms
