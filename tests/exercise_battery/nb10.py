"""Wrong answers and cheats for notebook 10 (Exercises 10.1 distil_block, 10.2 embed_sentences).

Both need the MiniLM weights package, as notebook 10 does."""

import numpy as np

import helpers

from . import cheat, mistake

# --- 10.1 distil_block ---------------------------------------------------------------------------------


def _distil(state, layer, n_heads, eps, *, transpose=True, swap_qk=False, swap_norms=False, out_t=True, **kwargs):
    p = f"transformer.layer.{layer}."

    def weight(name, t=True):
        w = state[p + name + ".weight"]
        return w.T if transpose and t else w

    def bias(name):
        return state[p + name + ".bias"]

    q, k = ("attention.k_lin", "attention.q_lin") if swap_qk else ("attention.q_lin", "attention.k_lin")
    n1, n2 = ("output_layer_norm", "sa_layer_norm") if swap_norms else ("sa_layer_norm", "output_layer_norm")
    block_kwargs = dict(norm_first=False, activation="gelu", eps=eps) | kwargs
    return helpers.EncoderBlockParams(
        attention=helpers.AttentionParams(
            w_q=weight(q), b_q=bias(q), w_k=weight(k), b_k=bias(k), w_v=weight("attention.v_lin"),
            b_v=bias("attention.v_lin"), w_o=weight("attention.out_lin", out_t), b_o=bias("attention.out_lin"),
            n_heads=n_heads),
        feed_forward=helpers.FeedForwardParams(w_1=weight("ffn.lin1"), b_1=bias("ffn.lin1"), w_2=weight("ffn.lin2"),
                                               b_2=bias("ffn.lin2")),
        norm1=helpers.LayerNormParams(state[p + n1 + ".weight"], state[p + n1 + ".bias"]),
        norm2=helpers.LayerNormParams(state[p + n2 + ".weight"], state[p + n2 + ".bias"]),
        **block_kwargs)


@mistake("10.1", "out_lin.weight not transposed", "not transposed")
def distil_block(state, layer, n_heads, eps):
    return _distil(state, layer, n_heads, eps, out_t=False)


@mistake("10.1", "q_lin and k_lin swapped", "fields mixed")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, n_heads, eps, swap_qk=True)


@mistake("10.1", "sa_layer_norm and output_layer_norm swapped", "fields mixed")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, n_heads, eps, swap_norms=True)


@mistake("10.1", "activation left at the default ReLU", "activation")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, n_heads, eps, activation="relu")


@mistake("10.1", "eps hard-coded to MiniLM's 1e-12", "eps ignored")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, n_heads, 1e-12)


@mistake("10.1", "eps not passed (EncoderBlockParams' default 1e-5)", "eps ignored")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    block = _distil(state, layer, n_heads, eps)
    return helpers.EncoderBlockParams(attention=block.attention, feed_forward=block.feed_forward, norm1=block.norm1,
                                      norm2=block.norm2, activation="gelu")


@mistake("10.1", "n_heads hard-coded to MiniLM's 12", "n_heads ignored")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, 12, eps)


@mistake("10.1", "layer argument ignored (always layer 0)", "layer ignored")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, 0, n_heads, eps)


@mistake("10.1", "norm_first=True", "pre-LN")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    return _distil(state, layer, n_heads, eps, norm_first=True)


@mistake("10.1", "ffn.lin1 and ffn.lin2 swapped", "fields mixed")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    block = _distil(state, layer, n_heads, eps)
    p = f"transformer.layer.{layer}."
    block.feed_forward = helpers.FeedForwardParams(w_1=state[p + "ffn.lin2.weight"].T, b_1=state[p + "ffn.lin2.bias"],
                                                   w_2=state[p + "ffn.lin1.weight"].T, b_2=state[p + "ffn.lin1.bias"])
    return block


@mistake("10.1", "transposes the weights inside the checkpoint dict", "input changed")
def distil_block(state, layer, n_heads, eps):  # noqa: F811
    p = f"transformer.layer.{layer}."
    for name in ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2"):
        state[p + name + ".weight"] = state[p + name + ".weight"].T
    return _distil(state, layer, n_heads, eps, transpose=False)


cheat("10.1", "renames back to BERT's names and calls block_from_bert (kept reference)", """
from exercise_checks.nb10 import _DISTIL_NAMES
_from_bert = helpers.pretrained.block_from_bert
_back = {v: k for k, v in _DISTIL_NAMES.items()}
def distil_block(state, layer, n_heads, eps):
    bert = {}
    for key, value in state.items():
        i, rest = key.removeprefix("transformer.layer.").split(".", 1)
        module, kind = rest.rsplit(".", 1)
        bert[f"encoder.layer.{i}.{_back[module]}.{kind}"] = value
    return _from_bert(bert, layer, n_heads, eps)
""", "forbidden helper")
cheat("10.1", "the loaded model's own block (model.blocks[layer])", """
model = helpers.pretrained.load_minilm()
def distil_block(state, layer, n_heads, eps):
    return model.blocks[layer]
""")
cheat("10.1", "load_minilm inside the function", """
from helpers.pretrained import load_minilm as _get_model
def distil_block(state, layer, n_heads, eps):
    return _get_model().blocks[layer]
""", "forbidden helper")
cheat("10.1", "helpers.interop with the keys renamed to PyTorch's", """
import helpers.interop as _io
def distil_block(state, layer, n_heads, eps):
    p = f"transformer.layer.{layer}."
    s = state
    torch = {"self_attn.in_proj_weight": np.concatenate([s[p + "attention.q_lin.weight"], s[p + "attention.k_lin.weight"],
                                                         s[p + "attention.v_lin.weight"]]),
             "self_attn.in_proj_bias": np.concatenate([s[p + "attention.q_lin.bias"], s[p + "attention.k_lin.bias"],
                                                       s[p + "attention.v_lin.bias"]]),
             "self_attn.out_proj.weight": s[p + "attention.out_lin.weight"], "self_attn.out_proj.bias": s[p + "attention.out_lin.bias"],
             "linear1.weight": s[p + "ffn.lin1.weight"], "linear1.bias": s[p + "ffn.lin1.bias"],
             "linear2.weight": s[p + "ffn.lin2.weight"], "linear2.bias": s[p + "ffn.lin2.bias"],
             "norm1.weight": s[p + "sa_layer_norm.weight"], "norm1.bias": s[p + "sa_layer_norm.bias"],
             "norm2.weight": s[p + "output_layer_norm.weight"], "norm2.bias": s[p + "output_layer_norm.bias"]}
    return _io.from_torch_encoder_layer(torch, n_heads, activation="gelu", eps=eps)
""", "forbidden helper")


