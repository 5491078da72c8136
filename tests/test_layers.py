"""helpers.layers: linear, layer norm, relu, erf, gelu, the position-wise feed-forward network."""

import math

import numpy as np
import pytest

from helpers.layers import (
    ACTIVATIONS,
    FeedForwardParams,
    LayerNormParams,
    erf,
    feed_forward,
    gelu,
    gelu_tanh,
    init_feed_forward,
    layer_norm,
    linear,
    relu,
)

# ---------------------------------------------------------------- linear


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (2, 2, 3, 5)])
def test_linear_is_x_at_w_plus_b_for_every_position(rng, shape):
    x = rng.normal(size=shape)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    out = linear(x, w, b)
    assert out.shape == shape[:-1] + (3,)
    flat_x, flat_out = x.reshape(-1, 5), out.reshape(-1, 3)
    for i in range(flat_x.shape[0]):
        for j in range(3):
            expected = sum(flat_x[i, t] * w[t, j] for t in range(5)) + b[j]
            assert abs(flat_out[i, j] - expected) < 1e-12


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_linear_output_dtype_follows_x(rng, x_dtype, p_dtype):
    x = rng.normal(size=(3, 4)).astype(x_dtype)
    w, b = rng.normal(size=(4, 2)).astype(p_dtype), rng.normal(size=2).astype(p_dtype)
    out = linear(x, w, b)
    assert out.dtype == x_dtype
    np.testing.assert_allclose(out, x.astype(np.float64) @ w.astype(np.float64) + b, rtol=1e-5, atol=1e-5)


def test_linear_rejects_bad_inputs(rng):
    with pytest.raises(ValueError, match=r"x must have last dimension d_in = 4.*got shape \(3, 5\)"):
        linear(rng.normal(size=(3, 5)), rng.normal(size=(4, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        linear(np.ones((3, 4), dtype=np.int64), rng.normal(size=(4, 2)), np.zeros(2))


# ---------------------------------------------------------------- layer norm


def loop_layer_norm(row, gamma, beta, eps=1e-5):
    d = len(row)
    mean = sum(row) / d
    var = sum((v - mean) ** 2 for v in row) / d          # biased, as PyTorch
    return [(v - mean) / math.sqrt(var + eps) * g + b for v, g, b in zip(row, gamma, beta, strict=True)]


def test_layer_norm_matches_the_formula_row_by_row(rng):
    x = rng.normal(size=(2, 3, 6)) * 4 + 2
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    y = layer_norm(x, gamma, beta)
    assert y.shape == x.shape
    for index in np.ndindex(x.shape[:-1]):
        np.testing.assert_allclose(y[index], loop_layer_norm(x[index].tolist(), gamma, beta), rtol=1e-12, atol=1e-13)


def test_layer_norm_gives_mean_0_variance_1_per_token_and_respects_eps(rng):
    x = rng.normal(size=(5, 16)) * 10 - 3
    y = layer_norm(x, np.ones(16), np.zeros(16))
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-14)
    np.testing.assert_allclose(y.var(-1), 1 / (1 + 1e-5 / x.var(-1)), rtol=1e-12)
    # A bigger eps shrinks the output: var(y) = var(x) / (var(x) + eps).
    y_big_eps = layer_norm(x, np.ones(16), np.zeros(16), eps=float(x.var(-1).min()))
    assert (y_big_eps.var(-1) < 0.99).all()
    # Each token on its own: a token's output does not depend on the other tokens.
    np.testing.assert_allclose(layer_norm(x[2:3], np.ones(16), np.zeros(16)), y[2:3], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [0.0, 2.5, 0.1, -1 / 3, 1e6 + 0.1, -7e4])
def test_layer_norm_of_a_constant_vector_is_exactly_beta(rng, dtype, value):
    d = 7
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    x = np.full((3, d), value, dtype=dtype)
    y = layer_norm(x, gamma, beta)
    assert y.dtype == dtype and np.isfinite(y).all()
    np.testing.assert_array_equal(y, np.broadcast_to(beta.astype(dtype), (3, d)))


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float32), (np.float32, np.float64),
                                              (np.float64, np.float32), (np.float64, np.float64)])
