"""Every Tensor op through one check (tests/opcheck.py): forward against NumPy or a float64
reference, gradients against finite differences with a random upstream gradient, over scalar,
vector, matrix, 4-d and broadcast shapes, negative and tuple axes, and every indexing form.

Where an op has a kink or a tie, the samplers stay away from it and the convention there is
tested on its own, with PyTorch's value (PyTorch is not imported: the values are written down).
"""
import math

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from opcheck import away_from_zero, check_op, distinct, positive, uniform
from test_convolution_kernels import conv2d_loop, pool2d_loop

import tinygrad_rl.functional as F
from tinygrad_rl import Tensor, concatenate, custom_op, einsum, one_hot, stack, where

SHAPES = [(), (5,), (3, 4), (2, 3, 2, 3)]
SHAPE_IDS = ["scalar", "vector", "matrix", "4d"]
BROADCAST_PAIRS = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)),
                   ((2, 3, 2, 3), (3, 1, 3)), ((5,), ()), ((), (2, 3)), ((2, 1, 1, 3), (1, 3, 2, 1))]


def away_from(*points, margin=0.05):
    """uniform samples kept at least ``margin`` from each of ``points`` (kinks of clip)."""
    def sample(rng, shape):
        x = uniform(rng, shape)
        for p in points:
            x = np.where(np.abs(x - p) < margin, p + np.sign(x - p + 1e-12) * margin * 2, x)
        return x
    return sample


def shifted_distinct(rng, shape):
    """``distinct`` moved half a grid step: never within 0.03 of a ``distinct`` sample."""
    return distinct(rng, shape) + 0.05


def np_axis(axis, ndim):
    """The axis NumPy needs for our axis: a 0-d tensor reduces over no axis for 0 and -1."""
    return () if ndim == 0 and axis is not None else axis


# ----------------------------------------------------------------------------- elementwise

SQRT2 = math.sqrt(2.0)
UNARY = {  # name: (op, reference, sampler)
    "neg": (lambda t: -t, np.negative, uniform),
    "exp": (lambda t: t.exp(), np.exp, uniform),
    "log": (lambda t: t.log(), np.log, positive),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, positive),
    "abs": (lambda t: t.abs(), np.abs, away_from_zero),
    "sign": (lambda t: t.sign(), np.sign, away_from_zero),
    "tanh": (lambda t: t.tanh(), np.tanh, uniform),
    "sigmoid": (lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), uniform),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), away_from_zero),
    "softplus": (lambda t: t.softplus(), lambda x: np.log1p(np.exp(x)), uniform),
    "sin": (lambda t: t.sin(), np.sin, uniform),
    "cos": (lambda t: t.cos(), np.cos, uniform),
    "erf": (lambda t: t.erf(), scipy.special.erf, lambda rng, s: rng.uniform(-4.5, 4.5, s)),
    "gelu": (lambda t: t.gelu(), lambda x: x * 0.5 * (1 + scipy.special.erf(x / SQRT2)),
             lambda rng, s: rng.uniform(-4, 4, s)),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
                  lambda rng, s: rng.uniform(-4, 4, s)),
    "clip": (lambda t: t.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), away_from(-0.5, 0.7)),
    "clip_low": (lambda t: t.clip(low=-0.5), lambda x: np.maximum(x, -0.5), away_from(-0.5)),
    "clip_high": (lambda t: t.clip(high=0.7), lambda x: np.minimum(x, 0.7), away_from(0.7)),
    "pow_int": (lambda t: t ** 3, lambda x: x ** 3, uniform),
    "pow_half": (lambda t: t ** 0.5, np.sqrt, positive),
    "pow_negative": (lambda t: t ** -1.5, lambda x: x ** -1.5, positive),
    "rpow": (lambda t: 2.0 ** t, lambda x: 2.0 ** x, uniform),
    "rsub": (lambda t: 3 - t, lambda x: 3 - x, uniform),
    "rdiv": (lambda t: 10.0 / t, lambda x: 10.0 / x, away_from_zero),
    "double": (lambda t: t.double() * 2, lambda x: x.astype(np.float64) * 2, uniform),
}


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape):
    op, reference, sample = UNARY[name]
    check_op(op, reference, [shape], sample=sample)


BINARY = {  # name: (op, reference, sampler of each input)
    "add": (lambda a, b: a + b, np.add, [uniform, uniform]),
    "sub": (lambda a, b: a - b, np.subtract, [uniform, uniform]),
    "mul": (lambda a, b: a * b, np.multiply, [uniform, uniform]),
    "div": (lambda a, b: a / b, np.divide, [uniform, away_from_zero]),
    "pow": (lambda a, b: a ** b, np.power, [positive, uniform]),
    "maximum": (lambda a, b: a.maximum(b), np.maximum, [distinct, shifted_distinct]),
    "minimum": (lambda a, b: a.minimum(b), np.minimum, [distinct, shifted_distinct]),
    "where": (lambda a, b: where(np.arange(a.size).reshape(a.shape) % 3 == 0, a, b),
              lambda a, b: np.where(np.arange(a.size).reshape(a.shape) % 3 == 0, a, b), [uniform, uniform]),
}


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_with_broadcasting(name, shapes):
    op, reference, samplers = BINARY[name]
    check_op(op, reference, list(shapes), sample=samplers)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (5, 3, 2)),
                                   ((2, 1, 2, 3), (3, 3, 2))], ids=str)
