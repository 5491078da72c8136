"""The shared machinery of the exercise checks (exercise_checks/_core.py)."""

from __future__ import annotations

import functools
import sys
import types

import numpy as np
import pytest

import helpers
from exercise_checks import _core
from exercise_checks._core import CheckFailed, Exercise, Mistake, forbidden

SDPA = forbidden("helpers.attention.scaled_dot_product_attention")


def run(func, *args, forbid=(SDPA,), **kwargs):
    return Exercise("9.9").call(func, *args, case="probe", forbid=forbid, **kwargs)


def test_check_failed_is_an_assertion_error_with_a_one_line_rendering():
    err = CheckFailed("4.1", "no max shift (case huge scores)", "no max shift")
    assert isinstance(err, AssertionError)
    assert str(err) == "Exercise 4.1: no max shift (case huge scores)"
    lines = err._render_traceback_()
    assert len(lines) == 1 and "no max shift" in lines[0] and "Traceback" not in lines[0]
    assert err.mistake == "no max shift" and err.exercise == "4.1"


def test_probe_rng_is_reproducible_and_differs_per_tag():
    a = _core.probe_rng("4.1 visible").normal(size=3)
    assert np.array_equal(a, _core.probe_rng("4.1 visible").normal(size=3))
    assert not np.array_equal(a, _core.probe_rng("4.1 hidden").normal(size=3))


def test_snapshot_copies_arrays_inside_containers_and_dataclasses():
    params = helpers.layers.init_feed_forward(np.random.default_rng(0), 4, 8)
    value = {"x": np.ones(3), "pair": (np.zeros(2), [np.arange(3)]), "params": params}
    copy = _core.snapshot(value)
    assert _core.same(value, copy)
    value["pair"][1][0][0] = 7
    assert not _core.same(value, copy)
    params.w_1[0, 0] += 1.0
    assert not _core.same(params, copy["params"])


def test_same_distinguishes_dtype_and_shape_and_treats_nan_as_equal():
    assert _core.same(np.array([np.nan]), np.array([np.nan]))
    assert not _core.same(np.zeros(2), np.zeros(2, dtype=np.float32))
    assert not _core.same(np.zeros(2), np.zeros((1, 2)))
    assert _core.same(3, 3) and not _core.same(3, 4)


def test_call_reports_an_input_changed_in_place_by_name():
    def centre_in_place(x):
        x -= x.mean()
        return x
    with pytest.raises(CheckFailed) as info:
        Exercise("6.1").call(centre_in_place, np.arange(4.0), case="probe", inputs=None)
    assert info.value.mistake == "input changed" and "changed its input argument 1 in place" in str(info.value)
    with pytest.raises(CheckFailed, match="changed its input x in place"):
        x = np.arange(4.0)
        Exercise("6.1").call(centre_in_place, x, case="probe", inputs={"x": x})


def test_call_turns_any_error_into_one_check_failed_but_shows_unfinished_work_as_not_implemented():
    def broken(x):
        return x[10]
    with pytest.raises(CheckFailed, match="raised IndexError"):
        run(broken, np.zeros(3))

    def stub(x):
        raise NotImplementedError
    with pytest.raises(NotImplementedError, match="Exercise 9.9: not written yet"):
        run(stub, np.zeros(3))
    with pytest.raises(NotImplementedError):
        run(stub, np.zeros(3), expect_error=ValueError)


def test_expect_error_accepts_any_message_and_rejects_a_return_or_another_type():
    def raises_value_error(x):
        raise ValueError("")
    assert isinstance(run(raises_value_error, 1, expect_error=ValueError), ValueError)
    with pytest.raises(CheckFailed, match="returned without an error"):
        run(lambda x: x, 1, expect_error=ValueError)
    with pytest.raises(CheckFailed, match="raised TypeError"):
        run(lambda x: x + "a", 1, expect_error=ValueError)


q = k = v = np.random.default_rng(1).normal(size=(3, 4))


