"""A run folder is untrusted input: nothing follows a symlink out of it, nothing but regular files is
opened, every array's declared size and every checkpoint value is checked before use, resource needs
are estimated and refused before allocation, and every failure of an output is one line.

Small limits and tiny configs exercise the bounds: no test here allocates more than a few MiB.
Tests run as root on the CI machine, and root ignores permission bits, so a read-only output is
simulated by a path below a regular file (ENOTDIR) and, on Linux, by sysfs, which refuses new files
even to root.
"""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from algorithms.loops.metrics_log import MetricsLog
from algorithms.runs.checkpoint import read_npz
from algorithms.runs.cli import main
from algorithms.runs.memory_limits import parse_memory
from algorithms.runs.resume import RESUME_FILE, read_checkpoint, write_checkpoint
from algorithms.runs.safe_files import UnsafeFileError, open_fd, read_bytes
from tinygrad_rl import Tensor, optim

pytestmark = pytest.mark.xdist_group("untrusted_runs")   # the killed run is trained once, on one worker

ROOT = Path(__file__).resolve().parents[1]
LINUX = sys.platform.startswith("linux")
TINY = ["--set", "hidden=8", "--set", "eval_every=500", "--set", "eval_episodes=1", "--set", "learning_starts=100",
        "--set", "train_freq=4", "--set", "batch_size=16", "--no-progress", "--json", "--checkpoint-every", "0"]
DQN = ["train", "dqn", "CartPole-v1", "--steps", "1500", *TINY]

# A child that runs the CLI after arranging one fault: SIGKILL once the n-th resume checkpoint is
# complete (at every episode's end with --checkpoint-every 0), a signal when the training code calls
# a function (the on-policy loop building its envs; the run making its progress bar), or
# every atomic write failing with ENOSPC after the first n.
DRIVER = '''
import errno, os, signal, sys
fault, args = sys.argv[1], sys.argv[2:]
kind, _, n = fault.partition(":")
if kind == "kill_after_checkpoint":
    import algorithms.runs.resume as resume
    real, calls = resume.write_checkpoint, [0]
    def write_checkpoint(*a, **k):
        real(*a, **k)
        calls[0] += 1
        if calls[0] == int(n):
            os.kill(os.getpid(), signal.SIGKILL)
    resume.write_checkpoint = write_checkpoint
elif kind == "signal":     # signal:SIGTERM:algorithms.loops.on_policy:make_plain_vec_env -- as that module calls it
    import importlib
    name, _, target = n.partition(":")
    module_name, _, function = target.partition(":")
    module = importlib.import_module(module_name)
    real = getattr(module, function)
    def call(*a, **k):
        os.kill(os.getpid(), getattr(signal, name))
        return real(*a, **k)
    setattr(module, function, call)
elif kind == "disk_full_after":
    import algorithms.runs.checkpoint as checkpoint, algorithms.runs.resume as resume
    real, calls = checkpoint.atomic_write, [0]
    def atomic_write(*a, **k):
        calls[0] += 1
        if calls[0] > int(n):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*a, **k)
    checkpoint.atomic_write = resume.atomic_write = atomic_write
from algorithms.runs.cli import main
sys.exit(main(args))
'''


def env_with_root(**extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}


