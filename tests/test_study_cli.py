"""`tinygrad-rl gradcheck` and `tinygrad-rl graph` on real batches for every registered algorithm and
a user's plugin (a custom op with a wrong backward must fail), and `train --anomaly`."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms import registry
from algorithms.networks import trained_nets
from algorithms.presets import load_preset
from algorithms.runs.cli import main
from algorithms.runs.study import check_loss_gradients, loss_setup

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "hidden=8,8", "--batch", "8"]

SOFTSIGN_PLUGIN = '''
import numpy as np

import tinygrad_rl.functional as F
from algorithms import register_algorithm
from algorithms.losses import dqn_targets
from tinygrad_rl import Tensor, custom_op

WRONG_BACKWARD = {wrong}


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|);  d/dx = 1 / (1 + |x|)^2."""
    d = 1 + np.abs(x.data)
    slope = (lambda g: (g / d,)) if WRONG_BACKWARD else (lambda g: (g / (d * d),))
    return custom_op("softsign", x.data / d, (x,), slope)


def softsign_dqn_loss(batch, nets, config):
    y = dqn_targets(batch, nets["q_net_target"], config.gamma)
    q = softsign(nets["q_net"](Tensor(batch.obs)))[np.arange(len(batch)), batch.actions]
    loss = F.mse_loss(q, y.astype(q.dtype))
    return loss, {{"td": loss}}


register_algorithm("{name}", loss=softsign_dqn_loss, loop="off_policy")
'''


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "algorithms", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def parameter_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("parameter")) + 2
    end = next(i for i in range(start, len(lines)) if " parameters pass" in lines[i] or lines[i].startswith("FAIL"))
    return [line.split() for line in lines[start:end]]


@pytest.mark.parametrize("name", registry.algorithm_names())
def test_gradcheck_passes_for_every_registered_algorithm(name, capsys):
    spec = registry.get_algorithm(name)
    # CartPole; the Box-action loop's algorithms on Pendulum; the first env of a loop that trains on
    # some envs only (a planner's).
    env_id = ("Pendulum-v1" if spec.loop.name == "off_policy_continuous" else "CartPole-v1") \
        if spec.loop.envs is None else spec.loop.envs()[0]
    assert main(["gradcheck", name, env_id, *SMALL]) == 0
    out = capsys.readouterr().out
    rows = parameter_rows(out)
    config = load_preset(name, env_id, {"hidden": [8, 8]})
    _, nets, _ = loss_setup(name, env_id, config, 8)
    expected = [f"{net}.{sub}" for net in trained_nets(nets) for sub, _ in nets[net].named_parameters()]
    assert expected[0].split(".")[0] in ("q_net", "actor_critic", "actor", "dynamics")
    assert [r[0] for r in rows] == expected and all(r[-1] == "pass" for r in rows)
    assert f"{len(rows)} of {len(rows)} parameters pass" in out


@pytest.mark.parametrize("args", [["ppo", "Pendulum-v1"], ["a2c", "CartPole-v1", "--set", "shared_trunk=true"],
                                  ["reinforce", "CartPole-v1", "--set", "baseline=none"]],
                         ids=["gaussian-ppo", "shared-trunk-a2c", "reinforce-no-baseline"])
def test_gradcheck_plans_per_term_checks(args, capsys):
    assert main(["gradcheck", *args, *SMALL]) == 0
    out = capsys.readouterr().out
    rows = {r[0]: r for r in parameter_rows(out)}
    if args[0] == "ppo":
        assert "actor_critic.log_std" in rows and "policy, entropy" in " ".join(rows["actor_critic.log_std"])
    elif args[0] == "a2c":
        assert "policy, value, entropy" in " ".join(rows["actor_critic.trunk.layers.0.weight"])
    else:  # the value network is in no term: checked against the total, whose gradient must be 0
        assert rows["actor_critic.value.layers.0.weight"][-3:] == ["total", "0.0e+00", "pass"]


def test_per_term_check_passes_a_stop_gradient_baseline_that_a_whole_loss_check_fails():
    spec = registry.get_algorithm("reinforce")
    config = load_preset("reinforce", "CartPole-v1", {"hidden": [6], "baseline": "learned"})
    _, nets, batch = loss_setup("reinforce", "CartPole-v1", config, 8)
    check = check_loss_gradients(spec, nets, batch, config)
    assert check.passed and "linear combination of its terms" in check.plan
    assert {tuple(r.objectives) for r in check.parameters} == {("policy",), ("value",)}


def test_gradcheck_fails_for_a_plugin_whose_custom_op_has_a_wrong_backward(tmp_path):
    (tmp_path / "wrong_softsign.py").write_text(SOFTSIGN_PLUGIN.format(wrong=True, name="wrong_softsign_dqn"))
    (tmp_path / "right_softsign.py").write_text(SOFTSIGN_PLUGIN.format(wrong=False, name="right_softsign_dqn"))
    proc = cli("gradcheck", "wrong_softsign_dqn", "CartPole-v1", "--plugin", "wrong_softsign.py", *SMALL,
               cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = parameter_rows(proc.stdout)
    assert [r[0] for r in rows][0] == "q_net.layers.0.weight" and all(r[-1] == "FAIL" for r in rows)
    assert "FAIL q_net.layers.0.weight: total: element" in proc.stdout
    proc = cli("gradcheck", "right_softsign_dqn", "CartPole-v1", "--plugin", "right_softsign.py", *SMALL,
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 of 6 parameters pass" in proc.stdout
    proc = cli("graph", "right_softsign_dqn", "CartPole-v1", "--plugin", "right_softsign.py", "--out", "g.dot",
               *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'label="softsign"' in (tmp_path / "g.dot").read_text()


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".dot", ".txt"])
def test_graph_writes_each_format(suffix, tmp_path, capsys):
    out = tmp_path / f"dqn{suffix}"
    assert main(["graph", "dqn", "CartPole-v1", "--out", str(out), *SMALL]) == 0
    data = out.read_bytes()
    start = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF", ".dot": b"digraph", ".txt": b"dqn loss"}[suffix]
    assert data.startswith(start)
    if suffix in (".dot", ".txt"):
        text = data.decode()
        assert "q_net.layers.0.weight" in text and "batch.obs" in text and "loss (= term 'td')" in text
        assert "q_net_target" not in text      # the target network is a constant: never in the graph
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_graph_with_gradients_and_bad_arguments(tmp_path, capsys):
    out = tmp_path / "a2c.txt"
    assert main(["graph", "a2c", "CartPole-v1", "--out", str(out), "--grads", *SMALL]) == 0
    rows = [line.split() for line in out.read_text().splitlines()[4:-1]]
    held = {r[4]: r[-1] for r in rows if r[1] == "leaf"}
    assert held and all(float(v) > 0 for v in held.values())
    assert main(["graph", "a2c", "CartPole-v1", "--out", str(tmp_path / "a2c.jpg")]) == 2
    assert "expected one of .png, .svg, .pdf, .dot, .txt" in capsys.readouterr().err
    assert main(["gradcheck", "nope", "CartPole-v1"]) == 2
    assert "unknown algorithm 'nope'" in capsys.readouterr().err


NAN_PLUGIN = '''
from algorithms import register_algorithm
from algorithms.losses import dqn_loss
from tinygrad_rl import Tensor