def test_tripwire_catches_the_forbidden_helper_by_every_route():
    kept = helpers.scaled_dot_product_attention
    routes = {
        "through helpers": lambda: helpers.scaled_dot_product_attention(q, k, v),
        "a kept reference": lambda: kept(q, k, v),
        "another module": lambda: helpers.attention.scaled_dot_product_attention(q, k, v),
        # (helpers.multi_head_attention has its own private path now; exercise 4.1 forbids it by name)
        "via a partial": functools.partial(kept, q, k, v),
        "a FunctionType copy": lambda: types.FunctionType(kept.__code__, kept.__globals__)(q, k, v, None),
    }
    source = "import numpy as np\n" + __import__("inspect").getsource(helpers.attention._softmax_in_place)
    source += __import__("inspect").getsource(kept)
    namespace = {"float_array": lambda x, name: np.asarray(x, dtype=float), "check_last_dim": lambda *a: None,
                 "check_shape": lambda *a: None, "bool_mask": np.asarray}
    exec(compile(source, "<copy>", "exec"), namespace)
    routes["exec of its source"] = lambda: namespace["scaled_dot_product_attention"](q, k, v, None)
    for route, func in routes.items():
        with pytest.raises(CheckFailed) as info:
            run(func)
        assert "calls helpers.scaled_dot_product_attention" in str(info.value), route
        assert info.value.mistake == "forbidden helper"


def test_tripwire_catches_the_helper_even_after_helpers_was_patched():
    original = helpers.scaled_dot_product_attention
    try:
        helpers.scaled_dot_product_attention = helpers.attention.scaled_dot_product_attention = (
            lambda *a, **kw: (None, None))
        rule = forbidden("helpers.attention.scaled_dot_product_attention")
    finally:
        helpers.scaled_dot_product_attention = helpers.attention.scaled_dot_product_attention = original
    with pytest.raises(CheckFailed, match="calls helpers.scaled_dot_product_attention"):
        run(lambda: original(q, k, v), forbid=(rule,))


def test_tripwire_allows_other_helpers_and_restores_the_previous_profiler():
    seen = []
    def outer_profile(frame, event, arg):
        seen.append(event)
    sys.setprofile(outer_profile)
    try:
        out = run(lambda: helpers.softmax(q))
    finally:
        restored = sys.getprofile()
        sys.setprofile(None)
    assert restored is outer_profile
    assert np.allclose(out.sum(axis=-1), 1.0)


def test_a_replaced_setprofile_fails_the_check():
    real = sys.setprofile
    try:
        sys.setprofile = lambda f: None
        with pytest.raises(CheckFailed, match="call monitor was switched off"):
            run(lambda: 1)
    finally:
        sys.setprofile = real


def test_patched_numpy_comparisons_refuse_to_grade():
    real = np.allclose
    try:
        np.allclose = lambda *a, **kw: True
        with pytest.raises(CheckFailed, match="NumPy's comparison functions were replaced"):
            Exercise("1.1")
    finally:
        np.allclose = real


def test_compare_names_a_mistake_only_when_the_output_matches_it():
    expected = np.array([1.0, 2.0, 3.0])
    mistakes = [Mistake("invisible", "invisible on this probe", expected.copy()),
                Mistake("doubled", "doubled", 2 * expected)]
    ex = Exercise("1.1")
    assert ex.compare(expected + 1e-9, expected, case="c", mistakes=mistakes) is not None
    with pytest.raises(CheckFailed) as info:
        ex.compare(2 * expected, expected, case="c", mistakes=mistakes)
    assert info.value.mistake == "doubled"
    with pytest.raises(CheckFailed) as info:
        ex.compare(expected + np.array([0, 0, 1.0]), expected, case="case A", mistakes=mistakes)
    assert info.value.mistake is None
    assert str(info.value) == "Exercise 1.1: case A: the result[2] expected 3, got 4"


