"""Wrong answers and cheats for notebook 11 (Exercises 11.1 linear_no_bias_backward, 11.2 rms_norm_backward)."""

import numpy as np

from . import cheat, mistake

# --- 11.1 linear_no_bias_backward -------------------------------------------------------------------


def _rows(a):
    return a.reshape(-1, a.shape[-1])


@mistake("11.1", "returns (grad_w, grad_x)", "order")
def linear_no_bias_backward(grad_y, x, w):
    return _rows(x).T @ _rows(grad_y), grad_y @ w.T


@mistake("11.1", "grad_w transposed (grad_y^T @ x)", "grad_w transposed")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, _rows(grad_y).T @ _rows(x)


@mistake("11.1", "grad_w not summed over the rows", "grad_w not summed")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, np.einsum("...i,...o->...io", x, grad_y)


@mistake("11.1", "grad_w averaged over the rows", "grad_w mean")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    rows = _rows(x).shape[0]
    return grad_y @ w.T, _rows(x).T @ _rows(grad_y) / rows


@mistake("11.1", "grad_w with the wrong sign", "grad_w sign")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, -(_rows(x).T @ _rows(grad_y))


@mistake("11.1", "grad_x with the wrong sign", "grad_x sign")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return -(grad_y @ w.T), _rows(x).T @ _rows(grad_y)


@mistake("11.1", "grad_x = grad_y @ w (no transpose)")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w, _rows(x).T @ _rows(grad_y)


@mistake("11.1", "einsum written for (B, n, d) only")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, np.einsum("bni,bno->io", x, grad_y)


@mistake("11.1", "x.T @ grad_y (right for 2-D x only)")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, x.T @ grad_y


@mistake("11.1", "d_in hard-coded to 4 in the reshape")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    return grad_y @ w.T, x.reshape(-1, 4).T @ grad_y.reshape(x.reshape(-1, 4).shape[0], -1)


@mistake("11.1", "flattens x in place (x.shape = ...)", "input changed")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    grad_x = grad_y @ w.T
    x.shape = (-1, x.shape[-1])
    return grad_x, x.T @ _rows(grad_y)


@mistake("11.1", "sums over the first leading axis only")
def linear_no_bias_backward(grad_y, x, w):  # noqa: F811
    per = np.einsum("...i,...o->...io", x, grad_y)
    return grad_y @ w.T, per.sum(axis=0) if per.ndim > 2 else per


cheat("11.1", "helpers.backward's linear layer with a zero bias", """
def linear_no_bias_backward(grad_y, x, w):
    _, cache = backward.linear_forward(x, w, np.zeros(w.shape[1]))
    grad_x, grad_w, _ = backward.linear_backward(grad_y, cache)
    return grad_x, grad_w
""", "forbidden helper")
cheat("11.1", "finite differences through a kept reference to numerical_vjp", """
from helpers.gradcheck import numerical_vjp as _nv
def linear_no_bias_backward(grad_y, x, w):
    gx = _nv(lambda x_: x_ @ w, (x,), grad_y)[0][2].reshape(x.shape)
    gw = _nv(lambda w_: x @ w_, (w,), grad_y)[0][2].reshape(w.shape)
    return gx, gw
""", "forbidden helper")
cheat("11.1", "finite differences with sys.setprofile switched off", """
import sys
sys.setprofile = lambda f: None
def linear_no_bias_backward(grad_y, x, w):
    gx = helpers.gradcheck.numerical_vjp(lambda x_: x_ @ w, (x,), grad_y)[0][2].reshape(x.shape)
    gw = helpers.gradcheck.numerical_vjp(lambda w_: x @ w_, (w,), grad_y)[0][2].reshape(w.shape)
    return gx, gw
""", "monitor disabled")
cheat("11.1", "junk answer, the check module's Exercise replaced by one whose compare passes", """
import exercise_checks._core as _c, exercise_checks.nb11 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
def linear_no_bias_backward(grad_y, x, w):
    return grad_y, w
""", disables_visible=True)


# --- 11.2 rms_norm_backward ----------------------------------------------------------------------------


