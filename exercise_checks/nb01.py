"""Checks of notebook 01 (tokens and one-hot): Exercises 1.1 and 1.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_1_1", "check_1_2", "hidden_1_1", "hidden_1_2"]


def _check_1_1(one_hot_rows, tag: str) -> None:
    ex = Exercise("1.1", "one_hot_rows")
    rules = (forbidden("helpers.tokens.one_hot"), forbidden("helpers.tokens.pad_batch"))
    rng = probe_rng(tag)
    cases = []
    for _ in range(3):
        vocab_size = int(rng.integers(4, 40))
        n = int(rng.integers(2, 12))
        ids = rng.integers(0, vocab_size, size=n)
        ids[int(rng.integers(n))] = vocab_size - 1   # the largest valid id is always present
        cases.append((ids, vocab_size))
    cases.append((np.zeros(0, dtype=np.int64), int(rng.integers(3, 9))))     # n = 0: shape (0, vocab_size)
    for ids, vocab_size in cases:
        n = ids.shape[0]
        case = f"ids of shape ({n},), vocab_size={vocab_size}"
        expected = np.zeros((n, vocab_size))
        expected[np.arange(n), ids] = 1.0
        mistakes = [Mistake("transposed", "the rows are transposed: shape should be (n, vocab_size), one row per id",
                            expected.T)]
        rows = ex.call(one_hot_rows, ids.copy(), vocab_size, case=case, forbid=rules, names=("ids", "vocab_size"))
        arr = ex.compare(rows, expected, case=case, mistakes=mistakes)
        if arr.dtype.kind != "f":
            ex.fail(f"the rows should be a float array, got dtype {arr.dtype} ({case}): the next stage "
                    "multiplies them by float weights", "not float")
    for bad, key, why in ((None, "accepts vocab_size",
                           "id = vocab_size is out of range (valid ids are 0 .. vocab_size - 1)"),
                          (-1, "accepts negative", "a negative id is out of range (NumPy would wrap -1)")):
        vocab_size = int(rng.integers(4, 20))
        ids = rng.integers(0, vocab_size, size=int(rng.integers(3, 8)))
        ids[int(rng.integers(ids.size))] = vocab_size if bad is None else bad
        case = f"ids {ids.tolist()}, vocab_size={vocab_size}"
        error = _raises(ex, one_hot_rows, ids, vocab_size, case, rules)
        if error is None:
            ex.fail(f"{why}, but it returned without a ValueError ({case})", key)


def _raises(ex, func, ids, vocab_size, case, rules):
    """The ValueError raised (any message), or None if the call returned."""
    try:
        return ex.call(func, ids.copy(), vocab_size, case=case, forbid=rules, names=("ids", "vocab_size"),
                       expect_error=ValueError)
    except AssertionError as err:
        if getattr(err, "mistake", None) == "no error":
            return None
        raise


def check_1_1(one_hot_rows) -> None:
    """Exercise 1.1: ``one_hot_rows(ids, vocab_size)`` -> (n, vocab_size) float rows; ValueError for ids
    outside [0, vocab_size)."""
    _check_1_1(one_hot_rows, "1.1 visible")


def hidden_1_1(one_hot_rows) -> None:
    """The hidden tests of 1.1: the same rules on other probes."""
    _check_1_1(one_hot_rows, "1.1 hidden")


def _check_1_2(padding_mask, tag: str) -> None:
    ex = Exercise("1.2", "padding_mask")
    rules = (forbidden("helpers.tokens.pad_batch"),)
    rng = probe_rng(tag)
    cases = []
    for as_list in (True, False, False):
        B = int(rng.integers(2, 6))
        n_max = int(rng.integers(B + 1, 12))                  # n_max != B, so a transposed mask shows
        lengths = rng.integers(1, n_max + 1, size=B)
        lengths[0] = n_max                                    # one full sentence, one of length 1
        lengths[-1] = 1 if B > 2 else lengths[-1]
        cases.append((lengths.tolist() if as_list else lengths, n_max))
    cases.append((np.array([0, 3]), 5))                       # an empty sentence: all padding
    for lengths, n_max in cases:
        lengths_arr = np.array(lengths)
        case = f"lengths {lengths_arr.tolist()}, n_max={n_max}"
        positions = np.arange(n_max)[None, :]
        expected = positions < lengths_arr[:, None]
        mistakes = [
            Mistake("<=", "position `length` is already padding: compare with `<`, not `<=`",
                    positions <= lengths_arr[:, None]),
            Mistake("inverted", "True and False are swapped: True marks the real tokens", ~expected),
            Mistake("transposed", "the mask is transposed: shape (B, n_max), one row per sentence", expected.T),
        ]
        got = ex.call(padding_mask, lengths, n_max, case=case, forbid=rules,
                      inputs={"lengths": lengths})
        ex.equal(got, expected, case=case, mistakes=mistakes)
        if np.asarray(got).dtype != bool:
            ex.fail(f"the mask should have dtype bool, got {np.asarray(got).dtype} ({case}): a comparison "
                    "gives booleans directly", "not bool")


def check_1_2(padding_mask) -> None:
    """Exercise 1.2: ``padding_mask(lengths, n_max)`` -> bool (B, n_max), True at real positions."""
    _check_1_2(padding_mask, "1.2 visible")


def hidden_1_2(padding_mask) -> None:
    """The hidden tests of 1.2: the same rules on other probes."""
    _check_1_2(padding_mask, "1.2 hidden")