def test_compare_reports_shape_dtype_none_and_non_arrays():
    ex = Exercise("1.1")
    for got, fragment in [(None, "forget to `return`"), ("abc", "should be a numeric array"),
                          ((np.zeros(2), np.zeros(2)), "tuple of 2"), (np.zeros(4), "has shape (4,)"),
                          ([[1, 2], [3]], "should be a numeric array")]:
        with pytest.raises(CheckFailed, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            ex.compare(got, np.zeros(3), case="c")
    with pytest.raises(CheckFailed, match="dtype float32, expected float64"):
        ex.compare(np.zeros(3, dtype=np.float32), np.zeros(3), case="c", dtype=np.float64)


def test_messages_keep_the_diagnosis_in_the_first_90_characters():
    ex = Exercise("12.2")
    mistake = Mistake("no shift", "no max shift: softmax overflows on huge scores", np.full(2, np.nan))
    with pytest.raises(CheckFailed) as info:
        ex.compare(np.full(2, np.nan), np.zeros(2), case="huge scores (2, 3, 5, 5)", mistakes=[mistake])
    assert "no max shift" in str(info.value)[:90]


def test_hidden_loader_gives_a_fresh_module_a_solution_cell_cannot_reach(tmp_path):
    import exercise_checks.lesson as lesson
    namespace: dict = {}
    exec(_core.hidden_loader_source("lesson"), namespace)
    fresh = namespace["_hidden"]
    assert fresh is not lesson and fresh.__name__.startswith("_exercise_checks_")
    assert fresh.check_close is not lesson.check_close
    sys.modules["exercise_checks.lesson"].check_close = None     # a solution cell's sabotage...
    try:
        exec(_core.hidden_loader_source("lesson"), namespace)
        assert callable(namespace["_hidden"].check_close)          # ...does not reach a fresh load
    finally:
        lesson.check_close = fresh.check_close.__globals__["check_close"]
        import importlib
        importlib.reload(lesson)


def test_exercise_1_1_is_called_positionally_so_any_parameter_name_passes():
    """The statement now says one_hot_rows(ids, vocab_size); answers written when it said V still pass."""
    from exercise_checks.nb01 import check_1_1, hidden_1_1

    def right_rows(ids, size):
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= size):
            raise ValueError("out of range")
        rows = np.zeros((ids.shape[0], size))
        rows[np.arange(ids.shape[0]), ids] = 1.0
        return rows

    old_style = lambda ids, V: right_rows(ids, V)
    new_style = lambda ids, vocab_size: right_rows(ids, vocab_size)
    for answer in (old_style, new_style):
        check_1_1(answer)
        hidden_1_1(answer)
    with pytest.raises(CheckFailed, match="id = vocab_size is out of range") as info:
        check_1_1(lambda ids, V: right_rows(np.clip(ids, 0, None), V + 1)[:, :V])
    assert info.value.mistake == "accepts vocab_size"


def test_exercise_9_2_is_called_positionally_so_any_parameter_name_passes():
    """The statement now says encoder_parameter_count(vocab_size, ...); answers written with V still pass."""
    from exercise_checks.nb09 import check_9_2, hidden_9_2

    def count(size, d_model, d_ff, n_layers, tied):
        block = 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model
        return size * d_model + (1 if tied else n_layers) * block

    def old_style(V, d_model, d_ff, n_layers, tied=False):
        return count(V, d_model, d_ff, n_layers, tied)

    def new_style(vocab_size, d_model, d_ff, n_layers, tied=False):
        return count(vocab_size, d_model, d_ff, n_layers, tied)

    for answer in (old_style, new_style):
        check_9_2(answer)
        hidden_9_2(answer)
    with pytest.raises(CheckFailed, match="vocab_size, d_model. embedding table is missing") as info:
        check_9_2(lambda V, d_model, d_ff, n_layers, tied=False: count(V, d_model, d_ff, n_layers, tied)
                  - V * d_model)
    assert info.value.mistake == "embedding missing"
