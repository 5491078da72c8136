"""Regenerate helpers/reference_data/*grad*.safetensors: PyTorch autograd's gradients on small seeded cases.

For one nn.TransformerEncoderLayer (post-LN/pre-LN, relu/gelu, float64/float32) and three
nn.TransformerEncoder stacks (with and without a final norm), with key padding, each file holds the
input x, the mask (True = real token), a random grad_output g, the weights, and autograd's answers for
L = sum(g * layer(x)): ``expected`` (the output), ``expected_grad_x`` and ``grad.<state key>`` (dL/dweight
in PyTorch's layout; helpers.interop maps them to ours). tests/test_backward_parity.py compares
helpers.backward with them, and with live torch when it is installed.

Run after changing a case:  .venv/bin/python scripts/make_torch_grad_fixtures.py
(needs `make reference`, i.e. torch==2.13.0). Files are safetensors, never pickles.
Dropout is 0 and the modules are in eval mode; with gradients enabled PyTorch takes its plain
Python path (not the fused inference fast path), so every row, padded query rows included, is real maths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parents[1] / "helpers" / "reference_data"

D_MODEL, N_HEADS, D_FF, N_TOKENS = 16, 4, 32, 7
LENGTHS = (7, 5, 2)  # real tokens per sequence; the rest is padding (no sequence is all padding: torch gives NaN)


def padding_mask(lengths=LENGTHS, n: int = N_TOKENS) -> np.ndarray:
    """(B, n) bool, True = real token."""
    return np.arange(n)[None, :] < np.array(lengths)[:, None]


def randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded, non-trivial values for every parameter: weights ~ N(0, 1/fan_in), biases and betas
    ~ N(0, 0.3^2), gammas ~ 1 + N(0, 0.3^2); so no gradient hides behind a zero or a one."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            if p.ndim == 2:
                p.copy_(noise / p.shape[1] ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * noise)
            else:
                p.copy_(0.3 * noise)


def autograd_case(module: torch.nn.Module, generator: torch.Generator, dtype: torch.dtype, lengths, n: int,
                  d_model: int) -> dict[str, np.ndarray]:
    """Run module forward and backward on seeded x and grad_output; everything as NumPy arrays."""
    x = torch.randn(len(lengths), n, d_model, generator=generator, dtype=dtype).requires_grad_(True)
    grad_output = torch.randn(len(lengths), n, d_model, generator=generator, dtype=dtype)
    mask = padding_mask(lengths, n)
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        y = module(x, src_key_padding_mask=torch.from_numpy(~mask))     # torch: True = padding
        (y * grad_output).sum().backward()
    case = {"x": x.detach().numpy(), "mask": mask, "grad_output": grad_output.numpy(),
            "expected": y.detach().numpy(), "expected_grad_x": x.grad.numpy()}
    for key, p in module.named_parameters():
        case[f"state.{key}"] = p.detach().numpy().copy()
        case[f"grad.{key}"] = p.grad.numpy().copy()
    return case


def block_case(norm_first: bool, activation: str, dtype: torch.dtype, seed: int, *, d_model: int = D_MODEL,
               n_heads: int = N_HEADS, d_ff: int = D_FF, lengths=LENGTHS, n: int = N_TOKENS):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                             batch_first=True, norm_first=norm_first, dtype=dtype).eval()
    randomise(layer, g)
    return autograd_case(layer, g, dtype, lengths, n, d_model)


def stack_case(norm_first: bool, activation: str, dtype: torch.dtype, seed: int, *, n_layers: int = 3,
               final_norm: bool = False, d_model: int = D_MODEL, n_heads: int = N_HEADS, d_ff: int = D_FF,
               lengths=LENGTHS, n: int = N_TOKENS):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                             batch_first=True, norm_first=norm_first, dtype=dtype)
    norm = torch.nn.LayerNorm(d_model, dtype=dtype) if final_norm else None
    stack = torch.nn.TransformerEncoder(layer, n_layers, norm=norm, enable_nested_tensor=False).eval()
    randomise(stack, g)
    return autograd_case(stack, g, dtype, lengths, n, d_model)


CASES = {
    "block_grad_post_ln_relu_float64": lambda: block_case(False, "relu", torch.float64, 21),
    "block_grad_post_ln_gelu_float64": lambda: block_case(False, "gelu", torch.float64, 22),
    "block_grad_pre_ln_relu_float64": lambda: block_case(True, "relu", torch.float64, 23),
    "block_grad_pre_ln_gelu_float64": lambda: block_case(True, "gelu", torch.float64, 24),
    "block_grad_post_ln_relu_float32": lambda: block_case(False, "relu", torch.float32, 25),
    "block_grad_pre_ln_gelu_float32": lambda: block_case(True, "gelu", torch.float32, 26),
    "stack_grad_post_ln_relu_float64": lambda: stack_case(False, "relu", torch.float64, 27),
    "stack_grad_pre_ln_gelu_final_norm_float64": lambda: stack_case(True, "gelu", torch.float64, 28,
                                                                    final_norm=True),
    "stack_grad_pre_ln_relu_final_norm_float32": lambda: stack_case(True, "relu", torch.float32, 29,
                                                                    final_norm=True),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the fixtures should not depend on the machine's thread count
    for name, make in CASES.items():
        tensors = {k: np.ascontiguousarray(v) for k, v in make().items()}
        save_file(tensors, OUT / f"{name}.safetensors",
                  metadata={"torch": torch.__version__, "generator": "scripts/make_torch_grad_fixtures.py"})
        print(f"wrote {name}.safetensors ({sum(v.nbytes for v in tensors.values()) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