def default_sigint() -> None:
    """In the child: SIGINT as a terminal gives it. A shell without job control starts background jobs
    (a test suite run with `&`) with SIGINT ignored, and children inherit that; Python then installs
    no handler of its own and a signal test would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args, cwd, fault=None, stdout=subprocess.PIPE, env=None, timeout=120):
    command = [sys.executable, "-c", DRIVER, fault] if fault else [sys.executable, "-m", "algorithms"]
    return subprocess.run([*command, *args], cwd=cwd, env=env or env_with_root(), stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, preexec_fn=default_sigint)


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and "Traceback" not in text


def snapshot(folder: Path) -> dict:
    """Every entry of ``folder``: a file's bytes, a link's target, or its kind."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            found[path.name] = ("link", os.readlink(path))
        elif path.is_file():
            found[path.name] = path.read_bytes()
        else:
            found[path.name] = "other"
    return found


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A DQN run killed with SIGKILL mid-training, right after its 40th checkpoint (status running)."""
    base = tmp_path_factory.mktemp("killed")
    killed = cli(*DQN, "--out", "run", cwd=base, fault="kill_after_checkpoint:40")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert read_checkpoint(base / "run" / RESUME_FILE).env_step > 100          # learning had started
    return base / "run"


@pytest.fixture
def run_copy(killed_run, tmp_path):
    shutil.copytree(killed_run, tmp_path / "run")
    return tmp_path / "run"


# --------------------------------------------------------------------------- kill -9, then a real restore


def test_a_run_killed_after_its_checkpoints_resumes_from_one(run_copy):
    saved = read_checkpoint(run_copy / RESUME_FILE)
    rows_then = (run_copy / "metrics.csv").read_bytes()[:saved.parts["metrics"]["metrics_bytes"]]
    resumed = cli("train", "--resume", "run", "--no-progress", "--json", "--checkpoint-every", "0",
                  cwd=run_copy.parent)
    assert resumed.returncode == 0, resumed.stderr
    step = int(re.search(r"from its checkpoint at env step (\d+)", resumed.stderr).group(1))
    assert step == saved.env_step > 100                  # restored, not started again from 0
    assert json.loads(resumed.stdout)["env_steps"] == 1500
    assert (run_copy / "metrics.csv").read_bytes().startswith(rows_then)
    assert json.loads((run_copy / "status.json").read_text())["status"] == "finished"


# --------------------------------------------------------------------------- nothing written outside the folder


@pytest.mark.parametrize("command", ["train --out", "train --resume", "benchmark --out"])
@pytest.mark.parametrize("lock", ["symlink", "fifo", "hard link"])
def test_a_lock_file_that_is_not_the_folders_own_is_refused_and_nothing_outside_is_written(command, lock, run_copy,
                                                                                            capsys):
    outside = run_copy.parent / "outside.txt"
    outside.write_text("precious\n")
    folder = run_copy if command == "train --resume" else run_copy.parent / "empty"
    folder.mkdir(exist_ok=True)
    (folder / ".lock").unlink(missing_ok=True)
    if lock == "symlink":
        (folder / ".lock").symlink_to(outside)
    elif lock == "fifo":
        os.mkfifo(folder / ".lock")
    else:
        os.link(outside, folder / ".lock")
    before = snapshot(folder)
    args = {"train --out": [*DQN, "--out", str(folder)], "train --resume": ["train", "--resume", str(folder)],
            "benchmark --out": ["benchmark", "--algos", "q_learning", "--envs", "FrozenLake-v1", "--seeds", "1",
                                "--budget", "100", "--no-progress", "--no-figures", "--out", str(folder)]}[command]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert ".lock" in err and one_line(err), err
    assert outside.read_text() == "precious\n" and snapshot(folder) == before


@pytest.mark.parametrize("name", ["runs.jsonl", ".workers.lock"])
def test_a_sweep_folder_whose_files_are_symlinks_is_refused_and_nothing_outside_is_written(name, tmp_path, capsys):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / name).symlink_to(outside)
    before = snapshot(tmp_path / "sweep")
    assert main(["benchmark", "--algos", "q_learning", "--envs", "FrozenLake-v1", "--seeds", "1", "--budget", "100",
                 "--no-progress", "--no-figures", "--out", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert f"{name} is a symbolic link" in err and one_line(err), err
    after = snapshot(tmp_path / "sweep")
    assert after.pop(".lock") == b""                     # the lock taken to look, empty: nothing was written
    assert outside.read_text() == "precious\n" and after == before


@pytest.mark.parametrize("name", ["metrics.csv", "terms.csv"])
def test_resume_refuses_symlinked_metrics_and_leaves_the_outside_file_whole(name, run_copy, capsys):
    outside = run_copy.parent / "outside.csv"
    outside.write_bytes((run_copy / name).read_bytes() + b"someone else's rows\n" * 50)
    kept = outside.read_bytes()
    (run_copy / name).unlink()
    (run_copy / name).symlink_to(outside)
    before = snapshot(run_copy)
    assert main(["train", "--resume", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert f"{name} is a symbolic link" in err and one_line(err), err
    assert outside.read_bytes() == kept and snapshot(run_copy) == before


@pytest.mark.parametrize("append", [False, True])
def test_the_metrics_log_opens_its_files_as_regular_files_only(append, tmp_path):
    """The log's own open refuses a symlink (a name swapped after the folder was checked is not followed)."""
    outside = tmp_path / "outside.csv"
    outside.write_text("precious\n")
    (tmp_path / "metrics.csv").symlink_to(outside)
    with pytest.raises(UnsafeFileError, match="metrics.csv is a symbolic link"):
        MetricsLog(tmp_path / "metrics.csv", append=append)
    assert outside.read_text() == "precious\n"


