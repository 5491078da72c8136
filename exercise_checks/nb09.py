"""Checks of notebook 09 (the encoder stack): Exercises 9.1 and 9.2."""

from __future__ import annotations

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng, snapshot
from .nb08 import _block_count, _count_rules, compare_counts, count_results

__all__ = ["check_9_1", "check_9_2", "hidden_9_1", "hidden_9_2"]


# --- 9.1 · multi-head cross-attention ------------------------------------------------------------

def _random_attention(rng, d, h):
    import helpers

    s = 1 / np.sqrt(d)
    return helpers.AttentionParams(
        w_q=s * rng.normal(size=(d, d)), b_q=0.5 * rng.normal(size=d), w_k=s * rng.normal(size=(d, d)),
        b_k=0.5 * rng.normal(size=d), w_v=s * rng.normal(size=(d, d)), b_v=0.5 * rng.normal(size=d),
        w_o=s * rng.normal(size=(d, d)), b_o=0.5 * rng.normal(size=d), n_heads=h)


def _mistakes_9_1(dec, enc, p, mask, part):
    """(key, message, kwargs or a callable) for the weights (part=1) or the output (part=0)."""
    def run(**kw):
        return ref.attention(dec, enc, p, mask, **kw)[part]

    rows = [
        Mistake("mask ignored", "padded source positions get weight: apply src_mask (True = real token)",
                None if mask is None else ref.attention(dec, enc, p, None)[part]),
        Mistake("mask flipped", "the mask is flipped: True marks the real source tokens, which may be attended",
                run(flip_mask=True) if mask is not None else None),
        Mistake("swapped", "queries and keys/values are swapped: queries come from dec, keys and values from "
                           "enc_out",
                ref.attention(enc, dec, p, None)[part] if mask is None and dec.shape[:-2] == enc.shape[:-2] else None),
        Mistake("biases ignored", "the biases are ignored: add b_q, b_k, b_v (and b_o)", run(no_bias=True)),
        Mistake("not scaled", "the scores are not divided by sqrt(d_k)", run(scale="none")),
        Mistake("sqrt d_model", "the scores are divided by sqrt(d_model): each head scales by sqrt(d_k), "
                                "d_k = d_model / h", run(scale="d_model")),
        Mistake("softmax axis", "the softmax runs over the queries (axis -2): each query's weights over the "
                                "source keys sum to 1 (axis -1)", run(softmax_axis=-2)),
        Mistake("softmax axis", "the softmax runs over the queries (axis -2): each query's weights over the "
                                "source keys sum to 1 (axis -1)", run(softmax_axis=-2, shift="plain")),
        Mistake("one head", "the heads are not split: attention runs as one head over all of d_model; use "
                            "params.n_heads heads", run(h=1)),
    ]
    for hard in (2, 4, 8):
        if hard != p.n_heads and p.w_q.shape[0] % hard == 0:
            rows.append(Mistake("n_heads hard-coded", f"this is {hard} heads: use h = params.n_heads "
                                                      f"({p.n_heads} here)", run(h=hard)))
    if part == 0:
        rows.insert(0, Mistake("no output projection", "the output projection is missing: merge the heads, "
                                                       "then @ params.w_o + params.b_o", run(no_out=True)))
    return rows


def _nonfinite_from_overflow(ex, got, expected, naive, case, what):
    """A softmax without the max shift overflows (inf / inf = NaN) on huge scores: name it when the NaNs
    are exactly where the unshifted softmax puts them."""
    arr = np.asarray(got, dtype=np.float64) if got is not None else None
    if arr is None or arr.shape != np.shape(expected) or np.all(np.isfinite(arr)):
        return
    naive = np.asarray(naive)
    if np.all(np.isfinite(expected)) and np.array_equal(np.isfinite(arr), np.isfinite(naive)):
        ex.fail(f"{what} has NaN/inf on huge scores ({case}): the softmax overflows; subtract each row's "
                "max before exp (or use helpers.scaled_dot_product_attention)", "no max shift")


