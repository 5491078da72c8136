"""Property test: random malformed inputs (shapes, dtypes, masks, sizes, wrong kinds of objects) thrown at
every public function of helpers/. Each call either raises one of *our* errors (a ValueError/TypeError
raised by a ``raise`` statement in helpers/, so with a message written for the learner) or returns a finite
result. Never a NumPy internal error ("zero-size array to reduction operation", "tuple index out of
range", "operands could not be broadcast"), never a NaN, never a RuntimeWarning (pytest turns those into
errors). A second property throws numerically hard but finite values at the numeric functions.
"""

from __future__ import annotations

import linecache
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from helpers import backward, embeddings, encoder, interop, layers, pretrained, tokens, training
from helpers import attention as att

HELPERS_DIR = Path(helpers.__file__).resolve().parent
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_, np.complex128, np.uint8]
SIDES = [0, 1, 2, 3, 4, 6]          # 4 is d_model of the valid parameters below, 2 their heads, 6 d_ff
D_MODEL, N_HEADS, D_FF = 4, 2, 6

_rng = np.random.default_rng(0)
ATTENTION = att.init_attention(_rng, D_MODEL, N_HEADS)
BLOCK = encoder.init_encoder_block(_rng, D_MODEL, N_HEADS, D_FF, activation="gelu")
FFN = layers.init_feed_forward(_rng, D_MODEL, D_FF)
BERT_EMB = pretrained.BertEmbeddingParams(
    word=_rng.normal(size=(7, D_MODEL)), position=_rng.normal(size=(5, D_MODEL)),
    token_type=_rng.normal(size=(2, D_MODEL)), norm=layers.LayerNormParams(np.ones(D_MODEL), np.zeros(D_MODEL)))
VOCAB = tokens.Vocabulary(["a", "b", "c"])


def is_ours(err: BaseException) -> bool:
    """Raised by a ``raise`` statement in helpers/ (not by NumPy, nor by an operation on a helpers line)."""
    if not isinstance(err, (ValueError, TypeError)):
        return False
    frame = traceback.extract_tb(err.__traceback__)[-1]
    in_helpers = Path(frame.filename).resolve().is_relative_to(HELPERS_DIR)
    return in_helpers and linecache.getline(frame.filename, frame.lineno).strip().startswith("raise")


def assert_finite(result) -> None:
    if isinstance(result, np.ndarray | np.generic):
        if np.issubdtype(result.dtype, np.floating):
            assert np.isfinite(result).all(), "a NaN or inf from finite inputs"
    elif isinstance(result, (tuple, list)):
        for item in result:
            assert_finite(item)
    elif isinstance(result, float):
        assert np.isfinite(result)
    elif hasattr(result, "__dataclass_fields__"):
        for name in result.__dataclass_fields__:
            assert_finite(getattr(result, name))


@st.composite
def arrays(draw, dtypes=DTYPES, max_dims=4):
    shape = tuple(draw(st.lists(st.sampled_from(SIDES), max_size=max_dims)))
    dtype = draw(st.sampled_from(dtypes))
    values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=shape) * 3
    if dtype == np.bool_:
        return values > 0
    if np.issubdtype(dtype, np.integer):
        return np.abs(values).astype(dtype)
    return values.astype(dtype)


ODD = st.sampled_from([None, 3, 2.5, "abc", [[1.0, 2.0], [3.0]], [1.0, 2.0, 3.0, 4.0], True, {"a": 1}])
ANYTHING = st.one_of(arrays(), arrays(dtypes=[np.float64, np.float32]), ODD)
FLOATS = st.one_of(arrays(dtypes=[np.float64, np.float32]), arrays(dtypes=[np.float64]), ODD)
MASKS = st.one_of(arrays(dtypes=[np.bool_]), arrays(dtypes=[np.bool_]), ODD, st.none())
IDS = st.one_of(arrays(dtypes=[np.int64, np.int32]), arrays(), ODD)
SIZES = st.one_of(st.sampled_from([-1, 0, 1, 2, 3, 4, 2.0, "2", None, True, np.int64(2)]))


