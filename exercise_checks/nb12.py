"""Checks of notebook 12 (backward through the block): Exercises 12.1 and 12.2."""

from __future__ import annotations

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng, snapshot
from .nb11 import gradient_rules, pair

__all__ = ["check_12_1", "check_12_2", "hidden_12_1", "hidden_12_2"]


# --- 12.1 · the gradient of a learned attention bias -------------------------------------------------

def _softmax_backward(grad_p, p, axis=-1, second_term=True):
    if not second_term:
        return p * grad_p
    return p * (grad_p - np.sum(p * grad_p, axis=axis, keepdims=True))


def _bias_grad(g, q, k, v, bias, *, weights_bias=True, skip_softmax=False, second_term=True, axis=-1,
               reduce="sum", shift=True):
    n = bias.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + (bias if weights_bias else 0.0)
    p = ref.softmax(scores, shift=shift)
    grad_p = g @ np.swapaxes(v, -1, -2)
    grad_s = grad_p if skip_softmax else _softmax_backward(grad_p, p, axis, second_term)
    per_copy = grad_s.reshape(-1, n, n)
    return per_copy.mean(axis=0) if reduce == "mean" else per_copy.sum(axis=0)


def _check_12_1(attention_bias_backward, tag: str) -> None:
    ex = ref.Checked("12.1", "attention_bias_backward")
    ref.require_unpatched(ex)
    rules = gradient_rules()
    rng = probe_rng(tag)
    if "hidden" in tag:
        q, k, v, g = (rng.normal(size=(2, 2, 3, 2)) for _ in range(4))
        bias = rng.normal(size=(3, 3))
        kept = [a.copy() for a in (g, q, k, v, bias)]
        case = "q, k, v, grad_out (2, 2, 3, 2), bias (3, 3)"
        got = ex.call(attention_bias_backward, g, q, k, v, bias, case=case, forbid=rules)
        ex.compare(got, _bias_grad(*kept), case=case, what="dL/dbias", atol=1e-8, rtol=1e-7)   # after the call
    if "visible" in tag:
        setups = [(2, 3, 5, 4, 1.0), (1, 2, 3, 2, 1.0), (3, 1, 4, 2, 1.0), (2, 2, 4, 3, 300.0)]
    else:
        setups = [(3, 1, 4, 2, 1.0), (2, 4, 6, 5, 1.0), (1, 3, 3, 3, 1000.0)]
    for B, h, n, d_k, scale in setups:
        q, k, v, g = (rng.normal(size=(B, h, n, d_k)) for _ in range(4))
        q = scale * q
        bias = scale * rng.normal(size=(n, n))
        case = f"q, k, v, grad_out {(B, h, n, d_k)}, bias {(n, n)}" + (", huge scores" if scale > 1 else "")
        kq, kk, kv, kg, kb = q.copy(), k.copy(), v.copy(), g.copy(), bias.copy()
        want = _bias_grad(kg, kq, kk, kv, kb)
        scores = kq @ np.swapaxes(kk, -1, -2) / np.sqrt(d_k) + kb
        p = ref.softmax(scores)
        grad_s = _softmax_backward(kg @ np.swapaxes(kv, -1, -2), p)
        mistakes = [
            Mistake("not summed", "one (n, n) gradient per head and sentence: the bias is shared by all of them, "
                                  "so sum over B and h", grad_s if B * h > 1 else None),
            Mistake("summed over one axis", "summed over the heads only: sum over the batch axis B too",
                    grad_s.sum(axis=1) if B > 1 else None),
            Mistake("summed over one axis", "summed over the batch only: sum over the heads axis h too",
                    grad_s.sum(axis=0) if h > 1 else None),
            Mistake("transposed", "dL/dbias is transposed: bias[i, j] is added to query i's score for key j",
                    want.T),
            Mistake("divided by sqrt(d_k)", "it is divided by sqrt(d_k): the bias is added after the scaling, so "
                                            "dL/dbias is the sum of dL/dS itself", want / np.sqrt(d_k)),
            Mistake("mean", "it is the mean over heads and sentences: a shared parameter's gradient is the sum",
                    _bias_grad(kg, kq, kk, kv, kb, reduce="mean") if B * h > 1 else None),
            Mistake("no softmax backward", "this is the sum of dL/dP: pass it back through the softmax "
                                           "(backward.softmax_backward) to get dL/dS",
                    _bias_grad(kg, kq, kk, kv, kb, skip_softmax=True)),
            Mistake("softmax second term", "the softmax backward misses its second term: dS = P * (dP - "
                                           "sum(P * dP, axis=-1))", _bias_grad(kg, kq, kk, kv, kb, second_term=False)),
            Mistake("softmax axis", "the softmax backward reduces over axis -2: each query's row of P sums to 1, "
                                    "reduce over the keys (axis=-1)", _bias_grad(kg, kq, kk, kv, kb, axis=-2)),
            Mistake("weights without bias", "the attention weights were recomputed without the bias: P = "
                                            "softmax(QK^T / sqrt(d_k) + bias)",
                    _bias_grad(kg, kq, kk, kv, kb, weights_bias=False)),
            Mistake("sign", "dL/dbias has the wrong sign", -want),
        ]
        got = ex.call(attention_bias_backward, g, q, k, v, bias, case=case, forbid=rules,
                      inputs={"grad_out": g, "q": q, "k": k, "v": v, "bias": bias})
        arr = ex.array(got, case, "dL/dbias")
        if scale > 1 and arr.shape == want.shape and not np.all(np.isfinite(arr)):
            naive = _bias_grad(kg, kq, kk, kv, kb, shift=False)
            if not np.all(np.isfinite(naive)):
                ex.fail(f"dL/dbias has NaN/inf on huge scores ({case}): the softmax overflows; subtract each "
                        "row's max before exp (helpers.softmax does)", "no max shift")
        ex.compare(arr, want, case=case, what="dL/dbias", mistakes=mistakes, atol=1e-8, rtol=1e-7)