def test_matmul(sa, sb):
    check_op(lambda a, b: a @ b, np.matmul, [sa, sb])


@pytest.mark.parametrize("sx", [(5, 3), (2, 4, 3), (3,)], ids=str)
def test_linear_with_and_without_bias(sx):
    check_op(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w + b, [sx, (3, 4), (4,)])
    check_op(lambda x, w: F.linear(x, w), lambda x, w: x @ w, [sx, (3, 4)])


# ----------------------------------------------------------------------------- reductions

AXES = {  # per shape: every axis form (None, int, negative, tuples mixing signs)
    (): [None, 0, -1],
    (5,): [None, 0, -1, (0,), (-1,)],
    (3, 4): [None, 0, 1, -1, -2, (0, 1), (-1, 0)],
    (2, 3, 2, 3): [None, 0, -1, -3, (1, 3), (-1, 0), (0, -2, 1, 3)],
}
AXIS_CASES = [(shape, axis) for shape in SHAPES for axis in AXES[shape]]


def _lse(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = {  # name: (op(t, axis, keepdims), reference(x, axis, keepdims), sampler)
    "sum": (lambda t, a, k: t.sum(a, keepdims=k), lambda x, a, k: np.sum(x, a, keepdims=k), uniform),
    "mean": (lambda t, a, k: t.mean(a, keepdims=k), lambda x, a, k: np.mean(x, a, keepdims=k), uniform),
    "max": (lambda t, a, k: t.max(a, keepdims=k), lambda x, a, k: np.max(x, a, keepdims=k), distinct),
    "min": (lambda t, a, k: t.min(a, keepdims=k), lambda x, a, k: np.min(x, a, keepdims=k), distinct),
    "prod": (lambda t, a, k: t.prod(a, keepdims=k), lambda x, a, k: np.prod(x, a, keepdims=k), positive),
    "var": (lambda t, a, k: t.var(a, keepdims=k), lambda x, a, k: np.var(x, a, keepdims=k), uniform),
    "std": (lambda t, a, k: t.std(a, keepdims=k), lambda x, a, k: np.std(x, a, keepdims=k), uniform),
    "logsumexp": (lambda t, a, k: t.logsumexp(a, keepdims=k), _lse, uniform),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", AXIS_CASES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims):
    op, reference, sample = REDUCTIONS[name]
    if name in ("var", "std") and shape == ():
        return  # one element: the variance is 0, and std has no derivative at 0 (its convention is tested below)
    check_op(lambda t: op(t, axis, keepdims), lambda x: reference(x, np_axis(axis, x.ndim), keepdims),
             [shape], sample=sample)


@st.composite
def axis_forms(draw):
    """A random shape and a random axis argument for it: None, an int or a tuple of distinct axes,
    each written as +a or a - ndim."""
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    form = draw(st.sampled_from(["none", "int", "tuple"]))
    if form == "none":
        return shape, None
    if ndim == 0:
        return shape, draw(st.sampled_from([0, -1, (0,), (-1,)]))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    written = tuple(a - ndim if draw(st.booleans()) else a for a in chosen)
    return shape, written[0] if form == "int" else written


@settings(max_examples=80, deadline=None)
@given(axis_forms(), st.sampled_from(sorted(REDUCTIONS) + ["flip", "softmax", "log_softmax"]), st.booleans())
def test_reductions_random_axes_hypothesis(case, name, keepdims):
    shape, axis = case
    a = np_axis(axis, len(shape))
    if name == "flip":
        check_op(lambda t: t.flip(axis), lambda x: np.flip(x, a), [shape], float32=False)
    elif name in ("softmax", "log_softmax"):
        reference = (lambda x: np.exp(x - _lse(x, a, True))) if name == "softmax" else (lambda x: x - _lse(x, a, True))
        check_op(lambda t: getattr(t, name)(axis), reference, [shape], float32=False)
    elif not (name in ("var", "std")
              and np.prod([shape[i] for i in np.atleast_1d(a)] if a not in (None, ()) else shape) < 2):
        op, reference, sample = REDUCTIONS[name]
        check_op(lambda t: op(t, axis, keepdims), lambda x: reference(x, a, keepdims), [shape], sample=sample,
                 float32=False)


@pytest.mark.parametrize("shape,axis", [(s, a) for s, a in AXIS_CASES if s != () and a is not None], ids=str)
def test_var_std_with_ddof(shape, axis):
    check_op(lambda t: t.var(axis, ddof=1), lambda x: np.var(x, axis, ddof=1), [shape])
    check_op(lambda t: t.std(axis, ddof=1, keepdims=True), lambda x: np.std(x, axis, ddof=1, keepdims=True),
             [shape])


@pytest.mark.parametrize("shape,axis", AXIS_CASES, ids=str)
def test_softmax_family(shape, axis):
    a = np_axis(axis, len(shape))
    check_op(lambda t: t.log_softmax(axis), lambda x: x - _lse(x, a, keepdims=True), [shape])
    check_op(lambda t: t.softmax(axis), lambda x: np.exp(x - _lse(x, a, keepdims=True)), [shape])


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shape,axis", [(s, a) for s in SHAPES for a in [None, 0, -1, 1]
                                        if a is None or -max(len(s), 1) <= a < max(len(s), 1)], ids=str)
