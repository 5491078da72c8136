"""Wrong answers and cheats for notebook 09 (Exercises 9.1 cross_attention, 9.2 encoder_parameter_count)."""

import numpy as np

import helpers
from helpers.encoder import key_padding_to_attention_mask

from . import cheat, mistake

# --- 9.1 cross_attention -------------------------------------------------------------------------------


def _cross(dec, enc_out, params, src_mask=None, *, flip=False, no_bias=False, no_out=False, scale="d_k", axis=-1,
           heads=None, shift=True, swap=False):
    """cross-attention written out, with one switch per classic slip."""
    if swap:
        dec, enc_out = enc_out, dec
    h = params.n_heads if heads is None else heads
    b = (lambda v: 0 * v) if no_bias else (lambda v: v)
    q = helpers.split_heads(dec @ params.w_q + b(params.b_q), h)
    k = helpers.split_heads(enc_out @ params.w_k + b(params.b_k), h)
    v = helpers.split_heads(enc_out @ params.w_v + b(params.b_v), h)
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / {"d_k": np.sqrt(d_k), "none": 1.0, "d_model": np.sqrt(d_k * h)}[scale]
    if src_mask is not None:
        m = np.asarray(src_mask)
        scores = np.where((~m if flip else m)[..., None, None, :], scores, -np.inf)
    if shift:
        scores = scores - scores.max(axis=axis, keepdims=True)
    e = np.exp(scores)
    weights = e / e.sum(axis=axis, keepdims=True)
    heads_out = helpers.merge_heads(weights @ v)
    return (heads_out if no_out else heads_out @ params.w_o + b(params.b_o)), weights


@mistake("9.1", "src_mask never applied", "mask ignored")
def cross_attention(dec, enc_out, params, src_mask=None):
    return _cross(dec, enc_out, params, None)


@mistake("9.1", "mask flipped", "mask flipped")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, flip=True)


@mistake("9.1", "biases ignored", "biases ignored")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, no_bias=True)


@mistake("9.1", "output projection forgotten", "no output projection")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, no_out=True)


@mistake("9.1", "scores not scaled", "not scaled")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, scale="none")


@mistake("9.1", "scaled by sqrt(d_model)", "sqrt d_model")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, scale="d_model")


@mistake("9.1", "softmax over axis -2 (wrong axis on the 4-D scores)", "softmax axis")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, axis=-2)


@mistake("9.1", "heads not split (one head of d_model)", "one head")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, heads=1)


@mistake("9.1", "n_heads hard-coded to 4", "n_heads hard-coded")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, heads=4)


@mistake("9.1", "softmax written without the max shift", "no max shift")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask, shift=False)


@mistake("9.1", "queries from enc_out, keys and values from dec")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, None, swap=True)


@mistake("9.1", "mask given one singleton axis only (src_mask[..., None, :])")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    h = params.n_heads
    q = helpers.split_heads(dec @ params.w_q + params.b_q, h)
    k = helpers.split_heads(enc_out @ params.w_k + params.b_k, h)
    v = helpers.split_heads(enc_out @ params.w_v + params.b_v, h)
    mask = None if src_mask is None else np.asarray(src_mask)[..., None, :]
    heads, weights = helpers.scaled_dot_product_attention(q, k, v, mask)
    return helpers.merge_heads(heads) @ params.w_o + params.b_o, weights


@mistake("9.1", "returns only the output, not the pair", "not a pair")
def cross_attention(dec, enc_out, params, src_mask=None):  # noqa: F811
    return _cross(dec, enc_out, params, src_mask)[0]


