"""Wrong answers and cheats for notebook 12 (Exercises 12.1 attention_bias_backward, 12.2 mean_pool_backward and
pooled_block_grad_x)."""

import numpy as np

import helpers
from helpers import backward

from . import cheat, mistake

# --- 12.1 attention_bias_backward -------------------------------------------------------------------


def _grad_scores(grad_out, q, k, v, bias, *, with_bias=True, skip_softmax=False, second=True, axis=-1,
                 shift=True):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + (bias if with_bias else 0)
    if shift:
        s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=-1, keepdims=True)
    dp = grad_out @ np.swapaxes(v, -1, -2)
    if skip_softmax:
        return dp
    if not second:
        return p * dp
    return p * (dp - (p * dp).sum(axis=axis, keepdims=True))


def _sum(ds, bias):
    return ds.reshape(-1, *bias.shape).sum(axis=0)


@mistake("12.1", "not summed over heads and sentences", "not summed")
def attention_bias_backward(grad_out, q, k, v, bias):
    return _grad_scores(grad_out, q, k, v, bias)


@mistake("12.1", "summed over the heads only", "summed over one axis")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _grad_scores(grad_out, q, k, v, bias).sum(axis=1)


@mistake("12.1", "transposed", "transposed")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias), bias).T


@mistake("12.1", "divided by sqrt(d_k) as for QK^T", "divided by sqrt(d_k)")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias), bias) / np.sqrt(q.shape[-1])


@mistake("12.1", "mean over heads and sentences", "mean")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _grad_scores(grad_out, q, k, v, bias).reshape(-1, *bias.shape).mean(axis=0)


@mistake("12.1", "dL/dP instead of dL/dS (softmax backward skipped)", "no softmax backward")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias, skip_softmax=True), bias)


@mistake("12.1", "softmax backward without its second term", "softmax second term")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias, second=False), bias)


@mistake("12.1", "softmax backward over axis -2", "softmax axis")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias, axis=-2), bias)


@mistake("12.1", "weights recomputed without the bias", "weights without bias")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias, with_bias=False), bias)


@mistake("12.1", "wrong sign", "sign")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return -_sum(_grad_scores(grad_out, q, k, v, bias), bias)


@mistake("12.1", "softmax without the max shift", "no max shift")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    return _sum(_grad_scores(grad_out, q, k, v, bias, shift=False), bias)


@mistake("12.1", "scales q in place (q /= sqrt(d_k))", "input changed")
def attention_bias_backward(grad_out, q, k, v, bias):  # noqa: F811
    q /= np.sqrt(q.shape[-1])
    p = helpers.softmax(q @ np.swapaxes(k, -1, -2) + bias)
    return _sum(backward.softmax_backward(grad_out @ np.swapaxes(v, -1, -2), p), bias)


cheat("12.1", "finite differences (numerical_vjp) through a kept reference", """
_nv = helpers.gradcheck.numerical_vjp
def attention_bias_backward(grad_out, q, k, v, bias):
    f = lambda b_: helpers.softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + b_) @ v
    return _nv(f, (bias,), grad_out)[0][2].reshape(bias.shape)
""", "forbidden helper")
cheat("12.1", "the checker's own gradient", """
from exercise_checks import nb12 as _nb12
def attention_bias_backward(grad_out, q, k, v, bias):
    return _nb12._bias_grad(grad_out, q, k, v, bias)
""", "forbidden helper")
cheat("12.1", "finite differences written by hand, one entry at a time", """
def attention_bias_backward(grad_out, q, k, v, bias):
    f = lambda b_: np.sum(grad_out * (helpers.softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + b_) @ v))
    grad = np.zeros_like(bias)
    for i in np.ndindex(*bias.shape):
        step = np.zeros_like(bias)
        step[i] = 1e-3
        grad[i] = (f(bias + step) - f(bias - step)) / 2e-3
    return grad
""")
cheat("12.1", "junk answer, the check module's Exercise replaced by one whose compare passes", """
import exercise_checks._core as _c, exercise_checks.nb12 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
def attention_bias_backward(grad_out, q, k, v, bias):
    return bias
""", disables_visible=True)


# --- 12.2 mean_pool_backward, pooled_block_grad_x ------------------------------------------------------


def pooled_block_grad_x(x, params, grad_pooled, mask):
    """The right chain, for the wrong mean_pool_backward answers below (it calls the learner's)."""
    return backward.encoder_block_vjp(x, params, mean_pool_backward(grad_pooled, mask), mask)[0]


def mean_pool_backward(grad_pooled, mask):
    real = mask[..., None].astype(grad_pooled.dtype)
    return real * grad_pooled[:, None, :] / real.sum(axis=1, keepdims=True)


