"""Wrong answers and cheats for notebook 05 (5.1 my_split_heads/my_merge_heads, 5.2 look_ahead_params)."""

import numpy as np

import helpers

from . import cheat, mistake

# --- 5.1 split and merge heads ---------------------------------------------------------------


def _split(x, n_heads):
    x = np.asarray(x)
    d_model = x.shape[-1]
    if n_heads < 1 or d_model % n_heads:
        raise ValueError("n_heads must divide d_model")
    return np.swapaxes(x.reshape(*x.shape[:-1], n_heads, d_model // n_heads), -2, -3)


def _merge(x):
    x = np.swapaxes(np.asarray(x), -2, -3)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def split_mistake(what, named=None):
    return mistake("5.1", what, named, as_name="my_split_heads", extra=(("my_merge_heads", _merge),))


def merge_mistake(what, named=None):
    return mistake("5.1", what, named, as_name="my_merge_heads", extra=(("my_split_heads", _split),))


@split_mistake("split: reshape straight to (..., h, n, d_k)", "direct reshape")
def _s1(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("bad")
    return x.reshape(*x.shape[:-2], n_heads, x.shape[-2], x.shape[-1] // n_heads)


@split_mistake("split: (..., n, d_k, h) order", "interleaved")
def _s2(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("bad")
    return np.moveaxis(x.reshape(*x.shape[:-1], x.shape[-1] // n_heads, n_heads), -1, -3)


@split_mistake("split: forgets the swap", "no swap")
def _s3(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("bad")
    return x.reshape(*x.shape[:-1], n_heads, x.shape[-1] // n_heads)


@split_mistake("split: swapaxes(1, 2), only right for one batch axis")
def _s4(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("bad")
    return x.reshape(*x.shape[:-1], n_heads, x.shape[-1] // n_heads).swapaxes(1, 2)


@split_mistake("split: no check, integer division silently drops features", "no error")
def _s5(x, n_heads):
    d_k = x.shape[-1] // n_heads
    return _split(x[..., : n_heads * d_k], n_heads)


@split_mistake("split: transpose(0, 2, 1, 3), 3-D batch only")
def _s6(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("bad")
    return x.reshape(x.shape[0], x.shape[1], n_heads, -1).transpose(0, 2, 1, 3)


@merge_mistake("merge: reshape without moving the head axis back", "merge no swap")
def _m1(x):
    return x.reshape(*x.shape[:-3], x.shape[-2], x.shape[-3] * x.shape[-1])


@merge_mistake("merge: heads interleaved feature by feature", "merge interleaved")
def _m2(x):
    return np.moveaxis(x, -3, -1).reshape(*x.shape[:-3], x.shape[-2], x.shape[-3] * x.shape[-1])


@merge_mistake("merge: hard-coded 4-D (B, h, n, d_k)")
def _m3(x):
    B, h, n, d_k = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, n, h * d_k)


cheat("5.1", "helpers.split_heads / merge_heads through helpers.attention", """
import helpers.attention as _a
def my_split_heads(x, n_heads):
    return _a.split_heads(x, n_heads)
def my_merge_heads(x):
    return _a.merge_heads(x)
""", "forbidden helper")
cheat("5.1", "merge through helpers.backward.split_heads_backward (the same reshape)", """
from helpers.backward import merge_heads_backward, split_heads_backward
def my_split_heads(x, n_heads):
    return merge_heads_backward(x, n_heads)
def my_merge_heads(x):
    return split_heads_backward(x)
""", "forbidden helper")

# --- 5.2 look_ahead_params -------------------------------------------------------------------


def _params(strength, *, offset=1, head0_strength=None, head1=True, swap=False, n_heads=2, w_v=None,
            q_only=False, b_q=0.0):
    d, pos = 16, np.arange(8)
    w_q, w_k = np.zeros((d, d)), np.zeros((d, d))
    s0 = strength if head0_strength is None else head0_strength
    c0, c1 = (8, 0) if swap else (0, 8)
    keys = pos[pos - offset >= 0] if offset > 0 else pos[pos - offset < 8]
    w_q[8 + pos, c0 + pos] = s0
    w_k[8 + keys, c0 + keys - offset] = 1.0 if q_only else s0
    if head1:
        w_q[pos, c1 + pos] = strength
        w_k[pos, c1 + pos] = strength
    z = np.zeros(d)
    return helpers.AttentionParams(w_q, z + b_q, w_k, z, np.eye(d) if w_v is None else w_v, z, np.eye(d), z,
                                   n_heads=n_heads)


@mistake("5.2", "the lesson's previous-token head", "previous token")
def look_ahead_params(strength=5.0):
    return _params(strength, offset=-1)


@mistake("5.2", "heads swapped", "heads swapped")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, swap=True)


@mistake("5.2", "strength in W_Q only (score s / sqrt(d_k))", "not squared")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, q_only=True)


@mistake("5.2", "strength ignored (5 hard-coded)", "strength ignored")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(5.0)


@mistake("5.2", "n_heads = 1", "n_heads")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, n_heads=1)


@mistake("5.2", "W_V left at zero", "not identity")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, w_v=np.zeros((16, 16)))


@mistake("5.2", "a leftover bias in b_q", "bias")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, b_q=0.1)


@mistake("5.2", "head 1 emptied", None)
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, head1=False)


@mistake("5.2", "returns a tuple of matrices", "not params")
def look_ahead_params(strength=5.0):  # noqa: F811
    p = _params(strength)
    return (p.w_q, p.w_k)


@mistake("5.2", "looks two tokens ahead")
def look_ahead_params(strength=5.0):  # noqa: F811
    return _params(strength, offset=2)


cheat("5.2", "strength 5 special-cased; otherwise the next-token head at a fixed 8", """
def look_ahead_params(strength=5.0):
    d, pos = 16, np.arange(8)
    s = 5.0 if strength == 5.0 else 8.0
    w_q, w_k = np.zeros((d, d)), np.zeros((d, d))
    w_q[8 + pos, pos] = s
    w_k[8 + pos[1:], pos[1:] - 1] = s
    w_q[pos, 8 + pos] = strength
    w_k[pos, 8 + pos] = strength
    z = np.zeros(d)
    return helpers.AttentionParams(w_q, z, w_k, z, np.eye(d), z, np.eye(d), z, n_heads=2)
""", None)
