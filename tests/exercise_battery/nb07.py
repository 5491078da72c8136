"""Wrong answers and cheats for notebook 07 (7.1 feed_forward_by_hand, 7.2 influence_matrix)."""

import numpy as np

import helpers

from . import cheat, mistake

# --- 7.1 feed_forward_by_hand ----------------------------------------------------------------


def _act(name):
    if name == "relu":
        return lambda a: np.maximum(a, 0.0)
    if name == "gelu":
        return helpers.gelu
    raise ValueError(f"unknown activation {name!r}")


def _guard(x, w_1):
    if x.shape[-1] != w_1.shape[0]:
        raise ValueError(f"x's last axis must be d_model = {w_1.shape[0]}")


@mistake("7.1", "GELU never applied (ReLU always)", "relu for gelu")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):
    _guard(x, w_1)
    _act(activation)
    return np.maximum(x @ w_1 + b_1, 0.0) @ w_2 + b_2


@mistake("7.1", "tanh approximation of GELU", "tanh gelu")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    h = x @ w_1 + b_1
    if activation == "gelu":
        h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    else:
        h = _act(activation)(h)
    return h @ w_2 + b_2


@mistake("7.1", "activation after both layers", "act twice")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    act = _act(activation)
    return act(act(x @ w_1 + b_1) @ w_2 + b_2)


@mistake("7.1", "b_2 missing", "no b_2")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    return _act(activation)(x @ w_1 + b_1) @ w_2


@mistake("7.1", "b_1 missing", "no b_1")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    return _act(activation)(x @ w_1) @ w_2 + b_2


@mistake("7.1", "no check of d_model: NumPy's matmul error", "message without d_model")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    return _act(activation)(x @ w_1 + b_1) @ w_2 + b_2


@mistake("7.1", "unknown activation falls back to ReLU", "no error")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    act = helpers.gelu if activation == "gelu" else (lambda a: np.maximum(a, 0.0))
    return act(x @ w_1 + b_1) @ w_2 + b_2


@mistake("7.1", "KeyError for an unknown activation", "wrong error")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    act = {"relu": lambda a: np.maximum(a, 0.0), "gelu": helpers.gelu}[activation]
    return act(x @ w_1 + b_1) @ w_2 + b_2


@mistake("7.1", "bias added in place, then a stray in-place update of x", "input changed")
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    h = x @ w_1
    h += b_1
    h = _act(activation)(h)
    x += 0.0 * x[..., :1] + 1e-3
    return h @ w_2 + b_2


@mistake("7.1", "only 2-D x: w_1.T on the wrong side", None)
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):  # noqa: F811
    _guard(x, w_1)
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim == 2 else x[0]
    return _act(activation)(x2 @ w_1 + b_1) @ w_2 + b_2


cheat("7.1", "helpers.feed_forward behind a FeedForwardParams", """
from helpers.layers import FeedForwardParams, feed_forward as _ff
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):
    if x.shape[-1] != w_1.shape[0]:
        raise ValueError("wrong d_model")
    return _ff(x, FeedForwardParams(w_1, b_1, w_2, b_2), activation)
""", "forbidden helper")
cheat("7.1", "helpers.backward.feed_forward_forward", """
from helpers.backward import feed_forward_forward
from helpers.layers import FeedForwardParams
def feed_forward_by_hand(x, w_1, b_1, w_2, b_2, activation="relu"):
    if x.shape[-1] != w_1.shape[0]:
        raise ValueError("wrong d_model")
    return feed_forward_forward(x, FeedForwardParams(w_1, b_1, w_2, b_2), activation)[0]
""", "forbidden helper")

# --- 7.2 influence_matrix --------------------------------------------------------------------


def _influence(f, x, direction, tol, reduce=lambda d: np.abs(d).max(axis=-1), compare=np.greater):
    base = f(x)
    n = x.shape[0]
    out = np.zeros((n, n), dtype=bool)
    for j in range(n):
        nudged = x.copy()
        nudged[j] += direction
        out[:, j] = compare(reduce(f(nudged) - base), tol)
    return out


@mistake("7.2", "transposed: [j, i]", "transposed")
def influence_matrix(f, x, direction, tol=1e-9):
    return _influence(f, x, direction, tol).T


@mistake("7.2", "tol ignored (any change counts)", "tol ignored")
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    return _influence(f, x, direction, 0.0)


@mistake("7.2", "signed changes summed over features", "signed sum")
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    return _influence(f, x, direction, tol, reduce=lambda d: np.abs(d.sum(axis=-1)))


@mistake("7.2", "nudges x itself (no copy)", "input changed")
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    base = f(x)
    n = x.shape[0]
    out = np.zeros((n, n), dtype=bool)
    for j in range(n):
        x[j] += direction
        out[:, j] = np.abs(f(x) - base).max(axis=-1) > tol
    return out


@mistake("7.2", "float matrix of changes > tol", "not bool")
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    return _influence(f, x, direction, tol).astype(float)


@mistake("7.2", "hard-coded n = 5")
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    base = f(x)
    out = np.zeros((5, 5), dtype=bool)
    for j in range(5):
        nudged = x.copy()
        nudged[j] += direction
        out[:, j] = np.abs(f(nudged) - base).max(axis=-1) > tol
    return out


@mistake("7.2", "mean absolute change (misses 1e-7 couplings below tol * d)", None)
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    return _influence(f, x, direction, tol, reduce=lambda d: np.abs(d).mean(axis=-1) / 100)


@mistake("7.2", "nudges a feature column instead of a token row", None)
def influence_matrix(f, x, direction, tol=1e-9):  # noqa: F811
    base = f(x)
    n = x.shape[0]
    out = np.zeros((n, n), dtype=bool)
    for j in range(n):
        nudged = x.copy()
        nudged[:, j % x.shape[1]] += direction[j % x.shape[1]]
        out[:, j] = np.abs(f(nudged) - base).max(axis=-1) > tol
    return out


@mistake("7.2", "`>=` tol with a large default tol (1e-5)", None)
def influence_matrix(f, x, direction, tol=1e-5):  # noqa: F811
    return _influence(f, x, direction, tol, compare=np.greater_equal)


cheat("7.2", "answers from the function's name (feed-forward: identity, else all True)", """
def influence_matrix(f, x, direction, tol=1e-9):
    n = x.shape[0]
    return np.eye(n, dtype=bool) if "feed" in getattr(f, "__name__", "") else np.ones((n, n), dtype=bool)
""", None)
cheat("7.2", "always the identity for n = 5 (the old visible size)", """
def influence_matrix(f, x, direction, tol=1e-9):
    return np.eye(x.shape[0], dtype=bool)
""", None)
