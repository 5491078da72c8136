"""Moving weights between PyTorch's nn.TransformerEncoderLayer and our parameter dataclasses.

PyTorch is never imported here: state dicts are plain ``{name: np.ndarray}`` mappings
(``{k: v.detach().numpy() for k, v in layer.state_dict().items()}``). nn.Linear computes
``x @ weight.T + bias``, so every weight matrix is transposed on the way in and out.
"""

from __future__ import annotations

import numpy as np

from .attention import AttentionParams
from .encoder import EncoderBlockParams
from .layers import FeedForwardParams, LayerNormParams

__all__ = [
    "from_torch_encoder_layer",
    "to_torch_encoder_layer",
    "from_torch_encoder",
    "TORCH_LAYER_KEYS",
]

TORCH_LAYER_KEYS = (
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
)


def from_torch_encoder_layer(state_dict, n_heads: int, *, norm_first: bool = False,
                             activation: str = "relu", eps: float = 1e-5) -> EncoderBlockParams:
    """Block params from the NumPy arrays of ``nn.TransformerEncoderLayer.state_dict()``.

    in_proj_weight (3 d_model, d_model) stacks W_Q, W_K, W_V row-wise; we split and transpose.
    """
    missing = [k for k in TORCH_LAYER_KEYS if k not in state_dict]
    if missing:
        raise ValueError(f"state_dict is missing keys {missing}")
    sd = {k: np.asarray(state_dict[k]) for k in TORCH_LAYER_KEYS}
    d_model = sd["self_attn.out_proj.weight"].shape[0]
    if sd["self_attn.in_proj_weight"].shape != (3 * d_model, d_model):
        raise ValueError(
            f"self_attn.in_proj_weight must have shape ({3 * d_model}, {d_model}), "
            f"got {sd['self_attn.in_proj_weight'].shape}"
        )
    w_q, w_k, w_v = (w.T for w in np.split(sd["self_attn.in_proj_weight"], 3, axis=0))
    b_q, b_k, b_v = np.split(sd["self_attn.in_proj_bias"], 3)
    return EncoderBlockParams(
        attention=AttentionParams(
            w_q=w_q, b_q=b_q, w_k=w_k, b_k=b_k, w_v=w_v, b_v=b_v,
            w_o=sd["self_attn.out_proj.weight"].T, b_o=sd["self_attn.out_proj.bias"],
            n_heads=n_heads,
        ),
        feed_forward=FeedForwardParams(
            w_1=sd["linear1.weight"].T, b_1=sd["linear1.bias"],
            w_2=sd["linear2.weight"].T, b_2=sd["linear2.bias"],
        ),
        norm1=LayerNormParams(sd["norm1.weight"], sd["norm1.bias"]),
        norm2=LayerNormParams(sd["norm2.weight"], sd["norm2.bias"]),
        norm_first=norm_first,
        activation=activation,
        eps=eps,
    )


def to_torch_encoder_layer(params: EncoderBlockParams) -> dict[str, np.ndarray]:
    """The inverse: a ``{key: array}`` dict that ``nn.TransformerEncoderLayer.load_state_dict`` accepts
    (after ``torch.from_numpy`` on each value)."""
    a, f = params.attention, params.feed_forward
    return {
        "self_attn.in_proj_weight": np.ascontiguousarray(np.concatenate([a.w_q.T, a.w_k.T, a.w_v.T])),
        "self_attn.in_proj_bias": np.concatenate([a.b_q, a.b_k, a.b_v]),
        "self_attn.out_proj.weight": np.ascontiguousarray(a.w_o.T),
        "self_attn.out_proj.bias": a.b_o.copy(),
        "linear1.weight": np.ascontiguousarray(f.w_1.T),
        "linear1.bias": f.b_1.copy(),
        "linear2.weight": np.ascontiguousarray(f.w_2.T),
        "linear2.bias": f.b_2.copy(),
        "norm1.weight": params.norm1.gamma.copy(),
        "norm1.bias": params.norm1.beta.copy(),
        "norm2.weight": params.norm2.gamma.copy(),
        "norm2.bias": params.norm2.beta.copy(),
    }


def from_torch_encoder(state_dict, n_heads: int, **kwargs) -> list[EncoderBlockParams]:
    """Every block of an ``nn.TransformerEncoder`` (keys ``layers.{i}.<layer key>``), bottom first."""
    n_layers = 0
    while f"layers.{n_layers}.norm1.weight" in state_dict:
        n_layers += 1
    if n_layers == 0:
        raise ValueError("state_dict has no 'layers.0.*' keys: is it an nn.TransformerEncoder's?")
    return [
        from_torch_encoder_layer(
            {k[len(f"layers.{i}."):]: v for k, v in state_dict.items() if k.startswith(f"layers.{i}.")},
            n_heads, **kwargs,
        )
        for i in range(n_layers)
    ]
