"""helpers.encoder: the encoder block (post-LN and pre-LN), the stack, masks, parameter counts."""

import math

import numpy as np
import pytest

from helpers.encoder import (
    EncoderBlockParams,
    count_parameters,
    encoder_block,
    encoder_stack,
    init_encoder_block,
    init_encoder_stack,
    key_padding_to_attention_mask,
)
from helpers.layers import FeedForwardParams, LayerNormParams

# ---------------------------------------------------------------- an explicit reference, one sequence at a time


def ref_layer_norm(x, ln: LayerNormParams, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * ln.gamma + ln.beta


def ref_self_attention(x, a, key_mask):
    """x (n, d_model) -> (n, d_model), weights (h, n, n); one head at a time."""
    n = x.shape[0]
    heads, weights = [], np.zeros((a.n_heads, n, n))
    for i in range(a.n_heads):
        cols = slice(i * a.d_k, (i + 1) * a.d_k)
        q = x @ a.w_q[:, cols] + a.b_q[cols]
        k = x @ a.w_k[:, cols] + a.b_k[cols]
        v = x @ a.w_v[:, cols] + a.b_v[cols]
        scores = q @ k.T / math.sqrt(a.d_k)
        if key_mask is not None:
            scores[:, ~key_mask] = -np.inf
        if key_mask is None or key_mask.any():
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            weights[i] = e / e.sum(axis=1, keepdims=True)
        heads.append(weights[i] @ v)                          # all keys masked: zero weights, zero output
    return np.concatenate(heads, axis=1) @ a.w_o + a.b_o, weights


def ref_feed_forward(x, f: FeedForwardParams, activation):
    hidden = x @ f.w_1 + f.b_1
    if activation == "relu":
        hidden = np.maximum(hidden, 0)
    else:
        hidden = 0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / math.sqrt(2)))
    return hidden @ f.w_2 + f.b_2


def ref_block(x, p: EncoderBlockParams, key_mask=None):
    """The block for one sequence x (n, d_model), composed step by step."""
    if p.norm_first:
        attended, w = ref_self_attention(ref_layer_norm(x, p.norm1, p.eps), p.attention, key_mask)
        x = x + attended
        x = x + ref_feed_forward(ref_layer_norm(x, p.norm2, p.eps), p.feed_forward, p.activation)
    else:
        attended, w = ref_self_attention(x, p.attention, key_mask)
        x = ref_layer_norm(x + attended, p.norm1, p.eps)
        x = ref_layer_norm(x + ref_feed_forward(x, p.feed_forward, p.activation), p.norm2, p.eps)
    return x, w


def ref_batch(x, p, mask=None):
    outs, ws = zip(*(ref_block(x[b], p, None if mask is None else mask[b]) for b in range(x.shape[0])), strict=True)
    return np.stack(outs), np.stack(ws)


