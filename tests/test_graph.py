"""The recorded graph made visible (nodes, summary, DOT, drawing), custom ops and their
gradchecks, anomaly mode (the op, the pass and the line where a NaN or inf was born), and
gradcheck's parameter names and stop-gradient behaviour."""
import inspect
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from algorithms.buffers import Episodes
from algorithms.configs import EpisodicConfig
from algorithms.losses import reinforce_loss
from algorithms.networks import ActorCritic, EnvSpaces
from tinygrad_rl import (
    AnomalyError,
    GradcheckError,
    Tensor,
    custom_op,
    detect_anomaly,
    gradcheck,
    graph,
    is_anomaly_enabled,
    nn,
    no_grad,
)


def expression():
    """loss = sum(relu(x * w) + 1): two parameters, one scalar constant, four ops."""
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    w = Tensor(np.array([0.5, 0.5, -1.0]), requires_grad=True)
    h = (x * w).relu()
    loss = (h + 1.0).sum()
    return x, w, h, loss


# --------------------------------------------------------------------------- graph API


def test_nodes_of_a_hand_built_expression_in_computation_order():
    x, w, h, loss = expression()
    order = graph.nodes(loss)
    assert len(order) == 7
    assert [t.op for t in order] == ["", "", "*", "relu", "", "+", "sum"]
    assert order[0] is x and order[1] is w and order[3] is h and order[-1] is loss
    assert order[2].parents == (x, w) and h.parents == (order[2],) and x.parents == ()
    assert order[4].size == 1 and not order[4].requires_grad          # the lifted constant 1.0
    position = {id(t): i for i, t in enumerate(order)}
    assert all(position[id(p)] < position[id(t)] for t in order for p in t.parents)


def test_summary_and_dot_label_parameters_constants_and_ops():
    x, w, h, loss = expression()
    table = graph.summary(loss, names={"x": x, "w": w, "hidden": h}).splitlines()
    assert table[0].split() == ["#", "op", "shape", "dtype", "name", "inputs", "grad", "norm"]
    rows = [line.split() for line in table[2:-1]]
    assert [r[1] for r in rows] == ["leaf", "leaf", "*", "relu", "const", "+", "sum"]
    assert rows[0][4] == "x" and rows[1][4] == "w" and rows[3][4] == "hidden"
    assert rows[2][4:6] == ["0", "1", ] and rows[2][-1] == "-"        # inputs 0 1, no gradient yet
    assert table[-1] == "7 tensors: 4 ops, 2 parameters (6 numbers), 1 constants"
    dot = graph.to_dot(loss, names={"x": x, "w": w})
    assert dot.startswith("digraph") and dot.count("->") == 5          # the scalar 1.0 is folded into "add"
    assert 'label="add\\nx + 1"' in dot and 'label="x\\n(3,)"' in dot


def test_graph_survives_backward_and_shows_gradients():
    x, w, h, loss = expression()
    loss.backward()
    assert len(graph.nodes(loss)) == 7
    rows = [line.split() for line in graph.summary(loss, names={"x": x}).splitlines()[2:-1]]
    np.testing.assert_allclose(float(rows[0][-1]), np.linalg.norm(x.grad), rtol=1e-3)
    np.testing.assert_array_equal(h.grad, [1.0, 1.0, 1.0])   # a non-leaf's .grad: d loss / d h
    assert rows[4][-1] == "-"                                  # the constant holds none
    assert "‖grad‖" in graph.to_dot(loss, grads=True)


def test_names_from_a_module_and_a_dict_of_networks():
    net = nn.MLP([3, 4, 2], rng=0)
    obs = np.ones((5, 3), dtype=np.float32)
    loss = net(Tensor(obs)).sum()
    text = graph.summary(loss, names={"q_net": net, "batch.obs": obs})
    assert "q_net.layers.0.weight" in text and "q_net.layers.2.bias" in text and "batch.obs" in text
    assert "layers.0.weight" in graph.summary(loss, names=net)
    with no_grad():
        constant = net(Tensor(obs))
    assert graph.nodes(constant) == [constant] and constant.op == "linear" and constant.parents == ()