def test_cumsum(shape, axis, reverse):
    """A 0-d tensor takes axis 0 or -1 and keeps its shape (PyTorch); axis None flattens (NumPy)."""
    def reference(x):
        if x.ndim == 0 and axis is not None:
            return x.copy()
        flat = x.reshape(-1) if axis is None else x
        ax = 0 if axis is None else axis
        return np.flip(np.cumsum(np.flip(flat, ax), ax), ax) if reverse else np.cumsum(flat, ax)
    check_op(lambda t: t.cumsum(axis, reverse=reverse), reference, [shape])


def test_cumsum_of_a_0d_tensor_refuses_other_axes():
    with pytest.raises(ValueError, match="cumsum: axis 1 is out of range for a tensor with 0 dimensions"):
        Tensor(2.0).cumsum(1)


def test_tile_pads_short_reps_with_ones_as_numpy_and_pytorch_tile():
    """``tile`` is NumPy's (and torch.tile): reps shorter than the dimensions count from the last axis.
    PyTorch's ``Tensor.repeat`` is the same op when reps cover every dimension, and refuses shorter reps."""
    x = Tensor(np.arange(6.0).reshape(1, 2, 3))
    np.testing.assert_array_equal(x.tile((2, 2)).data, np.tile(x.data, (1, 2, 2)))
    assert x.tile(2).shape == (1, 2, 6)


def test_reverse_cumsum_is_the_return_to_go():
    rewards = Tensor(np.array([1.0, 0.0, 2.0, 3.0]))
    np.testing.assert_array_equal(rewards.cumsum(reverse=True).data, [6.0, 5.0, 5.0, 3.0])


@pytest.mark.parametrize("shape,axis", AXIS_CASES, ids=str)
def test_flip(shape, axis):
    check_op(lambda t: t.flip(axis), lambda x: np.flip(x, np_axis(axis, x.ndim)), [shape])


def test_argmax_argmin_are_plain_arrays():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.0]]), requires_grad=True)
    for got, expected in [(x.argmax(), 3), (x.argmin(axis=1), [0, 1]), (x.argmax(axis=-1), [1, 0]),
                          (x.argmin(axis=0), [0, 1, 1])]:
        assert isinstance(got, (np.ndarray, np.integer))
        np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------- shape ops

@st.composite
def permutations(draw):
    """A random shape, a random permutation of its axes, each axis written as +a or a - ndim."""
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    perm = draw(st.permutations(range(ndim)))
    written = tuple(a - ndim if draw(st.booleans()) else a for a in perm)
    return shape, perm, written


@settings(max_examples=60, deadline=None)
@given(permutations())
def test_transpose_any_permutation_and_sign_hypothesis(case):
    shape, perm, written = case
    check_op(lambda t: t.transpose(written), lambda x: np.transpose(x, perm), [shape], float32=False)


