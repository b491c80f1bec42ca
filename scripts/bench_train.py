"""Training throughput (env steps per second) of our DQN, A2C and PPO on CartPole-v1 and SAC and TD3 on
Pendulum-v1, and of Stable-Baselines3 with the same hyperparameters, all in the same process (SB3 when
installed: ``pip install -e ".[compare]"``).
Prints one row per algorithm: our speed, SB3's speed and our ratio to it, in env steps per second of
this process's CPU time (waiting for a core on a shared machine is not counted; every contender runs
on one thread). With ``--repeats N`` ours runs N times and the median is shown.

DQN uses rl-baselines3-zoo's CartPole preset: [256, 256] ReLU net, batch 64, train_freq 256,
gradient_steps 128, target_update_interval 10, learning_starts 1000 (``--dqn preset``: our CartPole
preset's [dqn] table instead, which differs in batch 128 and a decaying learning rate). A2C uses our
CartPole preset (4 envs x 8 steps, [128, 128] tanh, Adam). PPO uses our CartPole preset, which is
rl-baselines3-zoo's (8 envs x 32 steps, 20 epochs of one 256-row minibatch, [64, 64] tanh). SAC and
TD3 use our Pendulum presets ([256, 256] ReLU, batch 256, one gradient step per env step; SAC's
temperature learned from 1 towards -|A|, TD3's Gaussian exploration noise 0.1, policy delay 2,
target noise 0.2 clipped at 0.5) with 100 random steps before learning, so the measurement is of
training. Both libraries get one BLAS / torch thread: the networks are small and this 2-core
machine is shared.

MinAtar DQN (``--algos minatar_dqn``, not in the default set; needs ``.[minatar]`` and, for the
reference, torch): our DQN with the MinAtar/Breakout-v1 preset (MinAtar's reference settings: conv 16 3x3
-> 128, centered RMSprop, batch 32, one update per env step after 5,000 random steps) against
``scripts/minatar_reference_dqn.py`` (the PyTorch port of MinAtar's ``examples/dqn.py``, one torch
thread) on the same budget and seed, interleaved over ``--repeats`` rounds (ours, reference, ours, ...)
so load from other processes hits both alike; the row shows the medians and the median of the rounds'
ratios. Both in env steps per second of this process's CPU time, the reference's short final
evaluation (one episode of at most 1,000 steps) included.

    nice -n 10 python scripts/bench_train.py --dqn-steps 20000 --a2c-steps 50000 --ppo-steps 50000
    nice -n 10 python scripts/bench_train.py --algos sac,td3 --sac-steps 3000 --td3-steps 3000 --repeats 3
    nice -n 10 python scripts/bench_train.py --algos minatar_dqn --minatar-steps 20000 --repeats 3
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

from algorithms.loops.training_run import train
from algorithms.presets import load_preset

# rl-baselines3-zoo's CartPole DQN hyperparameters (hyperparams/dqn.yml), given to both libraries.
ZOO_DQN = dict(lr=2.3e-3, lr_end_fraction=1.0, batch_size=64, buffer_size=100_000, learning_starts=1_000,
               gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
               exploration_fraction=0.16, epsilon_end=0.04, hidden=[256, 256], max_grad_norm=10.0)


DQN_SETTINGS = "zoo"   # or "preset": our CartPole preset's [dqn] table as it is (batch 128); set by --dqn
ALGOS = ("dqn", "a2c", "ppo", "sac", "td3")
EXTRA_ALGOS = ("minatar_dqn",)                              # measured only when named in --algos
ENV = {"sac": "Pendulum-v1", "td3": "Pendulum-v1", "minatar_dqn": "MinAtar/Breakout-v1"}  # others: CartPole-v1
REFERENCE_SCRIPT = Path(__file__).resolve().parent / "minatar_reference_dqn.py"
# Off-policy actor-critics start learning after 100 random steps in both libraries.
ACTOR_CRITIC = dict(learning_starts=100, hidden=[256, 256], batch_size=256, train_freq=1, gradient_steps=1)


def env_of(algo: str) -> str:
    return ENV.get(algo, "CartPole-v1")


def config_for(algo: str, **overrides):
    if algo == "minatar_dqn":     # the preset as it is: the reference's settings
        return load_preset("dqn", env_of(algo), overrides)
    fixed = ZOO_DQN if algo == "dqn" and DQN_SETTINGS == "zoo" else ACTOR_CRITIC if algo in ENV else {}
    return load_preset(algo, env_of(algo), {**fixed, **overrides})


def ours(algo: str, steps: int, seed: int) -> float:
    # No periodic evaluation inside the timed region: eval_every beyond the run.
    config = config_for(algo, total_steps=steps, seed=seed, eval_every=steps + 1)
    start = time.process_time()
    result = train("dqn" if algo == "minatar_dqn" else algo, env_of(algo), config)
    return result.env_steps / (time.process_time() - start)


def minatar_reference(steps: int, seed: int) -> float:
    """Env steps per CPU second of the PyTorch port of MinAtar's reference DQN (one torch thread)."""
    import torch
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("minatar_reference_dqn", REFERENCE_SCRIPT)
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    with tempfile.TemporaryDirectory() as out:
        start = time.process_time()
        summary = reference.run(env_of("minatar_dqn"), steps, seed, Path(out), eval_episodes=1, eval_max_steps=1000)
        return summary["env_steps"] / (time.process_time() - start)