def test_layer_norm_dtype_follows_x(rng, x_dtype, p_dtype):
    x = (rng.normal(size=(4, 8)) * 3).astype(x_dtype)
    gamma, beta = rng.normal(size=8).astype(p_dtype), rng.normal(size=8).astype(p_dtype)
    y = layer_norm(x, gamma, beta)
    assert y.dtype == x_dtype
    ref = np.array([loop_layer_norm(row, gamma.astype(float), beta.astype(float)) for row in x.astype(float).tolist()])
    np.testing.assert_allclose(y, ref, rtol=1e-5 if x_dtype == np.float32 else 1e-12, atol=1e-5)


def test_layer_norm_rejects_bad_inputs(rng):
    x = rng.normal(size=(3, 8))
    with pytest.raises(ValueError, match=r"gamma must have shape \(8,\), got shape \(6,\)"):
        layer_norm(x, np.ones(6), np.zeros(8))
    with pytest.raises(ValueError, match=r"beta must have shape \(8,\), got shape \(1, 8\)"):
        layer_norm(x, np.ones(8), np.zeros((1, 8)))
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        layer_norm(np.ones((3, 8), dtype=np.int64), np.ones(8), np.zeros(8))


def test_layer_norm_params_validate():
    p = LayerNormParams([1.0, 2.0], [0.0, 0.5])
    assert isinstance(p.gamma, np.ndarray) and p.beta.shape == (2,)
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\), got shape \(2,\)"):
        LayerNormParams(np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"gamma must have shape \(d_model,\), got shape \(2, 2\)"):
        LayerNormParams(np.ones((2, 2)), np.zeros((2, 2)))


# ---------------------------------------------------------------- relu, erf, gelu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu(dtype):
    x = np.array([[-2.0, -0.0, 0.0], [1e-30, 3.5, -1e30]], dtype=dtype)
    y = relu(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, [[0, 0, 0], [dtype(1e-30), 3.5, 0]])
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        relu(np.array([1, -1]))


def test_erf_float64_matches_math_erf_to_1e_14():
    xs = np.linspace(-10, 10, 20001)
    xs = np.concatenate([xs, [2.5 - 1e-12, 2.5, 2.5 + 1e-12, 1e-300, -1e-8]])  # the branch edge, tiny x
    got = erf(xs)
    assert got.dtype == np.float64
    expected = np.array([math.erf(v) for v in xs])
    assert np.abs(got - expected).max() <= 1e-14


def test_erf_float32_matches_math_erf_to_1e_6():
    xs = np.linspace(-10, 10, 20001, dtype=np.float32)
    got = erf(xs)
    assert got.dtype == np.float32
    expected = np.array([math.erf(float(v)) for v in xs])
    assert np.abs(got.astype(np.float64) - expected).max() <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_is_odd_saturates_and_handles_scalars(dtype):
    x = np.array([0.0, 0.3, 1.7, 4.0, 40.0, 1e30, np.finfo(dtype).max, np.inf], dtype=dtype)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_array_equal(erf(x)[-4:], 1)                 # no overflow warning, no NaN
    assert np.isnan(erf(np.array([np.nan], dtype=dtype))).all()
    scalar = erf(np.array(0.5, dtype=dtype))                    # 0-d input gives a 0-d result
    assert np.shape(scalar) == () and np.asarray(scalar).dtype == dtype
    assert abs(float(scalar) - math.erf(0.5)) < 1e-6


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_gelu_matches_the_exact_formula(dtype, tol):
    xs = np.linspace(-8, 8, 4001).astype(dtype)
    got = gelu(xs)
    assert got.dtype == dtype and got.shape == xs.shape
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs.astype(np.float64)])
    assert np.abs(got.astype(np.float64) - expected).max() <= tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_at_large_magnitudes_is_relu(dtype):
    big = np.array([1e4, 1e20, np.finfo(dtype).max], dtype=dtype)
    np.testing.assert_array_equal(gelu(big), big)
    np.testing.assert_array_equal(gelu(-big), 0)
    assert gelu(np.array(1.0, dtype=dtype)).shape == ()
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        gelu(np.array([1]))


def test_activations_table():
    assert ACTIVATIONS == {"relu": relu, "gelu": gelu, "gelu_tanh": gelu_tanh}


# ---------------------------------------------------------------- feed-forward


