"""The main job (`tinygrad-rl train ...`) must run on a plain `pip install -e .`, without scipy or ray."""
import subprocess
import sys

BLOCK_EXTRAS = "import sys; sys.modules['scipy'] = None; sys.modules['ray'] = None; "


def run_cli(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_EXTRAS + code], capture_output=True, text=True, timeout=120)


def test_cli_lists_and_trains_without_the_extras(tmp_path):
    listed = run_cli("from algorithms.runs.cli import main; sys.exit(main(['list']))")
    assert listed.returncode == 0, listed.stderr
    assert "dqn" in listed.stdout and "CartPole-v1" in listed.stdout
    out = tmp_path / "run"
    trained = run_cli(f"from algorithms.runs.cli import main; sys.exit(main(['train', 'dqn', 'CartPole-v1', "
                      f"'--steps', '300', '--out', {str(out)!r}]))")
    assert trained.returncode == 0, trained.stderr
    assert (out / "eval.json").exists() and (out / "model.npz").exists()


def test_benchmark_without_scipy_says_how_to_install_it(tmp_path):
    result = run_cli("from algorithms.runs.cli import main; sys.exit(main(['benchmark', '--algos', 'q_learning', "
                     f"'--envs', 'CliffWalking-v1', '--seeds', '1', '--out', {str(tmp_path / 'b')!r}]))")
    assert result.returncode == 2
    assert "pip install" in result.stderr and "scipy" in result.stderr
    assert not (tmp_path / "b").exists()