def minatar_rounds(steps: int, seed: int, rounds: int) -> str:
    """Ours and the reference interleaved over ``rounds``; a CSV row with the medians and the ratio."""
    have_torch = importlib.util.find_spec("torch") is not None
    ours_speeds, theirs = [], []
    for _ in range(rounds):
        ours_speeds.append(ours("minatar_dqn", steps, seed))
        if have_torch:
            theirs.append(minatar_reference(steps, seed))
    row = f"minatar_dqn,{env_of('minatar_dqn')},{steps},{statistics.median(ours_speeds):.0f}"
    if not have_torch:
        return row + ",,  # torch not installed: the reference was not run"
    ratio = statistics.median(a / b for a, b in zip(ours_speeds, theirs))
    return row + f",{statistics.median(theirs):.0f},{ratio:.2f}"


def sb3_actor_critic(algo: str, seed: int):
    """SB3's SAC or TD3 with our Pendulum preset's hyperparameters."""
    import numpy as np
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise
    c = config_for(algo)
    common = dict(learning_rate=c.lr, buffer_size=c.buffer_size, learning_starts=c.learning_starts,
                  batch_size=c.batch_size, tau=c.tau, gamma=c.gamma, train_freq=c.train_freq,
                  gradient_steps=c.gradient_steps, policy_kwargs=dict(net_arch=list(c.hidden)), seed=seed,
                  device="cpu")
    if algo == "sac":
        assert c.learn_alpha and c.alpha_init == 1.0 and c.target_entropy_per_dim == -1.0 and c.n_critics == 2
        return SAC("MlpPolicy", env_of(algo), ent_coef="auto", target_entropy="auto", **common)
    # SB3 adds the noise in the [-1, 1] scale and clips, as our DeterministicActor does.
    noise = NormalActionNoise(np.zeros(1), c.exploration_noise * np.ones(1))
    return TD3("MlpPolicy", env_of(algo), action_noise=noise, policy_delay=c.policy_delay,
               target_policy_noise=c.target_noise, target_noise_clip=c.target_noise_clip, **common)


