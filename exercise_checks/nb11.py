"""Checks of notebook 11 (backpropagation): Exercises 11.1 and 11.2."""

from __future__ import annotations

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng

__all__ = ["check_11_1", "check_11_2", "hidden_11_1", "hidden_11_2"]


def gradient_rules(*extra):
    """Finite differences would answer any gradient exercise: helpers.gradcheck is off limits."""
    return (forbidden("helpers.gradcheck.numerical_vjp"), forbidden("helpers.gradcheck.gradient_errors"),
            forbidden("helpers.gradcheck.check_vjp"), forbidden("helpers.gradcheck._central_difference"),
            *extra, ref.OWN_CODE, ref.FRAMES)


def pair(ex, result, case, what):
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        got = "None" if result is None else f"{type(result).__name__}" + (
            f" of {len(result)}" if isinstance(result, (tuple, list)) else "")
        ex.fail(f"should return the pair {what}, got {got} ({case})", "not a pair")
    return result


# --- 11.1 · a linear layer without bias -------------------------------------------------------------

def _blind_11_1(ex, func, rules, rng):
    """A hidden probe whose expected values are computed only after the call (_encoder_ref.after_in_hidden)."""
    x, w, g = rng.normal(size=(2, 2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 2, 4))
    kx, kw, kg = x.copy(), w.copy(), g.copy()
    case = f"grad_y {g.shape}, x {x.shape}, w {w.shape}"
    gx, gw = pair(ex, ex.call(func, g, x, w, case=case, forbid=rules), case, "(grad_x, grad_w)")
    ex.compare(gw, kx.reshape(-1, 3).T @ kg.reshape(-1, 4), case=case, what="grad_w", atol=1e-9, rtol=1e-9)
    ex.compare(gx, kg @ kw.T, case=case, what="grad_x", atol=1e-9, rtol=1e-9)


def _check_11_1(linear_no_bias_backward, tag: str) -> None:
    ex = ref.Checked("11.1", "linear_no_bias_backward")
    ref.require_unpatched(ex)
    rules = gradient_rules(forbidden("helpers.backward.linear_backward"), forbidden("helpers.backward.linear_forward"))
    rng = probe_rng(tag)
    if "hidden" in tag:
        _blind_11_1(ex, linear_no_bias_backward, rules, rng)
    if "visible" in tag:
        setups = [((2, 3), 4, 5), ((2, 2, 3), 4, 5), ((3,), 4, 5), ((), 4, 5), ((2, 3), 6, 3)]
    else:
        setups = [((3, 1, 2), 3, 2), ((4,), 2, 7), ((2, 5), 5, 5), ((), 3, 1)]
    for lead, d_in, d_out in setups:
        x, w, g = rng.normal(size=lead + (d_in,)), rng.normal(size=(d_in, d_out)), rng.normal(size=lead + (d_out,))
        case = f"grad_y {g.shape}, x {x.shape}, w {w.shape}"
        kx, kw, kg = x.copy(), w.copy(), g.copy()
        want_gx = kg @ kw.T
        rows_x, rows_g = kx.reshape(-1, d_in), kg.reshape(-1, d_out)
        want_gw = rows_x.T @ rows_g
        per_row = np.einsum("...i,...o->...io", kx, kg)
        result = ex.call(linear_no_bias_backward, g, x, w, case=case, forbid=rules,
                         inputs={"grad_y": g, "x": x, "w": w})
        gx, gw = pair(ex, result, case, "(grad_x, grad_w)")
        gx_a, gw_a = ex.array(gx, case, "grad_x"), ex.array(gw, case, "grad_w")
        if gx_a.shape == want_gw.shape and gw_a.shape == want_gx.shape and want_gx.shape != want_gw.shape:
            ex.fail(f"the pair is (grad_w, grad_x): return (grad_x, grad_w) ({case})", "order")
        rows = int(np.prod(lead, dtype=int))
        ex.compare(gw_a, want_gw, case=case, what="grad_w", atol=1e-9, rtol=1e-9, mistakes=[
            Mistake("grad_w transposed", "grad_w is transposed: it has w's shape (d_in, d_out), x^T @ grad_y",
                    want_gw.T if d_in != d_out else None),
            Mistake("grad_w not summed", "grad_w has one (d_in, d_out) matrix per row: w is shared by every row, "
                                         "so sum over every leading axis", per_row if lead else None),
            Mistake("grad_w mean", "grad_w is divided by the number of rows (a mean): a weight shared by every "
                                   "row gets the sum of their gradients", want_gw / rows if rows > 1 else None),
            Mistake("grad_w sign", "grad_w has the wrong sign", -want_gw),
            Mistake("grad_w last row", "grad_w uses only some rows: sum over every leading axis",
                    np.outer(rows_x[-1], rows_g[-1]) if rows > 1 else None),
        ])
        ex.compare(gx_a, want_gx, case=case, what="grad_x", atol=1e-9, rtol=1e-9, mistakes=[
            Mistake("grad_x sign", "grad_x has the wrong sign", -want_gx),
            Mistake("grad_x w", "grad_x multiplies by w where w.T belongs: grad_x = grad_y @ w.T",
                    kg @ kw if d_in == d_out else None),
        ])


