"""Inline NumPy for the checks of notebooks 08-13: the encoder block's pieces, written again from
primitive NumPy (not through ``helpers``, which a learner's cell can rebind), random probe blocks,
and the rule that keeps a learner's function from calling into this package.

Nothing here is an exercise's answer as a ready-made function: the pieces are private building
blocks, and every check forbids calling any code of ``exercise_checks`` from the learner's function
(``OWN_CODE``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


class _OwnCode:
    """A tripwire rule: any function defined in this package's files (a check's private reference
    pieces, or a whole check called on itself). ``allowed`` code objects are exempt (the wrappers a
    check hands to the learner's function, e.g. 10.2's guarded model)."""

    display = "the checker's own code (exercise_checks)"

    def __init__(self, allowed=()):
        self.allowed = tuple(allowed)

    def matches(self, code) -> bool:
        if code in self.allowed:
            return False
        try:
            path = Path(code.co_filename).resolve()
            # _core.py holds the tripwire itself (its __exit__ runs under the profiler), and no answers
            return str(path.parent) == _PACKAGE_DIR and path.name != "_core.py"
        except (OSError, ValueError):
            return False


OWN_CODE = _OwnCode()


def own_code_except(*functions) -> _OwnCode:
    return _OwnCode(tuple(f.__code__ for f in functions))


# --- pieces ----------------------------------------------------------------------------------

def softmax(s, axis=-1, shift=True):
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(all="ignore"):
        if shift:                       # "plain": x - max as a learner writes it (a fully masked row gives NaN)
            top = np.max(s, axis=axis, keepdims=True)
            if shift != "plain":
                top = np.where(np.isfinite(top), top, 0.0)
            s = s - top
        e = np.exp(s)
        total = np.sum(e, axis=axis, keepdims=True)
        return e / np.where(total == 0, 1.0, total)


def layer_norm(x, gamma, beta, eps):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def relu(x):
    return np.maximum(x, 0.0)


ACTIVATION = {"relu": relu, "gelu": gelu}


def split(x, h):
    *lead, n, d = x.shape
    return np.swapaxes(x.reshape(*lead, n, h, d // h), -2, -3)


def merge(x):
    x = np.swapaxes(x, -2, -3)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def attention(x_q, x_kv, a, key_mask, *, h=None, flip_mask=False, no_bias=False, no_out=False,
              scale="d_k", softmax_axis=-1, shift=True):
    """Multi-head attention with queries from x_q, keys and values from x_kv; key_mask (n_kv,) or
    (..., n_kv), True = real. ``a``: an AttentionParams (or anything with its fields).
    Returns (output (..., n_q, d_model), weights (..., h, n_q, n_kv))."""
    h = a.n_heads if h is None else h
    b = (lambda v: 0.0 * v) if no_bias else (lambda v: v)
    q = split(x_q @ a.w_q + b(a.b_q), h)
    k = split(x_kv @ a.w_k + b(a.b_k), h)
    v = split(x_kv @ a.w_v + b(a.b_v), h)
    d_k = q.shape[-1]
    div = {"d_k": math.sqrt(d_k), "none": 1.0, "d_model": math.sqrt(d_k * h)}[scale]
    scores = q @ np.swapaxes(k, -1, -2) / div
    if key_mask is not None:
        allowed = np.asarray(key_mask, dtype=bool)
        allowed = (~allowed if flip_mask else allowed)[..., None, None, :]
        scores = np.where(allowed, scores, -np.inf)
    weights = softmax(scores, axis=softmax_axis, shift=shift)
    heads = merge(weights @ v)
    return (heads if no_out else heads @ a.w_o + b(a.b_o)), weights


def feed_forward(x, f, activation):
    return ACTIVATION[activation](x @ f.w_1 + f.b_1) @ f.w_2 + f.b_2


def block(x, p, mask, *, pre=None, eps=None, activation=None, residual_from_norm=(False, False),
          swap_norms=False, flip_mask=False, second_residual=True, first_residual=True):
    """The encoder block (pre-LN if ``pre`` else post-LN; default: p.norm_first) and its classic
    wrong versions. ``p``: an EncoderBlockParams (or its snapshot)."""
    pre = p.norm_first if pre is None else pre
    eps = p.eps if eps is None else eps
    activation = p.activation if activation is None else activation
    n1, n2 = (p.norm2, p.norm1) if swap_norms else (p.norm1, p.norm2)
    x = np.asarray(x, dtype=np.float64)
    if pre:
        normed = layer_norm(x, n1.gamma, n1.beta, eps)
        z = ((normed if residual_from_norm[0] else x) if first_residual else 0.0) + \
            attention(normed, normed, p.attention, mask, flip_mask=flip_mask)[0]
        normed = layer_norm(z, n2.gamma, n2.beta, eps)
        return ((normed if residual_from_norm[1] else z) if second_residual else 0.0) + \
            feed_forward(normed, p.feed_forward, activation)
    z = layer_norm((x if first_residual else 0.0) + attention(x, x, p.attention, mask, flip_mask=flip_mask)[0],
                   n1.gamma, n1.beta, eps)
    return layer_norm((z if second_residual else 0.0) + feed_forward(z, p.feed_forward, activation),
                      n2.gamma, n2.beta, eps)


def random_block(rng, d_model, n_heads, d_ff, *, norm_first, activation, eps, dtype=np.float64):
    """A helpers.EncoderBlockParams whose every weight, bias, gamma and beta is random, so no forgotten
    parameter hides behind 0 or 1."""
    import helpers

    def normal(*shape, scale=1.0):
        return (scale * rng.normal(size=shape)).astype(dtype)

    s = 1 / math.sqrt(d_model)
    attention = helpers.AttentionParams(
        w_q=normal(d_model, d_model, scale=s), b_q=normal(d_model, scale=0.3),
        w_k=normal(d_model, d_model, scale=s), b_k=normal(d_model, scale=0.3),
        w_v=normal(d_model, d_model, scale=s), b_v=normal(d_model, scale=0.3),
        w_o=normal(d_model, d_model, scale=s), b_o=normal(d_model, scale=0.3), n_heads=n_heads)
    ffn = helpers.FeedForwardParams(w_1=normal(d_model, d_ff, scale=s), b_1=normal(d_ff, scale=0.3),
                                    w_2=normal(d_ff, d_model, scale=1 / math.sqrt(d_ff)),
                                    b_2=normal(d_model, scale=0.3))
    return helpers.EncoderBlockParams(
        attention=attention, feed_forward=ffn,
        norm1=helpers.LayerNormParams(1 + normal(d_model, scale=0.3), normal(d_model, scale=0.3)),
        norm2=helpers.LayerNormParams(1 + normal(d_model, scale=0.3), normal(d_model, scale=0.3)),
        norm_first=norm_first, activation=activation, eps=eps)


def padding_mask(lengths, n):
    return np.arange(n)[None, :] < np.asarray(lengths)[:, None]


BLOCK_FIELDS = ("attention.w_q", "attention.b_q", "attention.w_k", "attention.b_k", "attention.w_v",
                "attention.b_v", "attention.w_o", "attention.b_o", "feed_forward.w_1", "feed_forward.b_1",
                "feed_forward.w_2", "feed_forward.b_2", "norm1.gamma", "norm1.beta", "norm2.gamma",
                "norm2.beta")


def field(params, path):
    obj = params
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


class _ModuleCode:
    """A tripwire rule: any function of the standard library's ``inspect`` module. A learner's function
    has no use for it; a cheat would use it to read the check's own frames (its expected values)."""

    display = "inspect (reading the checker's frames)"

    def __init__(self):
        import inspect

        self.filename = str(Path(inspect.__file__).resolve())

    def matches(self, code) -> bool:
        try:
            return str(Path(code.co_filename).resolve()) == self.filename
        except (OSError, ValueError):
            return False


