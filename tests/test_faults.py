"""Fault injection: runs survive kill -9, SIGTERM/SIGINT, concurrent starts, hostile or corrupt files,
a full disk, and a benchmark's parent dying; every bad input is one line.

Kills are real (SIGKILL sent by the process to itself at a chosen point, or by the test): a small
driver script patches one function in the child -- the loss, ``numpy.savez`` while it writes
resume.npz, the final evaluation -- to kill its own process there, then runs the CLI.
"""
import csv
import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from algorithms import registry
from algorithms.buffers import ReplayBuffer
from algorithms.loops.training_run import train
from algorithms.presets import load_preset, preset_source
from algorithms.runs.checkpoint import load_weights, read_npz
from algorithms.runs.cli import main
from algorithms.runs.experiment import resume_training, run_training
from algorithms.runs.resume import RESUME_FILE, LoopState, read_checkpoint, write_checkpoint
from tinygrad_rl import Tensor, nn, optim

ROOT = Path(__file__).resolve().parents[1]
LINUX = sys.platform.startswith("linux")
TINY_LOOP = {"off_policy": {"learning_starts": 50, "train_freq": 4, "gradient_steps": 1, "batch_size": 16},
             "off_policy_continuous": {"learning_starts": 50, "train_freq": 4, "gradient_steps": 1,
                                       "batch_size": 16},
             "on_policy": {"n_envs": 2, "n_steps": 16, "n_minibatches": 2},
             "episodic": {"episodes_per_update": 1},
             "model_based": {"random_steps": 100, "train_every": 100, "model_epochs": 1, "population": 8, "elites": 2,
                             "horizon": 2, "cem_iterations": 1}}
LOOP_ENV = {"off_policy_continuous": "Pendulum-v1"}     # Box actions; the others train on CartPole-v1


def env_for(spec) -> str:
    """An env the algorithm trains on: for a loop that trains on some envs only (a planner's), the
    first of them with a preset; else its loop's test env."""
    if spec.loop.envs is not None:
        return next(env for env in spec.loop.envs() if preset_source(spec.name, env) is not None)
    return LOOP_ENV.get(spec.loop.name, "CartPole-v1")


# A DQN run of 1,500 steps: ~10-step random episodes, updates every 4 steps after 100.
DQN = ["train", "dqn", "CartPole-v1", "--steps", "1500", "--set", "hidden=8", "--set", "eval_every=500",
       "--set", "eval_episodes=1", "--set", "learning_starts=100", "--set", "train_freq=4",
       "--set", "gradient_steps=1", "--set", "batch_size=16", "--no-progress", "--json", "--checkpoint-every", "0"]

DRIVER = '''
import os, signal, sys
point, args = sys.argv[1], sys.argv[2:]
kind, _, n = point.partition(":")

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if kind == "loss":                 # during training: the n-th loss call
    import dataclasses
    from algorithms import registry
    spec, calls = registry.get_algorithm("dqn"), [0]
    def loss(*a):
        calls[0] += 1
        if calls[0] > int(n):
            die()
        return spec.loss(*a)
    registry._ALGORITHMS["dqn"] = dataclasses.replace(spec, loss=loss)
elif kind == "savez":              # half way through writing the n-th resume.npz
    import numpy as np
    real, calls = np.savez, [0]
    def savez(f, **arrays):
        if "__meta__" in arrays:
            calls[0] += 1
            if calls[0] == int(n):
                f.write(b"PK\\x03\\x04 half a checkpoint")
                f.flush()
                die()
        return real(f, **arrays)
    np.savez = savez
elif kind == "final_eval":         # after training, during the final evaluation
    import algorithms.runs.experiment as experiment
    experiment._evaluate = lambda *a, **k: die()
from algorithms.runs.cli import main
sys.exit(main(args))
'''


def env_with_root():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def cli(*args, cwd, driver=None, timeout=120):
    command = ([sys.executable, "-c", DRIVER, driver] if driver else [sys.executable, "-m", "algorithms"])
    return subprocess.run([*command, *args], cwd=cwd, env=env_with_root(), capture_output=True, text=True,
                          timeout=timeout)


def popen(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "algorithms", *args], cwd=cwd, env=env_with_root(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_wall_time(rows):
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]


def weights(path):
    return read_npz(path)


