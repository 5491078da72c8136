"""An API that never fails silently (issue 19): one test per defect, each failing on the code before it.

Silent wrong results and corrupted state first (loaders, optimiser, dtypes, layer norm, masks, configs,
biases), then errors that used to come from NumPy's or Python's insides, then what a user expects a loader
to accept. Tiny BERT/DistilBERT checkpoints are written here with the real `safetensors` library (a test
dependency); the installed all-MiniLM-L6-v2 is used through symlinks with an edited config.json.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers import backward, pretrained, training
from helpers.attention import init_attention, multi_head_attention, scaled_dot_product_attention, softmax
from helpers.encoder import encoder_block, encoder_stack, init_encoder_block
from helpers.interop import from_torch_encoder, from_torch_encoder_layer
from helpers.layers import erf, gelu, gelu_tanh, layer_norm, linear
from helpers.tokens import Vocabulary

from test_interop import D, H, torch_layer_state

save_file = pytest.importorskip("safetensors.numpy", reason="the test extra installs safetensors").save_file


@pytest.fixture
def rng():
    return np.random.default_rng(19)


# ============================================================ silent wrong results / corrupted state

# 1. from_torch_encoder ignored keys it does not use.
def test_1_torch_encoder_loader_refuses_a_final_norm_and_layer_gaps(rng):
    layers = [torch_layer_state(rng) for _ in range(2)]
    sd = {f"layers.{i}.{k}": v for i, layer in enumerate(layers) for k, v in layer.items()}
    with_norm = {**sd, "norm.weight": np.ones(D), "norm.bias": np.zeros(D)}
    with pytest.raises(ValueError, match=r"unused keys \['norm.bias', 'norm.weight'\].*final_norm.*strict=False"):
        from_torch_encoder(with_norm, n_heads=H)
    assert len(from_torch_encoder(with_norm, n_heads=H, strict=False)) == 2      # the explicit opt-out
    gap = {k.replace("layers.1.", "layers.2."): v for k, v in sd.items()}
    with pytest.raises(ValueError, match=r"layers \[0, 2\]: layers \[1\] are missing"):
        from_torch_encoder(gap, n_heads=H)
    extra = {**layers[0], "self_attn.extra": np.ones(3)}
    with pytest.raises(ValueError, match=r"unused keys \['self_attn.extra'\]"):
        from_torch_encoder_layer(extra, n_heads=H)


# 2. Adam.step found a wrong-shaped gradient after updating most parameters and incrementing t.
def test_2_adam_checks_every_gradient_before_touching_any_parameter(rng):
    params = {name: rng.normal(size=(3, 2)) for name in "abcde"}
    before = {k: v.copy() for k, v in params.items()}
    optimiser = training.Adam(params)
    grads = {name: np.ones((3, 2)) for name in "abcd"} | {"e": np.ones((2, 3))}
    with pytest.raises(ValueError, match=r"gradient of e must have shape \(3, 2\), got shape \(2, 3\)"):
        optimiser.step(grads, 0.1)
    assert optimiser.t == 0
    for name in params:
        np.testing.assert_array_equal(params[name], before[name])
        assert not optimiser.m[name].any() and not optimiser.v[name].any()
    grads["e"] = [[1.0, 1.0]] * 3                                   # a list: checked, not AttributeError
    with pytest.raises(ValueError, match="gradient of e must be a float32 or float64 array"):
        optimiser.step({**grads, "e": np.ones((3, 2), dtype=np.int64)}, 0.1)
    with pytest.raises(TypeError, match="grads must be a dict"):
        optimiser.step([np.ones((3, 2))] * 5, 0.1)


# 3. from_torch_encoder_layer returned views into the caller's state dict.
def test_3_loaded_parameters_own_their_memory(rng):
    sd = torch_layer_state(rng)
    before = {k: v.copy() for k, v in sd.items()}
    block = from_torch_encoder_layer(sd, n_heads=H)
    for p in training.named_parameters(block).values():
        assert not any(np.shares_memory(p, v) for v in sd.values())
        p += 1.0                                                     # training in place
    for k in sd:
        np.testing.assert_array_equal(sd[k], before[k])


def test_3_bert_blocks_own_their_memory(rng):
    state = tiny_bert_state(rng)
    before = {k: v.copy() for k, v in state.items()}
    block = pretrained.block_from_bert(state, 0, n_heads=2)
    embeddings = pretrained.embeddings_from_bert(state)
    for p in [*training.named_parameters(block).values(), embeddings.word, embeddings.norm.gamma]:
        p += 1.0
    for k in state:
        np.testing.assert_array_equal(state[k], before[k])


@pytest.mark.parametrize("key", ["linear1.weight", "self_attn.out_proj.weight"])
def test_ragged_torch_tensors_get_our_error_naming_the_key(rng, key):
    # Found by the malformed-input fuzz: NumPy's own "inhomogeneous shape" error escaped from np.ndim.
    sd = torch_layer_state(rng)
    sd[key] = [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match=rf"^{key} must be an array"):
        from_torch_encoder_layer(sd, n_heads=H)


def test_ragged_bert_biases_get_our_error_naming_the_key(rng):
    state = tiny_bert_state(rng)
    key = "encoder.layer.0.intermediate.dense.bias"
    assert key in state
    state[key] = [[1.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match=rf"^{key} must be an array"):
        pretrained.block_from_bert(state, 0, n_heads=2)


# 4. float16 and longdouble passed the "float32 or float64" check; float16 layer norm gave zeros.
@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_4_only_float32_and_float64_are_accepted(dtype):
    if np.dtype(dtype) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    x = np.array([[300.0, -300.0, 0.0, 1.0]], dtype=dtype)
    with pytest.raises(ValueError, match=f"x must be a float32 or float64 array, got dtype {np.dtype(dtype)}"):
        layer_norm(x, np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="float32 or float64"):
        softmax(x)


# 5. layer norm of float64 rows near 1e200 (float32 near 1e20) returned beta.
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e200), (np.float32, 1e20), (np.float64, 1e307)])
def test_5_layer_norm_of_huge_rows_is_right(dtype, big):
    base = np.array([[3.0, -1.0, 0.5, 2.0, -4.0]])
    gamma, beta = np.linspace(0.5, 1.5, 5), np.linspace(-1, 1, 5)
    expected = layer_norm(base, gamma, beta, eps=0.0 + 1e-300)      # scale-invariant: the same answer
    got = layer_norm((base * big).astype(dtype), gamma.astype(dtype), beta.astype(dtype))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert not np.allclose(got, beta)


# 6. masks read by broadcasting alone.
def test_6_a_padding_mask_with_b_equal_n_is_refused_not_misread(rng):
    params = init_attention(rng, 8, 2)
    x = rng.normal(size=(4, 4, 8))                                   # B = n = 4
    padding = np.array([[True] * 4, [True] * 3 + [False], [True] * 2 + [False] * 2, [True] + [False] * 3])
    with pytest.raises(ValueError, match=r"must have 4 axes.*mask\[\.\.\., None, None, :\].*got shape \(4, 4\)"):
        multi_head_attention(x, params, padding)
    out, _ = multi_head_attention(x, params, padding[:, None, None, :])
    block = init_encoder_block(rng, 8, 2, 16)
    np.testing.assert_allclose(encoder_block(x, block, padding)[0], encoder_block(x[0], block, padding[0]))
    assert out.shape == x.shape


def test_6_a_per_sequence_mask_is_not_read_as_per_head(rng):
    params = init_attention(rng, 8, 2)                               # h = 2
    x = rng.normal(size=(2, 5, 8))                                   # B = 2
    per_sequence = rng.random((2, 5, 5)) < 0.7
    with pytest.raises(ValueError, match=r"must have 4 axes.*got shape \(2, 5, 5\)"):
        multi_head_attention(x, params, per_sequence)
    multi_head_attention(x, params, per_sequence[:, None])            # (B, 1, n, n): explicit


def test_6_an_sdpa_mask_cannot_enlarge_the_output(rng):
    q = k = v = rng.normal(size=(5, 4))
    with pytest.raises(ValueError, match=r"no extra axes.*got shape \(3, 5, 5\)"):
        scaled_dot_product_attention(q, k, v, np.ones((3, 5, 5), dtype=bool))
    out, weights = scaled_dot_product_attention(q, k, v, np.ones((5, 5), dtype=bool))
    assert out.shape == (5, 4) and weights.shape == (5, 5)


# 7. The BERT loader accepted configs it cannot honour.
@pytest.mark.parametrize("option, value", [("position_embedding_type", "relative_key"),
                                           ("position_embedding_type", "relative_key_query"),
                                           ("is_decoder", True), ("add_cross_attention", True),
                                           ("hidden_act", "swish")])
def test_7_configs_the_encoder_cannot_honour_are_refused(tmp_path, rng, option, value):
    folder = write_model(tmp_path, tiny_bert_state(rng), tiny_config(**{option: value}))
    with pytest.raises(ValueError, match=f"config.json: {option}={value!r}"):
        pretrained.load_minilm(folder)


# 8. linear accepted a bias of shape (1,) or (B*n, d_out) and broadcast it.
@pytest.mark.parametrize("bias_shape", [(1,), (6, 3), (2, 3, 3), (4,)])
def test_8_linear_checks_the_bias_shape(rng, bias_shape):
    x, w = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match=rf"b must have shape \(d_out,\) = \(3,\).*got shape {re_shape(bias_shape)}"):
        linear(x, w, np.zeros(bias_shape))
    with pytest.raises(ValueError, match=r"w must have shape \(d_in, d_out\)"):
        linear(x, np.zeros(4), np.zeros(3))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


# ============================================================ unclear errors made ours

def test_n_equals_0_tokens_works_and_gives_empty_outputs(rng):
    """The choice: n = 0 works, as in PyTorch (empty outputs); an empty feature axis is refused."""
    assert softmax(np.zeros((2, 0))).shape == (2, 0)
    out, weights = scaled_dot_product_attention(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros((0, 4)))
    assert out.shape == (0, 4) and weights.shape == (0, 0)
    block = init_encoder_block(rng, 8, 2, 16)
    x = np.zeros((3, 0, 8))
    assert encoder_block(x, block, np.zeros((3, 0), bool)).shape == (3, 0, 8)
    assert encoder_stack(x, [block, block]).shape == (3, 0, 8)
    with pytest.raises(ValueError, match=r"at least one class.*got shape \(3, 0\)"):
        backward.cross_entropy_forward(np.zeros((3, 0)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"d_model >= 1"):
        layer_norm(np.zeros((3, 0)), np.ones(0), np.zeros(0))


def test_minilm_forward_with_no_tokens(minilm):
    out = minilm.forward(np.zeros((2, 0), dtype=np.int64))
    assert out.shape == (2, 0, minilm.d_model)


def test_0d_inputs_get_our_errors():
    with pytest.raises(ValueError, match="0-d array"):
        softmax(np.float64(1.0))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., d_model\) with d_model >= 1, got shape \(\)"):
        layer_norm(np.float64(1.0), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="axis must be an integer"):
        softmax(np.ones((2, 3)), axis=2)


def test_n_heads_must_be_an_integer(rng):
    with pytest.raises(TypeError, match="n_heads must be an integer, got float 2.0"):
        init_attention(rng, 8, 2.0)
    with pytest.raises(TypeError, match="n_heads must be an integer"):
        from_torch_encoder_layer(torch_layer_state(rng), n_heads=2.0)


def test_schedules_and_train_refuse_zero_divisors(rng):
    with pytest.raises(ValueError, match="d_model must be a positive integer, got 0"):
        training.paper_schedule(1, 0)
    model = training.init_classifier(rng, 8, 5, d_model=8, n_heads=2, d_ff=8, n_layers=1)
    data = training.make_counting_data(rng, 8, n_letters=3, max_len=4)
    with pytest.raises(ValueError, match="eval_every must be a positive integer, got 0"):
        training.train(model, data, steps=1, batch_size=4, eval_data=data, eval_every=0)


def test_vocabulary_encode_none_is_a_type_error():
    with pytest.raises(TypeError, match="text must be a str, got NoneType"):
        Vocabulary(["a"]).encode(None)


def test_embed_batch_accepts_lists(minilm):
    ids, mask = minilm.tokenizer(["a cat", "dogs bark loudly"])
    from_lists = minilm.embed_batch(ids.tolist(), mask.tolist())
    np.testing.assert_array_equal(from_lists, minilm.embed_batch(ids, mask))


def test_a_transposed_bert_weight_is_named(rng):
    state = tiny_bert_state(rng)
    key = "encoder.layer.1.intermediate.dense.weight"
    state[key] = np.ascontiguousarray(state[key].T)
    with pytest.raises(ValueError, match=rf"{key} must have shape \(16, 8\), got shape \(8, 16\) \(transposed\?\)"):
        pretrained.block_from_bert(state, 1, n_heads=2)


def test_word_embeddings_of_another_width_are_refused_at_load(tmp_path, rng):
    state = tiny_bert_state(rng)
    narrow = tiny_bert_state(rng, d=6)                       # the input layer is 6 wide, the blocks 8
    state.update({k: v for k, v in narrow.items() if k.startswith("embeddings.")})
    folder = write_model(tmp_path, state, tiny_config())
    with pytest.raises(ValueError, match=r"word embeddings have width d_model = 6, the blocks expect d_model = \[8\]"):
        pretrained.load_minilm(folder)


def test_file_errors_name_the_file(tmp_path, rng):
    folder = write_model(tmp_path, tiny_bert_state(rng), tiny_config())
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config.json: not a valid UTF-8 JSON file"):
        pretrained.load_minilm(folder)
    folder = write_model(tmp_path / "b", tiny_bert_state(rng), tiny_config())
    (folder / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"vocab.txt: a vocabulary must be UTF-8"):
        pretrained.load_minilm(folder)
    folder = write_model(tmp_path / "c", tiny_bert_state(rng), tiny_config())
    raw = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"model.safetensors: not a valid safetensors file"):
        pretrained.load_minilm(folder)


def test_a_config_without_layer_norm_eps_uses_bert_s_default(tmp_path, rng):
    state = tiny_bert_state(rng)
    config = tiny_config()
    del config["layer_norm_eps"]
    model = pretrained.load_minilm(write_model(tmp_path, state, config))
    assert model.eps == 1e-12 and model.blocks[0].eps == 1e-12
    del config["num_attention_heads"]
    with pytest.raises(ValueError, match=r"config.json: the config has no 'num_attention_heads'"):
        pretrained.load_minilm(write_model(tmp_path / "b", state, config))


# ============================================================ what a loader should accept

@pytest.mark.parametrize("act, ours", [("gelu_python", "gelu"), ("gelu_new", "gelu_tanh"),
                                       ("gelu_pytorch_tanh", "gelu_tanh"), ("relu", "relu")])
def test_hidden_act_variants_load_with_the_right_activation(tmp_path, rng, act, ours):
    model = pretrained.load_minilm(write_model(tmp_path, tiny_bert_state(rng), tiny_config(hidden_act=act)))
    assert {block.activation for block in model.blocks} == {ours}


def test_gelu_tanh_is_the_tanh_formula_and_close_to_gelu():
    x = np.linspace(-8, 8, 1601)
    expected = np.array([0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x])
    np.testing.assert_allclose(gelu_tanh(x), expected, rtol=1e-14, atol=1e-15)
    assert 1e-5 < np.abs(gelu_tanh(x) - gelu(x)).max() < 1e-3
    assert np.isfinite(gelu_tanh(np.array([1e300, -1e300, 3e38], dtype=np.float64))).all()


def test_gelu_tanh_matches_torch(torch):
    x = np.random.default_rng(0).normal(size=1000) * 4
    expected = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    np.testing.assert_allclose(gelu_tanh(x), expected, rtol=1e-12, atol=1e-14)


def test_bert_prefixed_task_head_checkpoints_load(tmp_path, rng):
    state = tiny_bert_state(rng)
    plain = pretrained.load_minilm(write_model(tmp_path / "plain", state, tiny_config()))
    headed = {f"bert.{k}": v for k, v in state.items()} | {
        "classifier.weight": np.ones((2, 8), np.float32), "classifier.bias": np.zeros(2, np.float32)}
    loaded = pretrained.load_minilm(write_model(tmp_path / "headed", headed, tiny_config()))
    ids = np.array([[2, 7, 9, 3]])
    np.testing.assert_array_equal(loaded.forward(ids), plain.forward(ids))


def test_unused_encoder_tensors_are_refused_unless_strict_false(tmp_path, rng):
    state = tiny_bert_state(rng) | {"embeddings.distance_embedding.weight": np.zeros((31, 4), np.float32)}
    folder = write_model(tmp_path, state, tiny_config())
    with pytest.raises(ValueError, match=r"would not use: \['embeddings.distance_embedding.weight'\].*strict=False"):
        pretrained.load_minilm(folder)
    assert pretrained.load_minilm(folder, strict=False).n_layers == 2


def test_bfloat16_checkpoints_load_upcast(tmp_path, rng):
    state = tiny_bert_state(rng)
    bf16_words = {k: (v.view(np.uint32) >> 16).astype(np.uint16) for k, v in state.items()}
    exact = {k: (w.astype(np.uint32) << 16).view(np.float32) for k, w in bf16_words.items()}
    reference = pretrained.load_minilm(write_model(tmp_path / "f32", exact, tiny_config()))
    folder = write_model(tmp_path / "bf16", bf16_words, tiny_config(), bfloat16=True)
    model = pretrained.load_minilm(folder)
    assert model.dtype == np.float32
    ids = np.array([[2, 5, 6, 3]])
    np.testing.assert_array_equal(model.forward(ids), reference.forward(ids))


def test_distilbert_checkpoints_load(tmp_path, rng):
    state = tiny_bert_state(rng)
    state["embeddings.token_type_embeddings.weight"][0] = 0      # DistilBERT has no token types
    bert = pretrained.load_minilm(write_model(tmp_path / "bert", state, tiny_config()))
    renamed = {f"distilbert.{distil_name(k)}": v for k, v in state.items()
               if k != "embeddings.token_type_embeddings.weight"}
    config = {"model_type": "distilbert", "dim": 8, "hidden_dim": 16, "n_layers": 2, "n_heads": 2,
              "activation": "gelu", "max_position_embeddings": 16}
    folder = write_model(tmp_path / "distil", renamed | {"vocab_projector.bias": np.zeros(31, np.float32)}, config)
    model = pretrained.load_distilbert(folder)
    ids = np.array([[2, 7, 9, 11, 3]])
    np.testing.assert_allclose(model.forward(ids), bert.forward(ids), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.forward(ids), pretrained.load_minilm(folder).forward(ids))
    with pytest.raises(ValueError, match="expected 'distilbert'"):
        pretrained.load_distilbert(tmp_path / "bert")


def test_minilm_forward_takes_token_type_ids(minilm):
    ids = np.array([[101, 7592, 102, 2088, 102]])
    types = np.array([[0, 0, 0, 1, 1]])
    default = minilm.forward(ids)
    np.testing.assert_array_equal(minilm.forward(ids, token_type_ids=np.zeros_like(ids)), default)
    segments = minilm.forward(ids, token_type_ids=types)
    assert np.abs(segments - default).max() > 1e-3
    expected_input = minilm.embeddings.token_type[types] - minilm.embeddings.token_type[0]
    assert expected_input.any()
    with pytest.raises(ValueError, match=r"token_type_ids must have shape \(1, 5\), got shape \(5,\)"):
        minilm.forward(ids, token_type_ids=types[0])
    with pytest.raises(ValueError, match=r"token_type_ids must lie in \[0, 2\)"):
        minilm.forward(ids, token_type_ids=types * 2)


def test_erf_float32_error_is_as_documented():
    x = np.concatenate([np.linspace(-8, 8, 400_001), np.random.default_rng(0).normal(size=200_000) * 0.1])
    x32 = x.astype(np.float32)
    error = np.abs(erf(x32).astype(np.float64) - erf(x32.astype(np.float64))).max()
    assert 4e-7 < error < 6.5e-7                   # the docstring says 6.4e-7; the formula alone 1.5e-7
    assert "6.4e-7" in erf.__doc__


def test_cross_entropy_with_every_target_ignored_is_plus_zero():
    loss, _ = backward.cross_entropy_forward(np.ones((2, 3, 4)), np.full((2, 3), -100))
    assert loss == 0 and math.copysign(1.0, float(loss)) == 1.0


# ============================================================ fixtures: tiny checkpoints

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]    # V = 31


def tiny_bert_state(rng, d=8, d_ff=16, n_layers=2, vocab=len(VOCAB), positions=16):
    state = {
        "embeddings.word_embeddings.weight": rng.normal(size=(vocab, d)),
        "embeddings.position_embeddings.weight": rng.normal(size=(positions, d)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, d)),
        "embeddings.LayerNorm.weight": 1 + 0.1 * rng.normal(size=d),
        "embeddings.LayerNorm.bias": 0.1 * rng.normal(size=d),
    }
    for i in range(n_layers):
        shapes = {key: ((d, d) if key.endswith("weight") else (d,)) for key in pretrained.BERT_LAYER_KEYS}
        shapes.update({"intermediate.dense.weight": (d_ff, d), "intermediate.dense.bias": (d_ff,),
                       "output.dense.weight": (d, d_ff), "output.LayerNorm.weight": (d,),
                       "attention.output.LayerNorm.weight": (d,)})
        for key, shape in shapes.items():
            is_gain = "LayerNorm.weight" in key
            state[f"encoder.layer.{i}.{key}"] = 1 + 0.1 * rng.normal(size=shape) if is_gain else 0.3 * rng.normal(size=shape)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def tiny_config(**changes):
    config = {"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 16, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
              "max_position_embeddings": 16, "type_vocab_size": 2}
    return config | changes


def write_model(folder, state, config, bfloat16=False):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    path = folder / "model.safetensors"
    if bfloat16:
        import safetensors
        arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
        if hasattr(safetensors, "TensorSpec"):
            specs = {k: safetensors.TensorSpec(dtype="bfloat16", shape=v.shape, data_ptr=v.ctypes.data,
                                               data_len=v.nbytes) for k, v in arrays.items()}
        else:
            specs = {k: {"dtype": "bfloat16", "shape": list(v.shape), "data": v.tobytes()} for k, v in arrays.items()}
        safetensors.serialize_file(specs, str(path))
    else:
        save_file(state, path)
    return folder


def distil_name(bert_key: str) -> str:
    if not bert_key.startswith("encoder.layer."):
        return bert_key
    _, _, index, rest = bert_key.split(".", 3)
    theirs = {bert: distil for distil, bert in pretrained.DISTILBERT_LAYER_KEYS.items()}[rest]
    return f"transformer.layer.{index}.{theirs}"


@pytest.fixture(scope="module")
def minilm():
    try:
        return pretrained.load_minilm()
    except pretrained.ModelNotInstalledError as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("call, message", [
    (lambda: encoder_block(np.ones((2, 4)), None), "params must be a EncoderBlockParams, got NoneType"),
    (lambda: multi_head_attention(np.ones((2, 4)), {"w_q": 1}), "params must be a AttentionParams, got dict"),
    (lambda: encoder_stack(np.ones((2, 4)), None), "blocks must be a list of EncoderBlockParams"),
    (lambda: training.make_counting_data(np.random.default_rng(0), 2.0), "n_sequences must be an integer"),
    (lambda: training.load_parameters(training.init_classifier(np.random.default_rng(0), 4, 3, d_model=4,
                                                                n_layers=1), [1]), "values must be a dict"),
    (lambda: Vocabulary(None), "words must be an iterable of str"),
    (lambda: pretrained.WordPieceTokenizer(None), "vocab must be a dict"),
], ids=["block", "attention", "stack", "counting_data", "load_parameters", "vocabulary", "tokenizer"])
def test_wrong_kinds_of_objects_get_a_type_error_naming_the_argument(call, message):
    with pytest.raises(TypeError, match=message):
        call()
