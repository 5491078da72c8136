"""Regenerate helpers/reference_data/training_*.safetensors: five Adam steps of PyTorch on our model.

Each case starts from a seeded helpers.training.init_classifier model, copies it into the same
model built from PyTorch modules (nn.Embedding, nn.TransformerEncoder, nn.Linear), trains that for
five steps with torch.optim.Adam and F.cross_entropy(ignore_index=-100) on seeded padded batches
of the counting task, and stores the initial parameters, the batches, the learning rates and
PyTorch's parameters and losses after each step. tests/test_training.py runs the NumPy model on the
same batches and compares. Run:  .venv/bin/python scripts/make_torch_training_fixtures.py
(needs `make reference`, i.e. torch==2.13.0). Files are safetensors, never pickles.
The torch model here is also what tests/test_training.py (live) and benchmarks/training_speed.py use.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

from helpers import training
from helpers.embeddings import sinusoidal_positional_encoding
from helpers.interop import from_torch_encoder, to_torch_encoder_layer

OUT = Path(__file__).resolve().parents[1] / "helpers" / "reference_data"
N_STEPS, BATCH = 5, 4
TASK = dict(n_letters=4, min_len=2, max_len=7)          # n = 8 positions, V = 6, C = 8


class TorchClassifier(torch.nn.Module):
    """helpers.training.EncoderClassifier in PyTorch modules, with a copy of its weights."""

    def __init__(self, model: training.EncoderClassifier, n_positions: int, dtype=torch.float64):
        super().__init__()
        first = model.blocks[0]
        d_model, self.n_classes = model.d_model, model.n_classes
        self.scale = math.sqrt(d_model)
        self.embedding = torch.nn.Embedding(model.vocab_size, d_model, dtype=dtype)
        layer = torch.nn.TransformerEncoderLayer(
            d_model, first.n_heads, first.d_ff, dropout=0.0, activation=first.activation,
            layer_norm_eps=first.eps, batch_first=True, norm_first=first.norm_first, dtype=dtype,
        )
        norm = None if model.final_norm is None else torch.nn.LayerNorm(d_model, eps=first.eps, dtype=dtype)
        self.encoder = torch.nn.TransformerEncoder(layer, len(model.blocks), norm=norm,
                                                   enable_nested_tensor=False)
        self.out = torch.nn.Linear(d_model, model.n_classes, dtype=dtype)
        self.register_buffer("positions", torch.from_numpy(
            sinusoidal_positional_encoding(n_positions, d_model)).to(dtype))
        state = {"embedding.weight": model.embedding, "out.weight": model.w_out.T, "out.bias": model.b_out,
                 "positions": self.positions.numpy()}
        for i, block in enumerate(model.blocks):
            state.update({f"encoder.layers.{i}.{k}": v for k, v in to_torch_encoder_layer(block).items()})
        if norm is not None:
            state.update({"encoder.norm.weight": model.final_norm.gamma, "encoder.norm.bias": model.final_norm.beta})
        self.load_state_dict({k: torch.tensor(np.ascontiguousarray(v), dtype=dtype) for k, v in state.items()},
                             strict=True)

    def forward(self, token_ids, mask):
        """token_ids (B, n) long, mask (B, n) bool, True = real token -> logits (B, n, C)."""
        x = self.embedding(token_ids) * self.scale + self.positions[: token_ids.shape[1]]
        return self.out(self.encoder(x, src_key_padding_mask=~mask))       # torch: True = padding

    def loss(self, token_ids, mask, targets):
        logits = self.forward(token_ids, mask)
        return F.cross_entropy(logits.reshape(-1, self.n_classes), targets.reshape(-1),
                               ignore_index=training.IGNORE_INDEX)


def numpy_parameters(tmodel: TorchClassifier, like: training.EncoderClassifier) -> dict[str, np.ndarray]:
    """The torch model's weights under helpers.training.named_parameters' names."""
    state = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
    first = like.blocks[0]
    blocks = from_torch_encoder({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.layers.")},
                                first.n_heads, norm_first=first.norm_first, activation=first.activation, eps=first.eps)
    norm = None if like.final_norm is None else training.LayerNormParams(state["encoder.norm.weight"],
                                                                          state["encoder.norm.bias"])
    return training.named_parameters(training.EncoderClassifier(
        state["embedding.weight"], blocks, norm, state["out.weight"].T, state["out.bias"]))


def torch_adam(tmodel: TorchClassifier, lr: float, betas=(0.9, 0.98), eps=1e-9):
    # foreach=False: the one-tensor-at-a-time arithmetic that helpers.training.Adam writes out.
    return torch.optim.Adam(tmodel.parameters(), lr=lr, betas=betas, eps=eps, foreach=False)


def training_case(seed: int, **model_kwargs) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = training.make_counting_data(rng, N_STEPS * BATCH, **TASK)
    n_positions = data.token_ids.shape[1]
    model = training.init_classifier(rng, 2 + TASK["n_letters"], TASK["max_len"] + 1, **model_kwargs)
    initial = {k: v.copy() for k, v in training.named_parameters(model).items()}
    lrs = np.array([training.warmup_schedule(step, 1e-2, 3) for step in range(1, N_STEPS + 1)])
    order = np.random.default_rng(seed + 1).permutation(len(data)).reshape(N_STEPS, BATCH)
    batches = data[order]                                                   # (steps, B, n) each

    tmodel = TorchClassifier(model, n_positions).train()
    optimiser = torch_adam(tmodel, lr=float(lrs[0]))
    losses, after = [], {}
    for step in range(N_STEPS):
        for group in optimiser.param_groups:
            group["lr"] = float(lrs[step])
        optimiser.zero_grad()
        loss = tmodel.loss(torch.from_numpy(batches.token_ids[step]), torch.from_numpy(batches.mask[step]),
                           torch.from_numpy(batches.targets[step]))
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    after = numpy_parameters(tmodel, model)
    first = model.blocks[0]
    return {
        # (1,)-shaped: safetensors stores 0-d arrays as (1,) anyway.
        "config.n_heads": np.array([first.n_heads]), "config.d_ff": np.array([first.d_ff]),
        "config.norm_first": np.array([first.norm_first]), "config.gelu": np.array([first.activation == "gelu"]),
        "config.final_norm": np.array([model.final_norm is not None]),
        "batch_token_ids": batches.token_ids, "batch_targets": batches.targets, "batch_mask": batches.mask,
        "lr": lrs,
        **{f"initial.{k}": v for k, v in initial.items()},
        "expected_losses": np.array(losses),
        **{f"expected.{k}": v for k, v in after.items()},
    }


CASES = {
    "training_post_ln_relu_5_steps": lambda: training_case(
        21, d_model=16, n_heads=4, d_ff=32, n_layers=2, norm_first=False, activation="relu"),
    "training_pre_ln_gelu_5_steps": lambda: training_case(
        22, d_model=16, n_heads=4, d_ff=32, n_layers=2, norm_first=True, activation="gelu"),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the fixtures should not depend on the machine's thread count
    for name, make in CASES.items():
        tensors = {k: np.ascontiguousarray(v) for k, v in make().items()}
        save_file(tensors, OUT / f"{name}.safetensors",
                  metadata={"torch": torch.__version__, "generator": "scripts/make_torch_training_fixtures.py"})
        print(f"wrote {name}.safetensors ({sum(v.nbytes for v in tensors.values()) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
