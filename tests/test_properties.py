"""Property tests (hypothesis): laws that must hold for every input, not just the ones we thought of.

* softmax rows are probability distributions, for any finite logits, huge ones included;
* without positional encoding the encoder block is permutation-equivariant (a set function);
* what sits in padded positions never reaches a real position's output;
* masked keys get attention weight exactly 0.

Arrays come from a seeded NumPy generator whose seed hypothesis draws, so every failure replays.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers.attention import scaled_dot_product_attention, softmax
from helpers.encoder import encoder_block, encoder_stack

# derandomize: the same examples on every run (seeded, like the rest of the suite), no example database.
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def logits(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    width = 32 if dtype == np.float32 else 64
    # Any finite float, from subnormals to the largest, with the extremes drawn often: the
    # difference of two of them overflows to -inf, which must still give weight 0, not a warning.
    big = float(np.finfo(dtype).max)
    elements = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=width),
                         st.sampled_from([big, -big, 1e4, -1e4]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@FAST
@given(x=logits())
@example(x=np.array([[-1.7e308, 1.7e308, 0.0], [1e4, -1e4, 5.0]]))
@example(x=np.array([3e38, -3e38], dtype=np.float32))
def test_softmax_rows_are_distributions_for_any_finite_logits(x):
    y = softmax(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert np.isfinite(y).all()
    assert ((y >= 0) & (y <= 1)).all()
    tol = 1e-5 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.sum(-1), 1, rtol=tol)
    # The largest logit gets the largest weight, at least 1/n of the mass.
    top = np.take_along_axis(y, x.argmax(-1)[..., None], -1)[..., 0]
    np.testing.assert_array_equal(top, y.max(-1))
    assert (top >= 1 / x.shape[-1] * (1 - tol)).all()


def _block_and_input(make_block, seed, n, norm_first, activation="relu", batch=2, d_model=16):
    rng = np.random.default_rng(seed)
    params = make_block(rng, d_model, 4, 24, norm_first=norm_first, activation=activation)
    x = rng.normal(size=(batch, n, d_model))
    return rng, params, x


@FAST
@given(data=st.data(), seed=seeds, n=st.integers(2, 7), norm_first=st.booleans(),
       activation=st.sampled_from(["relu", "gelu"]))
def test_encoder_block_is_permutation_equivariant_without_positions(make_block, data, seed, n, norm_first,
                                                                    activation):
    rng, params, x = _block_and_input(make_block, seed, n, norm_first, activation)
    mask = rng.random((2, n)) < 0.7
    perm = np.array(data.draw(st.permutations(range(n)), label="perm"))
    out, w = encoder_block(x, params, mask, return_attention=True)
    out_p, w_p = encoder_block(x[:, perm], params, mask[:, perm], return_attention=True)
    np.testing.assert_allclose(out_p, out[:, perm], rtol=1e-10, atol=1e-12)
    # Attention follows the tokens: query i', key j' of the permuted input are query perm[i'], key perm[j'].
    np.testing.assert_allclose(w_p, w[..., perm, :][..., perm], rtol=1e-10, atol=1e-13)


@FAST
@given(seed=seeds, n=st.integers(2, 7), norm_first=st.booleans(), scale=st.sampled_from([1.0, 1e3, 1e6]),
       stacked=st.booleans())
def test_padded_tokens_never_change_real_outputs(make_block, seed, n, norm_first, scale, stacked):
    rng, params, x = _block_and_input(make_block, seed, n, norm_first, batch=3)
    lengths = rng.integers(1, n + 1, size=3)
    mask = np.arange(n)[None, :] < lengths[:, None]
    x_changed = x.copy()
    x_changed[~mask] = scale * rng.normal(size=(int((~mask).sum()), x.shape[-1]))
    if stacked:
        blocks = [params, _block_and_input(make_block, seed + 1, n, norm_first)[1]]
        out, out_changed = encoder_stack(x, blocks, mask), encoder_stack(x_changed, blocks, mask)
    else:
        out, out_changed = encoder_block(x, params, mask), encoder_block(x_changed, params, mask)
    assert np.isfinite(out_changed).all()
    np.testing.assert_allclose(out_changed[mask], out[mask], rtol=1e-12, atol=1e-12)


@FAST
@given(seed=seeds, n_q=st.integers(1, 6), n_k=st.integers(1, 6), d_k=st.integers(1, 8),
       scale=st.sampled_from([1.0, 100.0, 1e4]), dtype=st.sampled_from([np.float32, np.float64]))
def test_masked_keys_get_exactly_zero_weight(seed, n_q, n_k, d_k, scale, dtype):
    rng = np.random.default_rng(seed)
    q = (scale * rng.normal(size=(2, n_q, d_k))).astype(dtype)
    k = (scale * rng.normal(size=(2, n_k, d_k))).astype(dtype)
    v = rng.normal(size=(2, n_k, 3)).astype(dtype)
    mask = rng.random((2, n_q, n_k)) < 0.6
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert np.isfinite(out).all() and np.isfinite(w).all()
    assert (w[~mask] == 0).all()
    has_key = mask.any(-1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w.sum(-1)[has_key], 1, rtol=tol)
    assert (out[~has_key] == 0).all()                           # no key at all: a zero row, never NaN


@FAST
@given(seed=seeds, n=st.integers(1, 6), norm_first=st.booleans())
def test_encoder_block_attention_on_padding_is_exactly_zero(make_block, seed, n, norm_first):
    rng, params, x = _block_and_input(make_block, seed, n, norm_first)
    mask = rng.random((2, n)) < 0.6
    out, w = encoder_block(x, params, mask, return_attention=True)      # w: (B, h, n, n)
    assert np.isfinite(out).all()
    padded_keys = np.broadcast_to(~mask[:, None, None, :], w.shape)
    assert (w[padded_keys] == 0).all()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q", "-p", "no:xdist"])
