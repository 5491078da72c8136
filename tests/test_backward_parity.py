"""helpers.backward against torch.autograd on the encoder block and the stack.

1. Fixture tests (always run, no torch needed): autograd's gradients stored in
   helpers/reference_data/*grad*.safetensors by scripts/make_torch_grad_fixtures.py.
2. Live tests (need torch; skipped without it, failed without it under ENCODER_REQUIRE_REFERENCE=1):
   the script's cases and a few more, computed afresh, and a check that re-running the script
   reproduces the committed files.

Torch's weight gradients are in its layout (in_proj stacks W_Q; W_K; W_V, y = x W^T + b); helpers.interop
maps them to ours exactly as it maps the weights (the map only transposes and splits, so it is the
same for a weight and for its gradient).

Tolerances (max |ours - torch| over an array, relative to the largest |gradient| of that array, or of
1% of the largest gradient of the case if bigger, because some gradients are zero by structure:
b_k, see helpers/gradcheck.py): float64 1e-10 (the fixtures measure at most 2e-14: summation order
only); float32 1e-4 (float32 resolves 6e-8; a gradient through a block's ~10 steps, softmax and layer
norm included, loses about two digits to cancellation; the fixtures measure at most 1.2e-5, on the
near-zero b_k, and about 1e-6 elsewhere).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from helpers import backward as bw
from helpers import reference
from helpers.gradcheck import array_leaves, relative_error
from helpers.interop import from_torch_encoder, from_torch_encoder_layer
from helpers.layers import LayerNormParams

ROOT = Path(__file__).resolve().parents[1]
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

BLOCK_CASES = [
    "block_grad_post_ln_relu_float64",
    "block_grad_post_ln_gelu_float64",
    "block_grad_pre_ln_relu_float64",
    "block_grad_pre_ln_gelu_float64",
    "block_grad_post_ln_relu_float32",
    "block_grad_pre_ln_gelu_float32",
]
STACK_CASES = [
    "stack_grad_post_ln_relu_float64",
    "stack_grad_pre_ln_gelu_final_norm_float64",
    "stack_grad_pre_ln_relu_final_norm_float32",
]
def flags(name: str) -> dict:
    return {"norm_first": "_pre_ln_" in name, "activation": "gelu" if "_gelu_" in name else "relu"}


def _prefixed(case: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in case.items() if k.startswith(prefix)}


def ours_and_torchs(name: str, case: dict, n_heads: int):
    """(our (grad_x, grads...) tree, torch's tree mapped to ours, expected output, our output)."""
    x, mask, g = case["x"], case["mask"], case["grad_output"]
    state, torch_grads = _prefixed(case, "state."), _prefixed(case, "grad.")
    if name.startswith("block"):
        params = from_torch_encoder_layer(state, n_heads, **flags(name))
        out, cache = bw.encoder_block_forward(x, params, mask)
        ours = bw.encoder_block_backward(g, cache)
        theirs = (case["expected_grad_x"], from_torch_encoder_layer(torch_grads, n_heads, **flags(name)))
        np.testing.assert_array_equal(bw.encoder_block_vjp(x, params, g, mask)[0], ours[0])
    else:
        # strict=False: the final norm's norm.* keys are not a block's; they are read on the next line.
        blocks = from_torch_encoder(state, n_heads, strict=False, **flags(name))
        final = LayerNormParams(state["norm.weight"], state["norm.bias"]) if "norm.weight" in state else None
        out, cache = bw.encoder_stack_forward(x, blocks, mask, final)
        ours = bw.encoder_stack_backward(g, cache)
        final_grads = (LayerNormParams(torch_grads["norm.weight"], torch_grads["norm.bias"])
                       if final is not None else None)
        theirs = (case["expected_grad_x"], from_torch_encoder(torch_grads, n_heads, strict=False, **flags(name)),
                  final_grads)
        assert len(blocks) == 3 and ("final_norm" in name) == (final is not None)
    return ours, theirs, case["expected"], out


def gradient_differences(ours, theirs) -> dict[str, float]:
    """Per array: max |ours - torch| / max(largest |torch| entry of the array, 1% of the case's largest)."""
    ours_leaves, their_leaves = array_leaves(ours), array_leaves(theirs)
    assert [n for n, _ in ours_leaves] == [n for n, _ in their_leaves]
    largest = max(np.abs(t).max() for _, t in their_leaves)
    out = {}
    for (name, a), (_, t) in zip(ours_leaves, their_leaves, strict=True):
        assert a.shape == t.shape and a.dtype == t.dtype, name
        out[name] = relative_error(a, t, floor=1e-2 * largest)
    return out


def assert_matches_torch(name: str, case: dict, n_heads: int = 4):
    ours, theirs, expected, out = ours_and_torchs(name, case, n_heads)
    tol = TOL[case["x"].dtype]
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol, err_msg="forward output")
    diffs = gradient_differences(ours, theirs)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= tol, f"{name}: {worst} differs from autograd by {diffs[worst]:.2e} (> {tol})"
    return diffs


# ====================================================================== 1. fixture tests (no torch)


def test_grad_fixtures_are_all_there():
    assert set(BLOCK_CASES + STACK_CASES) <= set(reference.reference_names())


@pytest.mark.parametrize("name", BLOCK_CASES + STACK_CASES)
def test_gradients_match_autograd_fixture(name):
    case = reference.load_reference(name)
    assert case["mask"].dtype == bool and not case["mask"].all()              # there is padding
    assert case["x"].dtype == np.dtype(name.rsplit("_", 1)[1])
    assert_matches_torch(name, case)


# ====================================================================== 2. live tests (torch)


