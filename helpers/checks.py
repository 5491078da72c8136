"""Checks for the exercises: one wording for every notebook, so a learner always sees what was
expected and what came back. Each raises AssertionError with that message, or returns quietly.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_shape",
    "check_close",
    "check_true",
    "passed",
    "check_equal",
    "check_dtype",
    "check_finite",
    "check_raises",
]


def check_shape(actual, expected: tuple, name: str = "result") -> None:
    """Assert ``actual`` is an array of shape ``expected``."""
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    shape = np.shape(actual)
    assert shape == tuple(expected), f"{name} should have shape {tuple(expected)}, but has shape {shape}"


def check_close(actual, expected, name: str = "result", atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Assert same shape and values within tolerance; report the worst entry if not."""
    expected = np.asarray(expected)
    check_shape(actual, expected.shape, name)
    actual = np.asarray(actual)
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
        expected_arr, actual_arr = np.asarray(expected), np.asarray(actual)
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


def check_dtype(actual, expected, name: str = "result") -> None:
    """Assert ``actual`` is an array whose dtype is ``expected`` (e.g. ``np.float32`` or ``bool``)."""
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    want = np.dtype(expected)
    got = np.asarray(actual).dtype
    assert got == want, f"{name} should have dtype {want}, but has dtype {got}"


def check_finite(actual, name: str = "result") -> None:
    """Assert every entry is finite: no NaN and no infinity (overflow shows up here)."""
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    arr = np.asarray(actual, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{name} should be finite everywhere, but has {int(bad.sum())} NaN/inf entries "
            f"(first at index {where}: {arr[where].item()})"
        )


def check_raises(
    func,
    *args,
    exception: type[BaseException] = ValueError,
    match: str | None = None,
    name: str | None = None,
    **kwargs,
) -> BaseException:
    """Assert ``func(*args, **kwargs)`` raises ``exception`` (whose message contains ``match``).

    Returns the exception so a check can look at it further. A ``NotImplementedError`` from an
    unfinished exercise passes straight through, so the learner sees what it really is.
    """
    label = name or f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        func(*args, **kwargs)
    except exception as err:
        if match is not None and match not in str(err):
            raise AssertionError(
                f"{label} raised {type(err).__name__} as expected, but its message should mention "
                f"{match!r}; it says: {err}"
            ) from None
        return err
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(
            f"{label} should raise {exception.__name__}, but raised {type(err).__name__}: {err}"
        ) from None
    raise AssertionError(f"{label} should raise {exception.__name__}, but returned without an error")