# --- 10.2 embed_sentences --------------------------------------------------------------------------------


def _embed(model, sentences, batch_size=8, *, pool="mean", normalise=True, mask_forward=True, stop=None,
           norm_axis=-1):
    parts = []
    end = len(sentences) if stop is None else stop(len(sentences), batch_size)
    for start in range(0, end, batch_size):
        ids, mask = model.tokenizer(sentences[start:start + batch_size])
        tokens = model.forward(ids, mask if mask_forward else None)
        w = mask[..., None].astype(tokens.dtype)
        if pool == "mean":
            vec = (tokens * w).sum(axis=1) / w.sum(axis=1)
        elif pool == "padded":
            vec = tokens.mean(axis=1)
        else:
            vec = tokens[:, 0]
        parts.append(vec)
    out = np.concatenate(parts)
    return out / np.linalg.norm(out, axis=norm_axis, keepdims=True) if normalise else out


@mistake("10.2", "padding averaged in", "padding averaged")
def embed_sentences(model, sentences, batch_size=8):
    return _embed(model, sentences, batch_size, pool="padded")


@mistake("10.2", "not scaled to unit length", "not unit length")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, batch_size, normalise=False)


@mistake("10.2", "the first token ([CLS]) instead of the mean", "first token")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, batch_size, pool="first")


@mistake("10.2", "model.forward called without the mask", "forward without mask")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, batch_size, mask_forward=False)


@mistake("10.2", "normalised over axis 0")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, batch_size, norm_axis=0)


@mistake("10.2", "last, shorter batch dropped", "last batch missing")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, batch_size, stop=lambda n, b: n - b + 1)


@mistake("10.2", "batch_size ignored: one batch of everything", "batch too large")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, len(sentences))


@mistake("10.2", "batch_size hard-coded to 8", "batch too large")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sentences, 8)


@mistake("10.2", "sorted by length for less padding, order not restored", "order")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    return _embed(model, sorted(sentences, key=len), batch_size)


@mistake("10.2", "sorts the caller's list in place", "input changed")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    sentences.sort(key=len)
    out = _embed(model, sentences, batch_size)
    result = np.empty_like(out)
    result[order] = out
    return result


@mistake("10.2", "each sentence's mean divided by the padded length n")
def embed_sentences(model, sentences, batch_size=8):  # noqa: F811
    parts = []
    for start in range(0, len(sentences), batch_size):
        ids, mask = model.tokenizer(sentences[start:start + batch_size])
        tokens = model.forward(ids, mask)
        mean = (tokens * mask[..., None]).sum(axis=1) / mask.shape[1]
        parts.append(mean / np.linalg.norm(mean))
    return np.concatenate(parts)


cheat("10.2", "model.encode through a reference kept from the real model", """
_encode = helpers.pretrained.load_minilm().encode
def embed_sentences(model, sentences, batch_size=8):
    return _encode(sentences, batch_size=batch_size)
""", "forbidden helper")
cheat("10.2", "encode reached through the class (type(model) is a wrapper: go round it)", """
def embed_sentences(model, sentences, batch_size=8):
    return helpers.pretrained.MiniLM.encode(model._model, sentences, batch_size)
""", "forbidden helper")
cheat("10.2", "model.embed_batch per batch", """
def embed_sentences(model, sentences, batch_size=8):
    parts = []
    for start in range(0, len(sentences), batch_size):
        ids, mask = model.tokenizer(sentences[start:start + batch_size])
        parts.append(model.embed_batch(ids, mask))
    return np.concatenate(parts)
""", "forbidden helper")
cheat("10.2", "the reference embeddings looked up by sentence (special-cases the visible input)", """
from helpers.pretrained import load_minilm_reference as _ref
def embed_sentences(model, sentences, batch_size=8):
    case, texts = _ref("embeddings")
    table = dict(zip(texts["sentences"], case["embeddings"]))
    return np.array([table.get(s, np.zeros(384)) for s in sentences])
""", "forbidden helper")
cheat("10.2", "reference embeddings read before the check, zeros for unknown sentences", """
_case, _texts = helpers.pretrained.load_minilm_reference("embeddings")
_table = dict(zip(_texts["sentences"], _case["embeddings"]))
def embed_sentences(model, sentences, batch_size=8):
    return np.array([_table.get(s, np.full(384, 0.05)) for s in sentences])
""")