def sb3(algo: str, steps: int, seed: int) -> float:
    import torch
    from stable_baselines3 import A2C, DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env
    torch.set_num_threads(1)
    if algo in ENV:
        model = sb3_actor_critic(algo, seed)
    elif algo == "dqn":
        c = config_for("dqn")
        model = DQN("MlpPolicy", "CartPole-v1", learning_rate=c.lr, batch_size=c.batch_size, buffer_size=c.buffer_size,
                    learning_starts=c.learning_starts, gamma=c.gamma, target_update_interval=c.target_update_interval,
                    train_freq=c.train_freq, gradient_steps=c.gradient_steps,
                    exploration_fraction=c.exploration_fraction, exploration_final_eps=c.epsilon_end,
                    max_grad_norm=c.max_grad_norm, policy_kwargs=dict(net_arch=list(c.hidden)), seed=seed,
                    device="cpu")
    elif algo == "ppo":
        c = config_for("ppo")
        env = make_vec_env("CartPole-v1", n_envs=c.n_envs, seed=seed)
        # Linear annealing to 0 over the run, as our lr_end_fraction = 0.
        model = PPO("MlpPolicy", env, learning_rate=lambda progress: c.lr * progress, n_steps=c.n_steps,
                    batch_size=c.n_envs * c.n_steps // c.n_minibatches, n_epochs=c.n_epochs, gamma=c.gamma,
                    gae_lambda=c.gae_lambda, clip_range=c.clip_range, ent_coef=c.entropy_coef, vf_coef=c.value_coef,
                    max_grad_norm=c.max_grad_norm, normalize_advantage=c.normalize_advantages,
                    policy_kwargs=dict(net_arch=list(c.hidden), activation_fn=torch.nn.Tanh), seed=seed,
                    device="cpu")
    else:
        c = config_for("a2c")
        env = make_vec_env("CartPole-v1", n_envs=c.n_envs, seed=seed)
        model = A2C("MlpPolicy", env, learning_rate=c.lr, n_steps=c.n_steps, gamma=c.gamma, gae_lambda=c.gae_lambda,
                    ent_coef=c.entropy_coef, vf_coef=c.value_coef, max_grad_norm=c.max_grad_norm,
                    normalize_advantage=c.normalize_advantages, use_rms_prop=False,
                    policy_kwargs=dict(net_arch=list(c.hidden), activation_fn=torch.nn.Tanh), seed=seed,
                    device="cpu")
    start = time.process_time()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.process_time() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--a2c-steps", type=int, default=50_000)
    parser.add_argument("--ppo-steps", type=int, default=50_000)
    parser.add_argument("--sac-steps", type=int, default=3_000)
    parser.add_argument("--td3-steps", type=int, default=3_000)
    parser.add_argument("--minatar-steps", type=int, default=20_000,
                        help="env steps of MinAtar DQN (5,000 random, then one update per step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algos", default=",".join(ALGOS), help=f"comma-separated subset of {','.join(ALGOS)}")
    parser.add_argument("--repeats", type=int, default=1, help="runs of ours per algorithm (the median is shown)")
    parser.add_argument("--no-sb3", action="store_true", help="measure ours only")
    parser.add_argument("--dqn", choices=("zoo", "preset"), default="zoo",
                        help="DQN settings: rl-baselines3-zoo's (batch 64, the default) or our preset's (batch 128)")
    args = parser.parse_args(argv)
    global DQN_SETTINGS
    DQN_SETTINGS = args.dqn
    algos = args.algos.split(",")
    if not algos or set(algos) - set(ALGOS) - set(EXTRA_ALGOS):
        parser.error(f"--algos must name some of {', '.join(ALGOS + EXTRA_ALGOS)}, got {args.algos!r}")
    steps_of = {algo: getattr(args, f"{algo}_steps") for algo in ALGOS}
    if min(steps_of.values()) <= 0 or args.repeats <= 0 or args.minatar_steps <= 5_000:
        parser.error("--dqn-steps, --a2c-steps, --ppo-steps, --sac-steps, --td3-steps and --repeats must be > 0, "
                     "--minatar-steps > 5000 (the random steps before learning)")
    have_sb3 = False
    if not args.no_sb3 and set(algos) & set(ALGOS):
        try:
            import stable_baselines3  # noqa: F401
            have_sb3 = True
        except ImportError:
            print("# stable-baselines3 not installed (pip install -e '.[compare]'): measuring ours only", flush=True)

    if set(algos) & set(ALGOS):
        print("algo,env,env_steps,steps_per_s,sb3_steps_per_s,ours_over_sb3", flush=True)
    for algo, steps in steps_of.items():
        if algo not in algos:
            continue
        speed = statistics.median(ours(algo, steps, args.seed) for _ in range(args.repeats))
        row = f"{algo},{env_of(algo)},{steps},{speed:.0f}"
        if have_sb3:
            theirs = sb3(algo, steps, args.seed)
            row += f",{theirs:.0f},{speed / theirs:.2f}"
        else:
            row += ",,"
        print(row, flush=True)
    if "minatar_dqn" in algos:
        print("algo,env,env_steps,steps_per_s,reference_steps_per_s,ours_over_reference", flush=True)
        print(minatar_rounds(args.minatar_steps, args.seed, args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
