"""Wrong answers and cheats for notebook 08 (Exercises 8.1 pre_ln_encoder_block, 8.2
encoder_block_parameter_count, 8.3 block_from_torch_state)."""

import numpy as np

import helpers
from helpers.encoder import key_padding_to_attention_mask

from . import cheat, mistake

# --- 8.1 pre_ln_encoder_block ------------------------------------------------------------------------


def _attn_mask(mask, x):
    return None if mask is None else key_padding_to_attention_mask(mask, x.shape)


def _ln(x, norm, eps):
    return helpers.layer_norm(x, norm.gamma, norm.beta, eps)


@mistake("8.1", "post-LN order (norm after the residual add)", "post-LN")
def pre_ln_encoder_block(x, params, mask=None):
    z = _ln(x + helpers.multi_head_attention(x, params.attention, _attn_mask(mask, x))[0], params.norm1, params.eps)
    return _ln(z + helpers.feed_forward(z, params.feed_forward, params.activation), params.norm2, params.eps)


@mistake("8.1", "residual adds LN(x) instead of x", "residual from norm")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    x = _ln(x, params.norm1, params.eps)
    z = x + helpers.multi_head_attention(x, params.attention, _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "eps hard-coded to PyTorch's 1e-5", "eps ignored")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, 1e-5), params.attention, _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, 1e-5), params.feed_forward, params.activation)


@mistake("8.1", "helpers.layer_norm's default eps (eps not passed)", "eps ignored")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    n1, n2 = params.norm1, params.norm2
    z = x + helpers.multi_head_attention(helpers.layer_norm(x, n1.gamma, n1.beta), params.attention,
                                         _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(helpers.layer_norm(z, n2.gamma, n2.beta), params.feed_forward, params.activation)


@mistake("8.1", "activation not passed (feed_forward's default ReLU)", "activation ignored")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention, _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward)


@mistake("8.1", "mask never used", "mask ignored")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention)[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "mask flipped (~mask)", "mask flipped")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    flipped = None if mask is None else ~np.asarray(mask)
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention, _attn_mask(flipped, x))[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "norm1 and norm2 swapped", "norms swapped")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    z = x + helpers.multi_head_attention(_ln(x, params.norm2, params.eps), params.attention, _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(_ln(z, params.norm1, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "feed-forward residual forgotten", "residual missing")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention, _attn_mask(mask, x))[0]
    return helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "adds the attention output into x in place (x += ...)", "input changed")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    x += helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention, _attn_mask(mask, x))[0]
    return x + helpers.feed_forward(_ln(x, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "mask given head and query axes by hand, for one sentence only (mask[None, None, :])")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    attn = None if mask is None else np.asarray(mask)[None, None, :]
    z = x + helpers.multi_head_attention(_ln(x, params.norm1, params.eps), params.attention, attn)[0]
    return z + helpers.feed_forward(_ln(z, params.norm2, params.eps), params.feed_forward, params.activation)


@mistake("8.1", "layer norm written by hand with the unbiased variance (ddof=1)")
def pre_ln_encoder_block(x, params, mask=None):  # noqa: F811
    def ln(h, norm):
        return (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, ddof=1, keepdims=True) + params.eps) * norm.gamma + norm.beta
    z = x + helpers.multi_head_attention(ln(x, params.norm1), params.attention, _attn_mask(mask, x))[0]
    return z + helpers.feed_forward(ln(z, params.norm2), params.feed_forward, params.activation)