cheat("9.1", "the checker's own inline attention", """
from exercise_checks._encoder_ref import attention as _attention
def cross_attention(dec, enc_out, params, src_mask=None):
    return _attention(dec, enc_out, params, src_mask)
""", "forbidden helper")
cheat("9.1", "reads the expected weights from the checker's frame with inspect", """
import inspect
def cross_attention(dec, enc_out, params, src_mask=None):
    frame = inspect.currentframe().f_back.f_back
    return frame.f_locals["exp_out"], frame.f_locals["exp_w"]
""", "forbidden helper")
cheat("9.1", "helpers.multi_head_attention on the encoder output (self-attention only)", """
def cross_attention(dec, enc_out, params, src_mask=None):
    mask = None if src_mask is None else key_padding_to_attention_mask(src_mask, enc_out.shape)
    out, weights = helpers.multi_head_attention(enc_out, params, mask)
    return out[..., :dec.shape[-2], :], weights[..., :dec.shape[-2], :]
""")
cheat("9.1", "junk answer, the check module's Exercise replaced by one whose compare passes", """
import exercise_checks._core as _c, exercise_checks.nb09 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
def cross_attention(dec, enc_out, params, src_mask=None):
    return dec, dec
""", disables_visible=True)
cheat("9.1", "np.exp replaced so that overflow cannot show", """
_exp = np.exp
np.exp = lambda x, *a, **k: _exp(np.minimum(x, 700), *a, **k)
def cross_attention(dec, enc_out, params, src_mask=None):
    h = params.n_heads
    q = helpers.split_heads(dec @ params.w_q + params.b_q, h)
    k = helpers.split_heads(enc_out @ params.w_k + params.b_k, h)
    v = helpers.split_heads(enc_out @ params.w_v + params.b_v, h)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if src_mask is not None:
        s = np.where(np.asarray(src_mask)[..., None, None, :], s, -np.inf)
    e = np.exp(s)
    w = e / e.sum(-1, keepdims=True)
    return helpers.merge_heads(w @ v) @ params.w_o + params.b_o, w
""", "numpy patched")


# --- 9.2 encoder_parameter_count -----------------------------------------------------------------------


def _block(d, f):
    return 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d


@mistake("9.2", "embedding table forgotten", "embedding missing")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):
    return (1 if tied else n_layers) * _block(d_model, d_ff)


@mistake("9.2", "tied ignored", "tied ignored")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + n_layers * _block(d_model, d_ff)


@mistake("9.2", "tied counts no block at all", "tied no block")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + (0 if tied else n_layers) * _block(d_model, d_ff)


@mistake("9.2", "embedding table counted per layer", "embedding per layer")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    layers = 1 if tied else n_layers
    return layers * (vocab_size * d_model + _block(d_model, d_ff))


@mistake("9.2", "range(n_layers - 1): one block short", "one layer short")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + sum(_block(d_model, d_ff) for _ in range(1 if tied else n_layers - 1))


@mistake("9.2", "blocks without their layer norms", "block norms missing")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + (1 if tied else n_layers) * (_block(d_model, d_ff) - 4 * d_model)


@mistake("9.2", "blocks without biases", "block biases missing")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    weights = 4 * d_model * d_model + 2 * d_model * d_ff
    return vocab_size * d_model + (1 if tied else n_layers) * (weights + 4 * d_model)


@mistake("9.2", "tied inverted", "tied inverted")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + (n_layers if tied else 1) * _block(d_model, d_ff)


@mistake("9.2", "float division somewhere (block / 1)", "not int")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + (1 if tied else n_layers) * _block(d_model, d_ff) / 1


@mistake("9.2", "positional encoding counted as a (vocab_size, d_model) table too")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return 2 * vocab_size * d_model + (1 if tied else n_layers) * _block(d_model, d_ff)


@mistake("9.2", "blocks as weight matrices only", "block weights only")
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):  # noqa: F811
    return vocab_size * d_model + (1 if tied else n_layers) * (4 * d_model * d_model + 2 * d_model * d_ff)


cheat("9.2", "helpers.count_parameters on real stacks, through an alias", """
from helpers import count_parameters as n_params
from helpers.encoder import init_encoder_stack as stack
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):
    blocks = stack(np.random.default_rng(0), 1 if tied else n_layers, d_model, 1, d_ff)
    return vocab_size * d_model + n_params(blocks)
""", "forbidden helper")
cheat("9.2", "a table of the old check's cases", """
_KNOWN = {(50, 16, 32, 6, False): 20_352, (10, 8, 16, 2, False): 1_280, (50, 16, 32, 6, True): 4_112}
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):
    return _KNOWN.get((vocab_size, d_model, d_ff, n_layers, tied), vocab_size * d_model)
""")
cheat("9.2", "the checker's block formula", """
from exercise_checks import nb08 as _nb08
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):
    return vocab_size * d_model + (1 if tied else n_layers) * int(_nb08._block_count(d_model, d_ff))
""", "forbidden helper")
cheat("9.2", "an int subclass whose == always says yes", """
class _Any(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def encoder_parameter_count(vocab_size, d_model, d_ff, n_layers, tied=False):
    return _Any(0)
""")
