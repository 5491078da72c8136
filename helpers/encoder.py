"""Stages 08-09: the encoder block and the stack of blocks.

Block (post-LN, as in the paper):   x -> LN(x + MHA(x)) -> LN(. + FFN(.))
Block (pre-LN, most modern models):         x -> x + MHA(LN(x)) -> . + FFN(LN(.))
Shapes: (..., n, d_model) in, the same shape out. Masks are key-padding masks of shape
(n,) or (..., n), True = real token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks_internal import bool_mask, check_kind, check_last_dim, float_array, positive_float, positive_int
from .attention import AttentionParams, _multi_head_attention, init_attention
from .layers import (
    ACTIVATIONS,
    FeedForwardParams,
    LayerNormParams,
    _feed_forward,
    _layer_norm_in_place,
    init_feed_forward,
    layer_norm,
)

__all__ = [
    "AttentionParams",
    "FeedForwardParams",
    "LayerNormParams",
    "EncoderBlockParams",
    "init_encoder_block",
    "init_encoder_stack",
    "encoder_block",
    "encoder_stack",
    "key_padding_to_attention_mask",
    "count_parameters",
]


@dataclass
class EncoderBlockParams:
    """Everything one encoder block owns.

    attention: the self-attention sub-layer (carries n_heads).
    feed_forward: the position-wise feed-forward sub-layer.
    norm1, norm2: the layer norms of the attention and feed-forward sub-layers.
    norm_first: False = post-LN (the paper, BERT); True = pre-LN (GPT-2 and most modern models).
    activation: "relu" (paper) or "gelu" (BERT and later).
    eps: layer-norm epsilon.
    """

    attention: AttentionParams
    feed_forward: FeedForwardParams
    norm1: LayerNormParams
    norm2: LayerNormParams
    norm_first: bool = False
    activation: str = "relu"
    eps: float = 1e-5

    def __post_init__(self):
        check_kind(self.attention, AttentionParams, "attention")
        check_kind(self.feed_forward, FeedForwardParams, "feed_forward")
        check_kind(self.norm1, LayerNormParams, "norm1")
        check_kind(self.norm2, LayerNormParams, "norm2")
        d_model = self.attention.d_model
        if self.feed_forward.d_model != d_model:
            raise ValueError(
                f"feed_forward expects d_model={self.feed_forward.d_model}, attention has d_model={d_model}"
            )
        for name in ("norm1", "norm2"):
            shape = getattr(self, name).gamma.shape
            if shape != (d_model,):
                raise ValueError(f"{name}.gamma must have shape ({d_model},), got shape {shape}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        self.eps = positive_float(self.eps, "eps")

    @property
    def n_heads(self) -> int:
        return self.attention.n_heads

    @property
    def d_model(self) -> int:
        return self.attention.d_model

    @property
    def d_ff(self) -> int:
        return self.feed_forward.d_ff


def init_encoder_block(rng: np.random.Generator, d_model: int, n_heads: int, d_ff: int, *,
                       norm_first: bool = False, activation: str = "relu", eps: float = 1e-5,
                       dtype=np.float64) -> EncoderBlockParams:
    """A randomly initialised block (PyTorch's initialisation; gamma = 1, beta = 0)."""
    return EncoderBlockParams(
        attention=init_attention(rng, d_model, n_heads, dtype),
        feed_forward=init_feed_forward(rng, d_model, d_ff, dtype),
        norm1=LayerNormParams(np.ones(d_model, dtype), np.zeros(d_model, dtype)),
        norm2=LayerNormParams(np.ones(d_model, dtype), np.zeros(d_model, dtype)),
        norm_first=norm_first,
        activation=activation,
        eps=eps,
    )


def init_encoder_stack(rng: np.random.Generator, n_layers: int, d_model: int, n_heads: int,
                       d_ff: int, **kwargs) -> list[EncoderBlockParams]:
    """n_layers blocks of identical structure, each with its own weights (nothing is shared)."""
    n_layers = positive_int(n_layers, "n_layers")
    return [init_encoder_block(rng, d_model, n_heads, d_ff, **kwargs) for _ in range(n_layers)]


def key_padding_to_attention_mask(mask, x_shape: tuple) -> np.ndarray:
    """Key-padding mask (n,) or (..., n) -> attention mask (..., 1, 1, n) for multi-head attention.

    The result has one axis per axis of the attention scores (..., h, n, n), as multi_head_attention
    requires: a shared (n,) mask for x of shape (B, n, d_model) becomes (1, 1, 1, n).

    The two singleton axes broadcast over heads and query rows: every query may look at every
    real key, no query may look at padding. Padded query rows are still computed (and ignored
    by whoever reads the output).
    """
    mask = bool_mask(mask)
    if not isinstance(x_shape, tuple | list):
        raise TypeError(f"x_shape must be a tuple such as x.shape, got {type(x_shape).__name__}")
    if len(x_shape) < 2 or mask.ndim < 1:
        raise ValueError(f"need x of shape (..., n, d_model) and a mask (n,) or (..., n); got x shape {tuple(x_shape)}, "
                         f"mask shape {mask.shape}")
    tokens_shape = tuple(x_shape[:-1])
    if mask.shape != tokens_shape and mask.shape != tokens_shape[-1:]:
        shared = "" if len(tokens_shape) == 1 else f" (or ({tokens_shape[-1]},) for all sequences)"
        raise ValueError(f"key-padding mask must have shape {tokens_shape}{shared}, got shape {mask.shape}")
    mask = mask.reshape((1,) * (len(tokens_shape) - mask.ndim) + mask.shape)
    return mask[..., None, None, :]


def _check_input(x, d_model: int) -> np.ndarray:
    x = float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, {d_model}) or (B, n, {d_model}), got shape {x.shape}")
    check_last_dim(x, d_model, "x")
    return x


