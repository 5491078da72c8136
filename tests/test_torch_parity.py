"""Our NumPy encoder against PyTorch, in two layers.

1. Fixture tests (always run, no torch needed): PyTorch's answers stored in
   helpers/reference_data/*.safetensors by scripts/make_torch_fixtures.py, read through helpers.reference.
2. Live tests (need torch; skipped without it, failed without it under ENCODER_REQUIRE_REFERENCE=1):
   freshly built torch modules with seeded random weights, biases and norm parameters, compared with
   encoder_block / encoder_stack / multi_head_attention / scaled_dot_product_attention / layer_norm;
   plus a check that re-running the fixture script reproduces the committed fixtures.

Tolerances: float64 1e-10, float32 1e-5 (absolute and relative).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import helpers
from helpers import reference
from helpers.attention import AttentionParams, multi_head_attention, scaled_dot_product_attention
from helpers.encoder import encoder_block, encoder_stack
from helpers.interop import from_torch_encoder, from_torch_encoder_layer, to_torch_encoder_layer
from helpers.layers import LayerNormParams, erf, gelu, layer_norm

ROOT = Path(__file__).resolve().parents[1]
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def assert_close(actual, expected, err_msg=""):
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{err_msg}: dtype {actual.dtype} != {expected.dtype}"
    tol = TOL[expected.dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=err_msg)


def mha_params(state: dict, n_heads: int, prefix: str = "") -> AttentionParams:
    """nn.MultiheadAttention's state (in_proj stacked Q;K;V, y = x W^T + b) -> our AttentionParams."""
    w = np.split(np.asarray(state[prefix + "in_proj_weight"]), 3)
    b = np.split(np.asarray(state[prefix + "in_proj_bias"]), 3)
    return AttentionParams(w[0].T, b[0], w[1].T, b[1], w[2].T, b[2],
                           np.asarray(state[prefix + "out_proj.weight"]).T, np.asarray(state[prefix + "out_proj.bias"]),
                           n_heads)


# ====================================================================== 1. fixture tests (no torch)

LAYER_CASES = [
    "encoder_layer_post_ln_relu_float64",
    "encoder_layer_post_ln_gelu_float64",
    "encoder_layer_pre_ln_relu_float64",
    "encoder_layer_pre_ln_gelu_float64",
    "encoder_layer_post_ln_relu_float32",
    "encoder_layer_pre_ln_gelu_float32",
]


# What scripts/make_torch_fixtures.py writes (other scripts may add other reference files).
SCRIPT_CASES = LAYER_CASES + ["encoder_stack_post_ln_relu_6_layers", "attention", "layer_norm"]


def test_reference_fixtures_are_all_there():
    assert set(SCRIPT_CASES) <= set(reference.reference_names())
    with pytest.raises(ValueError, match=r"no reference case 'nope'; available: \['attention', "):
        reference.load_reference("nope")


@pytest.mark.parametrize("name", LAYER_CASES)
def test_encoder_block_matches_pytorch_fixture(name):
    params, x, mask, expected = reference.block_case(name)
    assert x.dtype == expected.dtype == params.attention.w_q.dtype
    assert mask.dtype == bool and mask.shape == x.shape[:2] and not mask.all()     # there is padding
    assert params.norm_first == ("pre_ln" in name) and params.activation == name.split("_")[4]
    out = encoder_block(x, params, mask)
    assert_close(out, expected, name)                           # every row, padded query rows included


def test_encoder_stack_matches_pytorch_fixture():
    blocks, x, mask, expected = reference.stack_case()
    assert len(blocks) == 6
    out, w = encoder_stack(x, blocks, mask, return_attention=True)
    batch, n = x.shape[:2]
    assert w.shape == (6, batch, 4, n, n)                      # (n_layers, B, h, n, n)
    assert_close(out, expected, "stack")


