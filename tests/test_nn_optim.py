"""nn modules, optimisers (against hand-computed updates), and learning XOR end to end."""
import math

import numpy as np
import pytest

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, gradcheck, nn, optim


def quadratic_steps(opt_factory, steps=3, x0=1.0):
    """Minimise f(x) = x^2 from x0; return x after each step."""
    x = Tensor(np.array([x0]), requires_grad=True)
    opt = opt_factory([x])
    xs = []
    for _ in range(steps):
        opt.zero_grad()
        (x * x).sum().backward()
        opt.step()
        xs.append(float(x.data[0]))
    return xs


def test_adam_first_three_steps_match_hand_computation():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    # By hand, in plain Python floats: g = 2x, m/v moments, bias-corrected step.
    x, m, v, expected = 1.0, 0.0, 0.0, []
    for t in (1, 2, 3):
        g = 2 * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x -= lr * (m / (1 - b1 ** t)) / (math.sqrt(v / (1 - b2 ** t)) + eps)
        expected.append(x)
    # Step 1 of Adam moves by lr * sign(g) exactly (up to eps): 1.0 -> 0.9.
    assert expected[0] == pytest.approx(0.9, abs=1e-8)
    assert expected[1] == pytest.approx(0.80041223, abs=1e-7)
    got = quadratic_steps(lambda p: optim.Adam(p, lr=lr, betas=(b1, b2), eps=eps))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_sgd_momentum_first_three_steps_match_hand_computation():
    # lr 0.1, momentum 0.9, x0 = 1:  b1 = 2 -> x = 0.8;  b2 = 0.9*2 + 1.6 = 3.4 -> x = 0.46;
    # b3 = 0.9*3.4 + 0.92 = 3.98 -> x = 0.062.
    got = quadratic_steps(lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    np.testing.assert_allclose(got, [0.8, 0.46, 0.062], rtol=1e-12)
    plain = quadratic_steps(lambda p: optim.SGD(p, lr=0.1))
    np.testing.assert_allclose(plain, [0.8, 0.64, 0.512], rtol=1e-12)


def test_adamw_decays_weights_decoupled_and_rmsprop_steps():
    # AdamW with a zero gradient only shrinks: x <- x (1 - lr wd).
    x = Tensor(np.array([2.0]), requires_grad=True)
    opt = optim.AdamW([x], lr=0.1, weight_decay=0.5)
    x.grad = np.zeros(1)
    opt.step()
    assert x.data[0] == pytest.approx(2.0 * (1 - 0.05))
    # RMSprop step 1: v = (1 - alpha) g^2, x <- x - lr g / (sqrt(v) + eps).
    got = quadratic_steps(lambda p: optim.RMSprop(p, lr=0.01, alpha=0.99), steps=1)
    assert got[0] == pytest.approx(1.0 - 0.01 * 2 / (math.sqrt(0.01 * 4) + 1e-8))


@pytest.mark.parametrize("factory,match", [
    (lambda p: optim.Adam(p, lr=0), "lr must be a finite number > 0"),
    (lambda p: optim.Adam(p, lr=-1e-3), "lr must be"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "beta1 must be in"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "beta2 must be in"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), "momentum must be in"),
    (lambda p: optim.RMSprop(p, eps=0), "eps must be"),
    (lambda p: optim.AdamW(p, weight_decay=-1), "weight_decay must be"),
    (lambda p: optim.Adam([], lr=1e-3), "empty parameter list"),
])
def test_invalid_optimiser_settings_raise_at_construction(factory, match):
    params = [Tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match=match):
        factory(params if "empty" not in match else [])


def test_optimiser_detects_a_rebound_parameter():
    net = nn.Linear(3, 2, rng=0)
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.weight.data = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(RuntimeError, match="rebound"):
        opt.step()


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_norm():
    a = Tensor(np.zeros(2), requires_grad=True)
    b = Tensor(np.zeros(1), requires_grad=True)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    assert math.sqrt(np.sum(a.grad ** 2) + np.sum(b.grad ** 2)) == pytest.approx(1.0, rel=1e-5)
    a.grad = np.array([0.3, 0.4])
    b.grad = None
    assert optim.clip_grad_norm_([a, b], max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_allclose(a.grad, [0.3, 0.4])  # below the limit: untouched


def test_linear_lr_schedule():
    x = Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([x], lr=1.0)
    sched = optim.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_steps=3)
    lrs = [opt.lr]
    for _ in range(4):
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs, [1.0, 0.7, 0.4, 0.1, 0.1])


def test_optimiser_state_round_trips():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.Adam([x], lr=0.1)
    x.grad = np.array([0.5, 0.5])
    opt.step()
    state = opt.state_dict()
    y = Tensor(x.data.copy(), requires_grad=True)
    opt2 = optim.Adam([y], lr=0.1)
    opt2.load_state_dict(state)
    x.grad = y.grad = np.array([1.0, 1.0])
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(x.data, y.data)


