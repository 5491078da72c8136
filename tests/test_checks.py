"""exercise_checks.lesson: the assertions lesson cells use pass quietly on a right value and explain a wrong one."""

import numpy as np
import pytest

from exercise_checks import lesson as checks


def test_check_shape():
    checks.check_shape(np.zeros((2, 3)), (2, 3))
    checks.check_shape([[1, 2, 3]], [1, 3])                       # lists and list shapes work too
    with pytest.raises(AssertionError, match=r"^scores should have shape \(2, 3\), but has shape \(3, 2\)$"):
        checks.check_shape(np.zeros((3, 2)), (2, 3), "scores")
    with pytest.raises(AssertionError, match="out is None: did the function forget to `return`"):
        checks.check_shape(None, (2,), "out")


def test_check_close_reports_the_worst_entry():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    checks.check_close(expected + 1e-8, expected)
    checks.check_close(expected + 1e-3, expected, atol=1e-2)
    wrong = expected.copy()
    wrong[1, 0] = 3.5
    with pytest.raises(AssertionError, match=r"^w has the right shape \(2, 2\) but wrong values: at index \(1, 0\) "
                                             r"expected 3, got 3\.5 \(max abs difference 0\.5, tolerance 1e-06\)$"):
        checks.check_close(wrong, expected, "w")
    with pytest.raises(AssertionError, match=r"should have shape \(2, 2\), but has shape \(4,\)"):
        checks.check_close(expected.ravel(), expected)
    with pytest.raises(AssertionError, match="is None"):
        checks.check_close(None, expected)


def test_check_close_points_at_nan():
    expected = np.zeros(3)
    with pytest.raises(AssertionError, match=r"at index \(1,\) expected 0, got nan \(max abs difference inf"):
        checks.check_close(np.array([0.0, np.nan, 5.0]), expected)
    with pytest.raises(AssertionError, match=r"at index \(0,\) expected 0, got nan"):
        checks.check_close(np.full(3, np.nan), expected)          # all NaN: no warning, a clear message


def test_check_true_and_passed(capsys):
    checks.check_true(True, "never shown")
    with pytest.raises(AssertionError, match="^rows must sum to 1$"):
        checks.check_true(False, "rows must sum to 1")
    checks.passed("Exercise 4.1")
    assert capsys.readouterr().out == "✓ Exercise 4.1: all checks passed\n"


def test_check_equal():
    checks.check_equal([1, 2], [1, 2])
    checks.check_equal(np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(AssertionError, match=r"^ids should be \[1, 2\], but is \[1, 3\]$"):
        checks.check_equal([1, 3], [1, 2], "ids")
    with pytest.raises(AssertionError, match=r"ids has the right shape \(2, 2\) but 2 wrong entries: first at index "
                                             r"\(0, 1\), expected 2, got 7"):
        checks.check_equal(np.array([[1, 7], [3, 9]]), np.array([[1, 2], [3, 4]]), "ids")
    with pytest.raises(AssertionError, match=r"1 wrong entry: first at index \(1,\), expected True, got False"):
        checks.check_equal(np.array([True, False]), np.array([True, True]))
    with pytest.raises(AssertionError, match=r"should have shape \(3,\), but has shape \(2,\)"):
        checks.check_equal(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(AssertionError, match="is None"):
        checks.check_equal(None, 3)
