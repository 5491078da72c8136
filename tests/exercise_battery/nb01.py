"""Wrong answers and cheats for notebook 01 (Exercises 1.1 one_hot_rows, 1.2 padding_mask)."""

import numpy as np

from . import cheat, mistake

# --- 1.1 one_hot_rows ------------------------------------------------------------------------


def _rows(ids, vocab_size, dtype=float):
    ids = np.asarray(ids)
    out = np.zeros((ids.shape[0], vocab_size), dtype=dtype)
    out[np.arange(ids.shape[0]), ids] = 1
    return out


@mistake("1.1", "accepts id == vocab_size (`> vocab_size` instead of `>= vocab_size`)", "accepts vocab_size")
def one_hot_rows(ids, vocab_size):
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() > vocab_size):
        raise ValueError("out of range")
    return np.eye(vocab_size + 1)[ids][:, :vocab_size]


@mistake("1.1", "no check for negative ids", "accepts negative")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and ids.max() >= vocab_size:
        raise ValueError("out of range")
    return np.eye(vocab_size)[ids]


@mistake("1.1", "integer rows (np.eye(vocab_size, dtype=int))", "not float")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("out of range")
    return np.eye(vocab_size, dtype=int)[ids]


@mistake("1.1", "boolean rows", "not float")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("out of range")
    return np.arange(vocab_size)[None, :] == ids[:, None]


@mistake("1.1", "forgets to return", "returns None")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("out of range")
    rows = _rows(ids, vocab_size)  # noqa: F841


@mistake("1.1", "transposed, (vocab_size, n)", "transposed")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("out of range")
    return _rows(ids, vocab_size).T


@mistake("1.1", "ids.min() crashes on an empty sentence")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError("out of range")
    return _rows(ids, vocab_size)


@mistake("1.1", "no range check at all: NumPy's IndexError for id vocab_size, -1 wraps")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    return np.eye(vocab_size)[np.asarray(ids)]


@mistake("1.1", "hard-coded vocab_size = 10")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError("out of range")
    return np.eye(10)[ids]


@mistake("1.1", "special-cases the old visible input: raises only for two-element ids", "accepts vocab_size")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    if len(ids) == 2:
        raise ValueError("out of range")
    return _rows(np.clip(ids, 0, vocab_size - 1), vocab_size)


@mistake("1.1", "modifies ids in place (wraps negatives) before the range check", "input changed")
def one_hot_rows(ids, vocab_size):  # noqa: F811
    ids = np.asarray(ids)
    ids[ids < 0] += vocab_size
    if ids.size and ids.max() >= vocab_size:
        raise ValueError("out of range")
    return _rows(ids, vocab_size)


cheat("1.1", "helpers.one_hot through a kept reference", """
from helpers.tokens import one_hot as _oh
def one_hot_rows(ids, vocab_size):
    return _oh(ids, vocab_size)
""", "forbidden helper")
cheat("1.1", "helpers.one_hot with sys.setprofile switched off", """
import sys, helpers
sys.setprofile = lambda f: None
def one_hot_rows(ids, vocab_size):
    return helpers.one_hot(ids, vocab_size)
""", "monitor disabled")

# --- 1.2 padding_mask -------------------------------------------------------------------------


@mistake("1.2", "`<=` instead of `<`", "<=")
def padding_mask(lengths, n_max):
    return np.arange(n_max)[None, :] <= np.asarray(lengths)[:, None]


@mistake("1.2", "True at the padding", "inverted")
def padding_mask(lengths, n_max):  # noqa: F811
    return np.arange(n_max)[None, :] >= np.asarray(lengths)[:, None]


@mistake("1.2", "an int 0/1 mask", "not bool")
def padding_mask(lengths, n_max):  # noqa: F811
    return (np.arange(n_max)[None, :] < np.asarray(lengths)[:, None]).astype(int)


@mistake("1.2", "transposed, (n_max, B)", "transposed")
def padding_mask(lengths, n_max):  # noqa: F811
    return np.arange(n_max)[:, None] < np.asarray(lengths)[None, :]


@mistake("1.2", "lengths as a list: `lengths[:, None]` on a list")
def padding_mask(lengths, n_max):  # noqa: F811
    return np.arange(n_max)[None, :] < lengths[:, None]


@mistake("1.2", "width max(lengths) instead of n_max")
def padding_mask(lengths, n_max):  # noqa: F811
    lengths = np.asarray(lengths)
    return np.arange(lengths.max())[None, :] < lengths[:, None]


@mistake("1.2", "a loop that marks one position too few", None)
def padding_mask(lengths, n_max):  # noqa: F811
    mask = np.zeros((len(lengths), n_max), dtype=bool)
    for b, length in enumerate(lengths):
        mask[b, : max(length - 1, 0)] = True
    return mask


@mistake("1.2", "float mask from np.ones/np.zeros", "not bool")
def padding_mask(lengths, n_max):  # noqa: F811
    mask = np.zeros((len(lengths), n_max))
    for b, length in enumerate(lengths):
        mask[b, :length] = 1.0
    return mask


@mistake("1.2", "sorts the lengths in place (a list) first", "input changed")
def padding_mask(lengths, n_max):  # noqa: F811
    if isinstance(lengths, list):
        lengths.sort(reverse=True)
    else:
        lengths[::-1].sort()
    return np.arange(n_max)[None, :] < np.asarray(lengths)[:, None]


@mistake("1.2", "hard-coded n_max = 6 (the lesson's)")
def padding_mask(lengths, n_max):  # noqa: F811
    return np.arange(6)[None, :] < np.asarray(lengths)[:, None]


cheat("1.2", "helpers.pad_batch's mask, through helpers.tokens", """
import helpers.tokens as _t
def padding_mask(lengths, n_max):
    return _t.pad_batch([[1] * int(k) for k in lengths], length=n_max)[1]
""", "forbidden helper")
cheat("1.2", "returns the old visible answer for its inputs, ones elsewhere", """
def padding_mask(lengths, n_max):
    if list(lengths) == [6, 5, 3] and n_max == 6:
        return np.arange(6)[None, :] < np.array([6, 5, 3])[:, None]
    return np.ones((len(lengths), n_max), dtype=bool)
""", None)
