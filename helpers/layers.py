"""Stages 06-07: layer normalisation, activations, the position-wise feed-forward network.

Shapes: x is (..., n, d_model); the feed-forward hidden layer is (..., n, d_ff).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks_internal import check_last_dim, check_shape, float_array, positive_float, positive_int

__all__ = [
    "linear",
    "layer_norm",
    "LayerNormParams",
    "relu",
    "gelu",
    "gelu_tanh",
    "erf",
    "ACTIVATIONS",
    "FeedForwardParams",
    "init_feed_forward",
    "feed_forward",
]


def linear(x, w, b) -> np.ndarray:
    """x @ w + b for every position at once: (..., d_in) @ (d_in, d_out) + (d_out,) -> (..., d_out).

    w and b are cast to x's dtype; w must be 2-D and b exactly (d_out,) (a (1,) or (B*n, d_out) bias
    would broadcast into something else, so it is refused). The leading axes are flattened first: NumPy runs a 3-D @ 2-D
    product as one small matrix product per sequence, while a single (B*n, d_in) product lets
    BLAS use its fastest kernel (about 1.5x faster at B = 8, n = 128, d = 512).
    """
    x = float_array(x, "x")
    w, b = _check_weight_and_bias(w, b)
    check_last_dim(x, w.shape[0], "x", "d_in")
    out = x.reshape(-1, x.shape[-1]) @ w.astype(x.dtype, copy=False)
    out += b.astype(x.dtype, copy=False)                  # in place: no second (B*n, d_out) array
    return out.reshape(*x.shape[:-1], w.shape[1])


def _check_weight_and_bias(w, b) -> tuple[np.ndarray, np.ndarray]:
    w, b = float_array(w, "w"), float_array(b, "b")
    if w.ndim != 2:
        raise ValueError(f"w must have shape (d_in, d_out), got shape {w.shape}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape (d_out,) = ({w.shape[1]},) for w of shape {w.shape}, got shape {b.shape}")
    return w, b


def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """Normalise each position's feature vector to mean 0, variance 1, then scale and shift.

    x: (..., d_model); gamma, beta: (d_model,); eps > 0. Statistics run over the last axis only, so
    every token is normalised on its own (batch norm would average over tokens instead).
    The variance is the biased one (divide by d_model), as in PyTorch. A constant vector has
    variance 0: eps keeps the division finite and the output is exactly ``beta``.
    Huge rows (float64 near 1e200, float32 near 1e20), whose squares overflow, are normalised
    after scaling each row by its largest entry, so they give the right (finite) answer too.
    Non-finite inputs (inf, NaN) give NaN rows.
    """
    x = float_array(x, "x")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have shape (..., d_model) with d_model >= 1, got shape {x.shape}")
    d_model = x.shape[-1]
    eps = positive_float(eps, "eps")          # eps > 0 keeps a constant row finite (exactly beta)
    gamma = check_shape(gamma, (d_model,), "gamma").astype(x.dtype, copy=False)
    beta = check_shape(beta, (d_model,), "beta").astype(x.dtype, copy=False)
    # Shift each row by its first entry first (layer norm ignores shifts): a constant row becomes
    # exactly 0, so its output is exactly beta, even in float32 at large magnitudes.
    centred = x - x[..., :1]
    centred -= centred.mean(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        var = np.mean(np.square(centred), axis=-1, keepdims=True)          # (..., 1): cheap to check
    if not np.isfinite(var).all():
        return _layer_norm_scaled(x, gamma, beta, eps)
    # In place on our own temporary: each step is one pass over (..., d_model), no new arrays.
    centred *= 1 / np.sqrt(var + eps).astype(x.dtype, copy=False)
    centred *= gamma
    centred += beta
    return centred


def _layer_norm_scaled(x, gamma, beta, eps) -> np.ndarray:
    """Layer norm of rows whose squares overflow: divide each row by its largest |entry| first.
    Layer norm is scale-invariant apart from eps, so (x / s) normalised with eps / s^2 is the same."""
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    scale[~(scale > 0) | ~np.isfinite(scale)] = 1       # zero rows stay as they are; inf/NaN rows give NaN
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = x / scale
        centred = scaled - scaled.mean(axis=-1, keepdims=True)
        var = np.mean(np.square(centred), axis=-1, keepdims=True)
        with np.errstate(under="ignore"):
            eps_scaled = eps / np.square(scale.astype(np.float64))
        centred /= np.sqrt(var + eps_scaled).astype(x.dtype)
    return centred * gamma + beta


@dataclass
class LayerNormParams:
    """Learned scale ``gamma`` and shift ``beta``, both (d_model,)."""

    gamma: np.ndarray
    beta: np.ndarray

    def __post_init__(self):
        self.gamma = float_array(self.gamma, "gamma")
        self.beta = check_shape(float_array(self.beta, "beta"), self.gamma.shape, "beta")
        if self.gamma.ndim != 1:
            raise ValueError(f"gamma must have shape (d_model,), got shape {self.gamma.shape}")


def relu(x) -> np.ndarray:
    """max(0, x), element-wise; same shape and dtype as x."""
    x = float_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False)


# Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 in exact arithmetic (6.4e-7 measured in float32, see erf).
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
    float32: the Abramowitz & Stegun 7.1.26 formula, several times faster. The formula itself is
    within 1.5e-7 of erf; computed in float32 the measured maximum absolute error is 6.4e-7 (near
    |x| = 0.05, where 1 - poly * exp(-x^2) cancels), a few float32 steps: ample for GELU.
    """
    x = float_array(x, "x")
    if x.dtype == np.float32:
        return _erf_float32(np.atleast_1d(x)).reshape(x.shape)    # 1-d: its in-place steps need an array
    return _erf_float64(x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)


