"""Moving weights between PyTorch's nn.TransformerEncoderLayer and our parameter dataclasses.

PyTorch is never imported here: state dicts are plain ``{name: np.ndarray}`` mappings
(``{k: v.detach().numpy() for k, v in layer.state_dict().items()}``). nn.Linear computes
``x @ weight.T + bias``, so every weight matrix is transposed on the way in and out.
"""

from __future__ import annotations

import numpy as np

from ._checks_internal import float_array, owned_float
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


def _check_keys(state_dict, expected, strict: bool, what: str, allowed_extra=()) -> None:
    """Missing keys are always an error; keys we would not use are one too unless ``strict=False``
    (a silently ignored tensor, such as a final norm, would give a different model)."""
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict must be a mapping {{name: array}}, got {type(state_dict).__name__}")
    missing = [k for k in expected if k not in state_dict]
    unused = [k for k in state_dict if k not in expected and k not in allowed_extra]
    if missing or (strict and unused):
        hint = " (pass strict=False to ignore the unused ones)" if unused and not missing else ""
        raise ValueError(f"{what}: missing keys {missing}, unused keys {sorted(unused)}{hint}")


def _tensor(state_dict, key: str, shape: tuple) -> np.ndarray:
    """A copy of one tensor, checked: our parameters own their memory, so training them in place
    never writes into the caller's state dict (or, through .numpy(), a live torch module)."""
    return owned_float(state_dict[key], shape, key)


def from_torch_encoder_layer(state_dict, n_heads: int, *, norm_first: bool = False,
                             activation: str = "relu", eps: float = 1e-5,
                             strict: bool = True) -> EncoderBlockParams:
    """Block params from the NumPy arrays of ``nn.TransformerEncoderLayer.state_dict()``.

    in_proj_weight (3 d_model, d_model) stacks W_Q, W_K, W_V row-wise; we split and transpose.
    Every array is copied (the block owns its memory). A key we do not use raises ValueError
    listing it, unless ``strict=False``; a missing key or a wrong shape always does.
    """
    _check_keys(state_dict, TORCH_LAYER_KEYS, strict, "nn.TransformerEncoderLayer state_dict")
    out_weight = float_array(state_dict["self_attn.out_proj.weight"], "self_attn.out_proj.weight")
    if out_weight.ndim != 2:
        raise ValueError(f"self_attn.out_proj.weight must have shape (d_model, d_model), got {out_weight.shape}")
    d_model = out_weight.shape[0]
    linear1_weight = float_array(state_dict["linear1.weight"], "linear1.weight")
    if linear1_weight.ndim != 2:
        raise ValueError(f"linear1.weight must have shape (d_ff, d_model), got {linear1_weight.shape}")
    d_ff = linear1_weight.shape[0]
    sd = {k: _tensor(state_dict, k, shape) for k, shape in {
        "self_attn.in_proj_weight": (3 * d_model, d_model), "self_attn.in_proj_bias": (3 * d_model,),
        "self_attn.out_proj.weight": (d_model, d_model), "self_attn.out_proj.bias": (d_model,),
        "linear1.weight": (d_ff, d_model), "linear1.bias": (d_ff,),
        "linear2.weight": (d_model, d_ff), "linear2.bias": (d_model,),
        "norm1.weight": (d_model,), "norm1.bias": (d_model,),
        "norm2.weight": (d_model,), "norm2.bias": (d_model,),
    }.items()}
    w_q, w_k, w_v = (np.ascontiguousarray(w.T) for w in np.split(sd["self_attn.in_proj_weight"], 3, axis=0))
    b_q, b_k, b_v = (b.copy() for b in np.split(sd["self_attn.in_proj_bias"], 3))
    return EncoderBlockParams(
        attention=AttentionParams(
            w_q=w_q, b_q=b_q, w_k=w_k, b_k=b_k, w_v=w_v, b_v=b_v,
            w_o=np.ascontiguousarray(sd["self_attn.out_proj.weight"].T), b_o=sd["self_attn.out_proj.bias"],
            n_heads=n_heads,
        ),
        feed_forward=FeedForwardParams(
            w_1=np.ascontiguousarray(sd["linear1.weight"].T), b_1=sd["linear1.bias"],
            w_2=np.ascontiguousarray(sd["linear2.weight"].T), b_2=sd["linear2.bias"],
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
    if not isinstance(params, EncoderBlockParams):
        raise TypeError(f"params must be an EncoderBlockParams, got {type(params).__name__}")
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


def from_torch_encoder(state_dict, n_heads: int, *, strict: bool = True, **kwargs) -> list[EncoderBlockParams]:
    """Every block of an ``nn.TransformerEncoder`` (keys ``layers.{i}.<layer key>``), bottom first.

    Layers must be numbered 0, 1, ..., N-1 without gaps. A key outside them (e.g. the encoder's final
    ``norm.weight``, which our blocks do not hold: pass it to ``encoder_stack(final_norm=...)``)
    raises ValueError listing it, unless ``strict=False``. kwargs go to ``from_torch_encoder_layer``.
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict must be a mapping {{name: array}}, got {type(state_dict).__name__}")
    layer_keys, unused = {}, []
    for key in state_dict:
        parts = str(key).split(".", 2)
        if len(parts) == 3 and parts[0] == "layers" and parts[1].isdigit():
            layer_keys.setdefault(int(parts[1]), {})[parts[2]] = state_dict[key]
        else:
            unused.append(str(key))
    if not layer_keys:
        raise ValueError("state_dict has no 'layers.0.*' keys: is it an nn.TransformerEncoder's?")
    n_layers = max(layer_keys) + 1
    gaps = sorted(set(range(n_layers)) - set(layer_keys))
    if gaps:
        raise ValueError(f"state_dict has layers {sorted(layer_keys)}: layers {gaps} are missing")
    if strict and unused:
        raise ValueError(f"nn.TransformerEncoder state_dict: unused keys {sorted(unused)} (a final norm goes to "
                         "encoder_stack(final_norm=LayerNormParams(...)); pass strict=False to ignore them)")
    return [from_torch_encoder_layer(layer_keys[i], n_heads, strict=strict, **kwargs) for i in range(n_layers)]