@pytest.fixture(scope="module")
def grad_script(torch):
    path = ROOT / "scripts" / "make_torch_grad_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_torch_grad_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_grad_script_case_is_checked_here(grad_script):
    assert sorted(grad_script.CASES) == sorted(BLOCK_CASES + STACK_CASES)


@pytest.mark.parametrize("norm_first", [False, True], ids=["postLN", "preLN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_block_gradients_match_live_autograd(torch, grad_script, norm_first, activation, dtype):
    # Other sizes and padding than the fixtures: d_model 8, 2 heads, a length-1 sequence.
    case = grad_script.block_case(norm_first, activation, getattr(torch, dtype), 100 + norm_first,
                                  d_model=8, n_heads=2, d_ff=24, lengths=(5, 1), n=5)
    name = f"block_{'pre' if norm_first else 'post'}_ln_{activation}_{dtype}"
    assert_matches_torch(name, case, n_heads=2)


@pytest.mark.parametrize("norm_first, activation, dtype, final_norm", [
    (False, "gelu", "float64", True), (True, "relu", "float64", False), (False, "relu", "float32", False),
])
def test_stack_gradients_match_live_autograd(torch, grad_script, norm_first, activation, dtype, final_norm):
    case = grad_script.stack_case(norm_first, activation, getattr(torch, dtype), 200, n_layers=3,
                                  final_norm=final_norm, lengths=(6, 3, 6), n=6)
    name = f"stack_{'pre' if norm_first else 'post'}_ln_{activation}{'_final_norm' if final_norm else ''}_{dtype}"
    assert_matches_torch(name, case)


@pytest.mark.parametrize("name", BLOCK_CASES + STACK_CASES)
def test_regenerating_a_grad_fixture_reproduces_the_committed_file(torch, grad_script, name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                     # as the script's main() does
    try:
        fresh = grad_script.CASES[name]()
    finally:
        torch.set_num_threads(threads)
    committed = reference.load_reference(name)
    assert set(fresh) == set(committed)
    for key, value in fresh.items():
        stored = committed[key]
        assert value.shape == stored.shape and value.dtype == stored.dtype, key
        if "expected" in key or key.startswith("grad."):         # torch's answers: tolerance for the CPU
            tol = 1e-12 if stored.dtype == np.float64 else 1e-5
            np.testing.assert_allclose(value, stored, rtol=tol, atol=tol, err_msg=key)
        else:                                                    # seeded inputs and weights: bit for bit
            np.testing.assert_array_equal(value, stored, err_msg=key)


# ---------------------------------------------------------------------- the pieces, live (float64, 1e-10)


def _autograd(torch, f, *arrays, grad_output):
    """torch's gradient of sum(grad_output * f(*tensors)) with respect to each array."""
    tensors = [torch.from_numpy(np.array(a)).requires_grad_(True) for a in arrays]
    out = f(*tensors)
    (out * torch.from_numpy(np.asarray(grad_output))).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def test_pieces_match_live_autograd(torch):
    F = torch.nn.functional
    rng = np.random.default_rng(31)
    tol = TOL[np.dtype(np.float64)]

    def close(ours, theirs, what):
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=what)

    x = rng.normal(size=(2, 5, 8)) * 2
    g = rng.normal(size=x.shape)
    _, (expected,) = _autograd(torch, F.gelu, x, grad_output=g)
    close(bw.gelu_backward(g, x), expected, "gelu")
    _, (expected,) = _autograd(torch, lambda t: torch.softmax(t, -1), x, grad_output=g)
    close(bw.softmax_backward(g, np.asarray(torch.softmax(torch.from_numpy(x), -1))), expected, "softmax")
    gamma, beta = rng.normal(size=8), rng.normal(size=8)
    _, expected = _autograd(torch, lambda t, a, b: F.layer_norm(t, (8,), a, b, 1e-5), x, gamma, beta, grad_output=g)
    for ours, theirs, what in zip(bw.layer_norm_backward(g, bw.layer_norm_forward(x, gamma, beta)[1]), expected,
                                  ("x", "gamma", "beta"), strict=True):
        close(ours, theirs, f"layer_norm grad_{what}")

    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    mask = padding_mask_for(np.array([5, 2]), 5)[:, None, None, :]
    g_att = rng.normal(size=q.shape)
    _, expected = _autograd(torch, lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=torch.from_numpy(mask)),
                            q, k, v, grad_output=g_att)
    ours = bw.scaled_dot_product_attention_backward(g_att, bw.scaled_dot_product_attention_forward(q, k, v, mask)[1])
    for a, b, what in zip(ours, expected, "qkv", strict=True):
        close(a, b, f"sdpa grad_{what}")

    logits = rng.normal(size=(2, 5, 7)) * 3
    targets = np.array([[0, 6, 2, -100, -100], [1, 1, 5, 3, -100]])
    loss, cache = bw.cross_entropy_forward(logits, targets)
    t_logits = torch.from_numpy(logits).requires_grad_(True)
    t_loss = F.cross_entropy(t_logits.reshape(-1, 7), torch.from_numpy(targets).reshape(-1), ignore_index=-100)
    t_loss.backward()
    close(loss, t_loss.item(), "cross-entropy loss")
    close(bw.cross_entropy_backward(cache), t_logits.grad.numpy(), "cross-entropy grad_logits")

    table = rng.normal(size=(6, 8))
    ids = np.array([[1, 3, 1, 1, 0], [5, 3, 0, 1, 1]])                 # repeated ids
    _, (expected,) = _autograd(torch, lambda t: F.embedding(torch.from_numpy(ids), t), table, grad_output=g)
    close(bw.embedding_backward(g, ids, 6), expected, "embedding")


def padding_mask_for(lengths, n):
    return np.arange(n)[None, :] < lengths[:, None]