def nan_dqn_loss(batch, nets, config):
    loss, terms = dqn_loss(batch, nets, config)
    q = nets["q_net"](Tensor(batch.obs))
    shifted = q - float(q.data.max()) - 1.0           # every entry negative
    bad = shifted.log().mean()                        # log of a negative number: NaN
    return loss + 0.0 * bad, {**terms, "bad": bad}


register_algorithm("{name}", loss=nan_dqn_loss, loop="off_policy")
'''
TRAIN = ["--steps", "60", "--no-progress", "--set", "learning_starts=50", "--set", "train_freq=1",
         "--set", "batch_size=8", "--set", "hidden=8", "--set", "eval_every=1000"]


def test_train_anomaly_names_the_op_and_the_plugin_line(tmp_path, capsys):
    plugin = tmp_path / "nan_plugin_for_anomaly.py"
    plugin.write_text(NAN_PLUGIN.replace("{name}", "nan_dqn"))
    try:
        with np.errstate(invalid="ignore"):
            assert main(["train", "nan_dqn", "CartPole-v1", "--plugin", str(plugin), "--out",
                         str(tmp_path / "plain"), *TRAIN]) == 1
        err = capsys.readouterr().err
        assert "non-finite loss at env step 51: term 'total' = nan" in err and "rerun with --anomaly" in err
        with np.errstate(invalid="ignore"):
            assert main(["train", "nan_dqn", "CartPole-v1", "--plugin", str(plugin), "--out",
                         str(tmp_path / "anomaly"), "--anomaly", *TRAIN]) == 1
        err = capsys.readouterr().err
        line = plugin.read_text().splitlines().index("    bad = shifted.log().mean()                        "
                                                     "# log of a negative number: NaN") + 1
        assert "'log' produced nan in the forward pass" in err and f"{plugin}:{line}, in nan_dqn_loss" in err
    finally:
        registry.unregister_algorithm("nan_dqn")