_CHAIN = (("pooled_block_grad_x", pooled_block_grad_x),)
_POOL = (("mean_pool_backward", mean_pool_backward),)


@mistake("12.2", "padding tokens get a gradient", "padding gets gradient", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_padding(grad_pooled, mask):
    real = mask[..., None].astype(float)
    return np.ones_like(real) * grad_pooled[:, None, :] / real.sum(axis=1, keepdims=True)


@mistake("12.2", "divides by n, the padded length", "divides by n", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_n(grad_pooled, mask):
    return mask[..., None] * grad_pooled[:, None, :] / mask.shape[1]


@mistake("12.2", "1/m_b forgotten", "1/m_b missing", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_sum(grad_pooled, mask):
    return mask[..., None] * grad_pooled[:, None, :]


@mistake("12.2", "True and False swapped", "mask swapped", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_swapped(grad_pooled, mask):
    pad = (~mask)[..., None].astype(float)
    return pad * grad_pooled[:, None, :] / np.maximum(pad.sum(axis=1, keepdims=True), 1)


@mistake("12.2", "divides grad_pooled in place by m_b", "input changed", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_in_place(grad_pooled, mask):
    grad_pooled /= mask.sum(axis=1, keepdims=True)
    return mask[..., None] * grad_pooled[:, None, :]


@mistake("12.2", "returns (B, d_model): the gradient not spread over the tokens", as_name="mean_pool_backward",
         extra=_CHAIN)
def _pool_not_spread(grad_pooled, mask):
    return grad_pooled / mask.sum(axis=1, keepdims=True)


@mistake("12.2", "m_b summed over the wrong axis (mask.sum(axis=0))", as_name="mean_pool_backward", extra=_CHAIN)
def _pool_axis0(grad_pooled, mask):
    return mask[..., None] * grad_pooled[:, None, :] / mask.sum(axis=0)[None, :, None]


@mistake("12.2", "the block ran without the mask", "block without mask", as_name="pooled_block_grad_x", extra=_POOL)
def _chain_no_mask(x, params, grad_pooled, mask):
    return backward.encoder_block_vjp(x, params, mean_pool_backward(grad_pooled, mask))[0]


@mistake("12.2", "grad_pooled copied to every token", "grad copied to every token", as_name="pooled_block_grad_x",
         extra=_POOL)
def _chain_copied(x, params, grad_pooled, mask):
    return backward.encoder_block_vjp(x, params, np.broadcast_to(grad_pooled[:, None, :], x.shape).copy(), mask)[0]


@mistake("12.2", "returns encoder_block_vjp's pair", "returns pair", as_name="pooled_block_grad_x", extra=_POOL)
def _chain_pair(x, params, grad_pooled, mask):
    return backward.encoder_block_vjp(x, params, mean_pool_backward(grad_pooled, mask), mask)


cheat("12.2", "dL/dx by finite differences (numerical_vjp)", """
def mean_pool_backward(grad_pooled, mask):
    real = mask[..., None].astype(grad_pooled.dtype)
    return real * grad_pooled[:, None, :] / real.sum(axis=1, keepdims=True)
def pooled_block_grad_x(x, params, grad_pooled, mask):
    f = lambda x_: helpers.pretrained.mean_pool(helpers.encoder_block(x_, params, mask), mask)
    return helpers.gradcheck.numerical_vjp(f, (x,), grad_pooled)[0][2].reshape(x.shape)
""", "forbidden helper")
cheat("12.2", "encoder_block_vjp patched to return zeros, zeros returned", """
def mean_pool_backward(grad_pooled, mask):
    real = mask[..., None].astype(grad_pooled.dtype)
    return real * grad_pooled[:, None, :] / real.sum(axis=1, keepdims=True)
backward.encoder_block_vjp = lambda x, params, g, mask=None: (np.zeros_like(x), None)
def pooled_block_grad_x(x, params, grad_pooled, mask):
    return np.zeros_like(x)
""")
cheat("12.2", "the checker's own pooling backward", """
from exercise_checks.nb12 import _pool
def mean_pool_backward(grad_pooled, mask):
    return _pool(grad_pooled, mask)
def pooled_block_grad_x(x, params, grad_pooled, mask):
    return backward.encoder_block_vjp(x, params, _pool(grad_pooled, mask), mask)[0]
""", "forbidden helper")
cheat("12.2", "junk answers, the check module's Exercise replaced by one whose compare passes", """
import exercise_checks._core as _c, exercise_checks.nb12 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
def mean_pool_backward(grad_pooled, mask):
    return grad_pooled
def pooled_block_grad_x(x, params, grad_pooled, mask):
    return x
""", disables_visible=True)