def _rms(g, x, gamma, eps, *, projection=True, subtract_mean=False, with_gamma=True, total=False,
         eps_outside=False, axis=-1, sign=1.0, gamma_in_gg=False, raw_x=False, sum_gg=True):
    reduce = np.sum if total else np.mean
    square = np.mean(x * x, axis=axis, keepdims=True)
    r = np.sqrt(square) + eps if eps_outside else np.sqrt(square + eps)
    x_hat = x / r
    g_hat = g * gamma if with_gamma else g
    centred = g_hat - np.mean(g_hat, axis=axis, keepdims=True) if subtract_mean else g_hat
    correction = x_hat * reduce(g_hat * x_hat, axis=axis, keepdims=True) if projection else 0.0
    grad_x = (centred - sign * correction) / r
    gg = g * (x if raw_x else x_hat) * (gamma if gamma_in_gg else 1.0)
    return grad_x, (gg.reshape(-1, x.shape[-1]).sum(axis=0) if sum_gg else gg)


@mistake("11.2", "the term from r depending on x forgotten", "projection")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    return _rms(grad_y, x, gamma, eps, projection=False)


@mistake("11.2", "layer norm's mean term copied over", "subtract mean")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, subtract_mean=True)


@mistake("11.2", "gamma left out of grad_x", "gamma")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, with_gamma=False)


@mistake("11.2", "sum where the mean belongs in the correction", "sum")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, total=True)


@mistake("11.2", "correction added instead of subtracted", "sign")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, sign=-1.0)


@mistake("11.2", "eps outside the square root", "eps outside")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, eps_outside=True)


@mistake("11.2", "eps hard-coded to 1e-6", "eps ignored")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, 1e-6)


@mistake("11.2", "grad_gamma multiplied by gamma", "gamma in grad_gamma")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, gamma_in_gg=True)


@mistake("11.2", "grad_gamma from x instead of x / r", "raw x")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, raw_x=True)


@mistake("11.2", "grad_gamma not summed over the positions", "grad_gamma not summed")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    return _rms(grad_y, x, gamma, eps, sum_gg=False)


@mistake("11.2", "normalises x in place (x /= r) first", "input changed")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    r = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    x /= r
    g_hat = grad_y * gamma
    return (g_hat - x * np.mean(g_hat * x, axis=-1, keepdims=True)) / r, (grad_y * x).reshape(-1, x.shape[-1]).sum(0)


@mistake("11.2", "means over axis 0 (wrong axis on 2-D and 3-D input)", "axis 0")
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):  # noqa: F811
    if x.ndim == 1:
        return _rms(grad_y, x, gamma, eps)
    return _rms(grad_y, x, gamma, eps, axis=0)


cheat("11.2", "finite differences with numerical_vjp under an alias", """
from helpers import gradcheck as _gc
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    f = lambda x_, g_: g_ * x_ / np.sqrt(np.mean(x_ * x_, axis=-1, keepdims=True) + eps)
    (_, _, gx), (_, _, gg) = _gc.numerical_vjp(f, (x, gamma), grad_y)
    return gx.reshape(x.shape), gg.reshape(gamma.shape)
""", "forbidden helper")
cheat("11.2", "the checker's own backward", """
from exercise_checks.nb11 import _rms
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    return _rms(grad_y, x, gamma, eps)
""", "forbidden helper")
cheat("11.2", "reads the expected gradients from the checker's frame with inspect", """
import inspect
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    caller = inspect.stack()[2].frame.f_locals
    return caller["want_gx"], caller["want_gg"]
""", "forbidden helper")
cheat("11.2", "np.mean patched so that the checker computes what the answer does", """
_mean = np.mean
np.mean = lambda a, axis=None, keepdims=False, **k: _mean(a, axis=axis, keepdims=keepdims, **k) * 0
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    r = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return grad_y * gamma / r, (grad_y * x / r).reshape(-1, x.shape[-1]).sum(0)
""", "numpy patched")
cheat("11.2", "reads the check's expected gradients through a traceback's frames (no call to see)", """
def rms_norm_backward(grad_y, x, gamma, eps=1e-6):
    try:
        raise LookupError
    except LookupError as err:
        frame = err.__traceback__.tb_frame
    while frame is not None:
        if "want_gx" in frame.f_locals:
            return frame.f_locals["want_gx"], frame.f_locals["want_gg"]
        frame = frame.f_back
    return grad_y, gamma
""", disables_visible=True)