def test_attention_matches_pytorch_fixture():
    case = reference.load_reference("attention")
    out, w = scaled_dot_product_attention(case["q"], case["k"], case["v"], case["mask"])
    assert_close(out, case["expected"], "scaled_dot_product_attention")
    assert (w[np.broadcast_to(~case["mask"], w.shape)] == 0).all()
    params = mha_params(case, n_heads=4, prefix="mha_state.")
    mask = case["mha_key_padding_mask"]
    mha_out, mha_w = multi_head_attention(case["mha_x"], params, mask[:, None, None, :])
    assert_close(mha_out, case["mha_expected"], "multi_head_attention output")
    assert_close(mha_w, case["mha_expected_weights"], "multi_head_attention weights (per head)")


def test_layer_norm_matches_pytorch_fixture():
    case = reference.load_reference("layer_norm")
    out = layer_norm(case["x"], case["gamma"], case["beta"])
    assert_close(out, case["expected"], "layer_norm")
    np.testing.assert_array_equal(out[0, 0], case["beta"])     # the fixture's constant row


# ====================================================================== conftest's require_module


def test_require_module_skips_or_fails_on_missing_module(monkeypatch, require_module):
    missing = "no_such_module_for_encoder_tests"
    monkeypatch.delenv("ENCODER_REQUIRE_REFERENCE", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"not importable.*{missing}"):
        require_module(missing)
    monkeypatch.setenv("ENCODER_REQUIRE_REFERENCE", "1")
    with pytest.raises(pytest.fail.Exception, match="ENCODER_REQUIRE_REFERENCE=1 is set"):
        require_module(missing)
    assert require_module("numpy") is np


# ====================================================================== 2. live tests (torch)


