"""Assertions for lesson cells: a parity check that fails says what was expected and what came back.

They compare two values a lesson computed; they hold no exercise's answer. Each raises AssertionError
with a one-line message, or returns quietly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_close", "check_shape", "check_true", "passed", "check_equal"]


def _array(actual, name: str) -> np.ndarray:
    """``actual`` as a NumPy array, or an AssertionError saying what came back instead.

    The checks must never crash on a wrong answer: None, a tuple of arrays, a ragged list or a
    string each get a message for the learner instead of a TypeError from NumPy.
    """
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    if isinstance(actual, tuple) and any(isinstance(item, np.ndarray) for item in actual):
        shapes = ", ".join(str(np.shape(item)) for item in actual[:4])
        raise AssertionError(
            f"{name} should be one array, but is a tuple of {len(actual)} items "
            f"(shapes {shapes}): return the array itself, not a pair"
        )
    try:
        arr = np.asarray(actual)
    except (ValueError, TypeError) as err:
        raise AssertionError(f"{name} should be an array, but is a {type(actual).__name__} that NumPy "
                             f"cannot turn into one ({err})") from None
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise AssertionError(f"{name} should be a numeric array, but is a {type(actual).__name__} "
                             f"of dtype {arr.dtype}")
    return arr


def _numeric(actual, name: str) -> np.ndarray:
    """Like ``_array``, with booleans as 0.0/1.0 so that differences can be taken."""
    arr = _array(actual, name)
    return arr.astype(np.float64) if arr.dtype == bool else arr


def check_shape(actual, expected: tuple, name: str = "result") -> None:
    """Assert ``actual`` is an array of shape ``expected``."""
    shape = np.shape(_array(actual, name))
    assert shape == tuple(expected), f"{name} should have shape {tuple(expected)}, but has shape {shape}"


def check_close(actual, expected, name: str = "result", atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Assert same shape and values within tolerance; report the worst entry if not.

    Booleans count as 0 and 1, so a mask compared with a float array gives a message, not a TypeError.
    """
    expected = _numeric(expected, "the expected value")
    check_shape(actual, expected.shape, name)
    actual = _numeric(actual, name)
    if not np.allclose(actual, expected, atol=atol, rtol=rtol):
        diff = np.abs(actual - expected)
        where = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
        raise AssertionError(
            f"{name} has the right shape {expected.shape} but wrong values: at index {tuple(int(i) for i in where)} "
            f"expected {expected[where]:.6g}, got {actual[where]:.6g} "
            f"(max abs difference {np.max(np.where(np.isnan(diff), np.inf, diff)):.3g}, tolerance {atol:g})"
        )


def check_true(condition: bool, message: str) -> None:
    """Assert a condition, with the message a learner should read if it fails."""
    assert condition, message


def passed(exercise: str) -> None:
    """Print the one line every check cell ends with."""
    print(f"✓ {exercise}: all checks passed")


def check_equal(actual, expected, name: str = "result") -> None:
    """Assert exact equality: for ids, counts, strings, lists and integer or boolean arrays."""
    if actual is None and expected is not None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        expected_arr, actual_arr = np.asarray(expected), _array(actual, name)
        check_shape(actual_arr, expected_arr.shape, name)
        if not np.array_equal(actual_arr, expected_arr):
            wrong = np.argwhere(actual_arr != expected_arr)
            where = tuple(int(i) for i in wrong[0]) if wrong.size else ()
            count = f"{len(wrong)} wrong entr{'y' if len(wrong) == 1 else 'ies'}"
            raise AssertionError(
                f"{name} has the right shape {expected_arr.shape} but {count}: first at index {where}, "
                f"expected {expected_arr[where].item()!r}, got {actual_arr[where].item()!r}"
            )
        return
    assert actual == expected, f"{name} should be {expected!r}, but is {actual!r}"
