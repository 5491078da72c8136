"""Stages 06-07: layer normalisation, activations, the position-wise feed-forward network.

Shapes: x is (..., n, d_model); the feed-forward hidden layer is (..., n, d_ff).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks_internal import check_last_dim, check_shape, float_array

__all__ = [
    "linear",
    "layer_norm",
    "LayerNormParams",
    "relu",
    "gelu",
    "erf",
    "ACTIVATIONS",
    "FeedForwardParams",
    "init_feed_forward",
    "feed_forward",
]


def linear(x, w, b) -> np.ndarray:
    """x @ w + b for every position at once: (..., d_in) @ (d_in, d_out) + (d_out,) -> (..., d_out).

    w and b are cast to x's dtype. The leading axes are flattened first: NumPy runs a 3-D @ 2-D
    product as one small matrix product per sequence, while a single (B*n, d_in) product lets
    BLAS use its fastest kernel (about 1.5x faster at B = 8, n = 128, d = 512).
    """
    x = float_array(x, "x")
    w = np.asarray(w)
    check_last_dim(x, w.shape[0], "x", "d_in")
    return _linear(x, w, np.asarray(b))


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    # linear() without its checks, for callers that validated their inputs once at their entry
    # (the block, the stack): Python-level checks on every call cost about 1% of a block at n = 10.
    out = x.reshape(-1, x.shape[-1]) @ w.astype(x.dtype, copy=False)
    out += b.astype(x.dtype, copy=False)                  # in place: no second (B*n, d_out) array
    return out.reshape(*x.shape[:-1], w.shape[1])


def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """Normalise each position's feature vector to mean 0, variance 1, then scale and shift.

    x: (..., d_model); gamma, beta: (d_model,). Statistics run over the last axis only, so
    every token is normalised on its own (batch norm would average over tokens instead).
    The variance is the biased one (divide by d_model), as in PyTorch. A constant vector has
    variance 0: eps keeps the division finite and the output is exactly ``beta``.
    """
    x = float_array(x, "x")
    d_model = x.shape[-1]
    gamma = check_shape(gamma, (d_model,), "gamma").astype(x.dtype, copy=False)
    beta = check_shape(beta, (d_model,), "beta").astype(x.dtype, copy=False)
    return _layer_norm_in_place(x.copy(), gamma, beta, eps)


def _layer_norm_in_place(centred: np.ndarray, gamma, beta, eps: float) -> np.ndarray:
    # Layer norm of ``centred``, written over it (a temporary the caller owns, e.g. the residual
    # sum x + sublayer(x) inside the block): no new (..., d_model) array, so no fresh memory.
    # Shift each row by its first entry first (layer norm ignores shifts): a constant row becomes
    # exactly 0, so its output is exactly beta, even in float32 at large magnitudes.
    centred -= centred[..., :1].copy()
    centred -= centred.mean(axis=-1, keepdims=True)
    # The mean of squares as one dot product per row: no (..., d_model) array of squares.
    var = np.vecdot(centred, centred)[..., None] / np.asarray(centred.shape[-1], centred.dtype)
    # In place: each step is one pass over (..., d_model), no new arrays.
    centred *= 1 / np.sqrt(var + eps).astype(centred.dtype, copy=False)
    centred *= gamma.astype(centred.dtype, copy=False)
    centred += beta.astype(centred.dtype, copy=False)
    return centred


@dataclass
class LayerNormParams:
    """Learned scale ``gamma`` and shift ``beta``, both (d_model,)."""

    gamma: np.ndarray
    beta: np.ndarray

    def __post_init__(self):
        self.gamma = np.asarray(self.gamma)
        self.beta = check_shape(self.beta, self.gamma.shape, "beta")
        if self.gamma.ndim != 1:
            raise ValueError(f"gamma must have shape (d_model,), got shape {self.gamma.shape}")


def relu(x) -> np.ndarray:
    """max(0, x), element-wise; same shape and dtype as x."""
    x = float_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False)


# Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7, i.e. float32's own precision.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf_float32(x: np.ndarray) -> np.ndarray:
    # erf(|x|) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p |x|). Written in place on two
    # temporaries: GELU runs this on every hidden unit, so each saved pass counts.
    t = np.abs(x)
    t *= np.float32(_AS_P)
    t += 1
    np.reciprocal(t, out=t)
    poly = t * np.float32(_AS_A[4])
    for a in _AS_A[3::-1]:                   # Horner's rule over the 5 coefficients, not the data
        poly += np.float32(a)
        poly *= t
    with np.errstate(over="ignore"):         # |x| > 1.8e19: x^2 = inf, exp(-inf) = 0, erf = +-1
        np.square(x, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    poly *= t
    np.subtract(1, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def _erf_float64(x: np.ndarray) -> np.ndarray:
    # Two classical expansions, each used where it converges fast; both to ~1e-16.
    ax = np.abs(x)
    out = np.empty_like(ax)
    small = ax < 2.5
    # |x| < 2.5: erf(x) = 2/sqrt(pi) exp(-x^2) sum_k (2x^2)^k x / (1*3*...*(2k+1)),
    # a series of positive terms, so no cancellation.
    xs = ax[small]
    two_x2 = 2 * xs * xs
    term = xs.copy()
    total = xs.copy()
    for k in range(1, 60):
        term = term * two_x2 / (2 * k + 1)
        total = total + term
    out[small] = 2 / np.sqrt(np.pi) * np.exp(-xs * xs) * total
    # |x| >= 2.5: erfc by its continued fraction  1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    xl = ax[~small]
    frac = xl.copy()
    for k in range(60, 0, -1):
        frac = xl + (k / 2) / frac
    with np.errstate(over="ignore"):         # |x| > 1.3e154: x^2 = inf, exp(-inf) = 0, erf = +-1
        out[~small] = 1 - np.exp(-xl * xl) / (np.sqrt(np.pi) * frac)
    return np.sign(x) * out


def erf(x) -> np.ndarray:
    """The error function, element-wise, in NumPy alone (NumPy has no erf).

    float64: accurate to about 1e-15 (series below 2.5, continued fraction above).
    float32: the Abramowitz & Stegun 7.1.26 formula, accurate to 1.5e-7, which is
    float32's own resolution and several times faster.
    """
    x = float_array(x, "x")
    if x.dtype == np.float32:
        return _erf_float32(np.atleast_1d(x)).reshape(x.shape)    # 1-d: its in-place steps need an array
    return _erf_float64(x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)


def gelu(x) -> np.ndarray:
    """GELU, exact erf form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). Same shape and dtype."""
    x = float_array(x, "x")
    return _gelu_in_place(np.array(x, ndmin=1)).reshape(x.shape)    # a copy (1-d at least) to work on


def _gelu_in_place(x: np.ndarray) -> np.ndarray:
    # GELU written over x (the feed-forward's hidden layer, a temporary its caller owns): the
    # (B*n, d_ff) hidden layer is the block's largest array, so no new array of its size is made
    # for the result.
    if x.dtype == np.float32:
        x *= _normal_cdf_float32(x)
        return x
    phi = erf(x * np.sqrt(0.5))
    phi += 1
    phi *= 0.5                                     # before * x: 2 x would overflow near float max
    x *= phi
    return x


def _normal_cdf_float32(x: np.ndarray) -> np.ndarray:
    # Phi(x) = 0.5 (1 + erf(x / sqrt 2)) for float32 x (at least 1-d), by 7.1.26 with x / sqrt 2 and
    # the factor 0.5 folded into the constants: Q = 0.5 (a1 t + ... + a5 t^5) exp(-x^2 / 2) is
    # Phi(-|x|), t = 1 / (1 + (p / sqrt 2) |x|), and Phi(x) = 0.5 + sign(x) (0.5 - Q). Two passes over
    # the hidden layer fewer than 0.5 (1 + erf(x / sqrt 2)) step by step. (helpers.backward uses it too.)
    t = np.abs(x)
    t *= np.float32(_AS_P / np.sqrt(2))
    t += 1
    np.reciprocal(t, out=t)
    poly = t * np.float32(0.5 * _AS_A[4])
    for a in _AS_A[3::-1]:                   # Horner's rule over the 5 coefficients, not the data
        poly += np.float32(0.5 * a)
        poly *= t
    with np.errstate(over="ignore"):         # |x| > 1.8e19: x^2 = inf, exp(-inf) = 0, Phi = 0 or 1
        np.square(x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    poly *= t                                # Q = Phi(-|x|)
    np.subtract(np.float32(0.5), poly, out=poly)
    poly *= np.sign(x, out=t)                # (np.where or a masked subtract: 10x slower here)
    poly += np.float32(0.5)
    return poly


ACTIVATIONS = {"relu": relu, "gelu": gelu}


@dataclass
class FeedForwardParams:
    """Position-wise feed-forward weights: w_1 (d_model, d_ff), b_1 (d_ff,),
    w_2 (d_ff, d_model), b_2 (d_model,)."""

    w_1: np.ndarray
    b_1: np.ndarray
    w_2: np.ndarray
    b_2: np.ndarray

    def __post_init__(self):
        self.w_1 = np.asarray(self.w_1)
        if self.w_1.ndim != 2:
            raise ValueError(f"w_1 must have shape (d_model, d_ff), got shape {self.w_1.shape}")
        d_model, d_ff = self.w_1.shape
        self.b_1 = check_shape(self.b_1, (d_ff,), "b_1")
        self.w_2 = check_shape(self.w_2, (d_ff, d_model), "w_2")
        self.b_2 = check_shape(self.b_2, (d_model,), "b_2")

    @property
    def d_model(self) -> int:
        return self.w_1.shape[0]

    @property
    def d_ff(self) -> int:
        return self.w_1.shape[1]


def init_feed_forward(rng: np.random.Generator, d_model: int, d_ff: int,
                      dtype=np.float64) -> FeedForwardParams:
    """Random feed-forward weights, initialised as PyTorch's nn.Linear does (uniform +-1/sqrt(fan_in))."""
    b1, b2 = 1 / np.sqrt(d_model), 1 / np.sqrt(d_ff)
    return FeedForwardParams(
        w_1=rng.uniform(-b1, b1, size=(d_model, d_ff)).astype(dtype),
        b_1=rng.uniform(-b1, b1, size=d_ff).astype(dtype),
        w_2=rng.uniform(-b2, b2, size=(d_ff, d_model)).astype(dtype),
        b_2=rng.uniform(-b2, b2, size=d_model).astype(dtype),
    )