FRAMES = _ModuleCode()

_NUMPY_NAMES = ("exp", "cos", "sqrt", "sum", "mean", "max", "maximum", "where", "matmul", "swapaxes", "einsum",
                "isfinite", "abs", "allclose", "array_equal", "isclose", "concatenate", "outer", "prod", "zeros",
                "ones", "array", "asarray", "broadcast_to", "tile", "all", "any", "argmax", "reshape", "split")
_MATH_NAMES = ("cos", "sqrt", "erf")


def require_unpatched(ex) -> None:
    """Refuse to grade when a cell replaced a NumPy or math function the checks compute with (the learner's
    function and the expected value would then agree on nonsense)."""
    import math

    def numpy_own(name):
        value = getattr(np, name, None)
        if isinstance(value, np.ufunc):             # NumPy < 2.1 (the browser version's 2.0) gives ufuncs no __module__
            return value.__name__ == name or name == "abs" and value.__name__ == "absolute"
        return str(getattr(value, "__module__", "")).startswith("numpy")

    bad = [f"np.{n}" for n in _NUMPY_NAMES if not numpy_own(n)]
    bad += ["np.linalg.norm"] if getattr(np.linalg.norm, "__module__", "") != "numpy.linalg" else []
    bad += [f"math.{n}" for n in _MATH_NAMES if getattr(getattr(math, n, None), "__module__", "") != "math"]
    if abs(math.pi - 3.141592653589793) > 0 or abs(np.pi - 3.141592653589793) > 0:
        bad.append("pi")
    if bad:
        ex.fail(f"{', '.join(bad[:3])} were replaced: restart the kernel and run the notebook again", "numpy patched")


# after_in_hidden: the visible checks compute every expected value (and every mistake's output) from
# private copies BEFORE calling the learner's function. The hidden tests compute theirs from the same
# private copies AFTER the call: values that do not exist yet cannot be read out of the checker's frames
# (sys._getframe, a traceback's tb_frame.f_back: routes no call monitor sees), and calling the function
# that will compute them trips OWN_CODE. The copies make both orders equally safe from in-place changes.


def _checked_exercise():
    from ._core import Exercise, numpy_is_sane

    class Checked(Exercise):
        """An Exercise that also refuses to go on when the learner's function itself replaced NumPy's
        comparisons or the functions the checks compute with (the core checks once, at the start)."""

        def call(self, *args, **kwargs):
            result = super().call(*args, **kwargs)
            if not numpy_is_sane():
                self.fail("NumPy's comparison functions were replaced: restart the kernel and run the notebook "
                          "again", "numpy patched")
            require_unpatched(self)
            return result

    return Checked


Checked = _checked_exercise()
