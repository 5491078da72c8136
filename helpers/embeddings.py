"""Stages 02-03: token embeddings and sinusoidal positional encoding.

Shapes: ids (..., n) -> embeddings (..., n, d_model); positional encoding (n, d_model).
"""

from __future__ import annotations

import numpy as np

from ._checks_internal import check_ids_in_range, float_array, int_array, positive_int

__all__ = ["embed", "sinusoidal_positional_encoding", "encoder_input", "init_embedding_table"]


def init_embedding_table(rng: np.random.Generator, vocab_size: int, d_model: int,
                         dtype=np.float64) -> np.ndarray:
    """A random (vocab_size, d_model) table with entries ~ N(0, 1/d_model) (d_model >= 1).

    The 1/d_model variance gives rows of norm about 1, so that after the paper's
    sqrt(d_model) scaling their entries are about the size of the positional encoding's.
    """
    vocab_size, d_model = positive_int(vocab_size, "vocab_size", minimum=0), positive_int(d_model, "d_model")
    return rng.normal(0.0, d_model**-0.5, size=(vocab_size, d_model)).astype(dtype)


def embed(token_ids, table) -> np.ndarray:
    """Look up one row of ``table`` per id.

    Equal to ``one_hot(token_ids, vocab_size) @ table`` but without building the (n, vocab_size) matrix.
    token_ids: int array (..., n); table: (vocab_size, d_model). Returns (..., n, d_model).
    """
    ids = int_array(token_ids, "token_ids")
    table = float_array(table, "table")
    if table.ndim != 2:
        raise ValueError(f"table must have shape (vocab_size, d_model), got shape {table.shape}")
    check_ids_in_range(ids, table.shape[0])
    return table[ids]


def sinusoidal_positional_encoding(n_positions: int, d_model: int, dtype=np.float64) -> np.ndarray:
    """The fixed encoding of "Attention Is All You Need", section 3.5.

    PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))
    Returns: (n_positions, d_model). An odd d_model drops the last cosine column.
    """
    n_positions = positive_int(n_positions, "n_positions", minimum=-(2**63))   # integer; the range is checked below
    d_model = positive_int(d_model, "d_model", minimum=-(2**63))
    if n_positions < 0 or d_model < 1:
        raise ValueError(
            f"need n_positions >= 0 and d_model >= 1, got n_positions={n_positions}, d_model={d_model}"
        )
    positions = np.arange(n_positions, dtype=np.float64)[:, None]          # (n, 1)
    two_i = np.arange(0, d_model, 2, dtype=np.float64)                     # (ceil(d/2),)
    angles = positions / np.power(10000.0, two_i / d_model)                # (n, ceil(d/2))
    pe = np.empty((n_positions, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return pe.astype(dtype, copy=False)


def encoder_input(token_ids, table, scale: bool = True) -> np.ndarray:
    """What enters the bottom encoder block: embeddings (times sqrt(d_model)) plus positions.

    token_ids: (..., n); table: (vocab_size, d_model). Returns (..., n, d_model) in the table's dtype.
    """
    x = embed(token_ids, table)
    if x.ndim < 2:
        raise ValueError(f"token_ids must have shape (..., n), got a single id (shape {np.shape(token_ids)})")
    n, d_model = x.shape[-2], x.shape[-1]
    if scale:
        x = x * np.sqrt(d_model).astype(x.dtype)
    return x + sinusoidal_positional_encoding(n, d_model, dtype=x.dtype)