def feed_forward(x, params: FeedForwardParams, activation: str = "relu") -> np.ndarray:
    """FFN(x) = activation(x W_1 + b_1) W_2 + b_2, applied to every position separately.

    x: (..., n, d_model) -> hidden (..., n, d_ff) -> output (..., n, d_model).
    One matrix product covers all positions at once; no position sees another.
    """
    x = float_array(x, "x")
    check_last_dim(x, params.d_model, "x")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return _feed_forward(x, params, activation)


# The activations applied in place to the hidden layer, our own temporary (see _feed_forward).
_ACTIVATIONS_IN_PLACE = {
    "relu": lambda hidden: np.maximum(hidden, 0, out=hidden),
    "gelu": _gelu_in_place,
}


def _feed_forward(x: np.ndarray, params: FeedForwardParams, activation: str) -> np.ndarray:
    # feed_forward() without its checks (the block checked once). The activation overwrites the
    # (..., n, d_ff) hidden layer instead of making a second one: at B = 8, n = 128 that array is
    # 8 MB, and fresh memory of that size costs page faults on every call.
    hidden = _linear(x, params.w_1, params.b_1)                              # (..., n, d_ff)
    hidden = _ACTIVATIONS_IN_PLACE[activation](hidden)
    return _linear(hidden, params.w_2, params.b_2)