@pytest.mark.parametrize("op,reference,shape", [
    (lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6), (2, 3, 4)),
    (lambda t: t.reshape((-1, 2)), lambda x: x.reshape(-1, 2), (2, 3, 4)),
    (lambda t: t.reshape(1, 1), lambda x: x.reshape(1, 1), ()),
    (lambda t: t.reshape(()), lambda x: x.reshape(()), (1,)),
    (lambda t: t.transpose(), np.transpose, (2, 3, 4)),
    (lambda t: t.T, lambda x: x.T, (3, 4)),
    (lambda t: t.transpose(-1, 0, -2), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 4)),
    (lambda t: t.squeeze(), np.squeeze, (1, 3, 1)),
    (lambda t: t.squeeze(-1), lambda x: np.squeeze(x, -1), (1, 3, 1)),
    (lambda t: t.expand_dims(-1), lambda x: np.expand_dims(x, -1), (3, 4)),
    (lambda t: t.expand_dims((0, 2)), lambda x: np.expand_dims(x, (0, 2)), (3, 4)),
    (lambda t: t.broadcast_to(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
    (lambda t: t.broadcast_to((4,)), lambda x: np.broadcast_to(x, (4,)), ()),
    (lambda t: t.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
    (lambda t: t.repeat(2), lambda x: np.repeat(x, 2), (2, 3)),
    (lambda t: t.repeat(3, axis=-1), lambda x: np.repeat(x, 3, axis=-1), (2, 3)),
    (lambda t: t.repeat([2, 0, 1], axis=1), lambda x: np.repeat(x, [2, 0, 1], axis=1), (2, 3)),
    (lambda t: t.repeat(2), lambda x: np.repeat(x, 2), ()),
    (lambda t: t.tile(2), lambda x: np.tile(x, 2), (2, 3)),
    (lambda t: t.tile((2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (2, 3)),
    (lambda t: t.tile((2, 2)), lambda x: np.tile(x, (2, 2)), (2, 1, 3)),
    (lambda t: t.tile(3), lambda x: np.tile(x, 3), ()),
    (lambda t: t.pad(1), lambda x: np.pad(x, 1), (2, 3)),
    (lambda t: t.pad((1, 2), value=-1.5), lambda x: np.pad(x, (1, 2), constant_values=-1.5), (2, 3)),
    (lambda t: t.pad(((0, 1), (2, 0), (1, 1))), lambda x: np.pad(x, ((0, 1), (2, 0), (1, 1))), (2, 1, 3)),
    (lambda t: t.flip(), lambda x: x[::-1, ::-1], (3, 4)),
], ids=["reshape", "reshape-1", "reshape-0d", "reshape-to-0d", "transpose", "T", "transpose-neg",
        "squeeze", "squeeze-neg", "expand_dims-neg", "expand_dims-tuple", "broadcast_to", "broadcast_to-0d",
        "expand", "repeat-flat", "repeat-axis", "repeat-counts", "repeat-0d", "tile-int", "tile-longer",
        "tile-shorter", "tile-0d", "pad-int", "pad-pair", "pad-per-axis", "flip-all"])
def test_shape_op(op, reference, shape):
    check_op(op, reference, [shape])


@pytest.mark.parametrize("how,reference", [
    (lambda t: t.split(2, axis=-1), lambda x: np.split(x, [2, 4], axis=-1)),
    (lambda t: t.split([1, 0, 4], axis=1), lambda x: np.split(x, [1, 1], axis=1)),
    (lambda t: t.split(1, axis=0), lambda x: np.split(x, 2, axis=0)),
    (lambda t: t.chunk(3, axis=-1), lambda x: np.split(x, [2, 4], axis=-1)),
    (lambda t: t.chunk(2, axis=1), lambda x: np.split(x, [3], axis=1)),
], ids=["split-size", "split-sizes", "split-axis0", "chunk-uneven", "chunk-even"])
def test_split_and_chunk(how, reference):
    # Weight each piece differently, so a gradient sent to the wrong piece shows.
    def combine(pieces, join):
        return join([p * (k + 1.0) for k, p in enumerate(pieces)])
    check_op(lambda t: combine(how(t), lambda ps: concatenate(ps, axis=1)),
             lambda x: combine(reference(x), lambda ps: np.concatenate(ps, axis=1)), [(2, 5)])


@pytest.mark.parametrize("axis", [0, 1, -1, -3])
def test_concatenate_and_stack_negative_axes(axis):
    check_op(lambda a, b: concatenate([a, b, a], axis=axis), lambda a, b: np.concatenate([a, b, a], axis=axis),
             [(2, 3, 2), (2, 3, 2)])
    check_op(lambda a, b: stack([a, b], axis=axis), lambda a, b: np.stack([a, b], axis=axis), [(3, 2), (3, 2)])


@pytest.mark.parametrize("spec,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]), ("bi,bi->b", [(3, 4), (3, 4)]), ("ij,j->i", [(3, 4), (4,)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]), ("ij->ji", [(2, 3)]), ("ij->j", [(2, 3)]), ("ijk->", [(2, 3, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]), ("ij,k->i", [(2, 3), (4,)]), ("bhq,bhk->bqk", [(2, 3, 2), (2, 3, 4)]),
], ids=str)
def test_einsum(spec, shapes):
    check_op(lambda *ts: einsum(spec, *ts), lambda *xs: np.einsum(spec, *xs), shapes)


# ----------------------------------------------------------------------------- gather

@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("index_shape", [(4, 5, 6), (3, 4, 5), (3, 1, 6), (2, 5, 2), (1, 1, 1)], ids=str)
def test_gather_follows_pytorch(axis, index_shape):
    """out[i][j][k] = x[index[i][j][k]][j][k] (axis 0); index may be smaller than x on every axis."""
    shape = (4, 5, 6)
    index = np.random.default_rng(3).integers(0, shape[axis], size=index_shape)  # with repeats

    def reference(x):
        out = np.empty(index_shape, dtype=x.dtype)
        for pos in np.ndindex(*index_shape):
            src = list(pos)
            src[axis] = index[pos]
            out[pos] = x[tuple(src)]
        return out
    check_op(lambda t: t.gather(axis, index), reference, [shape])


# ----------------------------------------------------------------------------- indexing

@st.composite
def indices(draw, shape):
    """A random NumPy index for ``shape``: ints (negative too), slices with any start, stop and
    step (negative steps too), None, one ..., and either integer arrays given as lists, tuples or
    ndarrays (broadcasting together, repeats likely) or one boolean mask over one or more axes."""
    advanced = draw(st.sampled_from(["none", "integer", "mask"]))
    length = draw(st.integers(1, 3))
    parts, axis, used_ellipsis, used_mask, n_none = [], 0, False, False, 0
    while axis < len(shape):
        choice = draw(st.integers(0, 9))
        if choice == 0 and not used_ellipsis:
            axis += draw(st.integers(0, len(shape) - axis))
            parts.append(Ellipsis)
            used_ellipsis = True
            continue
        if choice == 1 and n_none < 2:
            parts.append(None)
            n_none += 1
            continue
        if choice == 2 and not used_ellipsis:
            break  # leave the remaining axes unindexed (after ..., the parts must reach the last axis)
        size = shape[axis]
        forms = ["int", "slice"] + (["integer"] if advanced == "integer" else []) \
            + (["mask"] if advanced == "mask" and not used_mask else [])
        form = draw(st.sampled_from(forms))
        if form == "int":
            parts.append(draw(st.integers(-size, size - 1)))
        elif form == "slice":
            bound = st.one_of(st.none(), st.integers(-size - 1, size + 1))
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3, -1, -2]))))
        elif form == "integer":
            values = draw(st.lists(st.integers(-size, size - 1), min_size=length, max_size=length))
            kind = draw(st.sampled_from(["list", "tuple", "array", "array2d"]))
            parts.append({"list": values, "tuple": tuple(values), "array": np.array(values),
                          "array2d": np.array([values, values[::-1]])}[kind])
        else:
            span = draw(st.integers(1, len(shape) - axis))
            mask_shape = shape[axis:axis + span]
            bits = draw(st.lists(st.booleans(), min_size=int(np.prod(mask_shape)), max_size=int(np.prod(mask_shape))))
            parts.append(np.array(bits, dtype=bool).reshape(mask_shape))
            used_mask = True
            axis += span
            continue
        axis += 1
    if advanced == "mask" and not used_mask and draw(st.booleans()):
        parts.append(draw(st.booleans()))  # a scalar boolean adds an axis of length 1 or 0
    if len(parts) == 1 and not isinstance(parts[0], tuple) and draw(st.booleans()):
        return parts[0]  # a bare index, not a 1-tuple (a bare tuple would mean a multi-axis index)
    return tuple(parts)


