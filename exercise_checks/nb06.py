"""Checks of notebook 06 (residual and layer norm): Exercises 6.1 and 6.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_6_1", "check_6_2", "hidden_6_1", "hidden_6_2"]


def _check_6_1(layer_norm_by_hand, tag: str) -> None:
    ex = Exercise("6.1", "layer_norm_by_hand")
    rules = (forbidden("helpers.layers.layer_norm"), forbidden("helpers.backward.layer_norm_forward"))
    rng = probe_rng(tag)

    def norm(x, gamma, beta, eps, *, ddof=0, eps_outside=False, axes=None, no_eps=False):
        axes = tuple(range(-np.ndim(gamma), 0)) if axes is None else axes
        mean = x.mean(axis=axes, keepdims=True)
        count = np.prod([x.shape[a] for a in axes])
        var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (count - ddof)
        e = 0.0 if no_eps else eps
        denom = np.sqrt(var) + e if eps_outside else np.sqrt(var + e)
        return gamma * (x - mean) / denom + beta

    d = int(rng.integers(5, 12))
    h, d_k = int(rng.integers(2, 4)), int(rng.integers(2, 5))
    cases = [
        ((int(rng.integers(2, 5)), d), (d,), 0.1, np.float64),
        ((2, int(rng.integers(2, 5)), d), (d,), 1e-5, np.float32),
        ((2, int(rng.integers(2, 4)), h, d_k), (h, d_k), 0.5, np.float64),
        ((d,), (d,), 1e-5, np.float64),                                    # one token, no leading axis
        ((int(rng.integers(2, 4)), h, d_k), (h, d_k), 1e-5, np.float32),
    ]
    for x_shape, g_shape, eps, dtype in cases:
        x = (rng.normal(size=x_shape) * 2 + 1).astype(dtype)
        gamma = (1 + 0.5 * rng.normal(size=g_shape)).astype(dtype)
        beta = rng.normal(size=g_shape).astype(dtype)
        case = f"{np.dtype(dtype).name} x {x_shape}, gamma {g_shape}, eps={eps:g}"
        x64, g64, b64 = (a.astype(np.float64) for a in (x, gamma, beta))
        expected = norm(x64, g64, b64, eps)
        mistakes = [
            Mistake("ddof=1", "the variance divides by d - 1: layer norm uses the biased variance (ddof=0)",
                    norm(x64, g64, b64, eps, ddof=1)),
            Mistake("eps outside", "eps is outside the square root: divide by sqrt(var + eps)",
                    norm(x64, g64, b64, eps, eps_outside=True)),
            Mistake("no eps", "eps is ignored: divide by sqrt(var + eps)", norm(x64, g64, b64, eps, no_eps=True)),
            Mistake("gamma beta swapped", "gamma and beta are swapped: gamma scales, beta shifts",
                    norm(x64, b64, g64, eps)),
        ]
        if len(g_shape) > 1:
            mistakes.append(Mistake("last axis only", f"gamma has shape {g_shape}: take the statistics over the "
                                    f"last {len(g_shape)} axes together, not the last axis alone",
                                    norm(x64, g64, b64, eps, axes=(-1,))))
        if len(x_shape) > len(g_shape):
            mistakes.append(Mistake("axis 0", "the statistics are over axis 0 (across tokens): normalise each "
                                    "token over its own features", norm(x64, g64, b64, eps, axes=(0,))))
        tol = 2e-5 if dtype == np.float32 else 1e-10
        out = ex.call(layer_norm_by_hand, x.copy(), gamma.copy(), beta.copy(), eps=eps, case=case, forbid=rules,
                      names=("x", "gamma", "beta"))
        arr = ex.compare(out, expected, case=case, mistakes=mistakes, atol=tol, rtol=tol)
        if arr.dtype != dtype:
            ex.fail(f"a {np.dtype(dtype).name} input should give a {np.dtype(dtype).name} output, got "
                    f"{arr.dtype} ({case})", "dtype")


def check_6_1(layer_norm_by_hand) -> None:
    """Exercise 6.1: layer norm over the trailing axes gamma's shape covers; biased variance, eps in the
    square root, dtype kept; NumPy only (not helpers.layer_norm)."""
    _check_6_1(layer_norm_by_hand, "6.1 visible")


def hidden_6_1(layer_norm_by_hand) -> None:
    """The hidden tests of 6.1: the same rules on other probes."""
    _check_6_1(layer_norm_by_hand, "6.1 hidden")


def _check_6_2(rms_norm, tag: str) -> None:
    ex = Exercise("6.2", "rms_norm")
    rng = probe_rng(tag)

    def rms(a, g, eps, *, centred=False, eps_outside=False, total=False, axis=-1, variance=False):
        a = a - a.mean(axis=-1, keepdims=True) if centred else a
        square = (a * a).sum(axis=axis, keepdims=True) if total else (a * a).mean(axis=axis, keepdims=True)
        if variance:                    # the denominator only: x's mean removed, as layer norm does
            square = a.var(axis=-1, keepdims=True)
        return g * a / (np.sqrt(square) + eps if eps_outside else np.sqrt(square + eps))

    d = int(rng.integers(5, 17))
    cases = [((int(rng.integers(2, 5)), d), 1e-6, 1.0), ((2, int(rng.integers(2, 5)), d), 0.5, 1.0),
             ((d,), 0.1, 1.0), ((3, d), None, 1e-3)]            # None: the default eps on tiny rows
    for shape, eps, scale in cases:
        x = scale * rng.normal(loc=1.5, size=shape)
        gamma = rng.normal(size=d) + 1.0
        e = 1e-6 if eps is None else eps
        case = f"x {shape}" + (", eps left at its default" if eps is None else f", eps={eps:g}")
        expected = rms(x, gamma, e)
        mistakes = [
            Mistake("centred", "it subtracts the mean, as layer norm does; RMSNorm does not", rms(x, gamma, e, centred=True)),
            Mistake("eps outside", "eps is outside the square root: sqrt(mean(x^2) + eps)",
                    rms(x, gamma, e, eps_outside=True)),
            Mistake("sum", "it divides by the root of the sum of squares: RMSNorm uses the mean",
                    rms(x, gamma, e, total=True)),
            Mistake("gamma ignored", "gamma is ignored: multiply by gamma", rms(x, np.ones(d), e)),
            Mistake("axis 0", "the mean of squares is over axis 0: average each row's features (axis=-1)",
                    rms(x, gamma, e, axis=0) if x.ndim > 1 else None),
            Mistake("whole array", "the mean of squares is over the whole array: average each row's own "
                    "features (axis=-1)", rms(x, gamma, e, axis=None) if x.ndim > 1 else None),
            Mistake("variance", "it divides by the standard deviation (x's mean removed): RMSNorm divides by "
                    "sqrt(mean(x^2) + eps)", rms(x, gamma, e, variance=True)),
        ]
        if eps is None:
            mistakes.append(Mistake("default eps", "the default eps should be 1e-6", rms(x, gamma, 1e-5)))
        kwargs = {} if eps is None else {"eps": eps}
        out = ex.call(rms_norm, x.copy(), gamma.copy(), case=case, names=("x", "gamma"), **kwargs)
        ex.compare(out, expected, case=case, mistakes=mistakes, atol=1e-10, rtol=1e-9)


def check_6_2(rms_norm) -> None:
    """Exercise 6.2: RMSNorm over the last axis, gamma x / sqrt(mean(x^2) + eps), eps=1e-6 by default."""
    _check_6_2(rms_norm, "6.2 visible")


def hidden_6_2(rms_norm) -> None:
    """The hidden tests of 6.2: the same rules on other probes."""
    _check_6_2(rms_norm, "6.2 hidden")
