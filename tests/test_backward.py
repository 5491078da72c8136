"""The hand-written backward pass (helpers.backward) against central finite differences (helpers.gradcheck).

Every VJP is checked in float64 with eps = 1e-6. The bound, relative error <= 1e-6 (RTOL below), is
far above the error of the estimate itself (truncation ~eps^2 = 1e-12, rounding ~1e-16 / eps = 1e-10;
see helpers/gradcheck.py; correct VJPs here measure 1e-10 to 2e-8) and below what a real mistake
costs (a wrong term, a missing path or one entry off by 1e-3 gives 1e-4 to 1:
test_the_checker_catches_a_wrong_gradient shows some).
Small functions are checked entry by entry; the block and the stack along 3 random directions per
parameter array (each direction mixes every entry, so a wrong entry still shows). Shapes stay small
(n <= 5, d_model <= 8) so the file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import backward as bw
from helpers.attention import (
    merge_heads,
    multi_head_attention,
    scaled_dot_product_attention,
    softmax,
    split_heads,
)
from helpers.embeddings import embed, encoder_input
from helpers.encoder import encoder_block, encoder_stack
from helpers.gradcheck import array_leaves, check_vjp, gradient_errors, map_arrays, numerical_vjp
from helpers.layers import LayerNormParams, feed_forward, gelu, layer_norm, linear, relu

RTOL = 1e-6          # relative error bound for every finite-difference check (module docstring)
D, H, FF, N = 8, 2, 16, 5


def padding(lengths, n=N):
    return np.arange(n)[None, :] < np.asarray(lengths)[:, None]


@pytest.fixture
def block(rng, make_block):
    return make_block(rng, D, H, FF)


def block_variants():
    return [pytest.param(nf, act, id=f"{'pre' if nf else 'post'}LN-{act}")
            for nf in (False, True) for act in ("relu", "gelu")]


# ====================================================================== the forwards are the forwards


def test_forward_outputs_equal_the_forward_helpers_bit_for_bit(rng, make_block):
    x = rng.normal(size=(2, N, D))
    w, b = rng.normal(size=(D, FF)), rng.normal(size=FF)
    np.testing.assert_array_equal(bw.linear_forward(x, w, b)[0], linear(x, w, b))
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    np.testing.assert_array_equal(bw.layer_norm_forward(x, gamma, beta, 1e-3)[0], layer_norm(x, gamma, beta, 1e-3))
    q, k, v = (rng.normal(size=(2, H, N, D // H)) for _ in range(3))
    mask = padding([5, 2])[:, None, None, :]
    out, cache = bw.scaled_dot_product_attention_forward(q, k, v, mask)
    expected, weights = scaled_dot_product_attention(q, k, v, mask)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(cache["weights"], weights)
    for nf in (False, True):
        for act in ("relu", "gelu"):
            p = make_block(rng, D, H, FF, norm_first=nf, activation=act, eps=1e-4)
            out, cache = bw.multi_head_attention_forward(x, p.attention, mask)
            expected, weights = multi_head_attention(x, p.attention, mask)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(cache["weights"], weights)
            np.testing.assert_array_equal(bw.feed_forward_forward(x, p.feed_forward, act)[0],
                                          feed_forward(x, p.feed_forward, act))
            out, cache = bw.encoder_block_forward(x, p, padding([5, 2]))
            expected, weights = encoder_block(x, p, padding([5, 2]), return_attention=True)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(cache["weights"], weights)
    blocks = [make_block(rng, D, H, FF, norm_first=True, eps=1e-4) for _ in range(3)]
    final = LayerNormParams(rng.normal(size=D), rng.normal(size=D))
    out, cache = bw.encoder_stack_forward(x, blocks, padding([5, 2]), final)
    expected, weights = encoder_stack(x, blocks, padding([5, 2]), final, return_attention=True)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(cache["weights"], weights)


# ====================================================================== the checker itself


def test_the_checker_catches_a_wrong_gradient(rng):
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    g = rng.normal(size=(3, 2))

    def right(g, x, w, b):
        return bw.linear_backward(g, bw.linear_forward(x, w, b)[1])

    def forgot_the_bias_sum(g, x, w, b):
        grad_x, grad_w, _ = right(g, x, w, b)
        return grad_x, grad_w, g[0]

    def transposed(g, x, w, b):
        grad_x, grad_w, grad_b = right(g, x, w, b)
        return grad_x, (x.T @ g)[::-1], grad_b

    assert check_vjp(linear, (x, w, b), g, right) < RTOL
    errors = gradient_errors(linear, (x, w, b), g, forgot_the_bias_sum)
    assert errors["[2]"] > 0.1 and errors["[0]"] < RTOL and errors["[1]"] < RTOL
    assert check_vjp(linear, (x, w, b), g, transposed) > 0.1
    assert check_vjp(linear, (x, w, b), g, transposed, n_directions=3) > 0.1
    with pytest.raises(ValueError, match=r"gradient\[1\] must have the input's shape \(4, 2\), got shape \(2, 4\)"):
        check_vjp(linear, (x, w, b), g, lambda g, x, w, b: (x, w.T, b))


def test_numerical_vjp_is_the_gradient(rng):
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    g = rng.normal(size=(3, 2))
    (name_x, none, grad_x), (name_w, _, grad_w) = numerical_vjp(lambda x, w: x @ w, (x, w), g)
    assert (name_x, name_w, none) == ("[0]", "[1]", None)
    # float64 central differences of a bilinear map: exact up to rounding, ~1e-10 (module docstring)
    np.testing.assert_allclose(grad_x.reshape(x.shape), g @ w.T, rtol=0, atol=1e-9)
    np.testing.assert_allclose(grad_w.reshape(w.shape), x.T @ g, rtol=0, atol=1e-9)
    _, directions, estimates = numerical_vjp(lambda x: x @ w, (x,), g, n_directions=4, seed=3)[0]
    assert directions.shape == (4, 3, 4)
    np.testing.assert_allclose(estimates, np.tensordot(directions, g @ w.T, axes=2), rtol=1e-8)


def test_the_checker_catches_one_entry_off_by_1e_3_in_a_block(rng, make_block):
    p = make_block(rng, D, H, FF)
    x, g = rng.normal(size=(2, N, D)), rng.normal(size=(2, N, D))

    def nudged(g, x, p):
        grad_x, grads = bw.encoder_block_vjp(x, p, g)
        grads.feed_forward.b_1[3] += 1e-3
        return grad_x, grads

    errors = gradient_errors(encoder_block, (x, p), g, nudged, n_directions=3)
    assert errors["[1].feed_forward.b_1"] > 10 * RTOL
    assert max(v for k, v in errors.items() if k != "[1].feed_forward.b_1") < RTOL


# ====================================================================== linear, activations, softmax


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=["unbatched", "n", "B-n"])
def test_linear_backward(rng, lead):
    x, w, b = rng.normal(size=(*lead, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    g = rng.normal(size=(*lead, 3))
    assert check_vjp(linear, (x, w, b), g, lambda g, x, w, b: bw.linear_backward(g, bw.linear_forward(x, w, b)[1])) < RTOL


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_activation_backward(rng, name):
    forward, backward = {"relu": (relu, bw.relu_backward), "gelu": (gelu, bw.gelu_backward)}[name]
    x = rng.normal(size=(2, 3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5                    # relu has a kink at 0: keep finite differences off it
    g = rng.normal(size=x.shape)
    assert check_vjp(forward, x, g, lambda g, x: backward(g, x)) < RTOL


def test_activation_backward_at_the_edges():
    x = np.array([-1e300, -40.0, -1.0, 0.0, 1.0, 40.0, 1e300])
    np.testing.assert_array_equal(bw.relu_backward(np.ones(7), x), [0, 0, 0, 0, 1, 1, 1])   # 0 at 0, as torch
    d = bw.gelu_backward(np.ones(7), x)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d[[0, 1, 5, 6]], [0, 0, 1, 1], atol=1e-300)   # the tails: Phi = 0 or 1, phi = 0
    assert d[3] == 0.5                                                        # Phi(0) + 0 * phi(0)
    x32 = np.array([-3e38, -1.0, 0.0, 2.0, 3e38], dtype=np.float32)
    d32 = bw.gelu_backward(np.ones(5, np.float32), x32)
    assert d32.dtype == np.float32 and np.isfinite(d32).all()


def test_gelu_from_the_kept_cdf_is_gelu_bit_for_bit(rng):
    for dtype in (np.float64, np.float32):
        x = (rng.normal(size=(3, 50)) * 4).astype(dtype)
        np.testing.assert_array_equal(bw._normal_cdf(x) * x, gelu(x))
        g = rng.normal(size=x.shape).astype(dtype)
        np.testing.assert_array_equal(bw.gelu_backward(g, x, bw._normal_cdf(x)), bw.gelu_backward(g, x))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_backward(rng, axis):
    x = rng.normal(size=(3, 4, 5)) * 3
    g = rng.normal(size=x.shape)
    f = lambda x: softmax(x, axis=axis)
    assert check_vjp(f, x, g, lambda g, x: bw.softmax_backward(g, f(x), axis=axis)) < RTOL


def test_softmax_backward_through_masked_entries_and_rows(rng):
    x = rng.normal(size=(3, 5))
    x[0, [1, 3]] = -np.inf                       # masked entries
    x[2] = -np.inf                               # a fully masked row: softmax gives zeros
    g = rng.normal(size=x.shape)
    y = softmax(x)
    grad = bw.softmax_backward(g, y)
    assert np.isfinite(grad).all()
    assert (grad[0, [1, 3]] == 0).all() and (grad[2] == 0).all()
    assert check_vjp(softmax, x, g, lambda g, x: bw.softmax_backward(g, softmax(x))) < RTOL


# ====================================================================== layer norm


@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_backward(rng, eps):
    x = rng.normal(size=(2, 3, D)) * 2 + 1
    x[0, 0] = 0.7                                # a constant row: variance 0, kept finite by eps
    gamma, beta = 1 + 0.3 * rng.normal(size=D), rng.normal(size=D)
    g = rng.normal(size=x.shape)
    f = lambda x, gamma, beta: layer_norm(x, gamma, beta, eps)
    vjp = lambda g, x, gamma, beta: bw.layer_norm_backward(g, bw.layer_norm_forward(x, gamma, beta, eps)[1])
    assert check_vjp(f, (x, gamma, beta), g, vjp) < RTOL
    grad_x = vjp(g, x, gamma, beta)[0]
    assert np.isfinite(grad_x).all()
    np.testing.assert_allclose(grad_x.sum(-1), 0, atol=1e-9)    # shifting a row changes nothing


# ====================================================================== attention


def sdpa_vjp(mask):
    def vjp(g, q, k, v):
        return bw.scaled_dot_product_attention_backward(g, bw.scaled_dot_product_attention_forward(q, k, v, mask)[1])
    return vjp


@pytest.mark.parametrize("mask_kind", ["none", "key_padding", "full_with_empty_rows"])
def test_scaled_dot_product_attention_backward(rng, mask_kind):
    q, k = rng.normal(size=(2, H, 4, 3)), rng.normal(size=(2, H, N, 3))
    v = rng.normal(size=(2, H, N, 2))
    if mask_kind == "none":
        mask = None
    elif mask_kind == "key_padding":
        mask = padding([5, 2])[:, None, None, :]                          # (B, 1, 1, n_k)
    else:
        mask = rng.random((2, H, 4, N)) < 0.6
        mask[0, 1, 2] = False                                             # a query that sees no key
        mask[1, :, 0] = False
    g = rng.normal(size=(2, H, 4, 2))
    f = lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0]
    assert check_vjp(f, (q, k, v), g, sdpa_vjp(mask)) < RTOL
    if mask_kind == "full_with_empty_rows":
        grad_q, grad_k, grad_v = sdpa_vjp(mask)(g, q, k, v)
        assert np.isfinite(grad_q).all() and np.isfinite(grad_k).all() and np.isfinite(grad_v).all()
        assert (grad_q[0, 1, 2] == 0).all() and (grad_q[1, :, 0] == 0).all()     # no key, no gradient


def test_scaled_dot_product_attention_backward_sums_broadcast_inputs(rng):
    q = rng.normal(size=(2, 1, 4, 3))                # shared across heads
    k = rng.normal(size=(N, 3))                      # shared across batch and heads
    v = rng.normal(size=(H, N, 2))
    mask = padding([5, 3])[:, None, None, :]
    g = rng.normal(size=(2, H, 4, 2))
    f = lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0]
    grads = sdpa_vjp(mask)(g, q, k, v)
    assert [gr.shape for gr in grads] == [q.shape, k.shape, v.shape]
    assert check_vjp(f, (q, k, v), g, sdpa_vjp(mask)) < RTOL


def test_split_and_merge_heads_are_each_others_vjp(rng):
    x, heads = rng.normal(size=(2, N, D)), rng.normal(size=(2, H, N, D // H))
    assert check_vjp(lambda x: split_heads(x, H), x, heads, lambda g, x: bw.split_heads_backward(g)) < RTOL
    assert check_vjp(merge_heads, heads, x, lambda g, h: bw.merge_heads_backward(g, H)) < RTOL


@pytest.mark.parametrize("lengths", [None, [5, 3], [5, 0]], ids=["no-mask", "padding", "all-padding-sequence"])
def test_multi_head_attention_backward(rng, block, lengths):
    x = rng.normal(size=(2, N, D))
    mask = None if lengths is None else padding(lengths)[:, None, None, :]
    g = rng.normal(size=x.shape)
    f = lambda x, p: multi_head_attention(x, p, mask)[0]
    vjp = lambda g, x, p: bw.multi_head_attention_backward(g, bw.multi_head_attention_forward(x, p, mask)[1])
    assert check_vjp(f, (x, block.attention), g, vjp) < RTOL
    grad_x, grads = vjp(g, x, block.attention)
    assert grads.n_heads == H and np.isfinite(grad_x).all()


# ====================================================================== feed-forward


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_backward(rng, block, activation):
    x = rng.normal(size=(2, 3, D))
    g = rng.normal(size=x.shape)
    f = lambda x, p: feed_forward(x, p, activation)
    vjp = lambda g, x, p: bw.feed_forward_backward(g, bw.feed_forward_forward(x, p, activation)[1])
    assert check_vjp(f, (x, block.feed_forward), g, vjp) < RTOL


# ====================================================================== block and stack


def block_fn(mask, **switches):
    return lambda x, p: bw.encoder_block_forward(x, p, mask, **switches)[0]


def block_vjp(mask, **switches):
    return lambda g, x, p: bw.encoder_block_backward(g, bw.encoder_block_forward(x, p, mask, **switches)[1])


@pytest.mark.parametrize("norm_first, activation", block_variants())
def test_encoder_block_vjp(rng, make_block, norm_first, activation):
    p = make_block(rng, D, H, FF, norm_first=norm_first, activation=activation, eps=1e-4)
    x = rng.normal(size=(3, N, D))
    mask = padding([5, 2, 0])                    # the last sequence is all padding: no key at all
    g = rng.normal(size=x.shape)
    errors = gradient_errors(lambda x, p: encoder_block(x, p, mask), (x, p), g,
                             lambda g, x, p: bw.encoder_block_vjp(x, p, g, mask), n_directions=3)
    assert len(errors) == 17 and max(errors.values()) < RTOL, errors     # x and 16 parameter arrays
    grad_x, grads = bw.encoder_block_vjp(x, p, g, mask)
    assert np.isfinite(grad_x).all()
    assert (grads.norm_first, grads.activation, grads.eps, grads.n_heads) == (norm_first, activation, 1e-4, H)


@pytest.mark.parametrize("norm_first", [False, True], ids=["postLN", "preLN"])
@pytest.mark.parametrize("residual, normalize", [(False, True), (True, False), (False, False)])
def test_encoder_block_ablation_switches(rng, make_block, norm_first, residual, normalize):
    p = make_block(rng, D, H, FF, norm_first=norm_first, activation="gelu")
    x = rng.normal(size=(2, N, D))
    mask = padding([5, 3])
    g = rng.normal(size=x.shape)
    switches = {"residual": residual, "normalize": normalize}
    assert check_vjp(block_fn(mask, **switches), (x, p), g, block_vjp(mask, **switches), n_directions=3) < RTOL
    _, grads = block_vjp(mask, **switches)(g, x, p)
    if not normalize:
        for ln in (grads.norm1, grads.norm2):
            assert (ln.gamma == 0).all() and (ln.beta == 0).all()


def test_encoder_block_ablations_compute_what_they_say(rng, make_block):
    p = make_block(rng, D, H, FF)
    x = rng.normal(size=(N, D))

    def mha(h):
        return multi_head_attention(h, p.attention)[0]

    def ffn(h):
        return feed_forward(h, p.feed_forward, "relu")

    def ln(h, q):
        return layer_norm(h, q.gamma, q.beta, p.eps)

    no_skip = ln(ffn(ln(mha(x), p.norm1)), p.norm2)
    np.testing.assert_allclose(block_fn(None, residual=False)(x, p), no_skip, rtol=0, atol=1e-12)
    h = x + mha(x)
    np.testing.assert_allclose(block_fn(None, normalize=False)(x, p), h + ffn(h), rtol=0, atol=1e-12)


def stack_case(rng, make_block, norm_first, n_layers=2):
    blocks = [make_block(rng, D, H, FF, norm_first=norm_first, activation=act)
              for act in ("gelu", "relu", "relu")[:n_layers]]
    final = LayerNormParams(1 + 0.3 * rng.normal(size=D), 0.3 * rng.normal(size=D))
    return blocks, final


@pytest.mark.parametrize("norm_first, with_final_norm", [(False, False), (True, True), (False, True)],
                         ids=["postLN", "preLN-final-norm", "postLN-final-norm"])
def test_encoder_stack_vjp(rng, make_block, norm_first, with_final_norm):
    blocks, final = stack_case(rng, make_block, norm_first)
    final = final if with_final_norm else None
    x = rng.normal(size=(2, 4, D))
    mask = padding([4, 1], 4)
    g = rng.normal(size=x.shape)

    def f(x, blocks, final):
        return encoder_stack(x, blocks, mask, final)

    def vjp(g, x, blocks, final):
        return bw.encoder_stack_vjp(x, blocks, g, mask, final)

    assert check_vjp(f, (x, blocks, final), g, vjp, n_directions=3) < RTOL
    grad_x, block_grads, final_grads = vjp(g, x, blocks, final)
    assert grad_x.shape == x.shape and len(block_grads) == 2
    assert [b.activation for b in block_grads] == ["gelu", "relu"]          # bottom block first
    assert (final_grads is None) == (final is None)


@pytest.mark.parametrize("residual, normalize", [(False, True), (True, False)])
def test_encoder_stack_ablation_switches(rng, make_block, residual, normalize):
    blocks, final = stack_case(rng, make_block, norm_first=True)
    x = rng.normal(size=(2, 4, D))
    mask = padding([4, 2], 4)
    g = rng.normal(size=x.shape)
    sw = {"residual": residual, "normalize": normalize}

    def f(x, blocks, final):
        return bw.encoder_stack_forward(x, blocks, mask, final, **sw)[0]

    def vjp(g, x, blocks, final):
        return bw.encoder_stack_backward(g, bw.encoder_stack_forward(x, blocks, mask, final, **sw)[1])

    assert check_vjp(f, (x, blocks, final), g, vjp, n_directions=3) < RTOL
    _, _, final_grads = vjp(g, x, blocks, final)
    assert ((final_grads.gamma == 0).all()) == (not normalize)


# ====================================================================== embedding and cross-entropy


def test_embedding_backward_accumulates_repeated_ids(rng):
    table = rng.normal(size=(6, 4))
    ids = np.array([[1, 3, 1, 1], [5, 3, 0, 1]])             # id 1 four times, id 3 twice, 2 and 4 never
    g = rng.normal(size=(2, 4, 4))
    vjp = lambda g, table: bw.embedding_backward(g, ids, 6)
    assert check_vjp(lambda table: embed(ids, table), table, g, vjp) < RTOL
    grad = vjp(g, table)
    np.testing.assert_allclose(grad[1], g[0, 0] + g[0, 2] + g[0, 3] + g[1, 3], rtol=1e-15)
    assert (grad[[2, 4]] == 0).all()
    one_hot = np.eye(6)[ids]                                 # (B, n, V): the lookup as a matrix product
    np.testing.assert_allclose(grad, np.einsum("bnv,bnd->vd", one_hot, g), rtol=1e-13, atol=1e-14)


def test_encoder_input_backward(rng):
    table = rng.normal(size=(6, D))
    ids = np.array([[1, 3, 1], [0, 0, 5]])
    g = rng.normal(size=(2, 3, D))
    for scale in (True, False):
        assert check_vjp(lambda t, scale=scale: encoder_input(ids, t, scale), table, g,
                         lambda g, t, scale=scale: bw.encoder_input_backward(g, ids, 6, scale)) < RTOL


def ce_check(logits, targets, ignore_index=-100):
    f = lambda logits: bw.cross_entropy_forward(logits, targets, ignore_index)[0]
    vjp = lambda g, logits: bw.cross_entropy_backward(bw.cross_entropy_forward(logits, targets, ignore_index)[1], g)
    return check_vjp(f, logits, np.array(1.7), vjp)          # grad_loss != 1: the chain rule's factor counts


def test_cross_entropy_forward_and_backward(rng):
    logits = rng.normal(size=(2, 4, 5)) * 2
    targets = np.array([[0, 4, 2, -100], [1, -100, -100, 3]])       # (B, n), -100 = padding
    loss, _ = bw.cross_entropy_forward(logits, targets)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = targets != -100
    expected = -np.mean(np.take_along_axis(log_p, np.where(real, targets, 0)[..., None], -1)[..., 0][real])
    assert loss.shape == () and loss.dtype == np.float64
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    assert ce_check(logits, targets) < RTOL
    assert ce_check(logits, np.where(targets == -100, 7, targets), ignore_index=7) < RTOL
    grad = bw.cross_entropy_backward(bw.cross_entropy_forward(logits, targets)[1])
    assert (grad[~real] == 0).all()
    np.testing.assert_allclose(grad.sum(-1), 0, atol=1e-15)         # probabilities minus a one-hot


def test_cross_entropy_all_ignored_and_huge_logits(rng):
    logits = rng.normal(size=(3, 4))
    loss, cache = bw.cross_entropy_forward(logits, np.full(3, -100))
    assert loss == 0 and (bw.cross_entropy_backward(cache) == 0).all()      # documented: 0, not NaN
    huge = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    loss, cache = bw.cross_entropy_forward(huge, np.array([1, 2]))
    np.testing.assert_allclose(loss, (1e4 + np.log(2)) / 2, rtol=1e-15)
    grad = bw.cross_entropy_backward(cache)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0], [0, 0.25, -0.25]], atol=1e-15)
    assert ce_check(logits[None] * 5, np.array([[0, 3, -100]])) < RTOL
    ruled_out = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])  # row 2: padding, all -inf
    loss, cache = bw.cross_entropy_forward(ruled_out, np.array([2, -100]))
    grad = bw.cross_entropy_backward(cache)
    np.testing.assert_allclose(loss, np.log(1 + np.exp(-1.0)), rtol=1e-15)
    assert np.isfinite(grad).all() and (grad[1] == 0).all() and grad[0, 1] == 0


# ====================================================================== dtypes


def test_float32_in_float32_out_and_close_to_float64(rng, make_block):
    p64 = make_block(rng, D, H, FF, norm_first=True, activation="gelu")
    blocks64, final64 = [p64, make_block(rng, D, H, FF)], LayerNormParams(np.ones(D), np.zeros(D))
    x64, g64 = rng.normal(size=(2, N, D)), rng.normal(size=(2, N, D))
    mask = padding([5, 2])
    x32, g32, blocks32, final32 = (_cast(t, np.float32) for t in (x64, g64, blocks64, final64))
    grad_x64, grads64, fg64 = bw.encoder_stack_vjp(x64, blocks64, g64, mask, final64)
    grad_x32, grads32, fg32 = bw.encoder_stack_vjp(x32, blocks32, g32, mask, final32)
    leaves64 = array_leaves((grad_x64, grads64, fg64))
    largest = max(np.abs(a).max() for _, a in leaves64)
    for (name, a32), (_, a64) in zip(array_leaves((grad_x32, grads32, fg32)), leaves64, strict=True):
        assert a32.dtype == np.float32, name
        # float32 carries ~7 digits; a gradient through 2 blocks loses a few to cancellation: 1e-4 of
        # the array's largest entry (or of 1% of the largest gradient anywhere, for b_k, which is
        # zero by structure and float32 rounding noise, ~1e-8, in float32).
        scale = max(np.abs(a64).max(), 1e-2 * largest)
        np.testing.assert_allclose(a32, a64, rtol=0, atol=1e-4 * scale, err_msg=name)
    w, b = np.ones((D, 3), np.float32), np.zeros(3, np.float32)
    assert all(a.dtype == np.float32 for a in bw.linear_backward(np.ones((N, 3), np.float32),
                                                                 bw.linear_forward(x32[0], w, b)[1]))
    assert bw.cross_entropy_forward(x32, np.zeros((2, N), int))[0].dtype == np.float32
    assert bw.cross_entropy_backward(bw.cross_entropy_forward(x32, np.zeros((2, N), int))[1]).dtype == np.float32
    assert bw.embedding_backward(g32, np.zeros((2, N), int), 4).dtype == np.float32


def _cast(tree, dtype):
    return map_arrays(tree, lambda a: np.asarray(a, dtype=dtype))


# ====================================================================== bad input


def test_backward_shape_errors_name_expected_and_actual(rng, block):
    x = rng.normal(size=(2, N, D))
    wrong = np.zeros((2, N, D + 1))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 5, 8\), got shape \(2, 5, 9\)"):
        bw.encoder_block_vjp(x, block, wrong)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 5, 8\), got shape \(5, 8\)"):
        bw.encoder_stack_vjp(x, [block], np.zeros((N, D)))
    with pytest.raises(ValueError, match=r"x must have last dimension d_model = 8"):
        bw.encoder_block_vjp(np.zeros((N, 7)), block, np.zeros((N, 7)))
    with pytest.raises(ValueError, match=r"key-padding mask must have shape \(2, 5\)"):
        bw.encoder_block_vjp(x, block, x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 5, 16\), got shape \(2, 5, 8\)"):
        bw.linear_backward(x, bw.linear_forward(x, block.feed_forward.w_1, block.feed_forward.b_1)[1])
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 5, 8\), got shape \(5, 8\)"):
        bw.layer_norm_backward(x[0], bw.layer_norm_forward(x, block.norm1.gamma, block.norm1.beta)[1])
    with pytest.raises(ValueError, match=r"grad_y must have shape \(3,\), got shape \(4,\)"):
        bw.gelu_backward(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 2, 5, 4\), got shape \(2, 5, 8\)"):
        q = split_heads(x, H)
        bw.scaled_dot_product_attention_backward(x, bw.scaled_dot_product_attention_forward(q, q, q)[1])
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 5, 8\)"):
        bw.multi_head_attention_backward(x[:1], bw.multi_head_attention_forward(x, block.attention)[1])
    with pytest.raises(ValueError, match=r"grad_embedded must have shape \(2, 3, 'd_model'\), one row per id, "
                                         r"got shape \(2, 4, 8\)"):
        bw.embedding_backward(np.zeros((2, 4, D)), np.zeros((2, 3), int), 5)
    with pytest.raises(ValueError, match=r"token_ids must lie in \[0, 5\)"):
        bw.embedding_backward(np.zeros((1, D)), np.array([5]), 5)
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 5\) \(logits' shape without the class "
                                         r"axis\), got shape \(2, 4\)"):
        bw.cross_entropy_forward(x, np.zeros((2, 4), int))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 8\) or equal ignore_index=-100, got \[8\]"):
        bw.cross_entropy_forward(x[0], np.array([0, 8, 1, 1, -100]))
    with pytest.raises(ValueError, match="targets must be an integer array, got dtype float64"):
        bw.cross_entropy_forward(x[0], np.zeros(N))
    with pytest.raises(ValueError, match="encoder_stack needs at least one block, got 0"):
        bw.encoder_stack_vjp(x, [], x)


def test_every_backward_keeps_float32(rng, block):
    x = rng.normal(size=(2, N, D)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    p = _cast(block, np.float32)
    heads = split_heads(x, H)
    results = {
        "relu": bw.relu_backward(g, x), "gelu": bw.gelu_backward(g, x),
        "softmax": bw.softmax_backward(g, softmax(x)),
        "layer_norm": bw.layer_norm_backward(g, bw.layer_norm_forward(x, p.norm1.gamma, p.norm1.beta)[1]),
        "sdpa": bw.scaled_dot_product_attention_backward(
            split_heads(g, H), bw.scaled_dot_product_attention_forward(heads, heads, heads)[1]),
        "mha": bw.multi_head_attention_backward(g, bw.multi_head_attention_forward(x, p.attention)[1]),
        "ffn": bw.feed_forward_backward(g, bw.feed_forward_forward(x, p.feed_forward, "gelu")[1]),
        "block": bw.encoder_block_vjp(x, p, g, padding([5, 3])),
        "input": bw.encoder_input_backward(g, np.zeros((2, N), int), 3),
    }
    for name, result in results.items():
        leaves = array_leaves(result if isinstance(result, tuple) else (result,))
        assert leaves and all(a.dtype == np.float32 for _, a in leaves), name


# ====================================================================== vectorised (no Python loops)


def backward_call(name, size):
    """A no-argument forward + backward of ``name`` on inputs of the given (B, n, d_model, h, d_ff) size."""
    from test_vectorised import inputs

    x, mask, p = inputs(size, norm_first=name.endswith("pre-LN gelu"), activation="gelu" if "gelu" in name else "relu")
    g = np.ones_like(x)
    ids = (np.arange(x.shape[0] * x.shape[1]) % 7).reshape(x.shape[:2])
    targets = np.where(mask, ids % 3, -100)
    calls = {
        "encoder_block post-LN relu": lambda: bw.encoder_block_vjp(x, p, g, mask),
        "encoder_block pre-LN gelu": lambda: bw.encoder_block_vjp(x, p, g, mask),
        "encoder_stack (2 blocks, final norm)": lambda: bw.encoder_stack_vjp(x, [p, p], g, mask, p.norm1),
        "embedding/cross-entropy": lambda: (
            bw.embedding_backward(g, ids, 7),
            bw.cross_entropy_backward(bw.cross_entropy_forward(x, targets)[1])),
    }
    return calls[name]


@pytest.mark.parametrize("name", ["encoder_block post-LN relu", "encoder_block pre-LN gelu",
                                  "encoder_stack (2 blocks, final norm)", "embedding/cross-entropy"])
def test_backward_has_no_python_loop_over_tokens_heads_or_batch(name):
    from test_vectorised import LARGE, SMALL, assert_same_calls

    assert_same_calls(backward_call(name, SMALL), backward_call(name, LARGE), name)


@pytest.mark.parametrize("lead, mask_shape", [((), (N,)), ((2, 2), (2, 2, N)), ((2, 2), (N,))],
                         ids=["unbatched", "B1-B2", "B1-B2-shared-mask"])
def test_encoder_block_vjp_with_any_leading_axes(rng, make_block, lead, mask_shape):
    p = make_block(rng, D, H, FF, norm_first=True, activation="relu")
    x, g = rng.normal(size=(*lead, N, D)), rng.normal(size=(*lead, N, D))
    mask = rng.random(mask_shape) < 0.7
    mask[..., 0] = True
    assert check_vjp(lambda x, p: encoder_block(x, p, mask), (x, p), g,
                     lambda g, x, p: bw.encoder_block_vjp(x, p, g, mask), n_directions=2) < RTOL
    # Leading axes are independent sequences: the batched gradient is the sum of per-sequence ones.
    grad_x, grads = bw.encoder_block_vjp(x, p, g, mask)
    if lead:
        flat_mask = np.broadcast_to(mask, (*lead, N)).reshape(-1, N)
        gx_flat, grads_flat = bw.encoder_block_vjp(x.reshape(-1, N, D), p, g.reshape(-1, N, D), flat_mask)
        np.testing.assert_allclose(grad_x, gx_flat.reshape(grad_x.shape), rtol=1e-13, atol=1e-13)
        for (name, a), (_, b) in zip(array_leaves(grads), array_leaves(grads_flat), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)