@st.composite
def shapes_and_indices(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    return shape, draw(indices(shape))


@settings(max_examples=300, deadline=None)
@given(shapes_and_indices())
def test_getitem_every_index_form_hypothesis(case):
    shape, index = case
    check_op(lambda t: t[index], lambda x: x[index], [shape], float32=False)


@pytest.mark.parametrize("index", [
    1, -1, slice(None, None, -2), (Ellipsis, 1), (None, 1, Ellipsis, None), [2, 0, 2, 2], (1, 1), ((1, 1),),
    ((0, 2), (1, 1)), (np.array([[0, 1], [2, 2]]),), (slice(1, None), [0, 0, 3]), (Ellipsis, [3, 3, -1]),
    (np.array([True, False, True]),), np.array([[True, False, True, True]] * 3), (True,), (False, 0),
    ([], slice(None)), (Tensor(np.array([2, 2])), 0),
], ids=repr)
def test_getitem_named_index_forms(index):
    check_op(lambda t: t[index], lambda x: x[_np_index(index)], [(3, 4)])


def _np_index(index):
    return tuple(p.data if isinstance(p, Tensor) else p for p in index) if type(index) is tuple else index


# ----------------------------------------------------------------------------- regressions

def test_transpose_with_negative_axes_has_the_right_gradient():
    x = Tensor(np.arange(360.0).reshape(3, 4, 5, 6), requires_grad=True)
    y = x.transpose((-2, -1, 1, 0))
    assert y.shape == (5, 6, 4, 3)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_array_equal(x.grad, np.transpose(g, (3, 2, 0, 1)))


def test_transpose_rejects_non_permutations():
    x = Tensor(np.ones((2, 3, 4)))
    for axes in [(0, 1), (0, 1, 1), (0, 1, 3), (0, -1, 2), (0, 1, 2, 3)]:
        with pytest.raises(ValueError, match=r"transpose: axes .* are not a permutation"):
            x.transpose(axes)


def test_a_wrongly_shaped_gradient_raises_instead_of_being_reshaped():
    """The engine's shape repair only undoes broadcasting: a transposed gradient is a bug, loudly."""
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    bad = custom_op("bad_op", x.data * 2, (x,), lambda g: (g.T,))
    with pytest.raises(RuntimeError, match=r"bad_op: backward produced a gradient of shape \(3, 2\)"):
        bad.backward(np.ones((2, 3)))


def test_tuple_index_accumulates_repeated_positions():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[((1, 1),)].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 2, 0])


