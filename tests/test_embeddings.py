"""helpers.embeddings: embedding lookup, sinusoidal positional encoding, the encoder's input."""

import math

import numpy as np
import pytest

from helpers.embeddings import embed, encoder_input, init_embedding_table, sinusoidal_positional_encoding
from helpers.tokens import one_hot


def test_embed_equals_one_hot_times_table(rng):
    table = rng.normal(size=(11, 6))
    ids = rng.integers(0, 11, size=(3, 5))
    out = embed(ids, table)
    assert out.shape == (3, 5, 6)
    np.testing.assert_array_equal(out, one_hot(ids, 11) @ table)
    for b in range(3):
        for i in range(5):
            np.testing.assert_array_equal(out[b, i], table[ids[b, i]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embed_keeps_the_table_dtype(rng, dtype):
    table = rng.normal(size=(4, 3)).astype(dtype)
    assert embed(np.array([0, 3]), table).dtype == dtype


def test_embed_rejects_bad_inputs(rng):
    table = rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"token_ids must lie in \[0, 4\).*got \[4\]"):
        embed(np.array([1, 4]), table)
    with pytest.raises(ValueError, match=r"table must have shape \(vocab_size, d_model\), got shape \(12,\)"):
        embed(np.array([1]), table.ravel())
    with pytest.raises(ValueError, match="table must be a float32 or float64 array, got dtype int64"):
        embed(np.array([1]), np.ones((4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="token_ids must be an integer array, got dtype float64"):
        embed(np.array([1.0]), table)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_embedding_table(dtype):
    vocab_size, d_model = 500, 64
    table = init_embedding_table(np.random.default_rng(3), vocab_size, d_model, dtype=dtype)
    assert table.shape == (vocab_size, d_model) and table.dtype == dtype
    # Entries ~ N(0, 1/d_model): with 32,000 draws the sample std is within 2% of d_model**-0.5.
    assert abs(table.std() / d_model**-0.5 - 1) < 0.02
    assert abs(table.mean()) < 0.01
    # Rows have norm about 1, as the docstring promises.
    assert abs(np.linalg.norm(table, axis=1).mean() - 1) < 0.05
    # Seeded: the same generator state gives the same table.
    np.testing.assert_array_equal(table, init_embedding_table(np.random.default_rng(3), vocab_size, d_model, dtype))


@pytest.mark.parametrize("n_positions, d_model", [(50, 16), (9, 7), (3, 1), (0, 4)])
def test_sinusoidal_positional_encoding_matches_the_formula(n_positions, d_model):
    pe = sinusoidal_positional_encoding(n_positions, d_model)
    assert pe.shape == (n_positions, d_model) and pe.dtype == np.float64
    for pos in range(n_positions):
        for j in range(d_model):
            two_i = j - j % 2
            angle = pos / 10000 ** (two_i / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(pe[pos, j] - expected) < 1e-12, (pos, j)


def test_sinusoidal_positional_encoding_first_row_and_float32():
    pe = sinusoidal_positional_encoding(20, 8, dtype=np.float32)
    assert pe.dtype == np.float32
    np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(pe, sinusoidal_positional_encoding(20, 8), atol=1e-7)
    assert np.abs(pe).max() <= 1


@pytest.mark.parametrize("n_positions, d_model", [(-1, 4), (3, 0)])
def test_sinusoidal_positional_encoding_rejects_bad_sizes(n_positions, d_model):
    with pytest.raises(ValueError, match=f"n_positions={n_positions}, d_model={d_model}"):
        sinusoidal_positional_encoding(n_positions, d_model)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_input_is_scaled_embedding_plus_positions(rng, dtype):
    table = rng.normal(size=(10, 8)).astype(dtype)
    ids = rng.integers(0, 10, size=(2, 5))
    x = encoder_input(ids, table)
    assert x.shape == (2, 5, 8) and x.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    pe = sinusoidal_positional_encoding(5, 8)
    for b in range(2):
        for pos in range(5):
            expected = table[ids[b, pos]].astype(np.float64) * math.sqrt(8) + pe[pos]
            np.testing.assert_allclose(x[b, pos], expected, atol=tol)
    np.testing.assert_allclose(encoder_input(ids, table, scale=False), table[ids] + pe.astype(dtype), atol=tol)


def test_encoder_input_positions_depend_only_on_position(rng):
    # The same token at two positions gets two different inputs; the difference is the PE's.
    table = rng.normal(size=(5, 6))
    x = encoder_input(np.array([2, 2, 2]), table)
    pe = sinusoidal_positional_encoding(3, 6)
    np.testing.assert_allclose(x[1] - x[0], pe[1] - pe[0], atol=1e-13)
    assert not np.allclose(x[1], x[0])