def encoder_block(x, params: EncoderBlockParams, mask=None, return_attention: bool = False):
    """One Transformer encoder block.

    x: (..., n, d_model); mask: key-padding mask (n,) or (..., n), True = real token.
    Returns: output (..., n, d_model), plus the attention weights (..., h, n, n) when
    ``return_attention`` is True.
    """
    check_kind(params, EncoderBlockParams, "params")
    x = _check_input(x, params.d_model)
    attn_mask = None if mask is None else key_padding_to_attention_mask(mask, x.shape)
    x, weights = _encoder_block(x, params, attn_mask, return_attention)
    return (x, weights) if return_attention else x


def _encoder_block(x: np.ndarray, params: EncoderBlockParams, attn_mask,
                   keep_weights: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    # encoder_block() after its checks: the stack checks x and the mask once, not once per block.
    # Each residual sum is written over the sub-layer's output and normalised in place (our own
    # temporaries): no new (..., n, d_model) arrays, so less fresh memory to fault in per call.
    # Unless kept, the (..., h, n, n) attention weights are freed before the feed-forward network
    # allocates its hidden layer: the two largest arrays of a block then never coexist.
    ln1, ln2 = params.norm1, params.norm2
    if params.norm_first:
        attended, weights = _multi_head_attention(
            _layer_norm_in_place(x.copy(), ln1.gamma, ln1.beta, params.eps), params.attention, attn_mask)
        weights = weights if keep_weights else None
        attended += x                                            # x + MHA(LN(x))
        out = _feed_forward(_layer_norm_in_place(attended.copy(), ln2.gamma, ln2.beta, params.eps),
                            params.feed_forward, params.activation)
        out += attended                                          # . + FFN(LN(.))
        return out, weights
    attended, weights = _multi_head_attention(x, params.attention, attn_mask)
    weights = weights if keep_weights else None
    attended += x                                                # x + MHA(x)
    x = _layer_norm_in_place(attended, ln1.gamma, ln1.beta, params.eps)
    out = _feed_forward(x, params.feed_forward, params.activation)
    out += x                                                     # x + FFN(x)
    return _layer_norm_in_place(out, ln2.gamma, ln2.beta, params.eps), weights


def encoder_stack(x, blocks: list[EncoderBlockParams], mask=None, final_norm: LayerNormParams | None = None,
                  return_attention: bool = False):
    """Blocks applied bottom to top, each fed by the output of the one below.

    x: (..., n, d_model), already embedded (embedding happens once, below the bottom block).
    final_norm: optional layer norm after the last block (pre-LN stacks usually have one;
        its eps is the last block's).
    Returns: output (..., n, d_model), plus the attention weights of every block stacked
    as (n_layers, ..., h, n, n) when ``return_attention`` is True.
    """
    if not isinstance(blocks, list | tuple):
        raise TypeError(f"blocks must be a list of EncoderBlockParams, got {type(blocks).__name__}")
    if not blocks:
        raise ValueError("encoder_stack needs at least one block, got 0")
    # Checked once here, not again in every block (x keeps its shape from block to block).
    x = _check_input(x, blocks[0].d_model)
    for i, block in enumerate(blocks):
        check_kind(block, EncoderBlockParams, f"blocks[{i}]")
        check_last_dim(x, block.d_model, "x")
    attn_mask = None if mask is None else key_padding_to_attention_mask(mask, x.shape)
    all_weights = []
    for block in blocks:
        x, weights = _encoder_block(x, block, attn_mask, return_attention)
        if return_attention:               # otherwise each block's (..., h, n, n) weights are freed
            all_weights.append(weights)
    if final_norm is not None:
        x = layer_norm(x, final_norm.gamma, final_norm.beta, blocks[-1].eps)
    return (x, np.stack(all_weights)) if return_attention else x


def count_parameters(params) -> int:
    """Number of learned numbers in a block, a sub-layer's params, or a list of blocks."""
    if isinstance(params, (list, tuple)):
        return sum(count_parameters(p) for p in params)
    if isinstance(params, np.ndarray):
        return params.size
    if hasattr(params, "__dataclass_fields__"):
        return sum(count_parameters(getattr(params, f)) for f in params.__dataclass_fields__)
    return 0
