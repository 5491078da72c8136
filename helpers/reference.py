"""PyTorch's answers on small seeded cases, stored as safetensors, for learners without PyTorch.

``scripts/make_torch_fixtures.py`` wrote them from torch 2.13.0; the tests also recompute them live
whenever torch is installed. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .encoder import EncoderBlockParams
from .interop import from_torch_encoder, from_torch_encoder_layer
from .safetensors_numpy import load_file

__all__ = ["REFERENCE_DIR", "reference_names", "load_reference", "block_case", "stack_case"]

REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"


def reference_names() -> list[str]:
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.safetensors"))


def load_reference(name: str) -> dict[str, np.ndarray]:
    """All arrays of one case, by name (see ``reference_names()``)."""
    path = REFERENCE_DIR / f"{name}.safetensors"
    if not path.exists():
        raise ValueError(f"no reference case {name!r}; available: {reference_names()}")
    return load_file(path)


def _state(case: dict, prefix: str = "state.") -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in case.items() if k.startswith(prefix)}


def block_case(name: str) -> tuple[EncoderBlockParams, np.ndarray, np.ndarray, np.ndarray]:
    """An ``encoder_layer_*`` case as ``(params, x (B, n, d_model), mask (B, n), expected)``."""
    case = load_reference(name)
    params = from_torch_encoder_layer(
        _state(case), n_heads=4, norm_first="_pre_ln_" in name,
        activation="gelu" if "_gelu_" in name else "relu",
    )
    return params, case["x"], case["mask"], case["expected"]


def stack_case(name: str = "encoder_stack_post_ln_relu_6_layers"):
    """The ``encoder_stack_*`` case as ``(blocks, x (B, n, d_model), mask (B, n), expected)``."""
    case = load_reference(name)
    return from_torch_encoder(_state(case), n_heads=4), case["x"], case["mask"], case["expected"]
