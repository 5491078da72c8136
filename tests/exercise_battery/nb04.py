"""Wrong answers and cheats for notebook 04 (4.1 local_causal_attention, 4.2 mean_entropy)."""

import numpy as np

import helpers

from . import cheat, mistake

# --- 4.1 local_causal_attention --------------------------------------------------------------


def _allowed(n, window, extra=0, flip=False):
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    if flip:
        return (j >= i) & (j < i + window + extra)
    return (j <= i) & (j > i - window - extra)


def _scores(q, k, scale=True):
    return q @ np.swapaxes(k, -1, -2) / (np.sqrt(q.shape[-1]) if scale else 1.0)


@mistake("4.1", "softmax without the max shift", "no max shift")
def local_causal_attention(q, k, v, window):
    s = np.where(_allowed(q.shape[-2], window), _scores(q, k), -np.inf)
    e = np.exp(s)
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


@mistake("4.1", "not divided by sqrt(d_k)", "not scaled")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), _scores(q, k, False), -np.inf))
    return w @ v, w


@mistake("4.1", "divided by sqrt(n), the number of tokens, instead of sqrt(d_k)", "scaled by sqrt(n)")
def local_causal_attention(q, k, v, window):  # noqa: F811
    n = q.shape[-2]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(n)
    w = helpers.softmax(np.where(_allowed(n, window), scores, -np.inf))
    return w @ v, w


@mistake("4.1", "flipped mask (keys after i)", "flipped")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window, flip=True), _scores(q, k), -np.inf))
    return w @ v, w


@mistake("4.1", "window + 1 keys (`>=` in the lower bound)", "window + 1")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window, extra=1), _scores(q, k), -np.inf))
    return w @ v, w


@mistake("4.1", "softmax over axis -2", "softmax axis")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), _scores(q, k), -np.inf), axis=-2)
    return w @ v, w


@mistake("4.1", "weights zeroed after the softmax", "zeroed after")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(_scores(q, k)) * _allowed(q.shape[-2], window)
    return w @ v, w


@mistake("4.1", "k.T: only 2-D inputs")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), q @ k.T / np.sqrt(q.shape[-1]), -np.inf))
    return w @ v, w


@mistake("4.1", "window ignored: plain causal", "no window")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(np.tril(np.ones((q.shape[-2],) * 2, dtype=bool)), _scores(q, k), -np.inf))
    return w @ v, w


@mistake("4.1", "scales q in place", "input changed")
def local_causal_attention(q, k, v, window):  # noqa: F811
    q /= np.sqrt(q.shape[-1])
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), q @ np.swapaxes(k, -1, -2), -np.inf))
    return w @ v, w


@mistake("4.1", "output = weights^T @ v", "weights transposed")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), _scores(q, k), -np.inf))
    return np.swapaxes(w, -1, -2) @ v, w


@mistake("4.1", "returns only the output", "not a pair")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), _scores(q, k), -np.inf))
    return w @ v


@mistake("4.1", "masks with -1e4 (not exactly 0, wrong on huge scores)")
def local_causal_attention(q, k, v, window):  # noqa: F811
    w = helpers.softmax(np.where(_allowed(q.shape[-2], window), _scores(q, k), -1e4))
    return w @ v, w


cheat("4.1", "scaled_dot_product_attention kept under another name", """
from helpers.attention import scaled_dot_product_attention as _attend
def local_causal_attention(q, k, v, window):
    n = q.shape[-2]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    return _attend(q, k, v, mask=(j <= i) & (j > i - window))
""", "forbidden helper")
cheat("4.1", "scaled_dot_product_attention, with helpers patched so the check's copy is a decoy", """
import helpers, helpers.attention
_real = helpers.attention.scaled_dot_product_attention
helpers.scaled_dot_product_attention = helpers.attention.scaled_dot_product_attention = lambda *a, **k: None
def local_causal_attention(q, k, v, window):
    n = q.shape[-2]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    return _real(q, k, v, mask=(j <= i) & (j > i - window))
""", "forbidden helper")
cheat("4.1", "a tracer-free call: sys.setprofile and sys.settrace replaced", """
import sys, helpers
sys.setprofile = sys.settrace = lambda *a: None
def local_causal_attention(q, k, v, window):
    n = q.shape[-2]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    return helpers.scaled_dot_product_attention(q, k, v, mask=(j <= i) & (j > i - window))
""", "monitor disabled")

# --- 4.2 mean_entropy ------------------------------------------------------------------------


def _p(scores, temperature, mask=None, axis=-1):
    s = np.asarray(scores, dtype=float) / temperature
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return helpers.softmax(s, axis=axis)


def _h(p, log=np.log):
    return -np.where(p > 0, p * log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)


@mistake("4.2", "entropy in bits", "bits")
def mean_entropy(scores, temperature, mask=None):
    return float(_h(_p(scores, temperature, mask), np.log2).mean())


@mistake("4.2", "scores times T", "multiplied")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    return float(_h(_p(np.asarray(scores) * temperature ** 2, temperature, mask)).mean())


@mistake("4.2", "mask ignored", "mask ignored")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    return float(_h(_p(scores, temperature)).mean())


@mistake("4.2", "softmax over axis 0", "softmax axis")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    return float(_h(_p(scores, temperature, mask, axis=0)).mean())


@mistake("4.2", "sum of the rows' entropies", "summed")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    return float(_h(_p(scores, temperature, mask)).sum())


@mistake("4.2", "softmax without the max shift", "no max shift")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    s = np.asarray(scores, dtype=float) / temperature
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s)
    return float(_h(e / e.sum(axis=-1, keepdims=True)).mean())


@mistake("4.2", "p log p with NaN at p = 0", "0 log 0")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    p = _p(scores, temperature, mask)
    return float((-(p * np.log(p)).sum(axis=-1)).mean())


@mistake("4.2", "returns the per-row array", "array")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    return _h(_p(scores, temperature, mask))


@mistake("4.2", "divides the scores in place", "input changed")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    scores /= temperature
    return float(_h(_p(scores, 1.0, mask)).mean())


@mistake("4.2", "2-D only: mean over axis 0 of a (B, n, n_k) gives rows of rows")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    h = _h(_p(scores, temperature, mask))
    return float(h.mean(axis=0)[0]) if h.ndim > 1 else float(h.mean())


@mistake("4.2", "masked keys set to -1e9 after dividing by T (mask shape (n_k,) assumed 2-D)")
def mean_entropy(scores, temperature, mask=None):  # noqa: F811
    s = np.asarray(scores, dtype=float) / temperature
    if mask is not None:
        s[:, ~np.asarray(mask)] = -1e9
    return float(_h(helpers.softmax(s)).mean())


cheat("4.2", "hard-codes log 3 and log 5 for the old hidden tests, else a formula without T", """
def mean_entropy(scores, temperature, mask=None):
    s = np.asarray(scores, dtype=float)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = helpers.softmax(s)
    return float(-np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1).mean())
""", None)
cheat("4.2", "returns log(n_k) whenever the temperature is extreme", """
def mean_entropy(scores, temperature, mask=None):
    s = np.asarray(scores, dtype=float)
    if temperature < 0.01 or temperature > 100:
        return float(np.log(s.shape[-1]))
    if mask is not None:
        s = np.where(mask, s / temperature, -np.inf)
    else:
        s = s / temperature
    p = helpers.softmax(s)
    return float(-np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1).mean())
""", None)
