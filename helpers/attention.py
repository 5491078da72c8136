"""Stages 04-05: softmax, scaled dot-product attention, multi-head attention.

Shapes: n tokens, d_model features, h heads of size d_k = d_model / h, optional batch B
(any leading dimensions work). Weights follow the paper's ``x @ W`` convention,
W of shape (d_in, d_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks_internal import bool_mask, check_last_dim, check_shape, float_array, positive_int
from .layers import linear

__all__ = [
    "softmax",
    "scaled_dot_product_attention",
    "split_heads",
    "merge_heads",
    "AttentionParams",
    "init_attention",
    "multi_head_attention",
]


def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``.

    Subtracting the row maximum first keeps exp() from overflowing (logits of 1e4 are fine).
    A row that is entirely -inf (every key masked) returns all zeros instead of NaN.
    An empty axis (n = 0) gives an empty result, as in PyTorch.
    """
    x = float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one axis to take the softmax over, got a 0-d array")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be an integer in [-{x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis!r}")
    return _softmax_in_place(x.copy(), axis)


def _softmax_in_place(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    # Overwrites ``scores`` (a temporary its caller owns): a fresh array per step would cost
    # about as much again as the arithmetic, for the (B, h, n, n) scores of attention.
    if scores.size == 0:                # n = 0: nothing to normalise (np.max would refuse the empty axis)
        return scores
    row_max = np.max(scores, axis=axis, keepdims=True)
    # An all -inf row has max -inf; shifting by it would give inf - inf = NaN.
    row_max[~np.isfinite(row_max)] = 0
    with np.errstate(over="ignore"):    # x - max <= 0: an overflow is -inf, and exp(-inf) = 0 is right
        scores -= row_max
    np.exp(scores, out=scores)
    totals = np.sum(scores, axis=axis, keepdims=True)
    totals[totals == 0] = 1             # all-masked rows: 0 / 1 = 0, not 0 / 0 = NaN
    scores /= totals
    return scores


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v, with an optional boolean mask.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v).
    mask: bool, broadcastable to (..., n_q, n_k) without enlarging it (every axis of the mask is 1
        or the scores' size; no more axes than the scores); True = the query may attend to that key.
    Returns: ``(output (..., n_q, d_v), weights (..., n_q, n_k))``. A query whose keys are
    all masked gets zero weights and a zero output row. n_q = 0 or n_k = 0 gives empty arrays
    (an output of zeros when n_k = 0: nothing to attend to).
    """
    q, k, v = float_array(q, "q"), float_array(k, "k"), float_array(v, "v")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"q, k, v must be at least 2-D (..., n, d); got shapes {q.shape}, {k.shape}, {v.shape}"
        )
    d_k = q.shape[-1]
    if d_k == 0:
        raise ValueError(f"q and k need d_k >= 1 features, got shapes {q.shape}, {k.shape}")
    check_last_dim(k, d_k, "k", "d_k")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"q, k, v must share their leading (batch, head) axes (or broadcast): got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}") from None
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"v must have one row per key: expected shape (..., {k.shape[-2]}, d_v), got {v.shape}"
        )
    scores = q @ np.swapaxes(k, -1, -2)                                    # (..., n_q, n_k)
    scores /= np.sqrt(d_k).astype(scores.dtype)
    if mask is not None:
        mask = _check_broadcast_mask(mask, scores.shape)
        scores = np.where(mask, scores, -np.inf)
    weights = _softmax_in_place(scores, axis=-1)     # scores is our own temporary
    return weights @ v, weights


def _check_broadcast_mask(mask, scores_shape: tuple) -> np.ndarray:
    """The mask, if it broadcasts to the scores' shape (..., n_q, n_k) without enlarging them."""
    mask = bool_mask(mask)
    fits = mask.ndim <= len(scores_shape) and all(
        m in (1, s) for m, s in zip(mask.shape[::-1], scores_shape[::-1], strict=False))
    if not fits:
        raise ValueError(
            f"mask must be broadcastable to (..., n_q, n_k) = {scores_shape}, i.e. end in "
            f"{scores_shape[-2:]} (each axis 1 or the scores' size, no extra axes); got shape {mask.shape}"
        )
    return mask


def _check_head_mask(mask, x_shape: tuple, n_heads: int) -> np.ndarray:
    """A multi-head attention mask in one of the documented layouts, so its meaning cannot change.

    Batched x (..., n, d_model): the mask has one axis per axis of the scores (..., h, n_q, n_k), each
    1 or that size. A (B, n) key-padding mask would otherwise broadcast as (n_q, n_k) when B == n.
    Unbatched x (n, d_model): (n_q, n_k) for every head, or (h or 1, n_q or 1, n_k).
    """
    mask = bool_mask(mask)
    scores_shape = (*x_shape[:-2], n_heads, x_shape[-2], x_shape[-2])
    allowed = (2, 3) if len(x_shape) == 2 else (len(scores_shape),)
    if mask.ndim not in allowed:
        layout = ("(n_q, n_k) or (h, n_q, n_k)" if len(x_shape) == 2 else
                  f"{len(scores_shape)} axes (..., h, n_q, n_k), each 1 or that size; a key-padding mask "
                  "(..., n) becomes mask[..., None, None, :] (helpers.encoder.key_padding_to_attention_mask), "
                  "one (n, n) mask for all becomes mask[None, None]")
        raise ValueError(f"mask for x of shape {tuple(x_shape)} ({n_heads} heads: scores {scores_shape}) must "
                         f"have {layout}; got shape {mask.shape}")
    return _check_broadcast_mask(mask, scores_shape)


def split_heads(x, n_heads: int) -> np.ndarray:
    """(..., n, d_model) -> (..., h, n, d_k): each head sees its own slice of the features."""
    x = float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"split_heads expects shape (..., n, d_model), got shape {x.shape}")
    d_model = x.shape[-1]
    n_heads = positive_int(n_heads, "n_heads", minimum=0)
    if n_heads < 1 or d_model % n_heads:
        raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
    d_k = d_model // n_heads
    x = x.reshape(*x.shape[:-1], n_heads, d_k)                             # (..., n, h, d_k)
    return np.swapaxes(x, -2, -3)                                          # (..., h, n, d_k)