def random_ffn(rng, d_model=6, d_ff=10, dtype=np.float64):
    return FeedForwardParams(
        rng.normal(size=(d_model, d_ff)).astype(dtype), rng.normal(size=d_ff).astype(dtype),
        rng.normal(size=(d_ff, d_model)).astype(dtype), rng.normal(size=d_model).astype(dtype),
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_matches_the_formula_position_by_position(rng, activation):
    p = random_ffn(rng)
    x = rng.normal(size=(2, 4, 6))
    y = feed_forward(x, p, activation)
    assert y.shape == (2, 4, 6)
    act = {"relu": lambda v: max(v, 0.0), "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))}[activation]
    for b in range(2):
        for i in range(4):
            hidden = [act(float(x[b, i] @ p.w_1[:, j] + p.b_1[j])) for j in range(10)]
            expected = np.array(hidden) @ p.w_2 + p.b_2
            np.testing.assert_allclose(y[b, i], expected, rtol=1e-12, atol=1e-12)


def test_feed_forward_never_mixes_positions(rng):
    p = random_ffn(rng)
    x = rng.normal(size=(5, 6))
    perm = rng.permutation(5)
    # Not bit for bit: a BLAS kernel may treat a row differently by where it falls in its tiles.
    # Float64 round-off on these O(1) values is ~1e-16; atol covers outputs near 0.
    np.testing.assert_allclose(feed_forward(x[perm], p), feed_forward(x, p)[perm], rtol=1e-13, atol=1e-14)
    x2 = x.copy()
    x2[3] += 1.0
    changed = np.any(feed_forward(x2, p) != feed_forward(x, p), axis=-1)
    np.testing.assert_array_equal(changed, [False, False, False, True, False])


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float64), (np.float64, np.float32), (np.float32, np.float32)])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_dtype_follows_x(rng, x_dtype, p_dtype, activation):
    p = random_ffn(rng, dtype=p_dtype)
    x = rng.normal(size=(3, 6)).astype(x_dtype)
    y = feed_forward(x, p, activation)
    assert y.dtype == x_dtype
    p64 = FeedForwardParams(*(a.astype(np.float64) for a in (p.w_1, p.b_1, p.w_2, p.b_2)))
    np.testing.assert_allclose(y, feed_forward(x.astype(np.float64), p64, activation), rtol=1e-4, atol=1e-4)


def test_feed_forward_rejects_bad_inputs(rng):
    p = random_ffn(rng)
    with pytest.raises(ValueError, match=r"x must have last dimension d_model = 6.*got shape \(3, 5\)"):
        feed_forward(rng.normal(size=(3, 5)), p)
    with pytest.raises(ValueError, match=r"activation must be one of \['gelu', 'gelu_tanh', 'relu'\], got 'tanh'"):
        feed_forward(rng.normal(size=(3, 6)), p, "tanh")
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        feed_forward(np.ones((3, 6), dtype=np.int64), p)


def test_feed_forward_params_validate(rng):
    p = random_ffn(rng, 6, 10)
    assert (p.d_model, p.d_ff) == (6, 10)
    with pytest.raises(ValueError, match=r"w_1 must have shape \(d_model, d_ff\), got shape \(6,\)"):
        FeedForwardParams(np.ones(6), p.b_1, p.w_2, p.b_2)
    with pytest.raises(ValueError, match=r"b_1 must have shape \(10,\), got shape \(6,\)"):
        FeedForwardParams(p.w_1, np.ones(6), p.w_2, p.b_2)
    with pytest.raises(ValueError, match=r"w_2 must have shape \(10, 6\), got shape \(6, 10\)"):
        FeedForwardParams(p.w_1, p.b_1, p.w_1, p.b_2)
    with pytest.raises(ValueError, match=r"b_2 must have shape \(6,\), got shape \(10,\)"):
        FeedForwardParams(p.w_1, p.b_1, p.w_2, p.b_1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_feed_forward(dtype):
    d_model, d_ff = 16, 64
    p = init_feed_forward(np.random.default_rng(5), d_model, d_ff, dtype=dtype)
    assert p.w_1.shape == (d_model, d_ff) and p.b_1.shape == (d_ff,)
    assert p.w_2.shape == (d_ff, d_model) and p.b_2.shape == (d_model,)
    for name, fan_in in (("w_1", d_model), ("b_1", d_model), ("w_2", d_ff), ("b_2", d_ff)):
        a = getattr(p, name)
        assert a.dtype == dtype
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.5 * bound, name