@pytest.mark.skipif(not LINUX, reason="mkfifo")
@pytest.mark.parametrize("command, name", [("resume", "status.json"), ("resume", RESUME_FILE),
                                           ("resume", "config.json"), ("eval", "model.npz"),
                                           ("eval", "config.json")])
def test_a_fifo_in_place_of_a_file_is_refused_not_waited_on(command, name, run_copy):
    (run_copy / "model.npz").write_bytes((run_copy / "model.npz").read_bytes())
    (run_copy / name).unlink()
    os.mkfifo(run_copy / name)
    args = ["train", "--resume", "run"] if command == "resume" else ["eval", "run"]
    proc = cli(*args, cwd=run_copy.parent, timeout=60)         # a hang would be the timeout's error
    assert proc.returncode == 2 and f"{name} is a FIFO (named pipe), not a regular file" in proc.stderr, proc.stderr
    assert one_line(proc.stderr)


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_model_npz_as_a_symlink_is_refused(target, run_copy, capsys):
    (run_copy.parent / "outside").write_bytes((run_copy / "model.npz").read_bytes())
    (run_copy / "model.npz").unlink()
    (run_copy / "model.npz").symlink_to(target if target.startswith("/") else run_copy.parent / target)
    assert main(["eval", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert "model.npz is a symbolic link" in err and one_line(err), err


def test_safe_opens_refuse_folders_and_hard_links_for_writing_and_bound_reads(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(UnsafeFileError, match="is a folder, not a regular file"):
        open_fd(tmp_path / "dir")
    (tmp_path / "a").write_text("x" * 100)
    os.link(tmp_path / "a", tmp_path / "b")
    os.close(open_fd(tmp_path / "b"))                           # reading a hard link changes nothing
    with pytest.raises(UnsafeFileError, match="has 2 hard links"):
        open_fd(tmp_path / "b", os.O_WRONLY | os.O_APPEND)
    with pytest.raises(UnsafeFileError, match="is 100 bytes, more than the 10 expected"):
        read_bytes(tmp_path / "a", 10)


# --------------------------------------------------------------------------- bounded reads


def npy_header(shape, dtype="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()                 # the magic string, then the header


def write_npz(path, members: dict, compression=zipfile.ZIP_STORED):
    """An npz whose members are given as byte chunks (an iterable, streamed: a bomb never sits in memory)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, chunks in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                for chunk in chunks:
                    f.write(chunk)


def zeros_array_chunks(n_floats: int):
    yield npy_header((n_floats,))
    for _ in range(n_floats * 8 // 2 ** 20):
        yield bytes(2 ** 20)


@pytest.mark.parametrize("case, message", [
    ("header claims 8 TiB", "(8,796,093,022,208 bytes), more than the"),
    ("deflated bomb", "inflates to 67,108,992 bytes, more than the"),
])
def test_an_npz_entry_larger_than_the_run_can_hold_is_refused_before_it_is_inflated(case, message, run_copy, capsys):
    key = "q_net/layers.0.weight"
    if case == "header claims 8 TiB":
        write_npz(run_copy / "model.npz", {key: [npy_header((2 ** 40,)), bytes(16)]})
    else:                             # 64 MiB of zeros deflated to about 64 KiB
        write_npz(run_copy / "model.npz", {key: zeros_array_chunks(2 ** 23)}, zipfile.ZIP_DEFLATED)
        assert (run_copy / "model.npz").stat().st_size < 2 ** 20
    assert main(["eval", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert message in err and one_line(err), err
    assert "MemoryError" not in err


def test_a_resume_checkpoint_bomb_is_refused_and_the_folder_left_as_it_was(run_copy, capsys):
    write_npz(run_copy / RESUME_FILE, {"replay/obs": zeros_array_chunks(2 ** 23)}, zipfile.ZIP_DEFLATED)
    before = snapshot(run_copy)
    assert main(["train", "--resume", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert "inflates to 67,108,992 bytes" in err and one_line(err), err
    assert snapshot(run_copy) == before


def test_an_entry_that_inflates_to_more_than_its_header_declares_is_refused(tmp_path):
    write_npz(tmp_path / "a.npz", {"w": [npy_header((4,)), bytes(2 ** 16)]})
    with pytest.raises(ValueError, match="inflates to 65,664 bytes, but its header declares 160"):
        read_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", w=np.zeros(1000))
    with pytest.raises(ValueError, match=r"\(8,000 bytes\), more than the 4,000 bytes expected"):
        read_npz(tmp_path / "b.npz", max_bytes=4000)
    assert read_npz(tmp_path / "b.npz", max_bytes=8000)["w"].shape == (1000,)


# --------------------------------------------------------------------------- checkpoint and status values


def tamper(path, *, env_step=None, **changes):
    """Rewrite the checkpoint at ``path`` with ``changes`` ({"part/key": value}) and maybe another env step."""
    saved = read_checkpoint(path)
    parts = {name: dict(state) for name, state in saved.parts.items()}
    for key, value in changes.items():
        part, _, field = key.partition("/")
        parts[part][field] = value
    write_checkpoint(path, parts, saved.run, saved.env_step if env_step is None else env_step, saved.done)


CHECKPOINT_VALUES = {
    "loop step a string": ({"loop/step": "abc"}, "loop/step must be the checkpoint's env step"),
    "env step 10^9": ({"env_step": 10 ** 9, "loop/step": 10 ** 9, "run/env_steps": 10 ** 9},
                      "the env step must be an int in [0, 1500] (total_steps is 1500), got 1000000000"),
    "run counter disagrees": ({"run/env_steps": 3}, "run/env_steps must be the checkpoint's env step"),
    "next evaluation negative": ({"run/next_eval": -500}, "run/next_eval must be an int > 0"),
    "a term count not an int": ({"run/term_counts": {"loss": True}}, "run/term_counts must be"),
    "metrics size a string": ({"metrics/metrics_bytes": "100"}, "metrics/metrics_bytes must be None or an int > 0"),
    "optimiser step negative": ({"optimizer/step_count": np.asarray(-1)}, "optimizer/step_count must be an int >= 0"),
    "more transitions than steps": ({"replay/size": 10 ** 6}, "replay/size must be an int in [0, "),
    "elapsed infinite": ({"metrics/elapsed": float("inf")}, "metrics/elapsed must be a finite number"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_VALUES))
def test_a_crafted_checkpoint_value_is_one_line_exit_2_and_the_folder_is_left_as_it_was(case, run_copy, capsys):
    changes, message = CHECKPOINT_VALUES[case]
    changes = dict(changes)
    tamper(run_copy / RESUME_FILE, env_step=changes.pop("env_step", None), **changes)
    before = snapshot(run_copy)
    assert main(["train", "--resume", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert message in err and one_line(err), err
    assert snapshot(run_copy) == before                          # status still "running", metrics not cut


@pytest.mark.parametrize("status, message", [
    ({"status": "bogus"}, "'status' must be one of running, interrupted, failed, finished, got 'bogus'"),
    ({"status": "interrupted", "env_step": "abc"}, "'env_step' must be an int >= 0, got 'abc'"),
    ([1, 2], "'status' must be one of"),
])
def test_a_crafted_status_json_is_one_line_exit_2(status, message, run_copy, capsys):
    (run_copy / "status.json").write_text(json.dumps(status))
    before = snapshot(run_copy)
    for args in (["train", "--resume", str(run_copy)], [*DQN, "--out", str(run_copy)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and one_line(err), err
    assert snapshot(run_copy) == before


# --------------------------------------------------------------------------- resource estimates


@pytest.mark.parametrize("args, largest", [
    (["train", "dqn", "CartPole-v1", "--set", "batch_size=1000000000"], "(batch "),
    (["train", "dqn", "CartPole-v1", "--set", "hidden=200000,200000"], "(networks "),
    (["train", "ppo", "CartPole-v1", "--set", "n_envs=100000000"], "(env copies "),
    (["train", "dqn", "CartPole-v1", "--memory-limit", "1MiB"], "but only 1.0 MiB is allowed"),
])
def test_a_run_too_large_for_the_memory_limit_is_refused_before_allocating(args, largest, tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "of memory, but only" in err and largest in err and one_line(err), err
    assert list(tmp_path.iterdir()) == []


def test_absurd_steps_and_bad_limits_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "dqn", "CartPole-v1", "--steps", "1e20"]) == 2
    assert "total_steps must be at most 1e+12 env steps, got 100000000000000000000" in capsys.readouterr().err
    monkeypatch.setenv("TINYGRAD_RL_MEMORY_LIMIT", "lots")
    assert main(["train", "dqn", "CartPole-v1"]) == 2
    err = capsys.readouterr().err
    assert "TINYGRAD_RL_MEMORY_LIMIT must be a size such as 2GiB" in err and one_line(err)
    monkeypatch.setenv("TINYGRAD_RL_MEMORY_LIMIT", "64KiB")
    assert main(["train", "dqn", "CartPole-v1"]) == 2
    assert "but only 64.0 KiB is allowed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert parse_memory("2GiB") == 2 ** 31 and parse_memory("500MB") == 5 * 10 ** 8 and parse_memory("1e9") == 10 ** 9


# --------------------------------------------------------------------------- signals and failing outputs


@pytest.mark.skipif(not LINUX, reason="kill")
@pytest.mark.parametrize("during", ["algorithms.loops.on_policy:make_plain_vec_env",
                                    "algorithms.loops.training_run:tqdm"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_during_setup_stops_cleanly_and_status_json_says_interrupted(sig, during, tmp_path):
    proc = cli("train", "ppo", "CartPole-v1", "--steps", "200", "--set", "hidden=8", "--set", "n_envs=2",
               "--set", "n_steps=16", "--set", "n_minibatches=2", "--no-progress", "--out", "run",
               cwd=tmp_path, fault=f"signal:{sig}:{during}")
    assert proc.returncode == 128 + getattr(signal, sig), proc.stderr
    assert f"interrupted by {sig}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == sig


def test_sigint_while_importing_is_one_line_exit_130(tmp_path):
    # A sitecustomize (run before any import) sends SIGINT the moment gymnasium starts to be imported.
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gymnasium':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n")
    env = env_with_root()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "hook"), env["PYTHONPATH"]])
    proc = cli("list", cwd=tmp_path, env=env)
    assert proc.returncode == 130 and proc.stdout == "", proc.stderr
    assert "interrupted by SIGINT while starting" in proc.stderr and one_line(proc.stderr), proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full") or shutil.which("sh") is None, reason="needs /dev/full and sh")
@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_a_full_or_closed_stdout_is_one_line_exit_120_and_the_run_is_still_finished(stdout, tmp_path):
    # "$0" "$@" >/dev/full (or >&-: descriptor 1 closed): the shell applies the redirection, then runs the CLI.
    redirect = ">/dev/full" if stdout == "full" else ">&-"
    reason = "No space left on device" if stdout == "full" else "standard output is closed"
    for args in (["list", "dqn"], ["train", "dqn", "CartPole-v1", "--steps", "300", *TINY, "--out", "run"]):
        proc = subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirect}', sys.executable, "-m", "algorithms", *args],
                              cwd=tmp_path, env=env_with_root(), stderr=subprocess.PIPE, text=True, timeout=120)
        assert proc.returncode == 120, proc.stderr
        assert f"cannot write to standard output ({reason})" in proc.stderr and one_line(proc.stderr), proc.stderr
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "finished"


def test_a_disk_that_fills_during_training_leaves_status_failed(tmp_path):
    proc = cli(*DQN, "--out", "run", cwd=tmp_path, fault="disk_full_after:2")    # config.json and status only
    assert proc.returncode == 1 and "No space left on device" in proc.stderr and one_line(proc.stderr), proc.stderr
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and "No space left on device" in status["error"]


READ_ONLY = ["a-file/out", *(["/sys/tinygrad-rl-out"] if LINUX else [])]


@pytest.mark.parametrize("where", READ_ONLY)
@pytest.mark.parametrize("command", ["benchmark", "plot", "graph"])
def test_an_output_that_cannot_be_created_is_one_line(command, where, run_copy, monkeypatch, capsys):
    monkeypatch.chdir(run_copy.parent)
    Path("a-file").write_text("not a folder")
    args = {"benchmark": ["benchmark", "--algos", "q_learning", "--envs", "FrozenLake-v1", "--seeds", "1",
                          "--budget", "100", "--no-progress", "--no-figures", "--out", where],
            "plot": ["plot", str(run_copy), "--out", f"{where}.png"],
            "graph": ["graph", "dqn", "CartPole-v1", "--set", "hidden=8", "--out", f"{where}.txt"]}[command]
    capsys.readouterr()
    status = main(args)
    err = capsys.readouterr().err
    assert status in (1, 2) and one_line(err) and (where in err or "a-file" in err), err


# --------------------------------------------------------------------------- the library


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e-3, "0.1", None])
def test_an_lr_set_after_construction_is_refused_at_the_next_step_before_any_parameter_moves(bad):
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    for opt in (optim.Adam([w], lr=1e-2), optim.SGD([w], lr=1e-2), optim.RMSprop([w], lr=1e-2)):
        (w * w).sum().backward()
        opt.lr = bad
        with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
            opt.step()
        assert np.array_equal(w.data, np.ones(3, np.float32)) and opt.step_count == 0
        w.grad = None


def test_an_lr_of_zero_from_a_schedule_steps_without_changing_anything():
    w = Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.lr = 0.0
    opt.step()
    assert np.array_equal(w.data, np.ones(3)) and opt.step_count == 1


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.uint8])
def test_an_integer_tensor_cannot_be_made_to_require_grad_after_construction(dtype):
    t = Tensor(np.arange(3).astype(dtype))
    with pytest.raises(ValueError, match=f"only floating-point tensors can require grad, got dtype {np.dtype(dtype)}"):
        t.requires_grad = True
    assert t.requires_grad is False
    t.requires_grad = False                       # turning it off is always allowed
    f = Tensor(np.zeros(2, np.float32))
    f.requires_grad = True
    (f * 2).sum().backward()
    assert f.grad.dtype == np.float32