def test_draw_writes_a_picture_after_backward_with_gradients(tmp_path):
    net = nn.MLP([3, 8, 2], rng=0)
    loss = (net(Tensor(np.ones((4, 3)))) ** 2).mean()
    loss.backward()
    for suffix in ("png", "svg"):
        path = graph.draw(loss, tmp_path / f"g.{suffix}", names=net, grads=True, title="a test")
        assert (tmp_path / f"g.{suffix}").stat().st_size > 1000 and str(path).endswith(suffix)
    assert matplotlib.image.imread(tmp_path / "g.png").shape[2] in (3, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "g.svg"]   # no temporary file left
    with pytest.raises(ValueError, match="must end in"):
        graph.draw(loss, tmp_path / "g.jpg")
    deep = Tensor(np.ones(2), requires_grad=True)
    for _ in range(graph.MAX_DRAWN):
        deep = deep.tanh()
    with pytest.raises(ValueError, match=r"401 tensors to draw.*summary\(\) or to_dot\(\)"):
        graph.draw(deep, tmp_path / "deep.png")


# --------------------------------------------------------------------------- custom ops


def log1p(x: Tensor) -> Tensor:
    """log(1 + x);  d/dx = 1 / (1 + x)."""
    data = x.data
    return custom_op("log1p", np.log1p(data), (x,), lambda g: (g / (1 + data),))


def softsign(x: Tensor, backward="right") -> Tensor:
    """x / (1 + |x|);  d/dx = 1 / (1 + |x|)^2."""
    d = 1 + np.abs(x.data)
    slopes = {"right": lambda g: (g / (d * d),),
              "wrong_formula": lambda g: (g / d,),               # forgot to square
              "forgot_g": lambda g: (1 / (d * d),)}              # forgot the chain rule's g
    return custom_op("softsign", x.data / d, (x,), slopes[backward])


@pytest.mark.parametrize("example", ["custom_op.py", "op_unit.py"])
def test_the_docs_custom_op_examples_run_as_printed(example, capsys):
    """The engine guide's "Your own op" page shows these files (and what they print) verbatim."""
    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / example
    assert f"<!-- run-example: docs/examples/{example} -->" in (path.parents[1] / "engine" / "custom_op.md").read_text()
    namespace: dict = {"__name__": "example"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)   # its asserts are the test
    assert namespace["softsign"](Tensor(np.array([1.0]))).item() == 0.5


def test_custom_ops_pass_gradcheck():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 2.0, (3, 4))
    assert gradcheck(log1p, [x])
    assert gradcheck(lambda t: softsign(t), [rng.standard_normal((3, 4))])
    assert gradcheck(lambda t: softsign(t * 2.0).sum(), [rng.standard_normal(5)])
    y = softsign(Tensor(np.array([0.5, -1.0]), requires_grad=True))
    assert y.op == "softsign" and len(y.parents) == 1


@pytest.mark.parametrize("wrong", ["wrong_formula", "forgot_g"])
@pytest.mark.parametrize("summed", [False, True])
def test_gradcheck_catches_a_wrong_custom_backward_also_when_summed(wrong, summed):
    x = np.random.default_rng(1).standard_normal((2, 3))
    fn = (lambda t: softsign(t, wrong).sum()) if summed else (lambda t: softsign(t, wrong))
    with pytest.raises(GradcheckError, match="gradcheck failed for input 0"):
        gradcheck(fn, [x])


def test_custom_op_refuses_bad_arguments_and_a_backward_of_the_wrong_arity():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="not a Tensor"):
        custom_op("bad", x * 2, (x,), lambda g: (g,))
    with pytest.raises(ValueError, match="non-empty string"):
        custom_op("", x.data, (x,), lambda g: (g,))
    bad = custom_op("two_grads", x.data * 2, (x,), lambda g: (g, g))
    with pytest.raises(TypeError, match=r"custom op 'two_grads': backward must return a tuple of 1 gradient"):
        bad.sum().backward()
    bare = custom_op("bare", x.data * 2, x, lambda g: 2 * g)
    with pytest.raises(TypeError, match="got a ndarray"):
        bare.sum().backward()


# --------------------------------------------------------------------------- anomaly mode