def ints(draw):
    return draw(SIZES)


# name -> function of hypothesis' `data` making the call (each argument drawn, mostly near-valid).
CALLS = {
    "softmax": lambda d: att.softmax(d.draw(FLOATS), d.draw(st.sampled_from([-1, 0, 1, 3, 1.5]))),
    "scaled_dot_product_attention": lambda d: att.scaled_dot_product_attention(
        d.draw(FLOATS), d.draw(FLOATS), d.draw(FLOATS), d.draw(MASKS)),
    "split_heads": lambda d: att.split_heads(d.draw(FLOATS), d.draw(SIZES)),
    "merge_heads": lambda d: att.merge_heads(d.draw(FLOATS)),
    "AttentionParams": lambda d: att.AttentionParams(*[d.draw(ANYTHING) for _ in range(8)], d.draw(SIZES)),
    "init_attention": lambda d: att.init_attention(np.random.default_rng(0), d.draw(SIZES), d.draw(SIZES)),
    "multi_head_attention": lambda d: att.multi_head_attention(d.draw(FLOATS), ATTENTION, d.draw(MASKS)),
    "linear": lambda d: layers.linear(d.draw(FLOATS), d.draw(FLOATS), d.draw(FLOATS)),
    "layer_norm": lambda d: layers.layer_norm(d.draw(FLOATS), d.draw(FLOATS), d.draw(FLOATS),
                                              d.draw(st.sampled_from([1e-5, 0.0, -1.0, 1e-12, "x"]))),
    "relu": lambda d: layers.relu(d.draw(ANYTHING)),
    "gelu": lambda d: layers.gelu(d.draw(ANYTHING)),
    "gelu_tanh": lambda d: layers.gelu_tanh(d.draw(ANYTHING)),
    "erf": lambda d: layers.erf(d.draw(ANYTHING)),
    "LayerNormParams": lambda d: layers.LayerNormParams(d.draw(ANYTHING), d.draw(ANYTHING)),
    "FeedForwardParams": lambda d: layers.FeedForwardParams(*[d.draw(ANYTHING) for _ in range(4)]),
    "init_feed_forward": lambda d: layers.init_feed_forward(np.random.default_rng(0), d.draw(SIZES), d.draw(SIZES)),
    "feed_forward": lambda d: layers.feed_forward(d.draw(FLOATS), FFN,
                                                  d.draw(st.sampled_from(["relu", "gelu", "gelu_tanh", "tanh", None]))),
    "encoder_block": lambda d: encoder.encoder_block(d.draw(FLOATS), BLOCK, d.draw(MASKS)),
    "encoder_stack": lambda d: encoder.encoder_stack(d.draw(FLOATS), [BLOCK, BLOCK], d.draw(MASKS)),
    "key_padding_to_attention_mask": lambda d: encoder.key_padding_to_attention_mask(
        d.draw(MASKS), d.draw(st.sampled_from([(2, 3, 4), (3, 4), (4,), (0, 4)]))),
    "init_encoder_block": lambda d: encoder.init_encoder_block(
        np.random.default_rng(0), d.draw(SIZES), d.draw(SIZES), d.draw(SIZES),
        eps=d.draw(st.sampled_from([1e-5, 0.0, -1.0, "x"]))),
    "embed": lambda d: embeddings.embed(d.draw(IDS), d.draw(FLOATS)),
    "encoder_input": lambda d: embeddings.encoder_input(d.draw(IDS), d.draw(FLOATS)),
    "sinusoidal_positional_encoding": lambda d: embeddings.sinusoidal_positional_encoding(d.draw(SIZES), d.draw(SIZES)),
    "init_embedding_table": lambda d: embeddings.init_embedding_table(np.random.default_rng(0), d.draw(SIZES),
                                                                      d.draw(SIZES)),
    "one_hot": lambda d: tokens.one_hot(d.draw(IDS), d.draw(SIZES)),
    "pad_batch": lambda d: tokens.pad_batch(d.draw(st.one_of(st.lists(IDS, max_size=3), ODD)),
                                            length=d.draw(st.sampled_from([None, 0, 2, -1, 2.5]))),
    "tokenize": lambda d: tokens.tokenize(d.draw(st.one_of(st.text(max_size=20), ODD))),
    "Vocabulary.encode": lambda d: VOCAB.encode(d.draw(st.one_of(st.text(max_size=20), ODD))),
    "Vocabulary.decode": lambda d: VOCAB.decode(d.draw(IDS)),
    "mean_pool": lambda d: pretrained.mean_pool(d.draw(FLOATS), d.draw(MASKS)),
    "l2_normalize": lambda d: pretrained.l2_normalize(d.draw(FLOATS)),
    "bert_embeddings": lambda d: pretrained.bert_embeddings(d.draw(IDS), BERT_EMB, token_type_ids=d.draw(
        st.one_of(st.none(), IDS))),
    "warmup_schedule": lambda d: training.warmup_schedule(d.draw(SIZES), 1e-3, d.draw(SIZES)),
    "paper_schedule": lambda d: training.paper_schedule(d.draw(SIZES), d.draw(SIZES), d.draw(SIZES)),
    "accuracy": lambda d: training.accuracy(d.draw(FLOATS), d.draw(IDS)),
    "Adam.step": lambda d: training.Adam({"w": np.zeros((2, 3)), "b": np.zeros(3)}).step(
        d.draw(st.one_of(st.fixed_dictionaries({"w": ANYTHING, "b": ANYTHING}), ODD)), d.draw(SIZES)),
    "cross_entropy_forward": lambda d: backward.cross_entropy_forward(d.draw(FLOATS), d.draw(IDS)),
    "from_torch_encoder_layer": lambda d: interop.from_torch_encoder_layer(
        {k: d.draw(ANYTHING) for k in interop.TORCH_LAYER_KEYS}, d.draw(SIZES)),
    "count_parameters": lambda d: encoder.count_parameters(d.draw(ANYTHING)),
}