def check_11_1(linear_no_bias_backward) -> None:
    """Exercise 11.1: ``linear_no_bias_backward(grad_y, x, w)`` -> (grad_x (..., d_in), grad_w (d_in, d_out))
    for y = x w, x of any leading shape; grad_w summed over every leading axis; written by hand."""
    _check_11_1(linear_no_bias_backward, "11.1 visible")


def hidden_11_1(linear_no_bias_backward) -> None:
    """The hidden tests of 11.1: other sizes and leading shapes."""
    _check_11_1(linear_no_bias_backward, "11.1 hidden")


# --- 11.2 · RMSNorm's backward pass ---------------------------------------------------------------------

def _rms(g, x, gamma, eps, *, projection=True, subtract_mean=False, with_gamma=True, total=False,
         eps_outside=False, axis=-1, sign=1.0, gamma_in_grad_gamma=False, raw_x_in_grad_gamma=False):
    reduce = np.sum if total else np.mean
    square = np.mean(x * x, axis=axis, keepdims=True)
    r = np.sqrt(square) + eps if eps_outside else np.sqrt(square + eps)
    x_hat = x / r
    g_hat = g * gamma if with_gamma else g
    centred = g_hat - np.mean(g_hat, axis=axis, keepdims=True) if subtract_mean else g_hat
    correction = x_hat * reduce(g_hat * x_hat, axis=axis, keepdims=True) if projection else 0.0
    grad_x = (centred - sign * correction) / r
    grad_gamma = g * (x if raw_x_in_grad_gamma else x_hat) * (gamma if gamma_in_grad_gamma else 1.0)
    return grad_x, grad_gamma.reshape(-1, x.shape[-1]).sum(axis=0)


