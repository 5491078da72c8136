"""Checks for the exercises: one wording for every notebook, so a learner always sees what was
expected and what came back. Each raises AssertionError with that message, or returns quietly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_shape", "check_close", "check_true", "passed"]


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
            f"(max abs difference {np.nanmax(diff):.3g}, tolerance {atol:g})"
        )


def check_true(condition: bool, message: str) -> None:
    """Assert a condition, with the message a learner should read if it fails."""
    assert condition, message


def passed(exercise: str) -> None:
    """Print the one line every check cell ends with."""
    print(f"✓ {exercise}: all checks passed")