def assert_complete_off_policy_run(run, total_steps, eval_every):
    """Every env step appears once: the episode rows tile the steps (each row's env_step is the
    previous one plus its length), evaluations sit exactly at each eval_every, no row twice; the
    final files exist and load."""
    rows = read_rows(run / "metrics.csv")
    episodes = [r for r in rows if r["episode_return"]]
    ends = [int(r["env_step"]) for r in episodes]
    lengths = [int(r["episode_length"]) for r in episodes]
    assert ends == list(np.cumsum(lengths)), "an env step is missing or counted twice"
    assert total_steps - 500 < ends[-1] <= total_steps
    evaluated = [int(r["env_step"]) for r in rows if r["eval_return"]]
    assert evaluated == list(range(eval_every, total_steps + 1, eval_every))
    assert len({tuple(r.values()) for r in without_wall_time(rows)}) == len(rows)
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert json.loads((run / "checkpoint.json").read_text()) == {"env_step": total_steps, "interrupted": False}
    summary = json.loads((run / "eval.json").read_text())
    assert summary["episodes"] == 20 and np.isfinite(summary["mean_return"])
    nets = {"q_net": nn.MLP([4, 8, 2]), "q_net_target": nn.MLP([4, 8, 2])}
    load_weights(run / "model.npz", nets)
    assert not (run / RESUME_FILE).exists() and not list(run.glob(".*.tmp"))
    return rows


# --------------------------------------------------------------------------- kill -9 and resume