def check_12_1(attention_bias_backward) -> None:
    """Exercise 12.1: ``attention_bias_backward(grad_out, q, k, v, bias)`` -> dL/dbias (n, n), for a bias shared
    by every head and sentence; q, k, v (B, h, n, d_k)."""
    _check_12_1(attention_bias_backward, "12.1 visible")


def hidden_12_1(attention_bias_backward) -> None:
    """The hidden tests of 12.1: other sizes."""
    _check_12_1(attention_bias_backward, "12.1 hidden")


# --- 12.2 · backward through mean pooling ------------------------------------------------------------------

def _pool(gp, mask, *, zero_padding=True, divide="real"):
    real = mask[..., None].astype(np.float64)
    count = {"real": real.sum(axis=1, keepdims=True), "n": float(mask.shape[1]), "none": 1.0}[divide]
    return (real if zero_padding else np.ones_like(real)) * gp[:, None, :] / count


def _check_12_2(mean_pool_backward, pooled_block_grad_x, tag: str) -> None:
    import helpers.backward as hb

    ex = ref.Checked("12.2", "mean_pool_backward")

    ref.require_unpatched(ex)
    rules = gradient_rules(forbidden("helpers.pretrained.mean_pool"))
    rng = probe_rng(tag)
    hidden = "hidden" in tag
    if hidden:                                    # expected only after the calls: _encoder_ref.after_in_hidden
        mask, gp = ref.padding_mask([3, 1], 3), rng.normal(size=(2, 8))
        kg, km = gp.copy(), mask.copy()
        case = "grad_pooled (2, 8), mask (2, 3) with [3, 1] real tokens"
        got = ex.call(mean_pool_backward, gp, mask, case=case, forbid=rules)
        ex.compare(got, _pool(kg, km), case=case, what="mean_pool_backward", atol=1e-12, rtol=1e-12)
        params = ref.random_block(rng, 8, 2, 16, norm_first=False, activation="relu", eps=1e-5)
        x = rng.normal(size=(2, 3, 8))
        kp, kx = snapshot(params), x.copy()
        case = "pooled_block_grad_x, post-LN block, x (2, 3, 8)"
        got = ex.call(pooled_block_grad_x, x, params, gp, mask, case=case, forbid=rules)
        want = hb.encoder_block_vjp(kx, kp, _pool(kg, km), km)[0]
        ex.compare(got, want, case=case, what="dL/dx", atol=1e-9, rtol=1e-7)
    masks = ([np.array([[True, True, True, True], [True, True, False, False], [True, True, True, False]]),
              ref.padding_mask([1, 5], 5)] if not hidden else
             [np.ones((2, 4), bool), np.array([[True, False, False], [True, True, True]])])
    d = 8
    for mask in masks:
        B, n = mask.shape
        gp = rng.normal(size=(B, d))
        case = f"grad_pooled {gp.shape}, mask {mask.shape} with {mask.sum(axis=1).tolist()} real tokens"
        kg, km = gp.copy(), mask.copy()
        want = _pool(kg, km)
        swapped = np.where(km[..., None], 0.0, kg[:, None, :] / np.maximum((~km).sum(axis=1), 1)[:, None, None])
        got = ex.call(mean_pool_backward, gp, mask, case=case, forbid=rules,
                      inputs={"grad_pooled": gp, "mask": mask})
        ex.compare(got, want, case=case, what="mean_pool_backward", atol=1e-12, rtol=1e-12, mistakes=[
            Mistake("padding gets gradient", "the padding tokens get a gradient: they are not in the average, so "
                                             "their gradient is 0 (multiply by the mask)",
                    _pool(kg, km, zero_padding=False)),
            Mistake("divides by n", "it divides by n (every position): the average is over the m_b real tokens, "
                                    "so divide by mask.sum(axis=1)", _pool(kg, km, divide="n")),
            Mistake("1/m_b missing", "the 1/m_b is missing: this is the backward of a sum, not of a mean",
                    _pool(kg, km, divide="none")),
            Mistake("mask swapped", "True and False are swapped: True marks a real token, and only real tokens get "
                                    "a gradient", swapped),
            Mistake("not spread", "each token gets grad_pooled / n without the mask: only real tokens are averaged",
                    _pool(kg, km, zero_padding=False, divide="n")),
        ])

    ex = ref.Checked("12.2", "pooled_block_grad_x")

    ref.require_unpatched(ex)
    rules = gradient_rules(forbidden("helpers.pretrained.mean_pool"))
    setups = ([("post", "relu", np.array([[True, True, True, True], [True, True, False, False],
                                          [True, True, True, False]])),
               ("pre", "gelu", ref.padding_mask([2, 4], 4))] if not hidden else
              [("pre", "relu", np.array([[True, False, False], [True, True, True]])),
               ("post", "gelu", ref.padding_mask([3, 1], 3))])
    for wiring, act, mask in setups:
        B, n = mask.shape
        params = ref.random_block(rng, d, 2, 16, norm_first=wiring == "pre", activation=act, eps=1e-5)
        x, gp = rng.normal(size=(B, n, d)), rng.normal(size=(B, d))
        case = f"{wiring}-LN {act} block, x {x.shape}, mask {mask.shape}"
        kp, kx, kg, km = snapshot(params), x.copy(), gp.copy(), mask.copy()
        to_tokens = _pool(kg, km)
        want = hb.encoder_block_vjp(kx, snapshot(kp), to_tokens, km)[0]
        # Independent of helpers.backward: directional derivatives of the inline forward pass.
        directions = [rng.normal(size=x.shape) for _ in range(3)]
        step = 1e-5

        def loss(x_):
            out = ref.block(x_, kp, km)
            real = km[..., None].astype(np.float64)
            pooled = (out * real).sum(axis=1) / real.sum(axis=1)
            return float(np.sum(kg * pooled))
        slopes = np.array([(loss(kx + step * r) - loss(kx - step * r)) / (2 * step) for r in directions])
        mistakes = [
            Mistake("block without mask", "the block ran without the mask: pass mask to encoder_block_vjp too, or "
                                          "padding keys are attended", hb.encoder_block_vjp(kx, snapshot(kp),
                                                                                            to_tokens, None)[0]),
            Mistake("grad copied to every token", "the gradient sent into the block is grad_pooled copied to every "
                                                  "token: send mean_pool_backward(grad_pooled, mask)",
                    hb.encoder_block_vjp(kx, snapshot(kp), np.broadcast_to(kg[:, None, :], kx.shape).copy(),
                                         km)[0]),
            Mistake("1/m_b missing", "the gradient sent into the block misses 1/m_b: it is the backward of a mean",
                    hb.encoder_block_vjp(kx, snapshot(kp), _pool(kg, km, divide="none"), km)[0]),
            Mistake("padding gets gradient", "the gradient sent into the block reaches the padding rows: multiply "
                                             "by the mask", hb.encoder_block_vjp(kx, snapshot(kp),
                                                                                 _pool(kg, km, zero_padding=False),
                                                                                 km)[0]),
        ]
        result = ex.call(pooled_block_grad_x, x, params, gp, mask, case=case, forbid=rules,
                         inputs={"x": x, "params": params, "grad_pooled": gp, "mask": mask})
        if isinstance(result, tuple) and len(result) == 2 and np.shape(result[0]) == x.shape:
            ex.fail(f"returns encoder_block_vjp's pair (grad_x, grads): return only grad_x ({case})", "returns pair")
        arr = ex.compare(result, want, case=case, what="dL/dx", mistakes=mistakes, atol=1e-9, rtol=1e-7)
        ex.compare(np.array([np.sum(arr * r) for r in directions]), slopes, case=case + ", finite differences",
                   what="directional derivatives of L", atol=1e-5, rtol=1e-5)


def check_12_2(mean_pool_backward, pooled_block_grad_x) -> None:
    """Exercise 12.2: ``mean_pool_backward(grad_pooled (B, d_model), mask (B, n))`` -> (B, n, d_model), and
    ``pooled_block_grad_x(x, params, grad_pooled, mask)`` -> dL/dx (B, n, d_model)."""
    _check_12_2(mean_pool_backward, pooled_block_grad_x, "12.2 visible")


def hidden_12_2(mean_pool_backward, pooled_block_grad_x) -> None:
    """The hidden tests of 12.2: no padding, a sentence of a single real token, other wirings."""
    _check_12_2(mean_pool_backward, pooled_block_grad_x, "12.2 hidden")