def test_gather_smaller_index_on_every_axis():
    x = np.arange(120.0).reshape(4, 5, 6)
    index = np.random.default_rng(0).integers(0, 3, size=(3, 4, 5))
    for axis in range(3):
        out = Tensor(x).gather(axis, index)
        assert out.shape == (3, 4, 5)
    out = Tensor(x).gather(0, np.zeros((3, 1, 6), dtype=int))
    assert out.shape == (3, 1, 6)
    np.testing.assert_array_equal(out.data, np.broadcast_to(x[0, :1, :], (3, 1, 6)))


def test_gather_errors_name_the_shapes():
    x = Tensor(np.ones((4, 5, 6)))
    with pytest.raises(ValueError, match=r"gather: index shape \(3, 6, 6\) is larger than tensor shape \(4, 5, 6\)"):
        x.gather(0, np.zeros((3, 6, 6), dtype=int))
    with pytest.raises(IndexError, match=r"gather: index values must be in \[0, 5\)"):
        x.gather(1, np.full((4, 5, 6), -1))
    with pytest.raises(ValueError, match="gather: index must be integers"):
        x.gather(1, np.zeros((4, 5, 6)))


def test_pow_at_base_zero_follows_pytorch():
    """PyTorch's conventions at a = 0: d/da a^0 = 0; d/db 0^b = 0 for b >= 0 (0^b is constant
    there) and -inf for b < 0; values written down from torch 2.x."""
    x = Tensor(np.array([0.0, 2.0, np.inf]), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])

    e = Tensor(np.arange(-2.0, 4.0), requires_grad=True)
    with np.errstate(divide="ignore"):
        (0.0 ** e).backward(np.ones(6))
    np.testing.assert_array_equal(e.grad, [-np.inf, -np.inf, 0, 0, 0, 0])

    a, b = Tensor(0.0, requires_grad=True), Tensor(0.3, requires_grad=True)
    (a ** b).backward()
    assert b.grad == 0.0 and a.grad == np.inf  # d/da a^0.3 = 0.3 a^-0.7 -> inf, as in PyTorch

    a, b = Tensor(0.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    (a ** b).backward()
    assert a.grad == 0.0 and b.grad == 0.0


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1, (0,), None])
def test_reductions_on_a_0d_tensor(name, axis):
    x = Tensor(2.5, requires_grad=True)
    out = getattr(x, name)(axis)
    assert out.shape == () and out.item() == pytest.approx(2.5)
    out.backward()
    assert x.grad == pytest.approx(1.0)
    assert getattr(x, name)(axis, keepdims=True).shape == ()
    with pytest.raises(ValueError, match=rf"{name}: axis 1 is out of range for a tensor with 0 dimensions"):
        getattr(x, name)(1)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match=r"clip: at least one of low and high must be given"):
        Tensor(np.ones(3)).clip(None, None)


def test_duplicate_and_out_of_range_axes_raise():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"sum: axis \(0, -2\) repeats an axis"):
        x.sum((0, -2))
    with pytest.raises(ValueError, match=r"mean: axis -3 is out of range for a tensor with 2 dimensions"):
        x.mean(-3)


# ----------------------------------------------------------------------------- conventions at kinks

def test_subgradient_conventions_match_pytorch():
    """At 0: abs, relu and sign have gradient 0; clip passes the gradient at its bounds;
    maximum/minimum split ties half and half; max/min split among k ties 1/k each."""
    x = Tensor(np.zeros(3), requires_grad=True)
    (x.abs() + x.relu() + x.sign()).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 0])

    x = Tensor(np.array([-1.0, 0.5, 1.0, 2.0]), requires_grad=True)
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 1, 1, 0])

    a, b = Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([1.0, 0.0]), requires_grad=True)
    a.minimum(b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0])

    x = Tensor(np.array([3.0, 1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [1 / 3, 0, 1 / 3, 1 / 3])


def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    x = Tensor(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]), requires_grad=True)
    x.prod(axis=1).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_std_of_equal_values_has_gradient_zero_as_in_pytorch():
    """std = 0 has no derivative; PyTorch's std_backward masks it to 0, and so do we."""
    x = Tensor(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]), requires_grad=True)
    out = x.std(axis=1, ddof=1)
    assert out.data[0] == 0.0
    out.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad[0], [0, 0, 0])
    assert np.all(np.isfinite(x.grad)) and np.all(x.grad[1] != 0)


def test_var_ddof_validation():
    with pytest.raises(ValueError, match=r"var: ddof=1 needs more than 1 elements per reduction, got 1"):
        Tensor(np.ones((3, 1))).var(axis=1, ddof=1)