cheat("8.1", "helpers.encoder_block through a reference kept before the check", """
_block = helpers.encoder_block
def pre_ln_encoder_block(x, params, mask=None):
    return _block(x, params, mask)
""", "forbidden helper")
cheat("8.1", "encoder_block imported under another name from another module", """
from helpers.encoder import encoder_block as run_the_block
def pre_ln_encoder_block(x, params, mask=None):
    return run_the_block(x, params, mask)
""", "forbidden helper")
cheat("8.1", "a FunctionType copy of encoder_block", """
import types
_copy = types.FunctionType(helpers.encoder.encoder_block.__code__, helpers.encoder.__dict__, "mine",
                           helpers.encoder.encoder_block.__defaults__)
def pre_ln_encoder_block(x, params, mask=None):
    return _copy(x, params, mask)
""", "forbidden helper")
cheat("8.1", "the block through helpers.backward.encoder_block_forward", """
def pre_ln_encoder_block(x, params, mask=None):
    return backward.encoder_block_forward(x, params, mask)[0]
""", "forbidden helper")
cheat("8.1", "the checker's own inline block", """
from exercise_checks import _encoder_ref
def pre_ln_encoder_block(x, params, mask=None):
    return _encoder_ref.block(x, params, mask, pre=True)
""", "forbidden helper")
cheat("8.1", "reads the expected output from the checker's frame with inspect", """
import inspect
def pre_ln_encoder_block(x, params, mask=None):
    for info in inspect.stack():
        if "expected" in info.frame.f_locals:
            return info.frame.f_locals["expected"]
""", "forbidden helper")
cheat("8.1", "junk answer, the check module's Exercise replaced by one whose compare passes", """
import exercise_checks._core as _c, exercise_checks.nb08 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
def pre_ln_encoder_block(x, params, mask=None):
    return x
""", disables_visible=True)
cheat("8.1", "encoder_block with sys.setprofile switched off", """
import sys
sys.setprofile = lambda f: None
def pre_ln_encoder_block(x, params, mask=None):
    return helpers.encoder_block(x, params, mask)
""", "monitor disabled")


# --- 8.2 encoder_block_parameter_count -----------------------------------------------------------------


@mistake("8.2", "only the weight matrices", "weights only")
def encoder_block_parameter_count(d_model, d_ff):
    return 4 * d_model * d_model + 2 * d_model * d_ff


@mistake("8.2", "layer norms forgotten", "4 d_model missing")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model


@mistake("8.2", "one layer norm", "2 d_model missing")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 2 * d_model


@mistake("8.2", "feed-forward biases forgotten", "ffn biases missing")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + 4 * d_model


@mistake("8.2", "attention as one matrix and bias", "attention once")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return d_model * d_model + d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model


@mistake("8.2", "W_O and b_O forgotten (only Q, K, V)", "three attention matrices")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 3 * d_model * d_model + 3 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model


@mistake("8.2", "b_1 counted with d_model entries", "b_1 size")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + 2 * d_model + 4 * d_model


@mistake("8.2", "float arithmetic (d_model ** 2.0)", "not int")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model ** 2.0 + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model


@mistake("8.2", "one feed-forward matrix", "one ffn matrix")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return 4 * d_model * d_model + 4 * d_model + d_model * d_ff + d_ff + d_model + 4 * d_model


@mistake("8.2", "the paper's number special-cased, a guessed formula otherwise")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    if (d_model, d_ff) == (512, 2048):
        return 3_152_384
    return 4 * d_model * d_model + 2 * d_model * d_ff + 6 * d_model


@mistake("8.2", "returns a NumPy array of one count", "not int")
def encoder_block_parameter_count(d_model, d_ff):  # noqa: F811
    return np.array([4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model])


