"""Stages 11-12: the backward pass, by hand: one vector-Jacobian product (VJP) per forward function.

Every stage comes as a pair:
    out, cache = <stage>_forward(...)          # the same numbers as the forward function in helpers
    grads = <stage>_backward(grad_out, cache)  # dL/d(inputs) given grad_out = dL/d(out)
The cache holds what the backward needs from the forward (inputs, attention weights, normalised
activations); treat it as opaque. Outputs of the ``*_forward`` functions are computed by the
forward helpers themselves (or their building blocks, in the same order), so the two cannot drift;
tests/test_backward.py checks that they are equal bit for bit.

Conventions: weights are ``x @ W`` (d_in, d_out) as everywhere in helpers; any leading batch axes;
the gradient of a parameter is summed over every leading axis (every token of every sequence used
it). Gradients come back in the dtype of what they are the gradient of (grad_x in x's dtype, a
weight's gradient in that weight's dtype). No Python loop runs over tokens, heads or batch.

Shapes: n tokens, d_model, h = n_heads, d_k = d_model / h, d_ff, B (or any leading axes), V, C classes.
"""

from __future__ import annotations

import numpy as np

from ._checks_internal import check_ids_in_range, check_last_dim, check_shape, float_array, int_array
from .attention import AttentionParams, merge_heads, scaled_dot_product_attention, split_heads
from .encoder import EncoderBlockParams, _check_input, key_padding_to_attention_mask
from .layers import ACTIVATIONS, FeedForwardParams, LayerNormParams, _normal_cdf_float32, erf, layer_norm, linear

__all__ = [
    "linear_forward",
    "linear_backward",
    "relu_backward",
    "gelu_backward",
    "softmax_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "scaled_dot_product_attention_forward",
    "scaled_dot_product_attention_backward",
    "split_heads_backward",
    "merge_heads_backward",
    "multi_head_attention_forward",
    "multi_head_attention_backward",
    "feed_forward_forward",
    "feed_forward_backward",
    "encoder_block_forward",
    "encoder_block_backward",
    "encoder_block_vjp",
    "encoder_stack_forward",
    "encoder_stack_backward",
    "encoder_stack_vjp",
    "embedding_backward",
    "encoder_input_backward",
    "cross_entropy_forward",
    "cross_entropy_backward",
    "zeros_like_params",
]


# ---------------------------------------------------------------------------------------- utilities


def _grad(grad, shape: tuple, dtype, name: str = "grad_output") -> np.ndarray:
    """grad as an array of exactly ``shape`` in ``dtype``, or ValueError naming both shapes."""
    grad = float_array(grad, name)
    check_shape(grad, tuple(shape), name)
    return grad.astype(dtype, copy=False)


