"""Regenerate helpers/reference_data/*.safetensors: PyTorch's outputs on small seeded cases.

These let a learner without PyTorch still check our NumPy encoder against PyTorch, in tests and
in notebooks. Run after changing a case:  .venv/bin/python scripts/make_torch_fixtures.py
(needs `make reference`, i.e. torch==2.13.0). Files are safetensors, never pickles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parents[1] / "helpers" / "reference_data"

# Small shapes keep the committed files tiny; the maths is the same at d_model = 512.
D_MODEL, N_HEADS, D_FF, BATCH, N_TOKENS = 16, 4, 32, 3, 7
LENGTHS = (7, 5, 2)  # real tokens per sequence; the rest is padding


def padding_mask() -> np.ndarray:
    """(B, n) bool, True = real token."""
    return np.arange(N_TOKENS)[None, :] < np.array(LENGTHS)[:, None]


def randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    # Non-trivial biases and norm parameters, so that a transposed or swapped weight cannot hide.
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.4)


def numpy_state(module: torch.nn.Module, prefix: str = "state.") -> dict[str, np.ndarray]:
    return {prefix + k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def encoder_layer_case(norm_first: bool, activation: str, dtype: torch.dtype, seed: int):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(
        D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation, batch_first=True,
        norm_first=norm_first, dtype=dtype,
    ).eval()
    randomise(layer, g)
    x = torch.randn(BATCH, N_TOKENS, D_MODEL, generator=g, dtype=dtype)
    mask = padding_mask()
    with torch.no_grad():
        # PyTorch's mask says True = padding, ours True = real token.
        y = layer(x, src_key_padding_mask=torch.from_numpy(~mask))
    return {"x": x.numpy(), "mask": mask, "expected": y.numpy(), **numpy_state(layer)}


def encoder_stack_case(n_layers: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.0, batch_first=True,
                                             dtype=torch.float64)
    stack = torch.nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False).eval()
    randomise(stack, g)
    x = torch.randn(BATCH, N_TOKENS, D_MODEL, generator=g, dtype=torch.float64)
    mask = padding_mask()
    with torch.no_grad():
        y = stack(x, src_key_padding_mask=torch.from_numpy(~mask))
    return {"x": x.numpy(), "mask": mask, "expected": y.numpy(), **numpy_state(stack)}


def attention_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(BATCH, N_HEADS, N_TOKENS, D_MODEL // N_HEADS, generator=g, dtype=torch.float64)
    k = torch.randn(BATCH, N_HEADS, N_TOKENS, D_MODEL // N_HEADS, generator=g, dtype=torch.float64)
    v = torch.randn(BATCH, N_HEADS, N_TOKENS, D_MODEL // N_HEADS, generator=g, dtype=torch.float64)
    mask = padding_mask()[:, None, None, :]                       # (B, 1, 1, n)
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=torch.from_numpy(mask))
    mha = torch.nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True, dtype=torch.float64).eval()
    randomise(mha, g)
    x = torch.randn(BATCH, N_TOKENS, D_MODEL, generator=g, dtype=torch.float64)
    with torch.no_grad():
        mha_out, mha_weights = mha(x, x, x, key_padding_mask=torch.from_numpy(~padding_mask()),
                                   need_weights=True, average_attn_weights=False)
    return {
        "q": q.numpy(), "k": k.numpy(), "v": v.numpy(), "mask": mask, "expected": y.numpy(),
        "mha_x": x.numpy(), "mha_key_padding_mask": padding_mask(),
        "mha_expected": mha_out.numpy(), "mha_expected_weights": mha_weights.numpy(),
        **numpy_state(mha, "mha_state."),
    }


def layer_norm_case(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, N_TOKENS, D_MODEL, generator=g, dtype=torch.float64) * 3 + 1
    x[0, 0] = 2.5                                                 # a constant vector: variance 0
    gamma = torch.randn(D_MODEL, generator=g, dtype=torch.float64)
    beta = torch.randn(D_MODEL, generator=g, dtype=torch.float64)
    y = torch.nn.functional.layer_norm(x, (D_MODEL,), gamma, beta, eps=1e-5)
    return {"x": x.numpy(), "gamma": gamma.numpy(), "beta": beta.numpy(), "expected": y.numpy()}


CASES = {
    "encoder_layer_post_ln_relu_float64": lambda: encoder_layer_case(False, "relu", torch.float64, 1),
    "encoder_layer_post_ln_gelu_float64": lambda: encoder_layer_case(False, "gelu", torch.float64, 2),
    "encoder_layer_pre_ln_relu_float64": lambda: encoder_layer_case(True, "relu", torch.float64, 3),
    "encoder_layer_pre_ln_gelu_float64": lambda: encoder_layer_case(True, "gelu", torch.float64, 4),
    "encoder_layer_post_ln_relu_float32": lambda: encoder_layer_case(False, "relu", torch.float32, 5),
    "encoder_layer_pre_ln_gelu_float32": lambda: encoder_layer_case(True, "gelu", torch.float32, 6),
    "encoder_stack_post_ln_relu_6_layers": lambda: encoder_stack_case(6, 7),
    "attention": lambda: attention_case(8),
    "layer_norm": lambda: layer_norm_case(9),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the fixtures should not depend on the machine's thread count
    for name, make in CASES.items():
        tensors = {k: np.ascontiguousarray(v) for k, v in make().items()}
        save_file(tensors, OUT / f"{name}.safetensors",
                  metadata={"torch": torch.__version__, "generator": "scripts/make_torch_fixtures.py"})
        print(f"wrote {name}.safetensors ({sum(v.nbytes for v in tensors.values()) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