@pytest.mark.parametrize("name", list(CALLS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_inputs_raise_our_errors_or_give_finite_results(name, data):
    try:
        result = CALLS[name](data)
    except Exception as err:  # noqa: BLE001 -- the point is to see which errors come out
        assert is_ours(err), f"{name}: not our error: {type(err).__name__}: {err}"
        return
    assert_finite(result)


MAGNITUDES = st.sampled_from([1e-300, 1e-30, 1.0, 1e4, 1e20, 1e30, 1e100, 1e200, 1e300])


@st.composite
def hard_floats(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    limit = 1e300 if dtype == np.float64 else 1e36
    scale = min(draw(MAGNITUDES), limit)
    values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=shape) * scale
    if draw(st.booleans()):
        values[..., 0] = values.flat[0]             # some constant-looking rows
    return values.astype(dtype)


@pytest.mark.parametrize("name", ["softmax", "layer_norm", "l2_normalize", "relu", "gelu", "gelu_tanh", "erf",
                                  "cross_entropy_forward", "mean_pool"])
@settings(max_examples=100, deadline=None)
@given(x=hard_floats())
def test_numerically_hard_finite_inputs_give_finite_results(name, x):
    d = x.shape[-1]
    calls = {
        "softmax": lambda: att.softmax(x),
        "layer_norm": lambda: layers.layer_norm(x, np.ones(d, x.dtype), np.zeros(d, x.dtype)),
        "l2_normalize": lambda: pretrained.l2_normalize(x),
        "relu": lambda: layers.relu(x), "gelu": lambda: layers.gelu(x),
        "gelu_tanh": lambda: layers.gelu_tanh(x), "erf": lambda: layers.erf(x),
        "cross_entropy_forward": lambda: backward.cross_entropy_forward(x, np.zeros(x.shape[:-1], int))[0],
        "mean_pool": lambda: pretrained.mean_pool(x[None] if x.ndim == 1 else x, np.ones(
            (x[None] if x.ndim == 1 else x).shape[:-1], bool)),
    }
    try:
        result = calls[name]()
    except Exception as err:  # noqa: BLE001
        assert is_ours(err), f"{name}: not our error: {type(err).__name__}: {err}"
        return
    assert_finite(result)
