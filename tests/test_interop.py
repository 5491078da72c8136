"""helpers.interop: PyTorch state dicts (as NumPy arrays) <-> our parameter dataclasses.

No torch here: a state dict is built in NumPy with PyTorch's names and shapes. Live checks against
real torch modules are in test_torch_parity.py.
"""

import math

import numpy as np
import pytest

from helpers.encoder import encoder_block
from helpers.interop import (
    TORCH_LAYER_KEYS,
    from_torch_encoder,
    from_torch_encoder_layer,
    to_torch_encoder_layer,
)

D, H, D_FF = 8, 2, 12


def torch_layer_state(rng, d=D, d_ff=D_FF, dtype=np.float64):
    """What ``{k: v.numpy() for k, v in nn.TransformerEncoderLayer(d, h, d_ff).state_dict().items()}`` holds."""
    shapes = {
        "self_attn.in_proj_weight": (3 * d, d), "self_attn.in_proj_bias": (3 * d,),
        "self_attn.out_proj.weight": (d, d), "self_attn.out_proj.bias": (d,),
        "linear1.weight": (d_ff, d), "linear1.bias": (d_ff,),
        "linear2.weight": (d, d_ff), "linear2.bias": (d,),
        "norm1.weight": (d,), "norm1.bias": (d,), "norm2.weight": (d,), "norm2.bias": (d,),
    }
    assert tuple(shapes) == TORCH_LAYER_KEYS
    return {k: (0.4 * rng.normal(size=s)).astype(dtype) for k, s in shapes.items()}


def torch_convention_block(x, sd, n_heads, eps=1e-5):
    """Post-LN ReLU block written the way PyTorch writes it: y = x @ W.T + b, in_proj stacked Q;K;V."""
    n, d = x.shape
    d_k = d // n_heads
    lin = lambda t, w, b: t @ w.T + b
    qkv = lin(x, sd["self_attn.in_proj_weight"], sd["self_attn.in_proj_bias"])
    q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
    heads = []
    for i in range(n_heads):
        c = slice(i * d_k, (i + 1) * d_k)
        s = q[:, c] @ k[:, c].T / math.sqrt(d_k)
        e = np.exp(s - s.max(1, keepdims=True))
        heads.append(e / e.sum(1, keepdims=True) @ v[:, c])
    attn = lin(np.concatenate(heads, 1), sd["self_attn.out_proj.weight"], sd["self_attn.out_proj.bias"])

    def ln(t, w, b):
        m = t.mean(-1, keepdims=True)
        return (t - m) / np.sqrt(((t - m) ** 2).mean(-1, keepdims=True) + eps) * w + b

    h = ln(x + attn, sd["norm1.weight"], sd["norm1.bias"])
    ff = lin(np.maximum(lin(h, sd["linear1.weight"], sd["linear1.bias"]), 0), sd["linear2.weight"], sd["linear2.bias"])
    return ln(h + ff, sd["norm2.weight"], sd["norm2.bias"])


def test_from_torch_splits_and_transposes(rng):
    sd = torch_layer_state(rng)
    p = from_torch_encoder_layer(sd, n_heads=H)
    w = sd["self_attn.in_proj_weight"]
    np.testing.assert_array_equal(p.attention.w_q, w[:D].T)
    np.testing.assert_array_equal(p.attention.w_k, w[D:2 * D].T)
    np.testing.assert_array_equal(p.attention.w_v, w[2 * D:].T)
    np.testing.assert_array_equal(p.attention.b_k, sd["self_attn.in_proj_bias"][D:2 * D])
    np.testing.assert_array_equal(p.attention.w_o, sd["self_attn.out_proj.weight"].T)
    np.testing.assert_array_equal(p.feed_forward.w_1, sd["linear1.weight"].T)
    np.testing.assert_array_equal(p.feed_forward.w_2, sd["linear2.weight"].T)
    np.testing.assert_array_equal(p.norm2.gamma, sd["norm2.weight"])
    assert (p.d_model, p.n_heads, p.d_ff) == (D, H, D_FF)
    assert (p.norm_first, p.activation, p.eps) == (False, "relu", 1e-5)


def test_imported_block_computes_what_the_torch_convention_computes(rng):
    sd = torch_layer_state(rng)
    x = rng.normal(size=(5, D))
    np.testing.assert_allclose(encoder_block(x, from_torch_encoder_layer(sd, H)), torch_convention_block(x, sd, H),
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_torch_of_from_torch_is_the_identity(rng, dtype):
    sd = torch_layer_state(rng, dtype=dtype)
    back = to_torch_encoder_layer(from_torch_encoder_layer(sd, H, norm_first=True, activation="gelu"))
    assert list(back) == list(TORCH_LAYER_KEYS)
    for key in TORCH_LAYER_KEYS:
        assert back[key].shape == sd[key].shape and back[key].dtype == dtype, key
        np.testing.assert_array_equal(back[key], sd[key], err_msg=key)
        assert back[key].flags.c_contiguous, key               # torch.from_numpy needs no copy


def test_from_torch_of_to_torch_is_the_identity(rng, make_block):
    p = make_block(rng, 16, 4, 32, norm_first=True, activation="gelu", eps=1e-6)
    q = from_torch_encoder_layer(to_torch_encoder_layer(p), n_heads=4, norm_first=True, activation="gelu", eps=1e-6)
    for part in ("attention", "feed_forward", "norm1", "norm2"):
        for field, value in vars(getattr(p, part)).items():
            np.testing.assert_array_equal(getattr(getattr(q, part), field), value, err_msg=f"{part}.{field}")
    assert (q.norm_first, q.activation, q.eps) == (True, "gelu", 1e-6)


def test_from_torch_rejects_missing_keys_and_bad_shapes(rng):
    sd = torch_layer_state(rng)
    del sd["linear2.bias"], sd["norm1.weight"]
    with pytest.raises(ValueError, match=r"missing keys \['linear2.bias', 'norm1.weight'\]"):
        from_torch_encoder_layer(sd, H)
    sd = torch_layer_state(rng)
    sd["self_attn.in_proj_weight"] = sd["self_attn.in_proj_weight"][:2 * D]
    with pytest.raises(ValueError, match=r"in_proj_weight must have shape \(24, 8\), got shape \(16, 8\)"):
        from_torch_encoder_layer(sd, H)
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=8"):
        from_torch_encoder_layer(torch_layer_state(rng), 3)


def test_from_torch_encoder_keeps_layer_order(rng):
    # 12 layers: "layers.1." must not pick up "layers.10." or "layers.11.".
    layers = [torch_layer_state(rng) for _ in range(12)]
    sd = {f"layers.{i}.{k}": v for i, layer in enumerate(layers) for k, v in layer.items()}
    sd["norm.weight"] = np.ones(D)                   # a final norm's keys: refused unless strict=False
    with pytest.raises(ValueError, match=r"unused keys \['norm.weight'\].*strict=False"):
        from_torch_encoder(sd, n_heads=H, norm_first=True)
    blocks = from_torch_encoder(sd, n_heads=H, norm_first=True, strict=False)
    assert len(blocks) == 12
    for block, layer in zip(blocks, layers, strict=True):
        assert block.norm_first
        np.testing.assert_array_equal(to_torch_encoder_layer(block)["linear1.weight"], layer["linear1.weight"])
    with pytest.raises(ValueError, match="no 'layers.0.\\*' keys"):
        from_torch_encoder(torch_layer_state(rng), n_heads=H)
