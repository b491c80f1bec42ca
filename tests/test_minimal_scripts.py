"""scripts/minimal_dqn.py and scripts/minimal_a2c.py: single files on the engine and gymnasium
alone that learn CartPole; a small step budget with a fixed seed must beat a random policy by far."""
import ast
import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
ALLOWED_IMPORTS = {"__future__", "argparse", "dataclasses", "gymnasium", "numpy", "tinygrad_rl",
                   "tinygrad_rl.functional"}


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"minimal_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def random_return(env_id: str, episodes: int, seed: int) -> float:
    """A uniformly random policy on the evaluation seeds the scripts use (10_000 + seed + episode)."""
    env, rng, total = gym.make(env_id), np.random.default_rng(seed), 0.0
    for episode in range(episodes):
        env.reset(seed=10_000 + seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            total += reward
            done = terminated or truncated
    env.close()
    return total / episodes


@pytest.mark.parametrize("name", ["minimal_dqn", "minimal_a2c"])
def test_minimal_script_is_one_short_file_on_the_engine_and_gymnasium(name):
    source = (SCRIPTS / f"{name}.py").read_text()
    assert 100 <= len(source.splitlines()) <= 150
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


@pytest.mark.parametrize("name, steps", [("minimal_dqn", 6_000), ("minimal_a2c", 20_000)])
def test_minimal_script_learns_cartpole_well_beyond_random(name, steps, capsys):
    script = load(name)
    with threadpool_limits(limits=1, user_api="blas"):   # small products: one BLAS thread is fastest
        result = script.main(script.Args(total_steps=steps, seed=0))
    baseline = random_return("CartPole-v1", 10, seed=0)
    assert baseline < 40                                   # a random policy falls within ~20 steps
    assert result["greedy_return"] > max(100.0, 4 * baseline), (result["greedy_return"], baseline)
    assert "greedy policy after" in capsys.readouterr().out