def _check_9_1(cross_attention, tag: str) -> None:
    ex = ref.Checked("9.1", "cross_attention")
    ref.require_unpatched(ex)
    rules = (ref.OWN_CODE, ref.FRAMES)
    rng = probe_rng(tag)
    hidden = "hidden" in tag
    d, h = (12, 3) if hidden else (8, 4)
    p = _random_attention(rng, d, h)
    p2 = _random_attention(rng, 8, 2)
    B, n_src, n_tgt = 3 if hidden else 2, 6 if hidden else 5, 2 if hidden else 3
    enc, dec = rng.normal(size=(B, n_src, d)), rng.normal(size=(B, n_tgt, d))
    lengths = [n_src, n_src - 2, 1] if hidden else [n_src - 1, 2]
    mask = ref.padding_mask(lengths, n_src)
    enc2, dec2 = rng.normal(size=(2, 4, 8)), rng.normal(size=(2, 7, 8))
    cases = [
        (dec[1], enc[1], p, mask[1], "dec (n_tgt, d_model), enc_out (n_src, d_model), src_mask (n_src,)"),
        (dec, enc, p, mask, "dec (B, n_tgt, d_model), enc_out (B, n_src, d_model), src_mask (B, n_src)"),
        (dec, enc, p, mask[-1], "batched, one src_mask (n_src,) for every sentence"),
        (dec2, enc2, p2, None, "d_model=8, n_heads=2, n_tgt > n_src, no mask"),
        (enc, enc, p, mask, "dec is enc_out (self-attention)"),
        (1e3 * dec[:1], 1e3 * enc[:1], p, mask[:1], "huge inputs (scores near 1e6)"),
    ]
    if hidden:
        cases.append((rng.normal(size=(2, 2, 3, d)), rng.normal(size=(2, 2, 4, d)), p,
                      ref.padding_mask([4, 1, 3, 2], 4).reshape(2, 2, 4), "two leading axes (..., n, d_model)"))
    for dq, dkv, params, m, case in cases:
        keep_p = snapshot(params)
        kq, kkv, km = dq.copy(), dkv.copy(), None if m is None else m.copy()
        def answers(kq=kq, kkv=kkv, keep_p=keep_p, km=km):
            return (ref.attention(kq, kkv, keep_p, km), _mistakes_9_1(kq, kkv, keep_p, km, 1),
                    _mistakes_9_1(kq, kkv, keep_p, km, 0), ref.attention(kq, kkv, keep_p, km, shift=False))
        early = None if hidden else answers()         # see _encoder_ref.after_in_hidden
        args = (dq, dkv, params) if m is None else (dq, dkv, params, m)
        inputs = {"dec": dq, "enc_out": dkv, "params": params} | ({} if m is None else {"src_mask": m})
        result = ex.call(cross_attention, *args, case=case, forbid=rules, inputs=inputs)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            got = "None" if result is None else type(result).__name__
            ex.fail(f"should return the pair (output, weights), got {got} ({case})", "not a pair")
        out, weights = result
        (exp_out, exp_w), mis_w, mis_out, (naive_out, naive_w) = early or answers()
        _nonfinite_from_overflow(ex, weights, exp_w, naive_w, case, "the weights")
        _nonfinite_from_overflow(ex, out, exp_out, naive_out, case, "the output")
        ex.compare(weights, exp_w, case=case, what="the weights (..., h, n_tgt, n_src)", mistakes=mis_w,
                   atol=1e-9, rtol=1e-9)
        ex.compare(out, exp_out, case=case, what="the output (..., n_tgt, d_model)", mistakes=mis_out,
                   atol=1e-9, rtol=1e-9)
    if hidden:                                   # noise in the padding must not matter
        noisy = np.where(mask[..., None], enc, 100.0)
        keep, k_dec, k_enc = snapshot(p), dec.copy(), enc.copy()
        result = ex.call(cross_attention, dec, noisy, p, mask, case="noise in the padded source rows", forbid=rules)
        exp_out = ref.attention(k_dec, k_enc, keep, mask)[0]
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            ex.fail("should return the pair (output, weights)", "not a pair")
        ex.compare(result[0], exp_out, case="noise in the padded source rows", what="the output", atol=1e-9,
                   rtol=1e-9)


def check_9_1(cross_attention) -> None:
    """Exercise 9.1: multi-head cross-attention, queries from dec, keys/values from enc_out, src_mask (n_src,)
    or (..., n_src); returns (output, weights)."""
    _check_9_1(cross_attention, "9.1 visible")