# ----------------------------------------------------------------------------- erf

def test_erf_matches_scipy_to_float64_rounding():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1e-300, 0.46875, 4.0, 30.0, -30.0]])
    got, expected = Tensor(x).erf().data, scipy.special.erf(x)
    np.testing.assert_allclose(got, expected, rtol=2e-15, atol=0)
    special = Tensor(np.array([np.inf, -np.inf, np.nan])).erf().data
    np.testing.assert_array_equal(special[:2], [1.0, -1.0])
    assert np.isnan(special[2])
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    got32 = Tensor(x32).erf().data
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, scipy.special.erf(x32.astype(np.float64)), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- comparisons

def test_comparisons_return_boolean_arrays_and_hashing_stays_identity():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 2.0, 1.0]))
    cases = [(a < b, [1, 0, 0]), (a <= b, [1, 1, 0]), (a > b, [0, 0, 1]), (a >= b, [0, 1, 1]),
             (a == b, [0, 1, 0]), (a != b, [1, 0, 1]), (a > 1.5, [0, 1, 1]), (2.0 < a, [0, 0, 1]),
             (np.array([1.0, 1.0, 5.0]) >= a, [1, 0, 1]), (a == [1, 0, 3], [1, 0, 1])]
    for got, expected in cases:
        assert type(got) is np.ndarray and got.dtype == bool
        np.testing.assert_array_equal(got, np.array(expected, dtype=bool))
    assert (a == None) is False and (a != None) is True  # noqa: E711
    with pytest.raises(TypeError):
        a < "x"
    with pytest.raises(ValueError, match=r"lt: shapes \(3,\) and \(2,\) do not broadcast"):
        a < np.ones(2)
    assert len({a, b, a}) == 2 and {a: 1}[a] == 1  # dict keys and set members by identity
    masked = a[a > 1.5]  # a mask indexes directly
    masked.sum().backward()
    np.testing.assert_array_equal(a.grad, [0, 1, 1])


# ----------------------------------------------------------------------------- casts and creation

def test_astype_float_double():
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3, 3])
    assert x.double().dtype == np.float64
    ints = x.astype(np.int64)
    assert ints.dtype == np.int64 and not ints.requires_grad  # a cast to integers carries no gradient
    assert Tensor(np.array([True, False])).float().dtype == np.float32


