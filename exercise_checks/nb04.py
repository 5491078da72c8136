"""Checks of notebook 04 (self-attention): Exercises 4.1 and 4.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_4_1", "check_4_2", "hidden_4_1", "hidden_4_2"]


def _check_4_1(local_causal_attention, tag: str) -> None:
    ex = Exercise("4.1", "local_causal_attention")
    rules = (forbidden("helpers.attention.scaled_dot_product_attention"),
             forbidden("helpers.attention.multi_head_attention"),
             forbidden("helpers.attention._multi_head_attention"),
             forbidden("helpers.backward.scaled_dot_product_attention_forward"))
    rng = probe_rng(tag)

    def softmax(x, axis=-1):
        x = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    def naive_softmax(x, axis=-1):
        with np.errstate(all="ignore"):
            e = np.exp(x)
            return e / e.sum(axis=axis, keepdims=True)

    def attend(q, k, v, window, *, scale_by="d_k", flip=False, extra=0, axis=-1, zero_after=False, soft=softmax):
        n = q.shape[-2]
        i, j = np.arange(n)[:, None], np.arange(n)[None, :]
        allowed = (j >= i) & (j < i + window + extra) if flip else (j <= i) & (j > i - window - extra)
        divisor = {"d_k": np.sqrt(q.shape[-1]), "n": np.sqrt(n), None: 1.0}[scale_by]
        scores = q @ np.swapaxes(k, -1, -2) / divisor
        with np.errstate(all="ignore"):
            if zero_after:
                weights = soft(scores, axis=-1) * allowed
            else:
                weights = soft(np.where(allowed, scores, -np.inf), axis=axis)
        return weights @ v, weights

    cases = []
    for lead in ((), (int(rng.integers(2, 4)),), (2, int(rng.integers(2, 4)))):
        n, d_k, d_v = int(rng.integers(4, 8)), int(rng.choice([3, 4, 8])), int(rng.choice([2, 5]))
        window = int(rng.integers(2, n - 1))
        cases.append((lead, n, d_k, d_v, window, 1.0))
    n = int(rng.integers(4, 7))
    cases.append(((2,), n, 4, 3, 1, 1.0))                       # window 1: each token sees itself
    cases.append(((2,), n, 4, 3, n + 3, 1.0))                   # window > n: plain causal attention
    cases.append(((2,), n, 4, 3, 2, 300.0))                     # huge scores: softmax must shift
    for lead, n, d_k, d_v, window, size in cases:
        q, k = size * rng.standard_normal(lead + (n, d_k)), size * rng.standard_normal(lead + (n, d_k))
        v = rng.standard_normal(lead + (n, d_v))
        case = f"q, k {lead + (n, d_k)}, v {lead + (n, d_v)}, window={window}" + (", huge scores" if size > 1 else "")
        out_want, w_want = attend(q, k, v, window)
        w_mistakes = [
            Mistake("no max shift", "softmax without the max shift overflows on large scores: subtract the "
                    "row's max before np.exp", attend(q, k, v, window, soft=naive_softmax)[1]),
            Mistake("not scaled", "the scores are not divided by sqrt(d_k)", attend(q, k, v, window, scale_by=None)[1]),
            Mistake("scaled by sqrt(n)", "the scores are divided by sqrt(n), the number of tokens; divide by "
                    "sqrt(d_k), the width of q and k", attend(q, k, v, window, scale_by="n")[1]),
            Mistake("flipped", "the mask is flipped: query i sees the keys after it; it may see keys j <= i",
                    attend(q, k, v, window, flip=True)[1]),
            Mistake("window + 1", "off by one: each query sees window + 1 keys; it may see i - window < j <= i",
                    attend(q, k, v, window, extra=1)[1]),
            Mistake("window - 1", "off by one: each query sees window - 1 keys; it may see i - window < j <= i",
                    attend(q, k, v, window, extra=-1)[1] if window > 1 else None),
            Mistake("no window", "the window is ignored: this is plain causal attention", attend(q, k, v, n + 1)[1]),
            Mistake("softmax axis", "softmax over the wrong axis: each query's row (axis=-1) must sum to 1",
                    attend(q, k, v, window, axis=-2)[1]),
            Mistake("zeroed after", "the weights were zeroed after the softmax, so rows no longer sum to 1: mask "
                    "the scores before it", attend(q, k, v, window, zero_after=True)[1]),
        ]
        result = ex.call(local_causal_attention, q.copy(), k.copy(), v.copy(), window, case=case, forbid=rules,
                         names=("q", "k", "v", "window"))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            ex.fail(f"should return the pair (output, weights), got {type(result).__name__} ({case})", "not a pair")
        out, weights = result
        ex.compare(weights, w_want, case=case, what="weights", mistakes=w_mistakes, atol=1e-8, rtol=1e-6)
        masked = w_want == 0
        if np.any(np.asarray(weights)[masked] != 0):
            ex.fail(f"weights outside the window should be exactly 0 ({case}): mask the scores with -np.inf",
                    "not exactly 0")
        ex.compare(out, out_want, case=case, what="output", atol=1e-8, rtol=1e-6, mistakes=[
            Mistake("weights transposed", "output = weights^T @ v; it is weights @ v",
                    np.swapaxes(w_want, -1, -2) @ v)])


def check_4_1(local_causal_attention) -> None:
    """Exercise 4.1: ``local_causal_attention(q, k, v, window)`` -> (output, weights) over any leading
    axes; query i sees keys i - window < j <= i; the scores and mask written by hand."""
    _check_4_1(local_causal_attention, "4.1 visible")


def hidden_4_1(local_causal_attention) -> None:
    """The hidden tests of 4.1: the same rules on other probes."""
    _check_4_1(local_causal_attention, "4.1 hidden")


def _check_4_2(mean_entropy, tag: str) -> None:
    ex = Exercise("4.2", "mean_entropy")
    rng = probe_rng(tag)

    def entropy(scores, temperature, mask=None, *, log=np.log, multiply=False, axis=-1, reduce=np.mean,
                shift=True, nan_plogp=False):
        s = np.asarray(scores, dtype=np.float64)
        s = s * temperature if multiply else s / temperature
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        with np.errstate(all="ignore"):
            if shift:
                s = s - np.max(s, axis=axis, keepdims=True)
            e = np.exp(s)
            p = e / e.sum(axis=axis, keepdims=True)
            plogp = p * log(p) if nan_plogp else np.where(p > 0, p * log(np.where(p > 0, p, 1.0)), 0.0)
            return float(reduce(-plogp.sum(axis=-1)))

    cases = []
    n_k = int(rng.integers(4, 8))
    cases.append((rng.normal(size=(int(rng.integers(2, 5)), n_k)), float(rng.choice([0.5, 2.0])), None))
    cases.append((rng.normal(size=(2, 3, n_k)) * 2, 1.0, None))                               # 3-D scores
    mask_row = rng.random(n_k) < 0.6
    mask_row[0] = True
    mask_row[-1] = False
    cases.append((rng.normal(size=(3, n_k)), 1.0, mask_row))                                  # a (n_k,) mask
    full_mask = rng.random((2, 3, n_k)) < 0.5
    full_mask[..., 0] = True
    full_mask[0, 0, 1:] = False                                                                # one key only
    cases.append((rng.normal(size=(2, 3, n_k)), 0.7, full_mask))
    cases.append((rng.normal(size=(3, n_k)) * 3, 1e-3, None))                                 # tiny T
    cases.append((rng.normal(size=(2, n_k)), 1e6, None))                                      # huge T
    tied = np.tile(rng.normal(size=n_k) * 3, (3, 1))
    tied[:, 1] = tied.max(axis=-1)                                       # two equal maxima per row
    cases.append((tied, 1e-3, None))                                     # entropy log 2, logits ~ 1e4
    for scores, temperature, mask in cases:
        case = f"scores {scores.shape}, T={temperature:g}" + ("" if mask is None else f", mask {mask.shape}")
        expected = entropy(scores, temperature, mask)
        mistakes = [
            Mistake("bits", "that is the entropy in bits: use the natural log, np.log",
                    entropy(scores, temperature, mask, log=np.log2)),
            Mistake("multiplied", "the scores were multiplied by the temperature: divide, softmax(scores / T)",
                    entropy(scores, temperature, mask, multiply=True)),
            Mistake("mask ignored", "the mask is ignored: masked keys must get weight exactly 0",
                    entropy(scores, temperature) if mask is not None else None),
            Mistake("softmax axis", "softmax over the wrong axis: each row (last axis) is one distribution",
                    entropy(scores, temperature, mask, axis=0)),
            Mistake("summed", "the rows' entropies were summed: take their mean",
                    entropy(scores, temperature, mask, reduce=np.sum)),
            Mistake("no max shift", "softmax without the max shift overflows at tiny temperatures: subtract "
                    "the row's max", entropy(scores, temperature, mask, shift=False)),
            Mistake("0 log 0", "0 * log 0 gives NaN where p = 0: count it as 0",
                    entropy(scores, temperature, mask, nan_plogp=True)),
        ]
        kwargs = {} if mask is None else {"mask": mask.copy()}
        got = ex.call(mean_entropy, scores.copy(), temperature, case=case, names=("scores", "temperature"),
                      **kwargs)
        if isinstance(got, np.ndarray) and got.ndim > 0:
            ex.fail(f"should return one float (the mean over all rows), got an array of shape {got.shape} ({case})",
                    "array")
        if isinstance(got, (list, tuple)) or not isinstance(got, (float, np.floating)):
            ex.fail(f"should return a float, got {type(got).__name__} ({case}): return float(...)", "not float")
        ex.compare(np.float64(got), expected, case=case, what="the mean entropy", mistakes=mistakes,
                   atol=1e-7, rtol=1e-6)


def check_4_2(mean_entropy) -> None:
    """Exercise 4.2: ``mean_entropy(scores, temperature, mask=None)``: mean over all rows of the entropy
    (nats) of softmax(scores / T) along the last axis, masked keys at 0, finite, a float."""
    _check_4_2(mean_entropy, "4.2 visible")


def hidden_4_2(mean_entropy) -> None:
    """The hidden tests of 4.2: the same rules on other probes."""
    _check_4_2(mean_entropy, "4.2 hidden")