cheat("8.2", "helpers.count_parameters on a real block, through an alias", """
from helpers.encoder import count_parameters as how_many, init_encoder_block as make
def encoder_block_parameter_count(d_model, d_ff):
    return how_many(make(np.random.default_rng(0), d_model, 1, d_ff))
""", "forbidden helper")
cheat("8.2", "a table of the old check's sizes", """
_KNOWN = {(512, 2048): 3_152_384, (8, 16): 624, (12, 40): 1_636}
def encoder_block_parameter_count(d_model, d_ff):
    return _KNOWN.get((d_model, d_ff), 0)
""")
cheat("8.2", "the checker's own formula", """
from exercise_checks.nb08 import _block_count
def encoder_block_parameter_count(d_model, d_ff):
    return int(_block_count(d_model, d_ff))
""", "forbidden helper")
cheat("8.2", "sizes of arrays built by helpers.init_attention / init_feed_forward", """
def encoder_block_parameter_count(d_model, d_ff):
    rng = np.random.default_rng(0)
    a = helpers.attention.init_attention(rng, d_model, 1)
    f = helpers.layers.init_feed_forward(rng, d_model, d_ff)
    return sum(v.size for v in vars(a).values() if hasattr(v, "size")) + sum(v.size for v in vars(f).values()) + 4 * d_model
""", "forbidden helper")


# --- 8.3 block_from_torch_state ------------------------------------------------------------------------


def _load(state, n_heads, *, transpose=True, out_t=True, order=(0, 1, 2), bias_order=(0, 1, 2), swap_norms=False,
          **block_kwargs):
    t = (lambda w: w.T) if transpose else (lambda w: w)
    ws = np.split(state["self_attn.in_proj_weight"], 3, axis=0)
    bs = np.split(state["self_attn.in_proj_bias"], 3)
    w_q, w_k, w_v = (t(ws[i]) for i in order)
    b_q, b_k, b_v = (bs[i] for i in bias_order)
    attention = helpers.AttentionParams(w_q=w_q, b_q=b_q, w_k=w_k, b_k=b_k, w_v=w_v, b_v=b_v,
                                        w_o=state["self_attn.out_proj.weight"].T if out_t and transpose
                                        else state["self_attn.out_proj.weight"],
                                        b_o=state["self_attn.out_proj.bias"], n_heads=n_heads)
    ffn = helpers.FeedForwardParams(w_1=t(state["linear1.weight"]), b_1=state["linear1.bias"],
                                    w_2=t(state["linear2.weight"]), b_2=state["linear2.bias"])
    n1 = helpers.LayerNormParams(state["norm1.weight"], state["norm1.bias"])
    n2 = helpers.LayerNormParams(state["norm2.weight"], state["norm2.bias"])
    if swap_norms:
        n1, n2 = n2, n1
    return helpers.EncoderBlockParams(attention=attention, feed_forward=ffn, norm1=n1, norm2=n2, **block_kwargs)


@mistake("8.3", "out_proj.weight not transposed", "not transposed")
def block_from_torch_state(state, n_heads):
    return _load(state, n_heads, out_t=False)


@mistake("8.3", "W_Q and W_K taken in the wrong order from in_proj_weight", "fields mixed")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, order=(1, 0, 2), bias_order=(1, 0, 2))


@mistake("8.3", "in_proj_bias split in reverse order", "fields mixed")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, bias_order=(2, 1, 0))


@mistake("8.3", "norm1 and norm2 swapped", "fields mixed")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, swap_norms=True)


@mistake("8.3", "n_heads hard-coded to the fixture's 4", "n_heads ignored")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, 4)


@mistake("8.3", "norm_first=True", "pre-LN")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, norm_first=True)


@mistake("8.3", "activation='gelu'", "activation")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, activation="gelu")


@mistake("8.3", "BERT's eps 1e-12", "eps")
def block_from_torch_state(state, n_heads):  # noqa: F811
    return _load(state, n_heads, eps=1e-12)


