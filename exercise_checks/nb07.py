"""Checks of notebook 07 (feed-forward): Exercises 7.1 and 7.2."""

from __future__ import annotations

import math

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_7_1", "check_7_2", "hidden_7_1", "hidden_7_2"]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _check_7_1(feed_forward_by_hand, tag: str) -> None:
    ex = Exercise("7.1", "feed_forward_by_hand")
    rules = (forbidden("helpers.layers.feed_forward"), forbidden("helpers.backward.feed_forward_forward"))
    rng = probe_rng(tag)

    def relu(a):
        return np.maximum(a, 0.0)

    def gelu(a):
        return 0.5 * a * (1.0 + _erf(a / np.sqrt(2.0)))

    def gelu_tanh(a):
        return 0.5 * a * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (a + 0.044715 * a**3)))

    d_model, d_ff = int(rng.integers(3, 9)), int(rng.integers(10, 20))
    w_1, b_1 = rng.normal(size=(d_model, d_ff)) / np.sqrt(d_model), 0.3 * rng.normal(size=d_ff)
    w_2, b_2 = rng.normal(size=(d_ff, d_model)) / np.sqrt(d_ff), 0.3 * rng.normal(size=d_model)
    weights = (w_1, b_1, w_2, b_2)
    names = ("x", "w_1", "b_1", "w_2", "b_2")
    shapes = [(int(rng.integers(2, 6)), d_model), (2, int(rng.integers(2, 5)), d_model),
              (2, 2, int(rng.integers(2, 4)), d_model)]
    for shape in shapes:
        x = 1.5 * rng.normal(size=shape)
        for activation, act in (("relu", relu), ("gelu", gelu)):
            case = f"x {shape}, d_ff={d_ff}, activation={activation!r}"
            hidden = x @ w_1 + b_1
            expected = act(hidden) @ w_2 + b_2
            mistakes = [
                Mistake("relu for gelu", "activation='gelu' gave the ReLU result: apply GELU when asked",
                        relu(hidden) @ w_2 + b_2 if activation == "gelu" else None),
                Mistake("gelu for relu", "activation='relu' gave the GELU result",
                        gelu(hidden) @ w_2 + b_2 if activation == "relu" else None),
                Mistake("tanh gelu", "that is the tanh approximation of GELU: use the exact erf form "
                        "(helpers.gelu)", gelu_tanh(hidden) @ w_2 + b_2 if activation == "gelu" else None),
                Mistake("act twice", "the activation is applied after the second layer too: only between the two",
                        act(act(hidden) @ w_2 + b_2)),
                Mistake("act after", "the activation is applied after the second layer instead of between",
                        act(hidden @ w_2 + b_2)),
                Mistake("no b_2", "b_2 is missing: the second layer adds its bias too", act(hidden) @ w_2),
                Mistake("no b_1", "b_1 is missing: add it before the activation", act(x @ w_1) @ w_2 + b_2),
                Mistake("no activation", "no activation between the two layers", hidden @ w_2 + b_2),
            ]
            args = (x.copy(),) + tuple(w.copy() for w in weights)
            out = ex.call(feed_forward_by_hand, *args, activation=activation, case=case, forbid=rules, names=names)
            ex.compare(out, expected, case=case, mistakes=mistakes, atol=1e-9, rtol=1e-7)
    wrong_d = d_model + int(rng.integers(1, 3))
    case = f"x (4, {wrong_d}) with d_model={d_model}"
    err = ex.call(feed_forward_by_hand, rng.normal(size=(4, wrong_d)), *weights, case=case, forbid=rules,
                  names=names, expect_error=ValueError)
    if "d_model" not in str(err):
        ex.fail(f"the ValueError for a wrong last axis should mention d_model; it says {str(err)[:60]!r} ({case})",
                "message without d_model")
    for bad in ("tanh", "swish"):
        case = f"activation={bad!r}"
        err = ex.call(feed_forward_by_hand, rng.normal(size=(3, d_model)), *weights, activation=bad, case=case,
                      forbid=rules, names=names, expect_error=ValueError)
        if bad not in str(err):
            ex.fail(f"the ValueError for an unknown activation should name it ({bad!r}); it says "
                    f"{str(err)[:50]!r}", "message without activation")