def _sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` over the axes along which an input of ``shape`` was stretched.

    An input that broadcast to more elements was used by each of them, so its gradient is the sum.
    """
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _rows(a: np.ndarray) -> np.ndarray:
    # (..., d) -> (N, d): one big matrix product instead of one per sequence (see helpers.layers.linear).
    return a.reshape(-1, a.shape[-1])


def zeros_like_params(params):
    """The same dataclass (EncoderBlockParams, AttentionParams, ...) with every array replaced by zeros."""
    if isinstance(params, np.ndarray):
        return np.zeros_like(params)
    if isinstance(params, (list, tuple)):
        return type(params)(zeros_like_params(p) for p in params)
    if hasattr(params, "__dataclass_fields__"):
        return type(params)(**{f: zeros_like_params(getattr(params, f)) for f in params.__dataclass_fields__})
    return params


# ------------------------------------------------------------------------- linear and activations


def linear_forward(x, w, b):
    """y = x @ w + b (helpers.layers.linear). x: (..., d_in); w: (d_in, d_out); b: (d_out,).

    Returns ``(y (..., d_out), cache)``.
    """
    y = linear(x, w, b)
    return y, (np.asarray(x), np.asarray(w), np.asarray(b))


def linear_backward(grad_y, cache):
    """VJP of y = x @ w + b.

    grad_y: (..., d_out). Returns ``(grad_x (..., d_in), grad_w (d_in, d_out), grad_b (d_out,))``:
    grad_x = grad_y w^T; grad_w = x^T grad_y and grad_b = sum of grad_y, both summed over every
    leading axis (w and b serve every position).
    """
    x, w, b = cache
    grad_y = _grad(grad_y, (*x.shape[:-1], w.shape[1]), x.dtype, "grad_y")
    g = _rows(grad_y)
    grad_x = (g @ w.T.astype(x.dtype, copy=False)).reshape(x.shape)
    grad_w = (_rows(x).T @ g).astype(w.dtype, copy=False)
    grad_b = g.sum(axis=0).astype(b.dtype, copy=False)
    return grad_x, grad_w, grad_b


def relu_backward(grad_y, x) -> np.ndarray:
    """VJP of relu: the gradient passes where x > 0 and stops elsewhere (0 at x = 0, as in PyTorch)."""
    x = float_array(x, "x")
    grad_y = _grad(grad_y, x.shape, x.dtype, "grad_y")
    return np.where(x > 0, grad_y, 0).astype(x.dtype, copy=False)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    # Phi(x) = (1 + erf(x / sqrt 2)) / 2, in the order helpers.layers.gelu computes it (so that
    # _normal_cdf(x) * x is gelu(x) bit for bit; tests/test_backward.py checks it).
    if x.dtype == np.float32:
        return _normal_cdf_float32(np.atleast_1d(x)).reshape(x.shape)
    cdf = erf(x * np.sqrt(0.5).astype(x.dtype))
    cdf += 1
    cdf *= 0.5
    return cdf


def gelu_backward(grad_y, x, cdf=None) -> np.ndarray:
    """VJP of the exact GELU x Phi(x): d/dx = Phi(x) + x phi(x), phi the standard normal density.

    Phi uses helpers.layers.erf, the same erf as the forward. cdf: Phi(x) if the caller kept it from
    the forward (feed_forward_forward does: erf is the expensive part). Finite for every finite x:
    for |x| large, phi(x) underflows to 0 and the derivative is 0 or 1.
    """
    x = float_array(x, "x")
    grad_y = _grad(grad_y, x.shape, x.dtype, "grad_y")
    cdf = _normal_cdf(x) if cdf is None else np.array(cdf, dtype=x.dtype)     # a copy: updated in place
    with np.errstate(over="ignore"):       # x^2 = inf for huge x: exp(-inf) = 0, the right limit
        density = np.exp(-0.5 * np.square(x))
    density *= (1 / np.sqrt(2 * np.pi)).astype(x.dtype)
    density *= x
    cdf += density
    cdf *= grad_y
    return cdf


def softmax_backward(grad_y, y, axis: int = -1) -> np.ndarray:
    """VJP of y = softmax(x) along ``axis``, from the output y: grad_x = y * (grad_y - <grad_y, y>).

    The Jacobian diag(y) - y y^T is never built. A fully masked row (y all 0) gets gradient 0.
    """
    y = float_array(y, "y")
    grad_y = _grad(grad_y, y.shape, y.dtype, "grad_y")
    dot = np.sum(grad_y * y, axis=axis, keepdims=True)
    return y * (grad_y - dot)


# ------------------------------------------------------------------------------------- layer norm


def layer_norm_forward(x, gamma, beta, eps: float = 1e-5):
    """helpers.layers.layer_norm, keeping what the backward needs.

    x: (..., d_model); gamma, beta: (d_model,). Returns ``(y (..., d_model), cache)``.
    """
    y = layer_norm(x, gamma, beta, eps)
    x = np.asarray(x)
    # The same statistics as the forward (shift by the first entry, then centre; biased variance).
    centred = x - x[..., :1]
    centred -= centred.mean(axis=-1, keepdims=True)
    inv_std = 1 / np.sqrt(np.mean(np.square(centred), axis=-1, keepdims=True) + eps).astype(x.dtype)
    centred *= inv_std
    return y, (centred, inv_std, np.asarray(gamma), np.asarray(beta))


def layer_norm_backward(grad_y, cache):
    """VJP of layer norm. grad_y: (..., d_model).

    With x_hat = (x - mean) / sqrt(var + eps) and g = grad_y * gamma:
        grad_x = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)   (means over d_model)
    The two subtracted means are the paths through the mean and through the variance. A constant
    row (var = 0) gets the finite gradient (g - mean(g)) / sqrt(eps), as in PyTorch.
    Returns ``(grad_x (..., d_model), grad_gamma (d_model,), grad_beta (d_model,))``.
    """
    x_hat, inv_std, gamma, beta = cache
    grad_y = _grad(grad_y, x_hat.shape, x_hat.dtype, "grad_y")
    g = grad_y * gamma.astype(x_hat.dtype, copy=False)
    grad_x = g - g.mean(axis=-1, keepdims=True)
    grad_x -= x_hat * np.mean(g * x_hat, axis=-1, keepdims=True)
    grad_x *= inv_std
    grad_gamma = _rows(grad_y * x_hat).sum(axis=0).astype(gamma.dtype, copy=False)
    grad_beta = _rows(grad_y).sum(axis=0).astype(beta.dtype, copy=False)
    return grad_x, grad_gamma, grad_beta


# -------------------------------------------------------------------------------------- attention


def scaled_dot_product_attention_forward(q, k, v, mask=None):
    """helpers.attention.scaled_dot_product_attention, keeping its weights for the backward.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); mask broadcastable to
    (..., n_q, n_k), True = may attend. Returns ``(output (..., n_q, d_v), cache)``; the weights
    (..., n_q, n_k) are ``cache["weights"]``. Fully masked rows: weights 0, output 0.
    """
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    return out, {"q": q, "k": k, "v": v, "weights": weights, "out_shape": out.shape}


def scaled_dot_product_attention_backward(grad_out, cache):
    """VJP of softmax(q k^T / sqrt(d_k)) v. grad_out: (..., n_q, d_v).

    grad_v = W^T grad_out;  grad_W = grad_out v^T;  grad_scores = softmax_backward(grad_W, W);
    grad_q = grad_scores k / sqrt(d_k);  grad_k = grad_scores^T q / sqrt(d_k).
    Masked entries have W = 0, so no gradient flows through them; a fully masked row passes 0
    to q, k and v. Inputs that were broadcast get their gradient summed back to their shape.
    Returns ``(grad_q, grad_k, grad_v)`` with the shapes of q, k, v.
    """
    q, k, v, weights = cache["q"], cache["k"], cache["v"], cache["weights"]
    grad_out = _grad(grad_out, cache["out_shape"], weights.dtype)
    grad_v = np.swapaxes(weights, -1, -2) @ grad_out                       # (..., n_k, d_v)
    grad_weights = _sum_to_shape(grad_out @ np.swapaxes(v, -1, -2), weights.shape)  # (..., n_q, n_k)
    grad_scores = softmax_backward(grad_weights, weights)
    grad_scores /= np.sqrt(q.shape[-1]).astype(grad_scores.dtype)
    grad_q = grad_scores @ k                                               # (..., n_q, d_k)
    grad_k = np.swapaxes(grad_scores, -1, -2) @ q                          # (..., n_k, d_k)
    return (_sum_to_shape(grad_q, q.shape).astype(q.dtype, copy=False),
            _sum_to_shape(grad_k, k.shape).astype(k.dtype, copy=False),
            _sum_to_shape(grad_v, v.shape).astype(v.dtype, copy=False))


def split_heads_backward(grad_heads) -> np.ndarray:
    """VJP of split_heads: (..., h, n, d_k) -> (..., n, d_model). Splitting only moves entries, so its
    VJP moves them back: it is merge_heads."""
    return merge_heads(grad_heads)


def merge_heads_backward(grad_merged, n_heads: int) -> np.ndarray:
    """VJP of merge_heads: (..., n, d_model) -> (..., h, n, d_k). It is split_heads."""
    return split_heads(grad_merged, n_heads)


def multi_head_attention_forward(x, params: AttentionParams, mask=None):
    """helpers.attention.multi_head_attention, step by step, keeping each step's cache.

    x: (..., n, d_model); mask broadcastable to (..., h, n, n), True = may attend.
    Returns ``(output (..., n, d_model), cache)``; the attention weights (..., h, n, n) are
    ``cache["weights"]``.
    """
    x = float_array(x, "x")
    check_last_dim(x, params.d_model, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, {params.d_model}), got shape {x.shape}")
    # The same fused (d_model, 3 d_model) projection as multi_head_attention.
    w_qkv = np.concatenate([params.w_q, params.w_k, params.w_v], axis=1)
    b_qkv = np.concatenate([params.b_q, params.b_k, params.b_v])
    qkv, qkv_cache = linear_forward(x, w_qkv, b_qkv)
    q, k, v = (split_heads(t, params.n_heads) for t in np.split(qkv, 3, axis=-1))
    heads, sdpa_cache = scaled_dot_product_attention_forward(q, k, v, mask)   # (..., h, n, d_k)
    out, out_cache = linear_forward(merge_heads(heads), params.w_o, params.b_o)
    cache = {"qkv": qkv_cache, "sdpa": sdpa_cache, "out": out_cache, "n_heads": params.n_heads,
             "weights": sdpa_cache["weights"]}
    return out, cache


def multi_head_attention_backward(grad_out, cache):
    """VJP of multi-head self-attention. grad_out: (..., n, d_model).

    Returns ``(grad_x (..., n, d_model), AttentionParams of the weight and bias gradients)``.
    x feeds Q, K and V, so grad_x is the sum of the three paths (one fused matrix product).
    """
    h = cache["n_heads"]
    grad_merged, grad_w_o, grad_b_o = linear_backward(grad_out, cache["out"])
    grad_q, grad_k, grad_v = scaled_dot_product_attention_backward(merge_heads_backward(grad_merged, h),
                                                                   cache["sdpa"])
    grad_qkv = np.concatenate([split_heads_backward(g) for g in (grad_q, grad_k, grad_v)], axis=-1)
    grad_x, grad_w_qkv, grad_b_qkv = linear_backward(grad_qkv, cache["qkv"])
    w_q, w_k, w_v = np.split(grad_w_qkv, 3, axis=1)
    b_q, b_k, b_v = np.split(grad_b_qkv, 3)
    return grad_x, AttentionParams(w_q, b_q, w_k, b_k, w_v, b_v, grad_w_o, grad_b_o, h)


# ---------------------------------------------------------------------------------- feed-forward


def feed_forward_forward(x, params: FeedForwardParams, activation: str = "relu"):
    """helpers.layers.feed_forward, keeping the pre-activation. x: (..., n, d_model).

    Returns ``(output (..., n, d_model), cache)``.
    """
    x = float_array(x, "x")
    check_last_dim(x, params.d_model, "x")
    if activation not in ("relu", "gelu"):     # the activations with a backward here
        raise ValueError(f"activation must be 'relu' or 'gelu' for the backward pass, got {activation!r}")
    pre, cache_1 = linear_forward(x, params.w_1, params.b_1)                # (..., n, d_ff)
    cdf = None
    if activation == "gelu":
        cdf = _normal_cdf(pre)               # gelu(pre) = Phi(pre) pre, and the backward needs Phi again
        hidden = cdf * pre
    else:
        hidden = ACTIVATIONS[activation](pre)
    out, cache_2 = linear_forward(hidden, params.w_2, params.b_2)
    return out, {"linear_1": cache_1, "linear_2": cache_2, "pre": pre, "cdf": cdf, "activation": activation}


def feed_forward_backward(grad, cache):
    """VJP of FFN(x) = act(x W_1 + b_1) W_2 + b_2. grad: (..., n, d_model).

    Returns ``(grad_x (..., n, d_model), FeedForwardParams of gradients)``.
    """
    grad_hidden, grad_w_2, grad_b_2 = linear_backward(grad, cache["linear_2"])
    if cache["activation"] == "gelu":
        grad_pre = gelu_backward(grad_hidden, cache["pre"], cache["cdf"])
    else:
        grad_pre = relu_backward(grad_hidden, cache["pre"])
    grad_x, grad_w_1, grad_b_1 = linear_backward(grad_pre, cache["linear_1"])
    return grad_x, FeedForwardParams(grad_w_1, grad_b_1, grad_w_2, grad_b_2)


# ----------------------------------------------------------------------------------------- block


def _identity_backward(grad):
    return grad


def encoder_block_forward(x, params: EncoderBlockParams, mask=None, *, residual: bool = True,
                          normalize: bool = True):
    """helpers.encoder.encoder_block, keeping every sub-layer's cache.

    x: (..., n, d_model); mask: key-padding mask (n,) or (..., n), True = real token.
    params.norm_first selects post-LN (False) or pre-LN (True); params.activation and params.eps
    are honoured. Two ablation switches (for training experiments; both True = encoder_block):
      residual=False drops both skip connections: x + Sublayer(x) becomes Sublayer(x);
      normalize=False skips both layer norms (their gradients come back as zeros).
    Returns ``(output (..., n, d_model), cache)``; attention weights (..., h, n, n) are
    ``cache["weights"]``.
    """
    x = _check_input(x, params.d_model)
    attn_mask = None if mask is None else key_padding_to_attention_mask(mask, x.shape)
    caches = {}

    def norm(h, which):
        if not normalize:
            return h
        ln = getattr(params, which)
        out, caches[which] = layer_norm_forward(h, ln.gamma, ln.beta, params.eps)
        return out

    def add(skip, sublayer_out):
        return skip + sublayer_out if residual else sublayer_out

    def attention(h):
        out, caches["attention"] = multi_head_attention_forward(h, params.attention, attn_mask)
        return out

    def ffn(h):
        out, caches["feed_forward"] = feed_forward_forward(h, params.feed_forward, params.activation)
        return out

    if params.norm_first:
        h = add(x, attention(norm(x, "norm1")))
        out = add(h, ffn(norm(h, "norm2")))
    else:
        h = norm(add(x, attention(x)), "norm1")
        out = norm(add(h, ffn(h)), "norm2")
    cache = {"caches": caches, "params": params, "residual": residual, "normalize": normalize,
             "shape": x.shape, "dtype": x.dtype, "weights": caches["attention"]["weights"]}
    return out, cache


def encoder_block_backward(grad_out, cache):
    """VJP of one encoder block. grad_out: (..., n, d_model), the shape of the block's output.

    Returns ``(grad_x (..., n, d_model), EncoderBlockParams of gradients)`` (same structure,
    shapes and flags as the params; norm gradients are zeros when normalize=False).
    At each residual x + Sublayer(x) the gradient splits: one copy goes straight to x (the skip),
    one goes through the sub-layer; the two add up.
    """
    params, caches, residual, normalize = cache["params"], cache["caches"], cache["residual"], cache["normalize"]
    grad_out = _grad(grad_out, cache["shape"], cache["dtype"])
    norm_grads = {}

    def norm_backward(g, which):
        if not normalize:
            return g
        g, grad_gamma, grad_beta = layer_norm_backward(g, caches[which])
        norm_grads[which] = LayerNormParams(grad_gamma, grad_beta)
        return g

    def add_backward(g, sublayer_backward):
        through = sublayer_backward(g)
        return g + through if residual else through

    grads = {}

    def attention_backward(g):
        g, grads["attention"] = multi_head_attention_backward(g, caches["attention"])
        return g

    def ffn_backward(g):
        g, grads["feed_forward"] = feed_forward_backward(g, caches["feed_forward"])
        return g

    if params.norm_first:
        # out = h + FFN(LN2(h)); h = x + MHA(LN1(x))
        grad_h = add_backward(grad_out, lambda g: norm_backward(ffn_backward(g), "norm2"))
        grad_x = add_backward(grad_h, lambda g: norm_backward(attention_backward(g), "norm1"))
    else:
        # out = LN2(h + FFN(h)); h = LN1(x + MHA(x))
        grad_h = add_backward(norm_backward(grad_out, "norm2"), ffn_backward)
        grad_x = add_backward(norm_backward(grad_h, "norm1"), attention_backward)
    for which in ("norm1", "norm2"):
        if which not in norm_grads:
            norm_grads[which] = zeros_like_params(getattr(params, which))
    block_grads = EncoderBlockParams(
        attention=grads["attention"], feed_forward=grads["feed_forward"],
        norm1=norm_grads["norm1"], norm2=norm_grads["norm2"],
        norm_first=params.norm_first, activation=params.activation, eps=params.eps,
    )
    return grad_x, block_grads


def encoder_block_vjp(x, params: EncoderBlockParams, grad_output, mask=None):
    """Forward and backward of encoder_block in one call.

    Returns ``(grad_x (..., n, d_model), grads)``, grads an EncoderBlockParams holding dL/dparam
    for L = sum(grad_output * encoder_block(x, params, mask)).
    """
    _, cache = encoder_block_forward(x, params, mask)
    return encoder_block_backward(grad_output, cache)


# ----------------------------------------------------------------------------------------- stack


def encoder_stack_forward(x, blocks: list[EncoderBlockParams], mask=None,
                          final_norm: LayerNormParams | None = None, *, residual: bool = True,
                          normalize: bool = True):
    """helpers.encoder.encoder_stack, keeping every block's cache.

    x: (..., n, d_model). final_norm (eps = the last block's, as encoder_stack) is skipped too
    when normalize=False (its gradients are then zeros). Returns ``(output (..., n, d_model), cache)``;
    ``cache["weights"]`` stacks the blocks' attention weights as (n_layers, ..., h, n, n).
    """
    if not blocks:
        raise ValueError("encoder_stack needs at least one block, got 0")
    block_caches = []
    for block in blocks:              # a loop over layers, not over tokens: each needs the one below
        x, block_cache = encoder_block_forward(x, block, mask, residual=residual, normalize=normalize)
        block_caches.append(block_cache)
    norm_cache = None
    if final_norm is not None and normalize:
        x, norm_cache = layer_norm_forward(x, final_norm.gamma, final_norm.beta, blocks[-1].eps)
    cache = {"blocks": block_caches, "final_norm": final_norm, "norm": norm_cache, "shape": x.shape,
             "dtype": x.dtype, "weights": np.stack([c["weights"] for c in block_caches])}
    return x, cache


def encoder_stack_backward(grad_out, cache):
    """VJP of the stack: the final norm's backward, then each block's, top to bottom.

    grad_out: (..., n, d_model). Returns ``(grad_x, block_grads, final_norm_grads)``: block_grads a
    list of EncoderBlockParams, bottom block first (as ``blocks``); final_norm_grads a
    LayerNormParams, or None when there is no final norm.
    """
    grad = _grad(grad_out, cache["shape"], cache["dtype"])
    final_norm_grads = None
    if cache["norm"] is not None:
        grad, grad_gamma, grad_beta = layer_norm_backward(grad, cache["norm"])
        final_norm_grads = LayerNormParams(grad_gamma, grad_beta)
    elif cache["final_norm"] is not None:
        final_norm_grads = zeros_like_params(cache["final_norm"])
    block_grads = []
    for block_cache in reversed(cache["blocks"]):
        grad, grads = encoder_block_backward(grad, block_cache)
        block_grads.append(grads)
    return grad, block_grads[::-1], final_norm_grads


def encoder_stack_vjp(x, blocks: list[EncoderBlockParams], grad_output, mask=None,
                      final_norm: LayerNormParams | None = None):
    """Forward and backward of encoder_stack in one call.

    Returns ``(grad_x, block_grads, final_norm_grads)`` for L = sum(grad_output * encoder_stack(...)).
    """
    _, cache = encoder_stack_forward(x, blocks, mask, final_norm)
    return encoder_stack_backward(grad_output, cache)


# ----------------------------------------------------------------------------------- embeddings


def embedding_backward(grad_embedded, token_ids, vocab_size: int) -> np.ndarray:
    """VJP of the lookup table[token_ids]: each row's gradient is the sum over the positions that read it.

    grad_embedded: (..., n, d_model); token_ids: int (..., n). Returns grad_table (vocab_size, d_model) in
    grad_embedded's dtype. A scatter-add: an id used three times gets three gradients added
    (np.add.at, which, unlike ``table[ids] += g``, accumulates repeated ids). Rows never read get 0.
    """
    ids = int_array(token_ids, "token_ids")
    grad = float_array(grad_embedded, "grad_embedded")
    if grad.ndim != ids.ndim + 1 or grad.shape[:-1] != ids.shape:
        raise ValueError(f"grad_embedded must have shape {(*ids.shape, 'd_model')}, one row per id, "
                         f"got shape {grad.shape}")
    check_ids_in_range(ids, vocab_size)
    grad_table = np.zeros((vocab_size, grad.shape[-1]), dtype=grad.dtype)
    np.add.at(grad_table, ids.ravel(), _rows(grad))
    return grad_table


def encoder_input_backward(grad_input, token_ids, vocab_size: int, scale: bool = True) -> np.ndarray:
    """VJP of helpers.embeddings.encoder_input (table[ids] * sqrt(d_model) + positions) w.r.t. the table.

    The positional encoding is fixed (no gradient); the sqrt(d_model) scale multiplies the gradient.
    grad_input: (..., n, d_model). Returns grad_table (vocab_size, d_model).
    """
    grad = float_array(grad_input, "grad_input")
    if scale:
        grad = grad * np.sqrt(grad.shape[-1]).astype(grad.dtype)
    return embedding_backward(grad, token_ids, vocab_size)


# -------------------------------------------------------------------------------- cross-entropy


def cross_entropy_forward(logits, targets, ignore_index: int = -100):
    """Mean cross-entropy of softmax(logits) against integer targets, skipping ignored targets.

    logits: (..., C); targets: int (...), each in [0, C) or equal to ignore_index (padding).
    loss = mean over non-ignored positions of logsumexp(logits) - logits[target]; the log-sum-exp
    subtracts the row maximum first, so logits of 1e4 are fine; a logit of -inf (a class ruled out)
    has probability 0. When every target is ignored there is nothing to average: the loss is 0 and
    its gradient is 0 (PyTorch returns NaN here). Ignored positions never affect the loss or get a
    gradient, whatever their logits. A real target whose logit is -inf has loss inf (its probability is 0).
    Returns ``(loss, cache)``, loss a 0-d array in logits' dtype.
    """
    logits = float_array(logits, "logits")
    targets = int_array(targets, "targets")
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]} (logits' shape without the class "
                         f"axis), got shape {targets.shape}")
    n_classes = logits.shape[-1]
    if n_classes == 0:
        raise ValueError(f"logits must have at least one class (shape (..., C) with C >= 1), got shape {logits.shape}")
    valid = targets != ignore_index
    bad = valid & ((targets < 0) | (targets >= n_classes))
    if bad.any():
        raise ValueError(f"targets must lie in [0, {n_classes}) or equal ignore_index={ignore_index}, "
                         f"got {targets[bad].ravel()[:5].tolist()}")
    row_max = logits.max(axis=-1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0      # a row of -inf logits: shifting by -inf would give NaN
    shifted = logits - row_max
    exp = np.exp(shifted)
    totals = exp.sum(axis=-1, keepdims=True)
    totals[totals == 0] = 1                 # that row's probabilities are then 0, not 0 / 0
    safe_targets = np.where(valid, targets, 0)[..., None]
    log_p_target = np.take_along_axis(shifted, safe_targets, axis=-1)[..., 0] - np.log(totals[..., 0])
    count = int(valid.sum())
    loss = -np.sum(log_p_target, where=valid) / max(count, 1) + 0.0    # + 0.0: every target ignored gives +0.0, not -0.0
    cache = {"probs": exp / totals, "targets": safe_targets, "valid": valid, "count": count}
    return np.asarray(loss, dtype=logits.dtype), cache


def cross_entropy_backward(cache, grad_loss=1.0) -> np.ndarray:
    """VJP of cross_entropy_forward: grad_logits = grad_loss * (softmax(logits) - one_hot(target)) / count
    on non-ignored positions, 0 on ignored ones (and everywhere when all are ignored). Shape (..., C)."""
    probs, valid, count = cache["probs"], cache["valid"], cache["count"]
    grad = probs.copy()
    np.put_along_axis(grad, cache["targets"], np.take_along_axis(grad, cache["targets"], axis=-1) - 1, axis=-1)
    grad = np.where(valid[..., None], grad, 0).astype(probs.dtype, copy=False)
    grad *= np.asarray(grad_loss, dtype=probs.dtype) / max(count, 1)
    return grad