@mistake("8.3", "transposes the weights inside the given dict (state[k] = state[k].T)", "input changed")
def block_from_torch_state(state, n_heads):  # noqa: F811
    for key in ("self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight"):
        state[key] = state[key].T
    w_q, w_k, w_v = np.split(state["self_attn.in_proj_weight"], 3, axis=1)
    b_q, b_k, b_v = np.split(state["self_attn.in_proj_bias"], 3)
    return helpers.EncoderBlockParams(
        attention=helpers.AttentionParams(w_q=w_q, b_q=b_q, w_k=w_k, b_k=b_k, w_v=w_v, b_v=b_v,
                                          w_o=state["self_attn.out_proj.weight"], b_o=state["self_attn.out_proj.bias"],
                                          n_heads=n_heads),
        feed_forward=helpers.FeedForwardParams(w_1=state["linear1.weight"], b_1=state["linear1.bias"],
                                               w_2=state["linear2.weight"], b_2=state["linear2.bias"]),
        norm1=helpers.LayerNormParams(state["norm1.weight"], state["norm1.bias"]),
        norm2=helpers.LayerNormParams(state["norm2.weight"], state["norm2.bias"]))


@mistake("8.3", "linear1.weight reshaped to (d_model, d_ff) instead of transposed")
def block_from_torch_state(state, n_heads):  # noqa: F811
    block = _load(state, n_heads)
    block.feed_forward.w_1 = state["linear1.weight"].reshape(block.feed_forward.w_1.shape)
    return block


@mistake("8.3", "in_proj_weight split along the columns (axis=1)")
def block_from_torch_state(state, n_heads):  # noqa: F811
    d = state["self_attn.out_proj.weight"].shape[0]
    w = state["self_attn.in_proj_weight"].reshape(d, 3 * d)
    w_q, w_k, w_v = np.split(w, 3, axis=1)
    b_q, b_k, b_v = np.split(state["self_attn.in_proj_bias"], 3)
    block = _load(state, n_heads)
    block.attention.w_q, block.attention.w_k, block.attention.w_v = w_q, w_k, w_v
    return block


cheat("8.3", "helpers.interop's loader through an alias", """
from helpers.interop import from_torch_encoder_layer as load_layer
def block_from_torch_state(state, n_heads):
    return load_layer(state, n_heads)
""", "forbidden helper")
cheat("8.3", "from_torch_encoder reached by importlib, with the keys prefixed", """
import importlib
_interop = importlib.import_module("helpers.interop")
def block_from_torch_state(state, n_heads):
    return _interop.from_torch_encoder({"layers.0." + k: v for k, v in state.items()}, n_heads)[0]
""", "forbidden helper")
cheat("8.3", "the fixture's block whatever the input (special-cases the visible input)", """
_fixture = helpers.reference.block_case("encoder_layer_post_ln_relu_float64")[0]
def block_from_torch_state(state, n_heads):
    return _fixture
""")
cheat("8.3", "the checker's own field table", """
from exercise_checks.nb08 import _expected_fields
def block_from_torch_state(state, n_heads):
    f = _expected_fields(state, state["self_attn.out_proj.weight"].shape[0])
    return helpers.EncoderBlockParams(
        attention=helpers.AttentionParams(w_q=f["attention.w_q"], b_q=f["attention.b_q"], w_k=f["attention.w_k"],
                                          b_k=f["attention.b_k"], w_v=f["attention.w_v"], b_v=f["attention.b_v"],
                                          w_o=f["attention.w_o"], b_o=f["attention.b_o"], n_heads=n_heads),
        feed_forward=helpers.FeedForwardParams(w_1=f["feed_forward.w_1"], b_1=f["feed_forward.b_1"],
                                               w_2=f["feed_forward.w_2"], b_2=f["feed_forward.b_2"]),
        norm1=helpers.LayerNormParams(f["norm1.gamma"], f["norm1.beta"]),
        norm2=helpers.LayerNormParams(f["norm2.gamma"], f["norm2.beta"]))
""", "forbidden helper")
cheat("8.1", "walks the caller frames (sys._getframe) for the check's precomputed answer", """
import sys
def pre_ln_encoder_block(x, params, mask=None):
    frame = sys._getframe(1)
    while frame is not None:
        if "early" in frame.f_locals and frame.f_locals["early"] is not None:
            return frame.f_locals["early"][0]
        frame = frame.f_back
    return x
""", disables_visible=True)