def check_7_1(feed_forward_by_hand) -> None:
    """Exercise 7.1: relu/gelu FFN on (..., n, d_model), written by hand (not helpers.feed_forward);
    ValueErrors naming d_model and the unknown activation."""
    _check_7_1(feed_forward_by_hand, "7.1 visible")


def hidden_7_1(feed_forward_by_hand) -> None:
    """The hidden tests of 7.1: the same rules on other sizes."""
    _check_7_1(feed_forward_by_hand, "7.1 hidden")


def _check_7_2(influence_matrix, tag: str) -> None:
    ex = Exercise("7.2", "influence_matrix")
    rng = probe_rng(tag)
    n, d = int(rng.integers(4, 7)), int(rng.integers(4, 9))
    x = rng.normal(size=(n, d))
    direction = rng.normal(size=d)
    w_1, w_2 = rng.normal(size=(d, 3 * d)), rng.normal(size=(3 * d, d))
    w_q, w_k, w_v = (rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3))
    causal = np.tril(np.ones((n, n), dtype=bool))
    eye, full = np.eye(n, dtype=bool), np.ones((n, n), dtype=bool)

    def feed_forward(h):
        return np.maximum(h @ w_1, 0.0) @ w_2 + h

    def attention(h, mask=None):
        s = (h @ w_q) @ (h @ w_k).T / np.sqrt(d)
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        return (p / p.sum(axis=-1, keepdims=True)) @ (h @ w_v)

    def layer_norm(h):
        c = h - h.mean(axis=-1, keepdims=True)
        return c / np.sqrt((c * c).mean(axis=-1, keepdims=True) + 1e-5)

    def coupled(h):
        return h + 1e-7 * h.sum(axis=0)

    def signed_sum(f, x_, direction_, tol=1e-9):
        """The mistake of summing the signed changes over features (they can cancel)."""
        base = f(x_)
        out = np.zeros((n, n), dtype=bool)
        for j in range(n):
            nudged = x_.copy()
            nudged[j] += direction_
            out[:, j] = np.abs((f(nudged) - base).sum(axis=-1)) > tol
        return out

    cases = [
        ("the feed-forward network", feed_forward, direction, {}, eye),
        ("self-attention", attention, direction, {}, full),
        ("causal self-attention", lambda h: attention(h, causal), direction, {}, causal),
        ("a 1e-7 coupling, tol=1e-5", coupled, direction, {"tol": 1e-5}, eye),
        ("a 1e-7 coupling, default tol", coupled, direction, {}, full),
        ("layer norm", layer_norm, direction, {}, eye),
        ("layer norm, constant direction", layer_norm, np.full(d, 3.0), {}, np.zeros((n, n), dtype=bool)),
    ]
    for what, f, direction_, kwargs, expected in cases:
        case = f"{what}, x ({n}, {d})"
        mistakes = [Mistake("transposed", "the matrix is transposed: entry [i, j] is output row i, nudged token j",
                            expected.T)]
        if what.startswith("a 1e-7 coupling, tol"):
            mistakes.append(Mistake("tol ignored", "tol is ignored: a change counts only when larger than tol", full))
        if what == "layer norm":
            mistakes.append(Mistake("signed sum", "the signed changes were summed over features and cancel: "
                                    "compare the largest absolute change", signed_sum(f, x, direction_)))
        got = ex.call(influence_matrix, f, x.copy(), direction_.copy(), case=case, names=("f", "x", "direction"),
                      **kwargs)
        arr = ex.equal(got, expected, case=case, mistakes=mistakes)
        if arr.dtype != bool:
            ex.fail(f"should be a boolean matrix, got dtype {arr.dtype} ({case})", "not bool")


def check_7_2(influence_matrix) -> None:
    """Exercise 7.2: bool (n, n), [i, j] True when nudging token j moves output row i by more than tol;
    x unchanged."""
    _check_7_2(influence_matrix, "7.2 visible")


def hidden_7_2(influence_matrix) -> None:
    """The hidden tests of 7.2: the same rules on other sizes and functions."""
    _check_7_2(influence_matrix, "7.2 hidden")