# ---------------------------------------------------------------- encoder_block


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_equals_the_explicit_composition(rng, make_block, make_mask, norm_first, activation):
    p = make_block(rng, 16, 4, 32, norm_first=norm_first, activation=activation)
    x = rng.normal(size=(3, 6, 16))
    mask = make_mask([6, 4, 1], 6)
    out, w = encoder_block(x, p, mask, return_attention=True)
    ref_out, ref_w = ref_batch(x, p, mask)
    assert out.shape == (3, 6, 16) and w.shape == (3, 4, 6, 6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(w, ref_w, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(encoder_block(x, p), ref_batch(x, p)[0], rtol=1e-11, atol=1e-12)


def test_post_ln_and_pre_ln_differ(rng, make_block):
    p = make_block(rng)
    x = rng.normal(size=(4, 16))
    p_pre = EncoderBlockParams(p.attention, p.feed_forward, p.norm1, p.norm2, norm_first=True)
    assert not np.allclose(encoder_block(x, p), encoder_block(x, p_pre))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_block_all_padding_sequence_is_finite_and_harmless(rng, make_block, make_mask, norm_first):
    p = make_block(rng, norm_first=norm_first)
    x = rng.normal(size=(3, 5, 16))
    mask = make_mask([5, 0, 2], 5)
    out, w = encoder_block(x, p, mask, return_attention=True)
    assert np.isfinite(out).all() and np.isfinite(w).all()
    np.testing.assert_array_equal(w[1], 0)                      # no key to attend to
    # The other sequences do not notice the empty one.
    np.testing.assert_allclose(out[[0, 2]], encoder_block(x[[0, 2]], p, mask[[0, 2]]), rtol=1e-13, atol=1e-14)


def test_encoder_block_attention_weights_respect_the_mask(rng, make_block, make_mask):
    p = make_block(rng)
    mask = make_mask([5, 3], 5)
    _, w = encoder_block(rng.normal(size=(2, 5, 16)), p, mask, return_attention=True)
    assert (w[1][..., 3:] == 0).all()                           # padded keys get exactly zero weight
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-13)        # every query still has real keys


def test_encoder_block_mask_forms(rng, make_block):
    p = make_block(rng)
    x = rng.normal(size=(2, 5, 16))
    key_mask = np.array([True, True, True, False, True])
    np.testing.assert_array_equal(encoder_block(x, p, key_mask), encoder_block(x, p, np.tile(key_mask, (2, 1))))
    np.testing.assert_allclose(encoder_block(x, p, np.ones((2, 5), bool)), encoder_block(x, p), rtol=1e-14)


def test_encoder_block_leading_dims_equal_per_item_calls(rng, make_block, make_mask):
    p = make_block(rng, norm_first=True, activation="gelu")
    x = rng.normal(size=(2, 3, 4, 16))
    mask = make_mask([4, 2, 3, 1, 4, 2], 4).reshape(2, 3, 4)
    out, w = encoder_block(x, p, mask, return_attention=True)
    assert out.shape == (2, 3, 4, 16) and w.shape == (2, 3, 4, 4, 4)
    for a in range(2):
        np.testing.assert_allclose(out[a], encoder_block(x[a], p, mask[a]), rtol=1e-12, atol=1e-13)
        for b in range(3):
            single, single_w = encoder_block(x[a, b], p, mask[a, b], return_attention=True)
            assert single.shape == (4, 16) and single_w.shape == (4, 4, 4)
            np.testing.assert_allclose(out[a, b], single, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(w[a, b], single_w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("x_dtype, p_dtype", [(np.float32, np.float32), (np.float32, np.float64),
                                              (np.float64, np.float32), (np.float64, np.float64)])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_block_dtype_follows_x(rng, make_block, make_mask, x_dtype, p_dtype, norm_first):
    p = make_block(rng, dtype=p_dtype, norm_first=norm_first, activation="gelu")
    x = rng.normal(size=(2, 5, 16)).astype(x_dtype)
    mask = make_mask([5, 3], 5)
    out, w = encoder_block(x, p, mask, return_attention=True)
    assert out.dtype == w.dtype == x_dtype
    ref_out, _ = ref_batch(x.astype(np.float64), p, mask)       # float64 arithmetic on the same numbers
    tol = 1e-4 if np.float32 in (x_dtype, p_dtype) else 1e-11
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)


def test_encoder_block_rejects_bad_inputs(rng, make_block):
    p = make_block(rng)
    x = rng.normal(size=(2, 5, 16))
    with pytest.raises(ValueError, match=r"x must have last dimension d_model = 16.*got shape \(2, 5, 12\)"):
        encoder_block(rng.normal(size=(2, 5, 12)), p)
    with pytest.raises(ValueError, match="x must be a float32 or float64 array, got dtype int64"):
        encoder_block(np.ones((5, 16), dtype=np.int64), p)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 16\) or \(B, n, 16\), got shape \(16,\)"):
        encoder_block(rng.normal(size=16), p)
    with pytest.raises(ValueError, match=r"key-padding mask must have shape \(2, 5\) \(or \(5,\).*got shape \(2, 4\)"):
        encoder_block(x, p, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"key-padding mask must have shape \(2, 5\).*got shape \(5, 2\)"):
        encoder_block(x, p, np.ones((5, 2), bool))
    with pytest.raises(ValueError, match="mask must be a boolean array .*got dtype int64"):
        encoder_block(x, p, np.ones((2, 5), dtype=np.int64))


def test_key_padding_to_attention_mask():
    mask = np.array([[True, False, True], [True, True, False]])
    m = key_padding_to_attention_mask(mask, (2, 3, 8))
    assert m.shape == (2, 1, 1, 3)
    np.testing.assert_array_equal(m[:, 0, 0], mask)
    # One axis per axis of the scores (B, h, n, n), as multi_head_attention requires.
    assert key_padding_to_attention_mask(mask[0], (2, 3, 8)).shape == (1, 1, 1, 3)
    with pytest.raises(ValueError, match=r"must have shape \(2, 3\).*got shape \(3, 2\)"):
        key_padding_to_attention_mask(mask.T, (2, 3, 8))


# ---------------------------------------------------------------- params and init


def test_encoder_block_params_validate(rng, make_block):
    p = make_block(rng, 16, 4, 32)
    assert (p.d_model, p.n_heads, p.d_ff) == (16, 4, 32)
    other = make_block(rng, 8, 2, 32)
    with pytest.raises(ValueError, match="feed_forward expects d_model=8, attention has d_model=16"):
        EncoderBlockParams(p.attention, other.feed_forward, p.norm1, p.norm2)
    with pytest.raises(ValueError, match=r"norm2.gamma must have shape \(16,\), got shape \(8,\)"):
        EncoderBlockParams(p.attention, p.feed_forward, p.norm1, other.norm2)
    with pytest.raises(ValueError, match=r"activation must be one of \['gelu', 'gelu_tanh', 'relu'\], got 'swish'"):
        EncoderBlockParams(p.attention, p.feed_forward, p.norm1, p.norm2, activation="swish")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_encoder_block(dtype):
    p = init_encoder_block(np.random.default_rng(0), 16, 4, 48, norm_first=True, activation="gelu",
                           eps=1e-6, dtype=dtype)
    assert (p.d_model, p.n_heads, p.d_ff, p.norm_first, p.activation, p.eps) == (16, 4, 48, True, "gelu", 1e-6)
    for ln in (p.norm1, p.norm2):
        np.testing.assert_array_equal(ln.gamma, 1)
        np.testing.assert_array_equal(ln.beta, 0)
        assert ln.gamma.dtype == dtype
    assert p.attention.w_q.dtype == p.feed_forward.w_1.dtype == dtype
    x = np.random.default_rng(1).normal(size=(3, 16)).astype(dtype)
    assert encoder_block(x, p).dtype == dtype
    with pytest.raises(ValueError, match="n_heads=5 must divide d_model=16"):
        init_encoder_block(np.random.default_rng(0), 16, 5, 48)


def test_init_encoder_stack_gives_independent_blocks():
    blocks = init_encoder_stack(np.random.default_rng(0), 3, 8, 2, 16, norm_first=True)
    assert len(blocks) == 3 and all(b.norm_first and b.d_model == 8 for b in blocks)
    assert not np.array_equal(blocks[0].attention.w_q, blocks[1].attention.w_q)
    assert not np.array_equal(blocks[1].feed_forward.w_1, blocks[2].feed_forward.w_1)


# ---------------------------------------------------------------- encoder_stack


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_stack_feeds_each_block_the_one_below(rng, make_block, make_mask, norm_first):
    blocks = [make_block(rng, norm_first=norm_first) for _ in range(3)]
    x = rng.normal(size=(2, 5, 16))
    mask = make_mask([5, 3], 5)
    out, w = encoder_stack(x, blocks, mask, return_attention=True)
    assert out.shape == (2, 5, 16)
    assert w.shape == (3, 2, 4, 5, 5)                            # (n_layers, B, h, n, n)
    h = x
    for i, block in enumerate(blocks):
        h, w_i = ref_batch(h, block, mask)
        np.testing.assert_allclose(w[i], w_i, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(out, h, rtol=1e-10, atol=1e-11)
    np.testing.assert_array_equal(encoder_stack(x, blocks, mask), out)


def test_encoder_stack_final_norm(rng, make_block):
    blocks = [make_block(rng, norm_first=True, eps=1e-6) for _ in range(2)]
    final = LayerNormParams(1 + 0.3 * rng.normal(size=16), 0.3 * rng.normal(size=16))
    x = rng.normal(size=(4, 16))
    out = encoder_stack(x, blocks, final_norm=final)
    np.testing.assert_allclose(out, ref_layer_norm(encoder_stack(x, blocks), final, 1e-6), rtol=1e-12, atol=1e-13)
    assert encoder_stack(x, blocks[:1]).shape == (4, 16)


def test_encoder_stack_return_attention_shape_single_sequence(rng, make_block):
    blocks = [make_block(rng) for _ in range(2)]
    _, w = encoder_stack(rng.normal(size=(6, 16)), blocks, return_attention=True)
    assert w.shape == (2, 4, 6, 6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_stack_leading_dims_and_dtype(rng, make_block, make_mask, dtype):
    blocks = [make_block(rng, norm_first=nf, activation=act) for nf, act in ((False, "relu"), (True, "gelu"))]
    x = rng.normal(size=(2, 3, 4, 16)).astype(dtype)
    mask = make_mask([4, 1, 3, 2, 4, 4], 4).reshape(2, 3, 4)
    out, w = encoder_stack(x, blocks, mask, return_attention=True)
    assert out.shape == x.shape and out.dtype == w.dtype == dtype
    assert w.shape == (2, 2, 3, 4, 4, 4)                        # (n_layers, 2, B, h, n, n)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a in range(2):
        for b in range(3):
            single, single_w = encoder_stack(x[a, b], blocks, mask[a, b], return_attention=True)
            np.testing.assert_allclose(out[a, b], single, rtol=tol, atol=tol)
            np.testing.assert_allclose(w[:, a, b], single_w, rtol=tol, atol=tol)


def test_encoder_stack_rejects_no_blocks(rng):
    with pytest.raises(ValueError, match="at least one block, got 0"):
        encoder_stack(rng.normal(size=(3, 16)), [])


# ---------------------------------------------------------------- count_parameters


def test_count_parameters_of_the_paper_block():
    block = init_encoder_block(np.random.default_rng(0), 512, 8, 2048, dtype=np.float32)
    assert count_parameters(block) == 3_152_384
    # The same number, derived: 4 projections (d^2 + d), two feed-forward layers, two layer norms.
    d, d_ff = 512, 2048
    assert count_parameters(block) == 4 * (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d) + 2 * 2 * d


@pytest.mark.parametrize("d_model, n_heads, d_ff", [(16, 4, 32), (64, 8, 128), (6, 3, 5)])
def test_count_parameters_of_parts_and_stacks(d_model, n_heads, d_ff):
    blocks = init_encoder_stack(np.random.default_rng(0), 3, d_model, n_heads, d_ff)
    b = blocks[0]
    assert count_parameters(b.attention) == 4 * d_model * (d_model + 1)        # heads add nothing
    assert count_parameters(b.feed_forward) == 2 * d_model * d_ff + d_ff + d_model
    assert count_parameters(b.norm1) == 2 * d_model
    assert count_parameters(b) == sum(count_parameters(part) for part in (b.attention, b.feed_forward, b.norm1, b.norm2))
    assert count_parameters(blocks) == 3 * count_parameters(b)
    assert count_parameters(tuple(blocks[:2])) == 2 * count_parameters(b)
    assert count_parameters(np.zeros((3, 4))) == 12
    assert count_parameters(7) == 0