# ----------------------------------------------------------------------------- nn

def test_mlp_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    net = nn.MLP([2, 8, 1], activation="tanh", rng=0)
    opt = optim.Adam(net.parameters(), lr=0.05)
    for _ in range(1000):
        loss = F.mse_loss(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    np.testing.assert_array_equal(net(X).data.round(), y)


def test_state_dict_round_trips_exactly_and_checks_shapes():
    a, b = nn.MLP([4, 16, 2], rng=1), nn.MLP([4, 16, 2], rng=2)
    state = a.state_dict()
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    b.load_state_dict(state)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    with pytest.raises(ValueError, match=r"layers.0.weight has shape \(5, 16\)"):
        b.load_state_dict({**state, "layers.0.weight": np.zeros((5, 16), np.float32)})
    with pytest.raises(ValueError, match="missing keys"):
        b.load_state_dict({"layers.0.weight": state["layers.0.weight"]})


def test_load_state_dict_keeps_optimiser_views():
    net = nn.MLP([3, 4, 2], rng=0)
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.load_state_dict(nn.MLP([3, 4, 2], rng=5).state_dict())
    opt.step()  # would raise if load_state_dict had rebound a parameter


def test_parameters_are_float32_and_initialisers_have_the_right_scale():
    rng = np.random.default_rng(0)
    layer = nn.Linear(400, 300, rng=rng)
    assert layer.weight.dtype == np.float32 and layer.weight.shape == (400, 300)
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(400)
    xavier = nn.Linear(400, 300, init="xavier", gain=2.0, rng=rng)
    bound = 2.0 * math.sqrt(6 / 700)
    assert np.abs(xavier.weight.data).max() <= bound
    assert np.std(xavier.weight.data) == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.all(xavier.bias.data == 0)
    ortho = nn.Linear(64, 32, init="orthogonal", gain=1.5, rng=rng).weight.data.astype(np.float64)
    np.testing.assert_allclose(ortho.T @ ortho, 1.5 ** 2 * np.eye(32), atol=1e-5)
    with pytest.raises(ValueError, match="init must be"):
        nn.Linear(2, 2, init="he")


def test_same_seed_same_network():
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(nn.MLP([4, 8, 2], rng=3)(x).data, nn.MLP([4, 8, 2], rng=3)(x).data)
    assert not np.array_equal(nn.MLP([4, 8, 2], rng=3)(x).data, nn.MLP([4, 8, 2], rng=4)(x).data)


def test_linear_layer_gradcheck_in_float64():
    layer = nn.Linear(3, 2, rng=0).to_dtype(np.float64)
    x = np.random.default_rng(1).standard_normal((5, 3))
    assert gradcheck(lambda inp, *params: layer(inp).tanh(), [x, *layer.parameters()])
    assert gradcheck(lambda v: layer(v), [x[0]])  # a single (unbatched) input


def test_copy_params_and_polyak_update():
    online, target = nn.MLP([2, 3, 1], rng=0), nn.MLP([2, 3, 1], rng=1)
    before = {k: v.copy() for k, v in target.state_dict().items()}
    nn.polyak_update(target, online, tau=0.25)
    for name, p in target.named_parameters():
        np.testing.assert_allclose(p.data, 0.75 * before[name] + 0.25 * online.state_dict()[name], rtol=1e-6)
    nn.copy_params(target, online)
    for (_, p), (_, q) in zip(target.named_parameters(), online.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="tau must be in"):
        nn.polyak_update(target, online, tau=0.0)
    with pytest.raises(ValueError, match="networks differ|shape"):
        nn.copy_params(nn.MLP([2, 4, 1]), online)


def test_module_api():
    net = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=0))
    assert len(net.parameters()) == 4 and net.num_parameters() == 2 * 3 + 3 + 3 + 1
    net(np.ones((1, 2), np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.MLP([2, 2], activation="gelu")
    with pytest.raises(ValueError, match=r"activation must be one of \['identity', 'relu', 'tanh'\], got 'gelu'"):
        nn.activation("gelu")
    assert [type(nn.activation(name)) for name in ("relu", "tanh", "identity")] == [nn.ReLU, nn.Tanh, nn.Identity]
    with pytest.raises(ValueError, match="linear: input shape"):
        net(np.ones((1, 5), np.float32))


def test_adam_and_rmsprop_follow_their_formulas_bit_for_bit():
    """The in-place update (Adam's m and v as the rows of one array) evaluates the textbook formulas
    in the same order: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g g, then the bias-corrected
    step; RMSprop's v <- alpha v + (1 - alpha) g g, theta -= lr g / (sqrt v + eps)."""
    import math
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for cls, kw in ((optim.Adam, {}), (optim.Adam, {"weight_decay": 0.1}), (optim.AdamW, {}),
                        (optim.RMSprop, {}), (optim.RMSprop, {"weight_decay": 0.01})):
            p = Tensor(rng.standard_normal(50).astype(dtype), requires_grad=True)
            opt = cls([p], lr=1e-2, **kw)
            theta, m, v = p.data.copy(), np.zeros(50, dtype), np.zeros(50, dtype)
            for t in range(1, 20):
                g = (rng.standard_normal(50) * 10 ** rng.uniform(-8, 2)).astype(dtype)
                p.grad = g.copy()
                opt.step()
                if cls is optim.RMSprop:
                    g = g + opt.weight_decay * theta if opt.weight_decay else g
                    v *= opt.alpha
                    v += (1 - opt.alpha) * g * g
                    theta -= opt.lr * g / (np.sqrt(v) + opt.eps)
                else:
                    if opt.weight_decay and opt.decoupled:
                        theta *= 1.0 - opt.lr * opt.weight_decay
                    elif opt.weight_decay:
                        g = g + opt.weight_decay * theta
                    m *= opt.beta1
                    m += (1 - opt.beta1) * g
                    v *= opt.beta2
                    v += (g * g) * (1 - opt.beta2)
                    c2 = math.sqrt(1 - opt.beta2 ** t)
                    theta -= m / (np.sqrt(v) + opt.eps * c2) * (opt.lr * c2 / (1 - opt.beta1 ** t))
                assert theta.tobytes() == p.data.tobytes(), (cls.__name__, kw, dtype, t)


def test_centered_rmsprop_follows_pytorchs_formula():
    """m <- alpha m + (1 - alpha) g, v <- alpha v + (1 - alpha) g g, theta -= lr g / (sqrt(v - m m) + eps):
    against the formula written out (torch.optim.RMSprop(centered=True) computes the same), and a run
    that differs from the uncentered one, and a state that round trips."""
    rng = np.random.default_rng(1)
    p, q = (Tensor(np.ones(20, np.float32), requires_grad=True) for _ in range(2))
    opt = optim.RMSprop([p], lr=2.5e-4, alpha=0.95, eps=0.01, centered=True)
    plain = optim.RMSprop([q], lr=2.5e-4, alpha=0.95, eps=0.01)
    theta, m, v = p.data.astype(np.float64), np.zeros(20), np.zeros(20)
    for _ in range(10):
        g = rng.standard_normal(20).astype(np.float32) + 0.5
        p.grad, q.grad = g.copy(), g.copy()
        opt.step()
        plain.step()
        m = 0.95 * m + 0.05 * g
        v = 0.95 * v + 0.05 * g.astype(np.float64) ** 2
        theta -= 2.5e-4 * g / (np.sqrt(v - m * m) + 0.01)
    np.testing.assert_allclose(p.data, theta, rtol=1e-5)
    assert not np.allclose(p.data, q.data, rtol=1e-6)
    again = optim.RMSprop([Tensor(p.data.copy(), requires_grad=True)], lr=2.5e-4, alpha=0.95, eps=0.01,
                          centered=True)
    again.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(again.m, opt.m)
    with pytest.raises(ValueError, match="centered must be True or False"):
        optim.RMSprop([p], centered="yes")


def test_conv2d_module_has_pytorchs_init_float32_and_round_trips():
    net = nn.Sequential(nn.Conv2d(4, 16, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 5, rng=1))
    conv = net[0]
    assert conv.weight.shape == (16, 4, 3, 3) and conv.bias.shape == (16,)
    assert conv.weight.dtype == conv.bias.dtype == np.float32
    bound = 1 / math.sqrt(4 * 3 * 3)        # fan_in = in_channels * kh * kw
    assert np.abs(conv.bias.data).max() <= bound
    assert bound >= np.abs(conv.weight.data).max() > 0.98 * bound     # 576 draws reach the edge
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(conv.weight.data.std() - bound / math.sqrt(3)) < 0.1 * bound
    y = net(np.ones((2, 4, 10, 10), np.float32))
    assert y.shape == (2, 5) and y.dtype == np.float32
    state = net.state_dict()
    assert sorted(state) == ["layers.0.bias", "layers.0.weight", "layers.3.bias", "layers.3.weight"]
    other = nn.Sequential(nn.Conv2d(4, 16, 3, rng=7), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 5, rng=8))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other(np.ones((2, 4, 10, 10), np.float32)).data, y.data)
    grouped = nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, groups=2, bias=False, rng=0)
    assert grouped.weight.shape == (8, 2, 3, 2) and grouped.bias is None
    assert grouped(np.ones((1, 4, 6, 6), np.float32)).shape == (1, 8, 3, 4)


def test_conv2d_module_gradcheck_and_bad_settings():
    conv = nn.Conv2d(2, 3, 3, padding=1, rng=0).to_dtype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, conv.weight.data, conv.bias.data])
    with pytest.raises(ValueError, match="groups=2 must divide in_channels=3"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be"):
        nn.Conv2d(3, 4, 0)
