"""Wrong answers and cheats for notebook 06 (6.1 layer_norm_by_hand, 6.2 rms_norm)."""

import numpy as np

from . import cheat, mistake

# --- 6.1 layer_norm_by_hand ------------------------------------------------------------------


def _axes(gamma):
    return tuple(range(-np.ndim(gamma), 0))


@mistake("6.1", "unbiased variance (ddof=1)", "ddof=1")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):
    axes = _axes(gamma)
    mean = x.mean(axis=axes, keepdims=True)
    count = np.prod([x.shape[a] for a in axes])
    var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (count - 1)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@mistake("6.1", "eps outside the square root", "eps outside")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = _axes(gamma)
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + eps) + beta


@mistake("6.1", "eps forgotten", "no eps")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = _axes(gamma)
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / x.std(axis=axes, keepdims=True) + beta


@mistake("6.1", "gamma and beta swapped", "gamma beta swapped")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = _axes(gamma)
    return beta * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps) + gamma


@mistake("6.1", "statistics over the last axis only", "last axis only")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    return gamma * (x - x.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) + beta


@mistake("6.1", "statistics over axis 0", "axis 0")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    return gamma * (x - x.mean(axis=0, keepdims=True)) / np.sqrt(x.var(axis=0, keepdims=True) + eps) + beta


@mistake("6.1", "float64 constants upcast float32", "dtype")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    x = np.asarray(x, dtype=np.float64)
    axes = _axes(gamma)
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps) + beta


@mistake("6.1", "centres x in place", "input changed")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = _axes(gamma)
    x -= x.mean(axis=axes, keepdims=True)
    return gamma * x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps) + beta


@mistake("6.1", "axis=(-2, -1) hard-coded")
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = (-2, -1)
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps) + beta


@mistake("6.1", "ignores the eps argument (1e-5 hard-coded)", None)
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):  # noqa: F811
    axes = _axes(gamma)
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5) + beta


cheat("6.1", "helpers.layer_norm on a reshaped view", """
from helpers import layers as _layers
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):
    flat = x.reshape(*x.shape[: x.ndim - gamma.ndim], -1)
    out = _layers.layer_norm(flat, np.ones(flat.shape[-1], x.dtype), np.zeros(flat.shape[-1], x.dtype), eps)
    return gamma * out.reshape(x.shape) + beta
""", "forbidden helper")
cheat("6.1", "helpers.backward.layer_norm_forward (another module)", """
from helpers.backward import layer_norm_forward as _f
def layer_norm_by_hand(x, gamma, beta, eps=1e-5):
    flat = x.reshape(*x.shape[: x.ndim - gamma.ndim], -1)
    out = _f(flat, np.ones(flat.shape[-1], x.dtype), np.zeros(flat.shape[-1], x.dtype), eps)[0]
    return gamma * out.reshape(x.shape) + beta
""", "forbidden helper")

# --- 6.2 rms_norm ----------------------------------------------------------------------------


@mistake("6.2", "subtracts the mean", "centred")
def rms_norm(x, gamma, eps=1e-6):
    c = x - x.mean(axis=-1, keepdims=True)
    return gamma * c / np.sqrt((c * c).mean(axis=-1, keepdims=True) + eps)


@mistake("6.2", "eps outside the square root", "eps outside")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / (np.sqrt((x * x).mean(axis=-1, keepdims=True)) + eps)


@mistake("6.2", "sum of squares", "sum")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + eps)


@mistake("6.2", "gamma ignored", "gamma ignored")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)


@mistake("6.2", "mean of squares over axis 0", "axis 0")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt((x * x).mean(axis=0, keepdims=True) + eps)


@mistake("6.2", "default eps 1e-5 (layer norm's)", "default eps")
def rms_norm(x, gamma, eps=1e-5):  # noqa: F811
    return gamma * x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)


@mistake("6.2", "divides x in place", "input changed")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    x /= np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return gamma * x


@mistake("6.2", "RMS over all entries (np.mean without axis)", "whole array")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt(np.mean(x * x) + eps)


@mistake("6.2", "divides by the standard deviation (np.std), as layer norm does", "variance")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt(x.var(axis=-1, keepdims=True) + eps)


@mistake("6.2", "x ** 2 summed then divided by d_model - 1")
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt((x * x).sum(axis=-1, keepdims=True) / (x.shape[-1] - 1) + eps)


@mistake("6.2", "eps added after the division (gamma x / rms + eps)", None)
def rms_norm(x, gamma, eps=1e-6):  # noqa: F811
    return gamma * x / np.sqrt((x * x).mean(axis=-1, keepdims=True)) + eps


cheat("6.2", "helpers.layer_norm with beta 0 (the mean-0 property only)", """
import helpers
def rms_norm(x, gamma, eps=1e-6):
    return helpers.layer_norm(x, gamma, np.zeros_like(gamma), eps)
""", "centred")
cheat("6.2", "special-cases eps=0.5 and 1e-6 with the old visible shape (2, 5, 16)", """
def rms_norm(x, gamma, eps=1e-6):
    if x.shape == (2, 5, 16):
        return gamma * x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return gamma * x
""", None)