def hidden_9_1(cross_attention) -> None:
    """The hidden tests of 9.1: other sizes, two leading axes, noise in the padding."""
    _check_9_1(cross_attention, "9.1 hidden")


# --- 9.2 · counting an encoder's parameters -----------------------------------------------------------

def _count_calls_9_2(setups):
    labels, calls = [], []
    for vocab_size, dd, ff, ll, t in setups:
        if t is None:
            labels.append(f"encoder_parameter_count({vocab_size}, {dd}, {ff}, {ll})")
            calls.append(((vocab_size, dd, ff, ll), {}, labels[-1]))
        else:
            labels.append(f"encoder_parameter_count({vocab_size}, {dd}, {ff}, {ll}, tied={t})")
            calls.append(((vocab_size, dd, ff, ll), {"tied": t}, labels[-1]))
    return labels, calls


def _check_9_2(encoder_parameter_count, tag: str) -> None:
    ex = ref.Checked("9.2", "encoder_parameter_count")
    ref.require_unpatched(ex)
    rules = _count_rules()
    rng = probe_rng(tag)
    if "visible" in tag:
        setups = [(50, 16, 32, 6, None), (10, 8, 16, 2, False), (50, 12, 40, 3, False), (50, 16, 32, 6, True),
                  (10, 8, 16, 2, True), (7, 5, 3, 1, False), (7, 5, 3, 1, True)]
    else:
        setups = [(37_000, 512, 2048, 6, None), (30_522, 768, 3072, 12, False), (30_522, 768, 3072, 12, True)]
    setups += [(int(rng.integers(2, 5000)), int(rng.integers(2, 200)), int(rng.integers(2, 600)),
                int(rng.integers(2, 9)), bool(rng.integers(2))) for _ in range(3)]
    got = None
    if "hidden" in tag:                  # the calls before any expected count exists (_encoder_ref.after_in_hidden)
        got = count_results(ex, encoder_parameter_count, _count_calls_9_2(setups)[1], rules)
    vocab_size, d, f, L = (np.array([s[i] for s in setups], dtype=np.int64) for i in range(4))
    tied = np.array([bool(s[4]) for s in setups])
    block = _block_count(d, f)
    layers = np.where(tied, 1, L)
    expected = vocab_size * d + layers * block
    mistakes = [
        Mistake("embedding missing",
                "the (vocab_size, d_model) embedding table is missing: add vocab_size * d_model", layers * block),
        Mistake("tied ignored", "tied=True is ignored: with tied weights all layers share one block, count it once",
                vocab_size * d + L * block),
        Mistake("tied no block", "with tied=True no block is counted: the shared block's weights exist once",
                np.where(tied, vocab_size * d, expected)),
        Mistake("embedding per layer", "the embedding table is counted once per layer; there is only one",
                layers * vocab_size * d + layers * block),
        Mistake("one layer short", "one block short: there are n_layers blocks (range(n_layers), not n_layers - 1)",
                vocab_size * d + np.where(tied, 1, L - 1) * block),
        Mistake("block norms missing", "each block's two layer norms are missing (4 d_model per block)",
                vocab_size * d + layers * (block - 4 * d)),
        Mistake("block biases missing", "each block's biases are missing (4 d_model + d_ff + d_model)",
                vocab_size * d + layers * (block - 5 * d - f)),
        Mistake("block weights only", "each block counts only its weight matrices: add biases and layer norms",
                vocab_size * d + layers * (4 * d * d + 2 * d * f)),
        Mistake("tied inverted", "tied is inverted: tied=True shares one block, tied=False has n_layers",
                vocab_size * d + np.where(tied, L, 1) * block),
    ]
    labels, calls = _count_calls_9_2(setups)
    got = count_results(ex, encoder_parameter_count, calls, rules) if got is None else got
    compare_counts(ex, got, expected, labels, mistakes)


def check_9_2(encoder_parameter_count) -> None:
    """Exercise 9.2: embedding table plus n_layers blocks (one when tied), an int, by formula."""
    _check_9_2(encoder_parameter_count, "9.2 visible")


def hidden_9_2(encoder_parameter_count) -> None:
    """The hidden tests of 9.2: the paper's and BERT-base's sizes, and others."""
    _check_9_2(encoder_parameter_count, "9.2 hidden")
