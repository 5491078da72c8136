"""helpers.attention: softmax, scaled dot-product attention, heads, multi-head attention."""

import math

import numpy as np
import pytest

from helpers.attention import (
    AttentionParams,
    init_attention,
    merge_heads,
    multi_head_attention,
    scaled_dot_product_attention,
    softmax,
    split_heads,
)

# ---------------------------------------------------------------- reference loops (tests may loop)


def loop_softmax(row):
    """Softmax of one row of Python floats; -inf entries get weight 0; an all -inf row gives zeros."""
    finite = [v for v in row if v != -math.inf]
    if not finite:
        return [0.0] * len(row)
    top = max(finite)
    exps = [math.exp(v - top) if v != -math.inf else 0.0 for v in row]
    return [e / sum(exps) for e in exps]


def loop_attention(q, k, v, mask=None):
    """One (n_q, d_k) x (n_k, d_k) x (n_k, d_v) attention, entry by entry."""
    n_q, d_k = q.shape
    n_k, d_v = v.shape
    weights = np.zeros((n_q, n_k))
    out = np.zeros((n_q, d_v))
    for i in range(n_q):
        scores = []
        for j in range(n_k):
            if mask is not None and not mask[i, j]:
                scores.append(-math.inf)
            else:
                scores.append(sum(float(q[i, t]) * float(k[j, t]) for t in range(d_k)) / math.sqrt(d_k))
        weights[i] = loop_softmax(scores)
        for j in range(n_k):
            out[i] += weights[i, j] * v[j]
    return out, weights


def loop_multi_head(x, p: AttentionParams, key_mask=None):
    """Multi-head self-attention for one sequence x (n, d_model), one head at a time."""
    n = x.shape[0]
    mask = None if key_mask is None else np.broadcast_to(key_mask[None, :], (n, n))
    heads, weights = [], []
    for i in range(p.n_heads):
        cols = slice(i * p.d_k, (i + 1) * p.d_k)
        q = x @ p.w_q[:, cols] + p.b_q[cols]
        k = x @ p.w_k[:, cols] + p.b_k[cols]
        v = x @ p.w_v[:, cols] + p.b_v[cols]
        out, w = loop_attention(q, k, v, mask)
        heads.append(out)
        weights.append(w)
    return np.concatenate(heads, axis=1) @ p.w_o + p.b_o, np.stack(weights)


def random_attention(rng, d_model=8, n_heads=2, dtype=np.float64):
    w = lambda: (rng.normal(size=(d_model, d_model)) / np.sqrt(d_model)).astype(dtype)
    b = lambda: (0.5 * rng.normal(size=d_model)).astype(dtype)
    return AttentionParams(w(), b(), w(), b(), w(), b(), w(), b(), n_heads)


# ---------------------------------------------------------------- softmax


def test_softmax_matches_the_definition(rng):
    x = rng.normal(size=(4, 6)) * 3
    y = softmax(x)
    for i in range(4):
        np.testing.assert_allclose(y[i], loop_softmax(x[i].tolist()), rtol=1e-13)
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-14)


def test_softmax_axis_and_shift_invariance(rng):
    x = rng.normal(size=(3, 4, 5))
    np.testing.assert_allclose(softmax(x, axis=1), np.swapaxes(softmax(np.swapaxes(x, 1, 2)), 1, 2), rtol=1e-14)
    np.testing.assert_allclose(softmax(x + 123.0), softmax(x), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_with_huge_logits_is_finite_and_right(dtype):
    x = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4], [3e38, -3e38, 0]], dtype=dtype)
    y = softmax(x)
    assert y.dtype == dtype and np.isfinite(y).all()
    np.testing.assert_array_equal(y[0], [1, 0, 0])
    np.testing.assert_array_equal(y[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(y[2], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_array_equal(y[3], [1, 0, 0])


def test_softmax_fully_masked_row_is_zero_not_nan():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, np.log(3.0)]])
    y = softmax(x)
    np.testing.assert_array_equal(y[0], [0, 0, 0])
    np.testing.assert_allclose(y[1], [0.25, 0, 0.75], rtol=1e-15)


def test_softmax_rejects_integer_input():
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        softmax(np.array([1, 2, 3]))


# ---------------------------------------------------------------- scaled dot-product attention


def test_sdpa_matches_the_entry_by_entry_loop(rng):
    q, k = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    v = rng.normal(size=(6, 5))
    mask = rng.random((4, 6)) < 0.7
    mask[:, 0] = True
    for m in (None, mask):
        out, w = scaled_dot_product_attention(q, k, v, m)
        ref_out, ref_w = loop_attention(q, k, v, m)
        assert out.shape == (4, 5) and w.shape == (4, 6)
        np.testing.assert_allclose(w, ref_w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-14)