@pytest.mark.parametrize("point", ["loss:150", "savez:20", "final_eval"])
def test_kill_9_then_resume_completes_with_every_env_step_once(point, tmp_path):
    killed = cli(*DQN, "--out", "run", cwd=tmp_path, driver=point)
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "running"                     # the process never got to say anything else
    if point == "savez:20":
        assert list(run.glob(".resume.npz.*.tmp")), "the kill should have left a half-written temporary"
    if point == "final_eval":
        assert read_checkpoint(run / RESUME_FILE).done     # training had ended: only the final files remain
    if point == "loss:150":
        # Someone tries a new run into the folder: refused, the folder holds an unfinished run.
        refused = cli(*DQN, "--out", "run", cwd=tmp_path)
        assert refused.returncode == 2 and "--resume" in refused.stderr and refused.stderr.count("\n") == 1
        shutil.copytree(run, tmp_path / "copy")
    resumed = cli("train", "--resume", "run", "--no-progress", "--json", "--checkpoint-every", "0", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["env_steps"] == 1500
    rows = assert_complete_off_policy_run(run, 1500, 500)
    if point == "loss:150":
        # Two resumes from one checkpoint: the same numbers, row for row and weight for weight.
        again = cli("train", "--resume", "copy", "--no-progress", "--checkpoint-every", "0", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert without_wall_time(read_rows(tmp_path / "copy" / "metrics.csv")) == without_wall_time(rows)
        assert (tmp_path / "copy" / "terms.csv").read_text() == (run / "terms.csv").read_text()
        assert (tmp_path / "copy" / "eval.json").read_text() == (run / "eval.json").read_text()
        a, b = weights(run / "model.npz"), weights(tmp_path / "copy" / "model.npz")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    if point == "final_eval":     # a finished run has nothing left to resume
        finished = cli("train", "--resume", "run", cwd=tmp_path)
        assert finished.returncode == 2 and "finished run; nothing to resume" in finished.stderr


def test_every_registered_algorithm_resumes_where_it_crashed(tmp_path, monkeypatch):
    """For each registered algorithm: checkpointing changes nothing (the rows written before a crash
    are those of an uncheckpointed run), and two resumes from the crash give the same run."""
    for name in registry.algorithm_names():
        spec = registry.get_algorithm(name)
        overrides = {"total_steps": 400, "hidden": [8], "eval_every": 200, "eval_episodes": 1,
                     **TINY_LOOP[spec.loop.name]}
        env_id = env_for(spec)
        config = load_preset(name, env_id, overrides)
        calls = {"n": 0, "crash_after": None}

        def loss(*args, real=spec.loss):
            calls["n"] += 1
            if calls["crash_after"] is not None and calls["n"] > calls["crash_after"]:
                raise RuntimeError("injected crash")
            return real(*args)

        with monkeypatch.context() as patch:
            patch.setitem(registry._ALGORITHMS, name, dataclasses.replace(spec, loss=loss))
            reference = train(name, env_id, config)
            calls.update(n=0, crash_after=calls["n"] // 2)
            with pytest.raises(RuntimeError, match="injected crash"):
                run_training(name, env_id, config, tmp_path / name, progress=False, checkpoint_every=0)
        run = tmp_path / name
        assert json.loads((run / "status.json").read_text())["status"] == "failed"
        before = without_wall_time(read_rows(run / "metrics.csv"))
        expected = [{k: ("" if r.get(k) is None else str(r[k])) for k in before[0]} for r in reference.metrics.rows]
        assert before == expected[:len(before)] and 0 < len(before) < len(expected), name
        checkpoint = read_checkpoint(run / RESUME_FILE)
        kept = (run / "metrics.csv").read_bytes()[:checkpoint.parts["metrics"]["metrics_bytes"]]
        kept_rows = before[:kept.count(b"\n") - 1]        # the rows written by the checkpoint's step
        assert kept_rows and int(kept_rows[-1]["env_step"]) <= checkpoint.env_step
        shutil.copytree(run, tmp_path / f"{name}-copy")
        first = resume_training(run, progress=False, checkpoint_every=0)
        second = resume_training(tmp_path / f"{name}-copy", progress=False, checkpoint_every=0)
        assert first == second and not first["interrupted"], name
        assert config.total_steps <= first["env_steps"] < config.total_steps + 200
        rows = read_rows(run / "metrics.csv")
        assert without_wall_time(rows) == without_wall_time(read_rows(tmp_path / f"{name}-copy" / "metrics.csv"))
        steps = [int(r["env_step"]) for r in rows]
        assert steps == sorted(steps) and without_wall_time(rows[:len(kept_rows)]) == kept_rows
        assert len(rows) > len(kept_rows) and int(rows[len(kept_rows)]["env_step"]) > checkpoint.env_step
        a, b = weights(run / "model.npz"), weights(tmp_path / f"{name}-copy" / "model.npz")
        assert all(np.array_equal(a[k], b[k]) for k in a), name


# --------------------------------------------------------------------------- signals and concurrent runs


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def metrics_rows_written(run, n):
    path = run / "metrics.csv"
    return lambda: path.exists() and path.read_text().count("\n") > n


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_cleanly_write_everything_and_say_how_to_resume(sig, status, tmp_path):
    long_run = [*DQN[:3], "--steps", "500000", *DQN[5:-2]]            # default checkpoint interval (60 s)
    proc = popen(*long_run, "--out", "run", cwd=tmp_path)
    run = tmp_path / "run"
    wait_for(metrics_rows_written(run, 3), what="training to start")
    if sig == signal.SIGTERM:
        # While it runs the folder is taken: neither a second run nor a resume may write into it.
        for args in ((*DQN, "--out", "run"), ("train", "--resume", "run")):
            refused = cli(*args, cwd=tmp_path)
            assert refused.returncode == 2 and f"in use by process {proc.pid}" in refused.stderr, refused.stderr
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    result = json.loads(out)
    assert result["interrupted"] is True and result["stopped_by"] == sig.name
    assert f"interrupted by {sig.name}" in err and "continue with: tinygrad-rl train --resume run" in err
    assert "Traceback" not in err
    for name in ("config.json", "metrics.csv", "terms.csv", "model.npz", "eval.json", "learning_curve.png"):
        assert (run / name).stat().st_size > 0, name
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert checkpoint == {"env_step": result["env_steps"], "interrupted": True}
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    saved = read_checkpoint(run / RESUME_FILE)      # written where the loop stopped: nothing is lost
    assert saved.env_step == result["env_steps"] and not saved.done


def test_two_runs_started_together_never_share_a_folder(tmp_path):
    args = [*DQN[:3], "--steps", "600", *DQN[5:]]
    procs = [popen(*args, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    folders = sorted(json.loads(out)["out"] for out, _ in outs)
    assert folders == ["runs/dqn-CartPole-v1-seed0", "runs/dqn-CartPole-v1-seed0-2"]
    rows = [assert_complete_off_policy_run(tmp_path / folder, 600, 500) for folder in folders]
    assert without_wall_time(rows[0]) == without_wall_time(rows[1])        # same seed, separate files


def test_an_untrusted_run_folder_runs_no_code(tmp_path):
    assert main([*DQN[:3], "--steps", "200", *DQN[5:], "--out", str(tmp_path / "run")]) == 0
    (tmp_path / "payload.py").write_text(f"open({str(tmp_path / 'pwned')!r}, 'w').close()\n")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "env_id": "payload:CartPole-v1"}))
    for args in (("eval", "run"), ("train", "--resume", "run")):
        proc = cli(*args, cwd=tmp_path)
        assert proc.returncode == 2 and "names a module to import" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------- bad files: one line, exit 2


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("good") / "run"
    assert main([*DQN[:3], "--steps", "300", *DQN[5:], "--out", str(run)]) == 0
    return run


def nan_weights(path):
    arrays = read_npz(path)
    arrays["q_net/layers.0.weight"][0, 0] = np.nan
    np.savez(path, **arrays)


def edit_config(**changes):
    def edit(path):
        saved = json.loads(path.read_text())
        for key, value in changes.items():
            if key in saved:
                saved[key] = value
            else:
                saved["config"][key] = value
        path.write_text(json.dumps(saved))
    return edit


BAD_FILES = {
    "model truncated": ("model.npz", lambda p: p.write_bytes(p.read_bytes()[:1000]), "truncated or damaged"),
    "model empty": ("model.npz", lambda p: p.write_bytes(b""), "empty or cut short"),
    "model random bytes": ("model.npz", lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)),
                           "not an .npz archive of plain arrays"),
    "model pickled objects": ("model.npz", lambda p: np.savez(p, **{"q_net/x": np.array([{}], dtype=object)}),
                              "not an .npz archive of plain arrays"),
    "model a single .npy": ("model.npz", lambda p: np.save(open(p, "wb"), np.zeros(3)), "holds one array"),
    "model of other networks": ("model.npz", lambda p: np.savez(p, **{"pi/w": np.zeros(2)}),
                                "holds no weights for 'q_net'"),
    "model NaN weights": ("model.npz", nan_weights, "holds NaN or inf (the run diverged)"),
    "config Box-action env": ("config.json", edit_config(env_id="Pendulum-v1"), "need a Discrete action space"),
    "config unknown env": ("config.json", edit_config(env_id="Foo-v9"), "unknown environment id 'Foo-v9'"),
    "config null env": ("config.json", edit_config(env_id=None), "env id must be a non-empty string"),
    "config a list": ("config.json", lambda p: p.write_text("[1, 2]"), "expected a JSON object"),
    "config not JSON": ("config.json", lambda p: p.write_bytes(b"\x00\xff{"), "is not valid JSON"),
    "config edited hidden": ("config.json", edit_config(hidden=[8, 8]), "does not fit the networks"),
    "config NaN lr": ("config.json", edit_config(lr=float("nan")), "expected a finite float"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_exit_2(case, good_run, tmp_path, capsys):
    name, damage, message = BAD_FILES[case]
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    damage(run / name)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and out == "", err
    assert "allow_pickle" not in err and "pickle.load" not in err


def test_a_bad_resume_checkpoint_is_one_line_exit_2(good_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    (run / "status.json").write_text(json.dumps({"status": "interrupted"}))
    config = json.loads((run / "config.json").read_text())
    cases = {"truncated": (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(100)), "truncated or damaged"),
             "empty": (lambda p: p.write_bytes(b""), "empty or cut short"),
             "weights only": (lambda p: shutil.copy(run / "model.npz", p), "is not a tinygrad-rl resume checkpoint"),
             "another run's": (lambda p: write_checkpoint(p, {}, {**config, "config": {**config["config"], "seed": 1}},
                                                          100, False), "was written by another run")}
    for case, (damage, message) in cases.items():
        damage(run / RESUME_FILE)
        capsys.readouterr()
        assert main(["train", "--resume", str(run)]) == 2, case
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (case, err)
    assert main(["train", "--resume", str(good_run)]) == 2
    assert "finished run; nothing to resume" in capsys.readouterr().err


def test_missing_box2d_names_the_extra_to_install(good_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    edit_config(env_id="LunarLander-v3")(run / "config.json")
    block = ("import sys; sys.modules['Box2D'] = None; from algorithms.runs.cli import main; "
             "sys.exit(main(sys.argv[1:]))")
    for args in (["eval", str(run)], ["train", "dqn", "LunarLander-v3", "--no-progress"]):
        proc = subprocess.run([sys.executable, "-c", block, *args], env=env_with_root(), capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 2 and "pip install -e '.[box2d]'" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_weights_and_optimiser_state_refuse_nan_unless_asked():
    net = nn.MLP([2, 3, 1], rng=0)
    state = net.state_dict()
    state["layers.0.weight"][0, 0] = np.inf
    with pytest.raises(ValueError, match="layers.0.weight holds 1 non-finite"):
        net.load_state_dict(state)
    assert np.isfinite(net.state_dict()["layers.0.weight"]).all()          # nothing was copied
    net.load_state_dict(state, allow_nonfinite=True)
    assert np.isinf(net.state_dict()["layers.0.weight"][0, 0])
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optim.Adam([x])
    bad = {**opt.state_dict(), "v": np.array([np.nan, 1.0], np.float32)}
    with pytest.raises(ValueError, match="'v' holds non-finite"):
        opt.load_state_dict(bad)
    opt.load_state_dict(bad, allow_nonfinite=True)


# --------------------------------------------------------------------------- validate before writing


@pytest.mark.parametrize("args, message", [
    (["--set", "lr=nan"], "expected a finite float"),
    (["--steps", "1e11", "--set", "buffer_size=1e11"], "of memory, but only"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be a finite number of seconds >= 0"),
    (["--out", "a-file/run"], "cannot create the output folder a-file/run"),
    # sysfs: no space and no new folders (which check speaks first depends on the kernel's statfs)
    (["--out", "/sys/tinygrad-rl-run"], ("cannot create the output folder /sys/tinygrad-rl-run", "0 bytes free")),
])
def test_bad_settings_or_an_unusable_folder_are_one_line_exit_2_and_leave_nothing(args, message, tmp_path,
                                                                                 monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["train", "dqn", "CartPole-v1", "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert any(m in err for m in ((message,) if isinstance(message, str) else message)), err
    assert err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_a_full_disk_is_found_before_writing(tmp_path, monkeypatch, capsys):
    import algorithms.runs.resources as resources
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12, 10**6))
    assert main(["train", "dqn", "CartPole-v1", "--no-progress", "--out", "deep/er/run"]) == 2
    err = capsys.readouterr().err
    assert "of disk space, but the disk holding deep/er/run has 976.6 KiB free" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_fails_later_marks_its_folder_failed_and_the_folder_can_be_reused(tmp_path, monkeypatch, capsys):
    import algorithms.runs.resume as resume

    def disk_full(path, write, mode="wb"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(resume, "atomic_write", disk_full)      # the first resume checkpoint cannot be written
        assert main([*DQN, "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "marked failed" in err and err.count("\n") == 1
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and "No space left on device" in status["error"]
    assert main([*DQN[:3], "--steps", "300", *DQN[5:], "--out", str(run)]) == 0        # reused
    assert json.loads((run / "status.json").read_text())["status"] == "finished"


# --------------------------------------------------------------------------- the mechanism, unit by unit


def test_replay_buffer_state_round_trips_through_a_wrap_and_its_size_is_known_before_allocating():
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(5, (3,))
    for i in range(7):                                   # wraps: slots 0 and 1 hold transitions 5 and 6
        buffer.add(rng.normal(size=3), i % 2, float(i), rng.normal(size=3), i == 6, False)
    copy = ReplayBuffer(5, (3,))
    copy.load_state_dict({k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in buffer.state_dict().items()})
    a, b = buffer.sample(64, np.random.default_rng(1)), copy.sample(64, np.random.default_rng(1))
    assert all(np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    copy.add(np.zeros(3), 1, 0.0, np.zeros(3), False, False)
    buffer.add(np.zeros(3), 1, 0.0, np.zeros(3), False, False)
    assert np.array_equal(copy.obs, buffer.obs)
    assert ReplayBuffer.nbytes(5, (3,)) == sum(getattr(buffer, k).nbytes for k in
                                               ("obs", "next_obs", "actions", "rewards", "terminated", "truncated",
                                                "discounts"))
    with pytest.raises(ValueError, match="do not fit capacity 4"):
        ReplayBuffer(4, (3,)).load_state_dict(buffer.state_dict())


def test_a_plugin_loop_of_its_own_resumes_through_the_same_mechanism(tmp_path, monkeypatch):
    """A loop written outside this package keeps its counters with run.keep, draws from run.rng and
    marks safe points; after a crash, the resumed run ends in exactly the uninterrupted run's state."""
    from algorithms.registry import AlgorithmSpec, Loop, get_loop
    from algorithms.runs.resume import Checkpointer

    def counting_loop(run):
        state = run.keep("loop", LoopState(step=0, draws=[]))
        while state.step < run.config.total_steps:
            state.step += 10
            state.draws.append(int(run.rng.integers(1000)))
            if state.step == 60 and os.environ.get("CRASH_PLUGIN_LOOP"):
                raise RuntimeError("injected crash")
            run.advance(state.step, 10)
            run.safe_point(state.step)
        return state.step

    base = get_loop("off_policy")
    loop = Loop("counting", counting_loop, base.networks, base.greedy_actor, base.config, "nothing")
    monkeypatch.setitem(registry._ALGORITHMS, "counting",
                        AlgorithmSpec("counting", registry.get_algorithm("dqn").loss, loop, base.config, base.networks))
    final_states, real_save = [], Checkpointer.save

    def save(self, step, done=False):
        if done:
            final_states.append(json.loads(json.dumps(self.parts["loop"].state_dict())))
        real_save(self, step, done)
    monkeypatch.setattr(Checkpointer, "save", save)
    config = load_preset("dqn", "CartPole-v1", {"total_steps": 100, "hidden": [4], "eval_every": 1000})
    assert train("counting", "CartPole-v1", config).env_steps == 100
    monkeypatch.setenv("CRASH_PLUGIN_LOOP", "1")
    with pytest.raises(RuntimeError, match="injected crash"):
        run_training("counting", "CartPole-v1", config, tmp_path / "run", progress=False, checkpoint_every=0)
    assert read_checkpoint(tmp_path / "run" / RESUME_FILE).parts["loop"]["step"] == 50
    monkeypatch.delenv("CRASH_PLUGIN_LOOP")
    assert resume_training(tmp_path / "run", progress=False, checkpoint_every=0)["env_steps"] == 100
    assert len(final_states) == 2 and final_states[0] == final_states[1]
    assert final_states[0]["step"] == 100 and len(final_states[0]["draws"]) == 10


# --------------------------------------------------------------------------- benchmark workers


def descendants(pid):
    """Pids of every live process below ``pid`` (Linux /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"       # a zombie has exited; only its parent's wait is missing


SWEEP = ["benchmark", "--algos", "q_learning", "--envs", "FrozenLake-v1", "--seeds", "4", "--workers", "2",
         "--no-progress", "--no-figures"]


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_benchmark_leaves_no_process_behind(how, tmp_path):
    proc = popen(*SWEEP, "--budget", "100000", "--out", "sweep", cwd=tmp_path)
    wait_for(lambda: len(descendants(proc.pid)) >= 3, what="two workers and the resource tracker")
    time.sleep(1.0)                                   # the workers are inside their cells
    workers = descendants(proc.pid)
    if how == "SIGTERM":
        # Meanwhile a second sweep into the same folder is refused: no cell runs twice at once.
        second = cli(*SWEEP, "--budget", "100000", "--out", "sweep", cwd=tmp_path)
        assert second.returncode == 2 and "in use by another sweep" in second.stderr
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=30)
    assert proc.returncode == (143 if how == "SIGTERM" else -signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=30, what="the workers to exit")


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_ray_retries_a_cell_whose_worker_was_killed_and_records_what_an_undisturbed_run_does(tmp_path):
    pytest.importorskip("ray")
    from algorithms.benchmark.records import RUNS_FILE, comparable, load_records
    proc = popen(*SWEEP, "--budget", "3000", "--backend", "ray", "--out", "ray", cwd=tmp_path)

    def running_cells():
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if cmdline.read_bytes().startswith(b"ray::run_cell"):
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        return found
    wait_for(lambda: running_cells(), timeout=120, what="a Ray worker running a cell")
    time.sleep(0.5)
    os.kill(running_cells()[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert main([*SWEEP[:-4], "--workers", "1", "--no-progress", "--no-figures", "--budget", "3000",
                 "--out", str(tmp_path / "local")]) == 0
    ray_records = [comparable(r) for r in load_records(tmp_path / "ray" / RUNS_FILE)]
    local_records = [comparable(r) for r in load_records(tmp_path / "local" / RUNS_FILE)]
    key = lambda r: r["cell"]["seed"]  # noqa: E731
    assert len(ray_records) == 4 and sorted(ray_records, key=key) == sorted(local_records, key=key)


# --------------------------------------------------------------------------- small things


def test_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "algorithms", "list", "dqn"], cwd=tmp_path, env=env_with_root(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                                # like `tinygrad-rl list dqn | head -0`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


def test_eval_json_has_readable_numbers(good_run):
    summary = json.loads((good_run / "eval.json").read_text())
    assert all(value == round(value, 4) for key, value in summary.items() if key != "episodes")
