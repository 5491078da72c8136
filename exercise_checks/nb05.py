"""Checks of notebook 05 (multi-head attention): Exercises 5.1 and 5.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_5_1", "check_5_2", "hidden_5_1", "hidden_5_2", "readable_features"]


def readable_features() -> np.ndarray:
    """Notebook 05's hand-set example: (8, 16) features, word one-hot in 0-7, position one-hot in 8-15,
    for "the cat saw the dog chase the cat"."""
    words = "the cat saw the dog chase the cat".split()
    word_list = list(dict.fromkeys(words))
    positions = np.arange(len(words))
    features = np.zeros((8, 16))
    features[positions, [word_list.index(w) for w in words]] = 1.0
    features[positions, 8 + positions] = 1.0
    return features


def _rules():
    return (forbidden("helpers.attention.split_heads"), forbidden("helpers.attention.merge_heads"),
            forbidden("helpers.backward.split_heads_backward", "helpers.backward.split_heads_backward"),
            forbidden("helpers.backward.merge_heads_backward", "helpers.backward.merge_heads_backward"))


def _check_5_1(my_split_heads, my_merge_heads, tag: str) -> None:
    ex = Exercise("5.1", "my_split_heads")
    rules = _rules()
    rng = probe_rng(tag)
    for lead in ((), (int(rng.integers(2, 4)),), (2, int(rng.integers(2, 4))), (1, 2, 2)):
        h = int(rng.choice([2, 3, 4]))
        d_k = int(rng.choice([1, 2, 3]))
        n = int(rng.integers(2, 6))
        if n == h:
            n += 1                                       # n != h, so swapped axes show
        d_model = h * d_k
        x = rng.standard_normal(lead + (n, d_model))
        expected = np.swapaxes(x.reshape(lead + (n, h, d_k)), -2, -3)          # (..., h, n, d_k)
        case = f"x {x.shape}, n_heads={h}"
        mistakes = [
            Mistake("direct reshape", "reshape straight to (..., h, n, d_k) mixes tokens between heads: reshape "
                    "to (..., n, h, d_k), then swap axes -3 and -2", x.reshape(lead + (h, n, d_k))),
            Mistake("interleaved", "each head should get a contiguous block of d_k features: reshape to "
                    "(..., n, h, d_k), not (..., n, d_k, h)",
                    np.moveaxis(x.reshape(lead + (n, d_k, h)), -1, -3)),
            Mistake("no swap", "the head axis was not moved before n: swap axes -3 and -2",
                    x.reshape(lead + (n, h, d_k))),
        ]
        got = ex.call(my_split_heads, x.copy(), h, case=case, forbid=rules, names=("x", "n_heads"))
        ex.compare(got, expected, case="my_split_heads, " + case, mistakes=mistakes, atol=0, rtol=0)

        heads = rng.standard_normal(lead + (h, n, d_k))
        merged = np.swapaxes(heads, -2, -3).reshape(lead + (n, h * d_k))
        case = f"heads {heads.shape}"
        mistakes = [
            Mistake("merge no swap", "the head axis must move back next to d_k before the reshape: swap axes "
                    "-3 and -2, then reshape to (..., n, h * d_k)", heads.reshape(lead + (n, h * d_k))),
            Mistake("merge interleaved", "the heads were interleaved feature by feature: head i's d_k features "
                    "must stay together (columns i*d_k to (i+1)*d_k)",
                    np.moveaxis(heads, -3, -1).reshape(lead + (n, h * d_k))),
        ]
        got = ex.call(my_merge_heads, heads.copy(), case=case, forbid=rules, names=("x",))
        ex.compare(got, merged, case="my_merge_heads, " + case, mistakes=mistakes, atol=0, rtol=0)
    for d_model, h in ((12, 5), (int(rng.choice([6, 10])), 4)):
        x = rng.standard_normal((2, 3, d_model))
        case = f"x {x.shape}, n_heads={h} (does not divide {d_model})"
        ex.call(my_split_heads, x, h, case=case, forbid=rules, names=("x", "n_heads"), expect_error=ValueError)


def check_5_1(my_split_heads, my_merge_heads) -> None:
    """Exercise 5.1: split (..., n, d_model) -> (..., h, n, d_k) and merge back, any leading axes, a
    ValueError (any message) when n_heads does not divide d_model; not through helpers."""
    _check_5_1(my_split_heads, my_merge_heads, "5.1 visible")


def hidden_5_1(my_split_heads, my_merge_heads) -> None:
    """The hidden tests of 5.1: the same rules on other probes."""
    _check_5_1(my_split_heads, my_merge_heads, "5.1 hidden")


def _check_5_2(look_ahead_params, tag: str) -> None:
    ex = Exercise("5.2", "look_ahead_params")
    rng = probe_rng(tag)
    x = readable_features()
    d, h, d_k = 16, 2, 8
    rows = np.arange(7)
    words = np.argmax(x[:, :8], axis=1)

    def head_weights(params):
        """Both heads' attention weights (2, 8, 8), computed from the returned matrices."""
        q = x @ np.asarray(params.w_q, dtype=float) + np.asarray(params.b_q, dtype=float)
        k = x @ np.asarray(params.w_k, dtype=float) + np.asarray(params.b_k, dtype=float)
        q, k = (np.swapaxes(t.reshape(8, h, d_k), 0, 1) for t in (q, k))
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=-1, keepdims=True)

    def softmax_rows(score_matrix):
        s = score_matrix - score_matrix.max(axis=-1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=-1, keepdims=True)

    def pattern(offset, score):
        """Rows 0..6 of a head whose query p scores `score` on key p + offset, 0 elsewhere."""
        m = np.zeros((8, 8))
        p = np.arange(8)
        ok = (p + offset >= 0) & (p + offset < 8)
        m[p[ok], p[ok] + offset] = score
        return softmax_rows(m)[rows]

    same_word = softmax_rows(25.0 / np.sqrt(d_k) * (words[:, None] == words[None, :]))
    strengths = [5.0, 1.0, float(np.round(rng.uniform(2.0, 8.0), 2))]
    for strength in strengths:
        case = f"strength={strength:g}"
        params = ex.call(look_ahead_params, strength, case=case, names=("strength",))
        missing = [a for a in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o", "n_heads")
                   if not hasattr(params, a)]
        if missing:
            ex.fail(f"should return helpers.AttentionParams, got {type(params).__name__} ({case})", "not params")
        if params.n_heads != 2:
            ex.fail(f"n_heads should be 2, got {params.n_heads} ({case})", "n_heads")
        for name in ("w_q", "w_k", "w_v", "w_o"):
            if np.shape(getattr(params, name)) != (d, d):
                ex.fail(f"{name} should have shape (16, 16), got {np.shape(getattr(params, name))} ({case})", "shape")
        for name in ("b_q", "b_k", "b_v", "b_o"):
            if np.any(np.asarray(getattr(params, name)) != 0):
                ex.fail(f"{name} should be zero ({case})", "bias")
        for name in ("w_v", "w_o"):
            if not np.array_equal(np.asarray(getattr(params, name)), np.eye(d)):
                ex.fail(f"{name} should be the identity ({case})", "not identity")
        weights = head_weights(params)
        score = strength**2 / np.sqrt(d_k)
        mistakes = [
            Mistake("previous token", "head 0 attends to the previous token (the lesson's head): query p must "
                    "meet key p + 1", pattern(-1, score)),
            Mistake("heads swapped", "the heads are swapped: head 0 (columns 0-7) looks ahead, head 1 matches "
                    "the word", same_word[rows]),
            Mistake("not squared", "the matching score should be strength^2 / sqrt(d_k): put strength in both "
                    "W_Q and W_K", pattern(1, strength / np.sqrt(d_k))),
            Mistake("strength ignored", "the strength is ignored: the score should be strength^2 / sqrt(d_k)",
                    pattern(1, 25.0 / np.sqrt(d_k))),
        ]
        ex.compare(weights[0, rows], pattern(1, score), case=case, what="head 0's weights (rows 0-6)",
                   mistakes=mistakes, atol=1e-6, rtol=1e-6)
        if strength == 5.0:
            ex.compare(weights[1], same_word, case=case, what="head 1's weights (the same word)", atol=1e-6,
                       rtol=1e-6, mistakes=[Mistake("heads swapped", "the heads are swapped: head 0 (columns "
                                                    "0-7) looks ahead, head 1 matches the word",
                                                    np.vstack([pattern(1, score), weights[1, 7:]]))])


def check_5_2(look_ahead_params) -> None:
    """Exercise 5.2: head 0 attends to the next token with score strength^2 / sqrt(d_k), head 1 to the
    same word; biases zero, W_V = W_O = I, n_heads = 2."""
    _check_5_2(look_ahead_params, "5.2 visible")


def hidden_5_2(look_ahead_params) -> None:
    """The hidden tests of 5.2: the same rules at another strength."""
    _check_5_2(look_ahead_params, "5.2 hidden")