def test_sdpa_masked_keys_get_exactly_zero_and_weights_renormalise(rng):
    q, k, v = (rng.normal(size=(5, 4)) for _ in range(3))
    key_mask = np.array([True, True, False, True, False])
    out, w = scaled_dot_product_attention(q, k, v, key_mask)       # (n_k,) broadcasts over queries
    assert (w[:, ~key_mask] == 0).all()
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-14)
    # Same as attending over the real keys only.
    out_real, w_real = scaled_dot_product_attention(q, k[key_mask], v[key_mask])
    np.testing.assert_allclose(out, out_real, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(w[:, key_mask], w_real, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_fully_masked_query_gives_zero_weights_and_zero_output(rng, dtype):
    q, k, v = (rng.normal(size=(3, 4)).astype(dtype) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[1] = False
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert out.dtype == w.dtype == dtype
    assert np.isfinite(out).all() and np.isfinite(w).all()
    np.testing.assert_array_equal(w[1], 0)
    np.testing.assert_array_equal(out[1], 0)
    out_rest, _ = scaled_dot_product_attention(q[[0, 2]], k, v)
    np.testing.assert_allclose(out[[0, 2]], out_rest, rtol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_with_scores_of_1e4_is_finite_and_picks_the_winner(dtype):
    # Scores q.k / sqrt(d_k) of +-1e4: exp would overflow without the max subtraction.
    d_k = 4
    q = np.array([[2e4, 0, 0, 0], [-2e4, 0, 0, 0]], dtype=dtype)    # / sqrt(4) = +-1e4 per unit key
    k = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=dtype)
    v = np.arange(12, dtype=dtype).reshape(3, d_k)
    out, w = scaled_dot_product_attention(q, k, v)
    assert np.isfinite(out).all() and np.isfinite(w).all()
    np.testing.assert_array_equal(w, [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(out, v[[0, 2]])


def test_sdpa_leading_batch_dims_equal_per_item_calls(rng):
    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    mask = rng.random((2, 3, 1, 5)) < 0.8
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert out.shape == (2, 3, 5, 4) and w.shape == (2, 3, 5, 5)
    for a in range(2):
        for b in range(3):
            o, ww = scaled_dot_product_attention(q[a, b], k[a, b], v[a, b], mask[a, b])
            np.testing.assert_allclose(out[a, b], o, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(w[a, b], ww, rtol=1e-13, atol=1e-15)


def test_sdpa_rejects_bad_shapes_and_masks(rng):
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match=r"k must have last dimension d_k = 4.*got shape \(5, 3\)"):
        scaled_dot_product_attention(q, k[:, :3], v)
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 5, d_v\), got \(4, 2\)"):
        scaled_dot_product_attention(q, k, v[:4])
    with pytest.raises(ValueError, match=r"at least 2-D.*got shapes \(4,\), \(5, 4\), \(5, 2\)"):
        scaled_dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match=r"mask must be broadcastable to \(\.\.\., n_q, n_k\) = \(3, 5\).*"
                                         r"got shape \(3, 4\)"):
        scaled_dot_product_attention(q, k, v, np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="mask must be a boolean array .* got dtype int64"):
        scaled_dot_product_attention(q, k, v, np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="q must be a float32 or float64 array, got dtype int64"):
        scaled_dot_product_attention(np.ones((3, 4), dtype=np.int64), k, v)


# ---------------------------------------------------------------- split_heads / merge_heads


def test_split_heads_gives_head_i_the_columns_i_dk_to_i_plus_1_dk(rng):
    x = rng.normal(size=(2, 5, 12))
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for i in range(3):
        np.testing.assert_array_equal(heads[:, i], x[..., i * 4:(i + 1) * 4])


@pytest.mark.parametrize("shape, h", [((5, 12), 1), ((5, 12), 4), ((2, 5, 12), 6), ((2, 3, 5, 12), 12)])
def test_split_then_merge_heads_is_the_identity(rng, shape, h):
    x = rng.normal(size=shape)
    heads = split_heads(x, h)
    assert heads.shape == shape[:-2] + (h, shape[-2], 12 // h)
    np.testing.assert_array_equal(merge_heads(heads), x)
    np.testing.assert_array_equal(split_heads(merge_heads(heads), h), heads)


@pytest.mark.parametrize("h", [5, 0])
def test_split_heads_rejects_heads_that_do_not_divide_d_model(h):
    with pytest.raises(ValueError, match=f"n_heads={h} must divide d_model=12"):
        split_heads(np.zeros((3, 12)), h)


def test_merge_heads_rejects_too_few_dims():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., h, n, d_k\), got shape \(3, 4\)"):
        merge_heads(np.zeros((3, 4)))


# ---------------------------------------------------------------- AttentionParams / init_attention


def test_attention_params_validate_shapes_and_heads(rng):
    good = random_attention(rng, 8, 2)
    assert (good.d_model, good.d_k) == (8, 4)
    arrays = dict(w_q=good.w_q, b_q=good.b_q, w_k=good.w_k, b_k=good.b_k, w_v=good.w_v, b_v=good.b_v,
                  w_o=good.w_o, b_o=good.b_o)
    with pytest.raises(ValueError, match=r"w_k must have shape \(8, 8\), got shape \(8, 6\)"):
        AttentionParams(**{**arrays, "w_k": good.w_k[:, :6]}, n_heads=2)
    with pytest.raises(ValueError, match=r"b_o must have shape \(8,\), got shape \(7,\)"):
        AttentionParams(**{**arrays, "b_o": good.b_o[:7]}, n_heads=2)
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=8"):
        AttentionParams(**arrays, n_heads=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_attention_shapes_dtypes_and_bounds(dtype):
    d_model = 16
    p = init_attention(np.random.default_rng(1), d_model, 4, dtype=dtype)
    assert p.n_heads == 4 and p.d_k == 4
    xavier = math.sqrt(6 / (d_model + 3 * d_model))
    for name in ("w_q", "w_k", "w_v"):
        w = getattr(p, name)
        assert w.shape == (d_model, d_model) and w.dtype == dtype
        assert np.abs(w).max() <= xavier and np.abs(w).max() > 0.5 * xavier
    assert np.abs(p.w_o).max() <= 1 / math.sqrt(d_model)
    for name in ("b_q", "b_k", "b_v", "b_o"):
        bias = getattr(p, name)
        assert bias.dtype == dtype
        np.testing.assert_array_equal(bias, 0)
    assert not np.array_equal(p.w_q, p.w_k)        # separate projections, not one reused
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=16"):
        init_attention(np.random.default_rng(1), d_model, 3)


# ---------------------------------------------------------------- multi_head_attention


@pytest.mark.parametrize("d_model, h", [(8, 1), (8, 2), (12, 3)])
def test_multi_head_attention_equals_an_explicit_per_head_loop(rng, d_model, h):
    p = random_attention(rng, d_model, h)
    x = rng.normal(size=(2, 5, d_model))
    key_mask = np.array([[True] * 5, [True, True, True, False, False]])
    out, w = multi_head_attention(x, p, key_mask[:, None, None, :])
    assert out.shape == (2, 5, d_model) and w.shape == (2, h, 5, 5)
    for b in range(2):
        ref_out, ref_w = loop_multi_head(x[b], p, key_mask[b])
        np.testing.assert_allclose(out[b], ref_out, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(w[b], ref_w, rtol=1e-11, atol=1e-15)
    assert (w[1][..., 3:] == 0).all()


def test_multi_head_attention_batch_dims_equal_per_item_calls(rng):
    p = random_attention(rng, 8, 2)
    x = rng.normal(size=(2, 3, 4, 8))
    mask = rng.random((2, 3, 1, 1, 4)) < 0.8
    out, w = multi_head_attention(x, p, mask)
    assert out.shape == (2, 3, 4, 8) and w.shape == (2, 3, 2, 4, 4)
    for a in range(2):
        for b in range(3):
            o, ww = multi_head_attention(x[a, b], p, mask[a, b])
            np.testing.assert_allclose(out[a, b], o, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(w[a, b], ww, rtol=1e-12, atol=1e-15)
    o_single, _ = multi_head_attention(x[0, 0], p)
    assert o_single.shape == (4, 8)


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float32), (np.float32, np.float64),
                                              (np.float64, np.float32), (np.float64, np.float64)])
def test_multi_head_attention_output_dtype_follows_x(rng, x_dtype, p_dtype):
    p = random_attention(rng, 8, 2, dtype=p_dtype)
    x = rng.normal(size=(3, 8)).astype(x_dtype)
    out, w = multi_head_attention(x, p)
    assert out.dtype == w.dtype == x_dtype
    # The reference: float64 arithmetic on the same (possibly float32-rounded) numbers.
    p64 = AttentionParams(*(getattr(p, f).astype(np.float64) for f in
                            ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")), n_heads=2)
    ref, _ = loop_multi_head(x.astype(np.float64), p64)
    np.testing.assert_allclose(out, ref, rtol=1e-4 if x_dtype == np.float32 else 1e-12, atol=1e-5)


def test_multi_head_attention_rejects_bad_inputs(rng):
    p = random_attention(rng, 8, 2)
    with pytest.raises(ValueError, match=r"x must have last dimension d_model = 8.*got shape \(3, 6\)"):
        multi_head_attention(rng.normal(size=(3, 6)), p)
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        multi_head_attention(np.ones((3, 8), dtype=np.int64), p)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n, 8\), got shape \(8,\)"):
        multi_head_attention(rng.normal(size=8), p)
    with pytest.raises(ValueError, match=r"mask for x of shape \(2, 3, 8\).*scores \(2, 2, 3, 3\).*must have 4 axes.*got shape \(2, 4\)"):
        multi_head_attention(rng.normal(size=(2, 3, 8)), p, np.ones((2, 4), bool))