def test_one_hot():
    out = one_hot(np.array([[0, 2], [1, 1]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float64 and not out.requires_grad
    np.testing.assert_array_equal(out.data[0], [[1, 0, 0], [0, 0, 1]])
    assert Tensor.one_hot([1], 2, dtype=np.float32).dtype == np.float32
    assert F.one_hot is one_hot
    with pytest.raises(ValueError, match=r"one_hot: indices must be in \[0, 3\), got values in \[0, 3\]"):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="one_hot: indices must be integers"):
        one_hot([0.0], 3)


def test_creation_functions():
    assert Tensor.zeros(2, 3).shape == (2, 3) and Tensor.zeros((2, 3)).dtype == np.float64
    assert Tensor.ones(4, dtype=np.float32).dtype == np.float32
    assert Tensor.zeros(2, requires_grad=True).requires_grad
    np.testing.assert_array_equal(Tensor.full((2,), 7.0).data, [7.0, 7.0])
    np.testing.assert_array_equal(Tensor.arange(5).data, np.arange(5))
    np.testing.assert_array_equal(Tensor.arange(1.0, 2.0, 0.5).data, [1.0, 1.5])
    np.testing.assert_array_equal(Tensor.eye(2, 3).data, np.eye(2, 3))
    a, b = Tensor.randn(3, 4, rng=7), Tensor.randn((3, 4), rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.data, b.data)  # a seed and a Generator of that seed agree
    np.testing.assert_array_equal(a.data, np.random.default_rng(7).standard_normal((3, 4)))
    assert Tensor.randn(2, rng=0, dtype=np.float32).dtype == np.float32
    u = Tensor.uniform(1000, low=-2.0, high=3.0, rng=1)
    assert u.data.min() >= -2.0 and u.data.max() < 3.0 and abs(u.data.mean() - 0.5) < 0.15
    r = Tensor.rand(1000, rng=2).data
    assert r.min() >= 0 and r.max() < 1
    with pytest.raises(ValueError, match=r"randn: rng must be a non-negative int seed or an np.random.Generator"):
        Tensor.randn(3, rng=None)
    with pytest.raises(ValueError, match=r"zeros: dimensions must be >= 0, got shape \(2, -1\)"):
        Tensor.zeros(2, -1)
    with pytest.raises(ValueError, match="uniform: need low < high"):
        Tensor.uniform(2, low=1.0, high=1.0, rng=0)


# ----------------------------------------------------------------------------- what stays unsupported

def test_unsupported_raises_clear_errors():
    with pytest.raises(ValueError, match="only floating-point tensors can require grad, got dtype int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(ValueError, match="only floating-point tensors can require grad"):
        Tensor.arange(3, requires_grad=True)
    x = Tensor(np.ones((5, 2)), requires_grad=True)
    with pytest.raises(IndexError, match=r"getitem: boolean index did not match .* \(tensor shape \(5, 2\), "
                                          r"index bool array \(4,\)\)"):
        x[np.array([True, False, True, True])]
    with pytest.raises(ValueError, match=r"einsum: '\.\.\.' is not supported"):
        einsum("...ij,jk", x, x)
    with pytest.raises(ValueError, match=r"einsum: subscripts 'ii' do not name each of the 2 axes"):
        einsum("ii->i", Tensor(np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"einsum: index 'j' has sizes 2 and 3"):
        einsum("ij,jk->ik", x, Tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match="one or two operands"):
        einsum("i,i,i->", *[Tensor(np.ones(2))] * 3)
    with pytest.raises(ValueError, match=r"split: sizes \[1, 1\] do not add up to 5"):
        x.split([1, 1])
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(5, 2\) to \(5, 3\)"):
        x.broadcast_to(5, 3)
    with pytest.raises(ValueError, match=r"repeat: repeats must be a non-negative int or 2 of them"):
        x.repeat([1, 2, 3], axis=1)
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh'"):
        x.gelu("erf")


# ----------------------------------------------------------------------------- convolution and pooling
# Against direct loops (tests/test_convolution_kernels.py), each index summed one at a time. The float32
# pass checks the output and gradient dtypes (the loops compute in float64: their result is cast back).

def _in_dtype_of(reference):
    return lambda *arrays: reference(*arrays).astype(np.result_type(*arrays))


# (x shape, weight shape, stride, padding, dilation, groups, bias)
CONV2D_SUITE = [
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, 0, 1, 1, True),
    ((1, 2, 7, 5), (3, 2, 3, 3), 2, 1, 1, 1, True),           # odd sizes, stride 2, padding 1
    ((2, 4, 7, 6), (6, 2, 3, 2), 1, 2, 2, 2, False),          # dilation 2, groups 2, no bias
    ((1, 3, 6, 7), (3, 1, 2, 2), (2, 1), (1, 0), (1, 2), 3, True),   # depthwise, per-axis settings
    ((2, 4, 10, 10), (16, 4, 3, 3), 1, 0, 1, 1, True),        # the MinAtar layer on 4 channels
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups, bias", CONV2D_SUITE)
def test_conv2d(xs, ws, stride, padding, dilation, groups, bias):
    settings = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias:
        check_op(lambda x, w, b: F.conv2d(x, w, b, **settings),
                 _in_dtype_of(lambda x, w, b: conv2d_loop(x, w, b, **settings)), [xs, ws, (ws[0],)])
    else:
        check_op(lambda x, w: F.conv2d(x, w, **settings),
                 _in_dtype_of(lambda x, w: conv2d_loop(x, w, **settings)), [xs, ws])


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", [
    ((2, 3, 9), (4, 3, 3), 1, 0, 1, 1), ((1, 4, 11), (6, 2, 3), 2, 1, 2, 2), ((3, 2, 5), (2, 1, 5), 1, 2, 1, 2)])
def test_conv1d(xs, ws, stride, padding, dilation, groups):
    def reference(x, w, b):
        return conv2d_loop(x[:, :, None], w[:, :, None], b, stride=(1, stride), padding=(0, padding),
                           dilation=(1, dilation), groups=groups)[:, :, 0]
    check_op(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups), _in_dtype_of(reference),
             [xs, ws, (ws[0],)])


@pytest.mark.parametrize("shape, kernel_size, stride, padding", [
    ((2, 3, 6, 6), 2, None, 0), ((1, 2, 7, 5), 3, 2, 1), ((2, 1, 5, 7), (2, 3), (1, 2), (1, 1)),
    ((1, 2, 4, 4), 4, 1, 0)])
@pytest.mark.parametrize("reduce", ["max", "avg"])
def test_pooling(reduce, shape, kernel_size, stride, padding):
    op = F.max_pool2d if reduce == "max" else F.avg_pool2d
    check_op(lambda x: op(x, kernel_size, stride, padding),
             _in_dtype_of(lambda x: pool2d_loop(x, kernel_size, stride, padding, reduce)), [shape],
             sample=distinct if reduce == "max" else uniform)


def test_conv2d_gives_no_input_gradient_nobody_asked_for():
    rng = np.random.default_rng(0)
    x, w = Tensor(rng.standard_normal((2, 3, 5, 5))), Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)


def test_conv_errors_name_the_op_and_the_shapes():
    x, w = Tensor(np.zeros((2, 3, 5, 5))), Tensor(np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(2, 3, 5, 5\) has 3 channels but weight of "
                                         r"shape \(4, 2, 3, 3\)"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"max_pool2d: input of shape \(2, 3, 5, 5\) is too small"):
        F.max_pool2d(x, 6)