def _check_11_2(rms_norm_backward, tag: str) -> None:
    ex = ref.Checked("11.2", "rms_norm_backward")
    ref.require_unpatched(ex)
    rules = gradient_rules()
    rng = probe_rng(tag)
    if "hidden" in tag:
        x, g, gam = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=5)
        kx, kg, kgam = x.copy(), g.copy(), gam.copy()
        case = "grad_y (3, 5), x (3, 5), gamma (5,), eps=0.01"
        gx, gg = pair(ex, ex.call(rms_norm_backward, g, x, gam, eps=0.01, case=case, forbid=rules), case,
                      "(grad_x, grad_gamma)")
        want_gx, want_gg = _rms(kg, kx, kgam, 0.01)                 # after the call: _encoder_ref.after_in_hidden
        ex.compare(gg, want_gg, case=case, what="grad_gamma", atol=1e-8, rtol=1e-8)
        ex.compare(gx, want_gx, case=case, what="grad_x", atol=1e-8, rtol=1e-8)
    if "visible" in tag:
        d = 6
        setups = [((4, d), 0.5), ((2, 3, d), None), ((d,), 1e-3), ((3, d), 2.0)]
    else:
        d = 3
        setups = [((5, d), 1e-3), ((2, 2, d), None), ((1, d), 0.1)]
    gamma = rng.normal(size=d)
    for shape, eps in setups:
        x, g = rng.normal(loc=0.5, size=shape), rng.normal(size=shape)
        if "hidden" in tag:
            x = 10 * x
        e = 1e-6 if eps is None else eps
        case = f"grad_y {shape}, x {shape}, gamma ({d},)" + ("" if eps is None else f", eps={eps:g}")
        kx, kg, kgam = x.copy(), g.copy(), gamma.copy()
        want_gx, want_gg = _rms(kg, kx, kgam, e)
        variants = {
            "projection": _rms(kg, kx, kgam, e, projection=False),
            "subtract mean": _rms(kg, kx, kgam, e, subtract_mean=True),
            "gamma": _rms(kg, kx, kgam, e, with_gamma=False),
            "sum": _rms(kg, kx, kgam, e, total=True),
            "sign": _rms(kg, kx, kgam, e, sign=-1.0),
            "eps outside": _rms(kg, kx, kgam, e, eps_outside=True),
            "eps ignored": _rms(kg, kx, kgam, 1e-6) if e != 1e-6 else (None, None),
            "axis 0": _rms(kg, kx, kgam, e, axis=0) if len(shape) > 1 else (None, None),
            "gamma in grad_gamma": _rms(kg, kx, kgam, e, gamma_in_grad_gamma=True),
            "raw x": _rms(kg, kx, kgam, e, raw_x_in_grad_gamma=True),
        }
        per_row = (kg * kx / np.sqrt(np.mean(kx * kx, axis=-1, keepdims=True) + e))
        kwargs = {} if eps is None else {"eps": eps}
        result = ex.call(rms_norm_backward, g, x, gamma, case=case, forbid=rules,
                         inputs={"grad_y": g, "x": x, "gamma": gamma}, **kwargs)
        gx, gg = pair(ex, result, case, "(grad_x, grad_gamma)")
        ex.compare(gg, want_gg, case=case, what="grad_gamma", atol=1e-8, rtol=1e-8, mistakes=[
            Mistake("grad_gamma not summed", "grad_gamma has one row per position: gamma is shared by every "
                                             "position, so sum over every leading axis to (d_model,)",
                    per_row if len(shape) > 1 else None),
            Mistake("grad_gamma mean", "grad_gamma is a mean over the positions: a shared parameter gets the sum",
                    per_row.reshape(-1, d).mean(axis=0) if len(shape) > 1 else None),
            Mistake("gamma in grad_gamma", "grad_gamma is multiplied by gamma: it is sum(grad_y * x / r)",
                    variants["gamma in grad_gamma"][1]),
            Mistake("raw x", "grad_gamma uses x where x / r belongs: grad_gamma = sum(grad_y * x / r)",
                    variants["raw x"][1]),
            Mistake("eps outside", "eps is outside the square root: r = sqrt(mean(x^2) + eps)",
                    variants["eps outside"][1]),
            Mistake("eps ignored", f"eps={e:g} is ignored (this is eps = 1e-6): use the eps argument",
                    variants["eps ignored"][1]),
            Mistake("axis 0", "the mean of squares runs over axis 0: RMSNorm averages each row's features (axis=-1)",
                    variants["axis 0"][1]),
        ])
        ex.compare(gx, want_gx, case=case, what="grad_x", atol=1e-8, rtol=1e-8, mistakes=[
            Mistake("projection", "grad_x is missing the term from r depending on x: grad_x = (g_hat - x_hat * "
                                  "mean(g_hat * x_hat)) / r with g_hat = grad_y * gamma", variants["projection"][0]),
            Mistake("subtract mean", "grad_x subtracts mean(g_hat), as layer norm's backward does: RMSNorm has no "
                                     "mean, so that term does not exist", variants["subtract mean"][0]),
            Mistake("gamma", "gamma is missing from grad_x: the gradient reaching x / r is g_hat = grad_y * gamma",
                    variants["gamma"][0]),
            Mistake("sum", "the correction term uses a sum over the features where the mean belongs "
                           "(dr/dx_k = x_k / (d r))", variants["sum"][0]),
            Mistake("sign", "the correction term has the wrong sign: it is subtracted", variants["sign"][0]),
            Mistake("eps outside", "eps is outside the square root: r = sqrt(mean(x^2) + eps)",
                    variants["eps outside"][0]),
            Mistake("eps ignored", f"eps={e:g} is ignored (this is eps = 1e-6): use the eps argument",
                    variants["eps ignored"][0]),
            Mistake("axis 0", "the means run over axis 0: RMSNorm averages each row's features (axis=-1)",
                    variants["axis 0"][0]),
        ])
    # The property the text names: with a tiny eps, grad_x is orthogonal to x, row by row.
    x, g = rng.normal(size=(2, 3, d)), rng.normal(size=(2, 3, d))
    case = f"grad_y, x (2, 3, {d}), eps=1e-14"
    result = ex.call(rms_norm_backward, g, x, gamma, eps=1e-14, case=case, forbid=rules)
    gx = ex.array(pair(ex, result, case, "(grad_x, grad_gamma)")[0], case, "grad_x")
    if gx.shape != x.shape:
        ex.fail(f"grad_x has shape {gx.shape}, expected {x.shape} ({case})")
    dots = (gx * x).sum(axis=-1)
    ex.compare(dots, np.zeros(x.shape[:-1]), case=case, what="grad_x · x per row (RMSNorm ignores the scale of x)",
               atol=1e-9, rtol=0)


def check_11_2(rms_norm_backward) -> None:
    """Exercise 11.2: ``rms_norm_backward(grad_y, x, gamma, eps=1e-6)`` -> (grad_x (..., d_model),
    grad_gamma (d_model,)); grad_x orthogonal to x when eps is tiny."""
    _check_11_2(rms_norm_backward, "11.2 visible")


def hidden_11_2(rms_norm_backward) -> None:
    """The hidden tests of 11.2: d_model = 3, large entries, other eps."""
    _check_11_2(rms_norm_backward, "11.2 hidden")