def randomise(torch, module, generator):
    """Seeded, non-trivial values for every parameter: weights ~ N(0, 1/fan_in), biases and betas
    ~ N(0, 0.3^2), gammas ~ 1 + N(0, 0.3^2)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            if p.ndim == 2:
                p.copy_(noise / p.shape[1] ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.3 * noise)
            else:
                p.copy_(0.3 * noise)


def numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


LAYER_GRID = [
    pytest.param(d, h, ff, nf, act, dt, id=f"d{d}-h{h}-ff{ff}-{'pre' if nf else 'post'}LN-{act}-{dt}")
    for (d, h, ff) in [(16, 4, 32)]
    for nf in (False, True)
    for act in ("relu", "gelu")
    for dt in ("float64", "float32")
] + [
    pytest.param(64, 8, 128, nf, act, dt, id=f"d64-h8-ff128-{'pre' if nf else 'post'}LN-{act}-{dt}")
    for nf, act, dt in [(False, "relu", "float64"), (True, "gelu", "float64"), (False, "gelu", "float32"),
                        (True, "relu", "float32")]
]


@pytest.mark.parametrize("d_model, n_heads, d_ff, norm_first, activation, dtype", LAYER_GRID)
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad(fast path)", "grad(python path)"])
def test_encoder_layer_matches_live_pytorch(torch, d_model, n_heads, d_ff, norm_first, activation, dtype, grad):
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(1000 + d_model + 10 * norm_first + (activation == "gelu"))
    layer = torch.nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0, activation=activation,
                                             batch_first=True, norm_first=norm_first, dtype=tdtype).eval()
    randomise(torch, layer, g)
    x = torch.randn(3, 9, d_model, generator=g, dtype=tdtype)
    mask = np.arange(9)[None, :] < np.array([9, 6, 1])[:, None]     # True = real token
    with torch.set_grad_enabled(grad):
        expected = layer(x, src_key_padding_mask=torch.from_numpy(~mask)).detach().numpy()
    params = from_torch_encoder_layer(numpy_state(layer), n_heads, norm_first=norm_first, activation=activation)
    out = encoder_block(x.numpy(), params, mask)
    assert_close(out[mask], expected[mask], "real rows")
    assert np.isfinite(expected).all()
    assert_close(out, expected, "all rows, padded query rows included")


def test_encoder_layer_with_an_all_padding_sequence(torch):
    g = torch.Generator().manual_seed(11)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True,
                                             dtype=torch.float64).train(False)
    randomise(torch, layer, g)
    x = torch.randn(2, 5, 16, generator=g, dtype=torch.float64)
    mask = np.array([[True] * 5, [False] * 5])
    with torch.enable_grad():                                    # the python path: no NaN shortcut
        expected = layer(x, src_key_padding_mask=torch.from_numpy(~mask)).detach().numpy()
    out = encoder_block(x.numpy(), from_torch_encoder_layer(numpy_state(layer), 4), mask)
    assert np.isfinite(out).all()
    assert_close(out[0], expected[0], "the real sequence")
    if np.isfinite(expected[1]).all():                           # torch also gives finite numbers here
        assert_close(out[1], expected[1], "the all-padding sequence")


@pytest.mark.parametrize("norm_first, activation, dtype, final_norm", [
    (False, "relu", "float64", False), (True, "gelu", "float64", True),
    (False, "gelu", "float32", False), (True, "relu", "float32", True),
])
def test_encoder_stack_matches_live_pytorch(torch, norm_first, activation, dtype, final_norm):
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(77)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=activation, batch_first=True,
                                             norm_first=norm_first, dtype=tdtype)
    norm = torch.nn.LayerNorm(16, dtype=tdtype) if final_norm else None
    stack = torch.nn.TransformerEncoder(layer, 3, norm=norm, enable_nested_tensor=False).eval()
    randomise(torch, stack, g)
    x = torch.randn(3, 8, 16, generator=g, dtype=tdtype)
    mask = np.arange(8)[None, :] < np.array([8, 5, 2])[:, None]
    with torch.no_grad():
        expected = stack(x, src_key_padding_mask=torch.from_numpy(~mask)).numpy()
    state = numpy_state(stack)
    if final_norm:      # a final norm's keys are refused unless asked for: it is not part of any block
        with pytest.raises(ValueError, match=r"unused keys \['norm.bias', 'norm.weight'\]"):
            from_torch_encoder(state, n_heads=4, norm_first=norm_first, activation=activation)
    blocks = from_torch_encoder(state, n_heads=4, norm_first=norm_first, activation=activation, strict=False)
    assert len(blocks) == 3
    final = LayerNormParams(state["norm.weight"], state["norm.bias"]) if final_norm else None
    out = encoder_stack(x.numpy(), blocks, mask, final_norm=final)
    assert_close(out, expected, "stack, all rows")


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
def test_encoder_stack_real_rows_match_the_nested_tensor_fast_path(torch):
    # With nested tensors (PyTorch's default) padded rows come back as zeros: compare real rows only.
    g = torch.Generator().manual_seed(78)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, dtype=torch.float64)
    stack = torch.nn.TransformerEncoder(layer, 2).eval()
    randomise(torch, stack, g)
    x = torch.randn(2, 6, 16, generator=g, dtype=torch.float64)
    mask = np.arange(6)[None, :] < np.array([6, 3])[:, None]
    with torch.no_grad():
        expected = stack(x, src_key_padding_mask=torch.from_numpy(~mask)).numpy()
    out = encoder_stack(x.numpy(), from_torch_encoder(numpy_state(stack), n_heads=4), mask)
    assert_close(out[mask], expected[mask], "real rows")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mask_kind", ["none", "key_padding", "full"])
def test_sdpa_matches_torch_functional(torch, dtype, mask_kind):
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 3, 6, 8, generator=g, dtype=tdtype) * 2 for _ in range(3))
    if mask_kind == "none":
        mask = None
    elif mask_kind == "key_padding":
        mask = (np.arange(6)[None, :] < np.array([6, 4])[:, None])[:, None, None, :]   # (B, 1, 1, n)
    else:
        mask = torch.rand(2, 3, 6, 6, generator=g).numpy() < 0.6                    # (B, h, n, n)
        mask[0, 1, 2] = False                                                       # a query with no key
    tmask = None if mask is None else torch.from_numpy(mask)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=tmask).numpy()
    out, _ = scaled_dot_product_attention(q.numpy(), k.numpy(), v.numpy(), mask)
    if mask is not None:
        no_key = np.broadcast_to(~mask.any(-1), out.shape[:-1])
        np.testing.assert_array_equal(out[no_key], 0)
        finite_rows = np.isfinite(expected).all(-1)
        assert_close(out[finite_rows], expected[finite_rows], "rows torch computes")
    else:
        assert_close(out, expected, "sdpa")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_norm_matches_torch_functional(torch, dtype):
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(4, 5, 32, generator=g, dtype=tdtype) * 5 + 3
    x[0, 0] = 1e3 + 0.1                                          # constant rows: variance 0
    x[1, 2] = -7.0
    gamma = torch.randn(32, generator=g, dtype=tdtype)
    beta = torch.randn(32, generator=g, dtype=tdtype)
    for eps in (1e-5, 1e-12):
        expected = torch.nn.functional.layer_norm(x, (32,), gamma, beta, eps=eps).numpy()
        out = layer_norm(x.numpy(), gamma.numpy(), beta.numpy(), eps=eps)
        assert_close(out, expected, f"eps={eps}")
        np.testing.assert_array_equal(out[0, 0], beta.numpy())


@pytest.mark.parametrize("d_model, n_heads, dtype", [(16, 4, "float64"), (64, 8, "float64"), (64, 8, "float32")])
def test_multi_head_attention_matches_nn_multihead_attention(torch, d_model, n_heads, dtype):
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(d_model + n_heads)
    mha = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True, dtype=tdtype).eval()
    randomise(torch, mha, g)
    x = torch.randn(3, 7, d_model, generator=g, dtype=tdtype)
    key_mask = np.arange(7)[None, :] < np.array([7, 4, 2])[:, None]
    with torch.no_grad():
        expected, expected_w = mha(x, x, x, key_padding_mask=torch.from_numpy(~key_mask), need_weights=True,
                                   average_attn_weights=False)
    out, w = multi_head_attention(x.numpy(), mha_params(numpy_state(mha), n_heads), key_mask[:, None, None, :])
    assert w.shape == (3, n_heads, 7, 7)
    assert_close(out, expected.numpy(), "output")
    assert_close(w, expected_w.numpy(), "per-head weights")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gelu_and_erf_match_torch(torch, dtype):
    x = torch.linspace(-12, 12, 20001, dtype=getattr(torch, dtype))
    np.testing.assert_allclose(gelu(x.numpy()), torch.nn.functional.gelu(x).numpy(), rtol=0,
                               atol=1e-14 if dtype == "float64" else 2e-6)
    np.testing.assert_allclose(erf(x.numpy()), torch.erf(x).numpy(), rtol=0,
                               atol=1e-14 if dtype == "float64" else 1e-6)


def test_exported_weights_load_into_pytorch(torch, make_block):
    params = make_block(np.random.default_rng(3), 16, 4, 32, norm_first=True, activation="gelu")
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True, dtype=torch.float64).eval()
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_encoder_layer(params).items()}, strict=True)
    x = np.random.default_rng(4).normal(size=(2, 5, 16))
    with torch.no_grad():
        expected = layer(torch.from_numpy(x)).numpy()
    assert_close(encoder_block(x, params), expected, "exported block")


# ---------------------------------------------------------------------- the fixtures are not stale


@pytest.fixture(scope="module")
def fixture_script(torch):
    path = ROOT / "scripts" / "make_torch_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_torch_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_fixture_script_case_is_checked_here(fixture_script):
    assert sorted(fixture_script.CASES) == sorted(SCRIPT_CASES)


@pytest.mark.parametrize("name", SCRIPT_CASES)
def test_regenerating_a_fixture_reproduces_the_committed_file(torch, fixture_script, name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                     # as the script's main() does
    try:
        fresh = fixture_script.CASES[name]()
    finally:
        torch.set_num_threads(threads)
    committed = reference.load_reference(name)
    assert set(fresh) == set(committed)
    for key, value in fresh.items():
        value = np.asarray(value)
        stored = committed[key]
        assert value.shape == stored.shape and value.dtype == stored.dtype, key
        if "expected" in key:                                    # torch's outputs: tolerance for the CPU
            tol = 1e-12 if stored.dtype == np.float64 else 1e-6
            np.testing.assert_allclose(value, stored, rtol=tol, atol=tol, err_msg=key)
        else:                                                    # seeded inputs and weights: bit for bit
            np.testing.assert_array_equal(value, stored, err_msg=key)


def test_helpers_reference_is_lazily_importable():
    assert helpers.reference is reference