def merge_heads(x) -> np.ndarray:
    """(..., h, n, d_k) -> (..., n, h * d_k): concatenate the heads' outputs feature-wise."""
    x = float_array(x, "x")
    if x.ndim < 3:
        raise ValueError(f"merge_heads expects shape (..., h, n, d_k), got shape {x.shape}")
    x = np.swapaxes(x, -2, -3)                                             # (..., n, h, d_k)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


@dataclass
class AttentionParams:
    """Multi-head self-attention weights, all in the ``x @ W`` convention.

    w_q, w_k, w_v, w_o: (d_model, d_model); b_q, b_k, b_v, b_o: (d_model,).
    The columns of w_q (and w_k, w_v) are the h heads' projections side by side:
    head i uses columns i*d_k : (i+1)*d_k.
    """

    w_q: np.ndarray
    b_q: np.ndarray
    w_k: np.ndarray
    b_k: np.ndarray
    w_v: np.ndarray
    b_v: np.ndarray
    w_o: np.ndarray
    b_o: np.ndarray
    n_heads: int

    def __post_init__(self):
        self.n_heads = positive_int(self.n_heads, "n_heads", minimum=0)
        self.w_q = float_array(self.w_q, "w_q")
        shape = self.w_q.shape
        if len(shape) != 2:
            raise ValueError(f"w_q must have shape (d_model, d_model), got shape {shape}")
        d_model = shape[0]
        for name in ("w_q", "w_k", "w_v", "w_o"):
            setattr(self, name, check_shape(float_array(getattr(self, name), name), (d_model, d_model), name))
        for name in ("b_q", "b_k", "b_v", "b_o"):
            setattr(self, name, check_shape(float_array(getattr(self, name), name), (d_model,), name))
        if self.n_heads < 1 or d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={d_model}")

    @property
    def d_model(self) -> int:
        return self.w_q.shape[0]

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


def _xavier_uniform(rng, fan_in, fan_out, shape, dtype):
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def init_attention(rng: np.random.Generator, d_model: int, n_heads: int,
                   dtype=np.float64) -> AttentionParams:
    """Random attention weights, initialised as PyTorch's nn.MultiheadAttention does.

    Q, K, V weights are Xavier-uniform over the stacked (d_model, 3 d_model) projection;
    biases start at zero.
    """
    d_model, n_heads = positive_int(d_model, "d_model"), positive_int(n_heads, "n_heads", minimum=0)
    if n_heads < 1 or d_model % n_heads:
        raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
    w_qkv = _xavier_uniform(rng, d_model, 3 * d_model, (d_model, 3 * d_model), dtype)
    w_q, w_k, w_v = np.split(w_qkv, 3, axis=1)
    bound = 1.0 / np.sqrt(d_model)   # nn.Linear's default for the output projection
    w_o = rng.uniform(-bound, bound, size=(d_model, d_model)).astype(dtype)
    zeros = np.zeros(d_model, dtype=dtype)
    return AttentionParams(w_q, zeros.copy(), w_k, zeros.copy(), w_v, zeros.copy(), w_o,
                           zeros.copy(), n_heads)


def multi_head_attention(x, params: AttentionParams, mask=None):
    """Multi-head self-attention: h scaled dot-product attentions in parallel.

    x: (..., n, d_model).
    mask: bool, True = may attend. For batched x (B, n, d_model) it has the scores' four axes
        (B or 1, h or 1, n or 1, n): the encoder turns a key-padding mask (B, n) into (B, 1, 1, n)
        before calling this. For unbatched x (n, d_model): (n, n) or (h or 1, n or 1, n).
        Other layouts raise ValueError instead of broadcasting into another meaning.
    Returns: ``(output (..., n, d_model), weights (..., h, n, n))``.
    """
    x = float_array(x, "x")
    check_last_dim(x, params.d_model, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, {params.d_model}), got shape {x.shape}")
    if mask is not None:
        mask = _check_head_mask(mask, x.shape, params.n_heads)
    # One (d_model, 3 d_model) product instead of three (d_model, d_model) ones: same numbers,
    # about 20% faster, because BLAS works best on large matrices.
    w_qkv = np.concatenate([params.w_q, params.w_k, params.w_v], axis=1)
    b_qkv = np.concatenate([params.b_q, params.b_k, params.b_v])
    q, k, v = np.split(linear(x, w_qkv, b_qkv), 3, axis=-1)                # each (..., n, d_model)
    q, k, v = (split_heads(t, params.n_heads) for t in (q, k, v))         # each (..., h, n, d_k)
    heads, weights = scaled_dot_product_attention(q, k, v, mask)          # (..., h, n, d_k)
    return linear(merge_heads(heads), params.w_o, params.b_o), weights