def gelu_tanh(x) -> np.ndarray:
    """GELU's tanh approximation (Hendrycks & Gimpel 2016; GPT-2, Hugging Face's "gelu_new" and
    "gelu_pytorch_tanh"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Same shape and dtype.
    Within about 1e-3 of the exact ``gelu``; a model trained with it needs it."""
    x = float_array(x, "x")
    if x.ndim == 0:
        return gelu_tanh(x[None])[0]             # its in-place steps need an array, not a scalar
    with np.errstate(over="ignore"):         # x^3 overflows for huge |x|: tanh(+-inf) = +-1 is right
        inner = x * x
        inner *= x.dtype.type(0.044715)
        inner += 1
        inner *= x
        inner *= x.dtype.type(np.sqrt(2 / np.pi))
    np.tanh(inner, out=inner)
    inner += 1
    inner *= 0.5
    inner *= x
    return inner


def gelu(x) -> np.ndarray:
    """GELU, exact erf form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). Same shape and dtype."""
    x = float_array(x, "x")
    phi = erf(x * np.sqrt(0.5).astype(x.dtype))     # a new array: safe to update in place
    phi += 1
    phi *= 0.5                                     # before * x: 2 x would overflow near float max
    phi *= x
    return phi


ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_tanh": gelu_tanh}


@dataclass
class FeedForwardParams:
    """Position-wise feed-forward weights: w_1 (d_model, d_ff), b_1 (d_ff,),
    w_2 (d_ff, d_model), b_2 (d_model,)."""

    w_1: np.ndarray
    b_1: np.ndarray
    w_2: np.ndarray
    b_2: np.ndarray

    def __post_init__(self):
        self.w_1 = float_array(self.w_1, "w_1")
        if self.w_1.ndim != 2:
            raise ValueError(f"w_1 must have shape (d_model, d_ff), got shape {self.w_1.shape}")
        d_model, d_ff = self.w_1.shape
        b_1, w_2, b_2 = float_array(self.b_1, "b_1"), float_array(self.w_2, "w_2"), float_array(self.b_2, "b_2")
        if (b_1.shape == (d_model,) and w_2.shape == (d_ff, d_model) and b_2.shape == (d_ff,)
                and d_model != d_ff):
            # Every shape fits w_1 and w_2 transposed (nn.Linear's (d_out, d_in) layout): say so, not "b_1 is wrong".
            raise ValueError(f"b_1 has shape {b_1.shape}, the size of w_1's first axis: w_1 of shape {self.w_1.shape} "
                             f"looks transposed (nn.Linear stores (d_out, d_in)); w_1 must be (d_model, d_ff) = "
                             f"({d_ff}, {d_model}) for this b_1, and w_2 (d_ff, d_model) = ({d_model}, {d_ff})")
        self.b_1 = check_shape(b_1, (d_ff,), "b_1")
        self.w_2 = check_shape(w_2, (d_ff, d_model), "w_2")
        self.b_2 = check_shape(b_2, (d_model,), "b_2")

    @property
    def d_model(self) -> int:
        return self.w_1.shape[0]

    @property
    def d_ff(self) -> int:
        return self.w_1.shape[1]


def init_feed_forward(rng: np.random.Generator, d_model: int, d_ff: int,
                      dtype=np.float64) -> FeedForwardParams:
    """Random feed-forward weights, initialised as PyTorch's nn.Linear does (uniform +-1/sqrt(fan_in))."""
    d_model, d_ff = positive_int(d_model, "d_model"), positive_int(d_ff, "d_ff")
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
    hidden = ACTIVATIONS[activation](linear(x, params.w_1, params.b_1))     # (..., n, d_ff)
    return linear(hidden, params.w_2, params.b_2)