def test_anomaly_mode_names_the_op_and_line_of_a_nan_born_in_forward():
    x = Tensor(np.array([1.0, 0.0, 2.0]), requires_grad=True)
    with detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(AnomalyError) as caught:
            line = inspect.currentframe().f_lineno + 1
            (x * 3).log()
    err = caught.value
    assert (err.op, err.phase, err.output_shape, err.input_shapes) == ("log", "forward", (3,), [(3,)])
    assert err.site[0] == __file__ and err.site[1] == line
    message = str(err)
    assert "'log' produced -inf in the forward pass" in message and "born here" in message
    assert f"{__file__}:{line}" in message and "(x * 3).log()" in message
    assert not is_anomaly_enabled()


def test_anomaly_mode_names_the_op_and_line_of_an_inf_born_in_backward():
    x = Tensor(np.array([4.0, 0.0, 1.0]), requires_grad=True)
    with detect_anomaly(), np.errstate(divide="ignore"):
        line = inspect.currentframe().f_lineno + 1
        y = x.sqrt()                      # finite forward: sqrt(0) = 0
        loss = (y * 2).sum()
        with pytest.raises(AnomalyError) as caught:
            loss.backward()               # d sqrt / dx = 1 / (2 sqrt 0) = inf
    err = caught.value
    assert (err.op, err.phase, err.input_shapes) == ("sqrt", "backward", [(3,)])
    assert err.site[1] == line and f"{__file__}:{line}" in str(err) and "y = x.sqrt()" in str(err)
    assert "'sqrt' produced inf in the backward pass" in str(err) and "finite upstream gradient" in str(err)


def test_anomaly_mode_blames_data_fed_in_and_a_custom_op_backward():
    with detect_anomaly():
        with pytest.raises(AnomalyError, match="input 0 .* was already non-finite"):
            Tensor(np.array([np.nan, 1.0])) + Tensor(np.ones(2), requires_grad=True)
        x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = custom_op("leaky", x.data * 2, (x,), lambda g: (g * np.array([1.0, np.nan]),))
        with pytest.raises(AnomalyError, match="'leaky' produced nan in the backward pass"):
            y.sum().backward()


def test_outside_anomaly_mode_nothing_is_recorded_and_nothing_raises():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        y = x.log()
    assert not hasattr(y, "_site") and np.isneginf(y.data[0])
    with detect_anomaly():
        z = x * 2
    assert z._site[0][0] == __file__


# --------------------------------------------------------------------------- gradcheck names and stop-gradients


def test_gradcheck_names_the_parameter_of_a_module_or_a_dict_of_networks():
    net = nn.MLP([3, 4, 2], rng=0).to_dtype(np.float64)
    obs = np.random.default_rng(0).standard_normal((5, 3))
    assert gradcheck(lambda *p: (net(Tensor(obs)) ** 2).mean(), net)

    def wrong(*params):
        return softsign(net(Tensor(obs)), "wrong_formula").mean()
    with pytest.raises(GradcheckError, match=r"gradcheck failed for layers\.0\.weight \(shape \(3, 4\)\)"):
        gradcheck(wrong, net)
    with pytest.raises(GradcheckError, match=r"gradcheck failed for q_net\.layers\.0\.weight") as caught:
        gradcheck(wrong, {"q_net": net})
    assert caught.value.result.name == "q_net.layers.0.weight" and not caught.value.result.passed
    with pytest.raises(GradcheckError, match=r"for layers\.0\.weight"):
        gradcheck(wrong, net.named_parameters())


def test_a_stop_gradient_baseline_fails_a_whole_loss_check_by_design():
    # REINFORCE's learned baseline enters the policy term as V(s).data: finite differences of the
    # whole loss see V move the policy term, backward (rightly) does not. Per term, both pass.
    ac = ActorCritic(EnvSpaces(3, True, n_actions=2), [5], "tanh", seed=2).to_dtype(np.float64)
    rng = np.random.default_rng(1)
    batch = Episodes(rng.standard_normal((6, 3)), rng.integers(0, 2, 6), 3.0 * rng.standard_normal(6))
    config = EpisodicConfig(baseline="learned", normalize_returns=False)
    loss = lambda *p: reinforce_loss(batch, {"actor_critic": ac}, config)     # noqa: E731
    with pytest.raises(GradcheckError, match=r"value\.layers"):
        gradcheck(lambda *p: loss()[0], {"actor_critic": ac})
    assert gradcheck(lambda *p: loss()[1]["value"], ac.value)
    assert gradcheck(lambda *p: loss()[1]["policy"], ac.policy)
