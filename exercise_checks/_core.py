"""The machinery every exercise check shares (see DESIGN.md beside this file).

A check is written in four steps, always in this order:

1. draw the probe inputs (``probe_rng``), keep private copies (``snapshot``), and compute the expected
   value, plus the output of every named mistake, from those copies with inline NumPy;
2. call the learner's function through ``Exercise.call``: it hands over the inputs, watches for
   forbidden helpers (``forbidden``), turns any exception into one short ``CheckFailed``, and
   afterwards fails with a named message if an input was changed in place;
3. compare with ``Exercise.compare`` / ``Exercise.equal``: a mistake is named only when the output
   matches that mistake's output (and not the right answer); otherwise the generic message gives the
   case, one index, expected and got;
4. nothing is printed on success: the check cell prints its own last line.

Everything a failure shows is in the first line of one ``CheckFailed`` (``nbgrader validate`` keeps
about 90 characters): ``Exercise 4.1: <mistake or case>: <detail>``.
"""

from __future__ import annotations

import dataclasses
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "CheckFailed",
    "Exercise",
    "Forbidden",
    "forbidden",
    "probe_rng",
    "snapshot",
    "same",
    "first_difference",
    "numpy_is_sane",
]


# --------------------------------------------------------------------------------------------
# The failure type


class CheckFailed(AssertionError):
    """One failed check: ``str(err)`` is the whole diagnosis, on one line.

    ``exercise`` ("4.1"), ``mistake`` (the id of a named mistake, or None for a generic failure) are
    kept as attributes for the tests. IPython calls ``_render_traceback_`` instead of printing the
    traceback, so the learner (and ``nbgrader validate``) sees only the message, not the checker's
    internals.
    """

    def __init__(self, exercise: str, message: str, mistake: str | None = None):
        self.exercise = exercise
        self.mistake = mistake
        self.detail = message
        super().__init__(f"Exercise {exercise}: {message}")

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mCheckFailed\x1b[0m: {self}"]


# --------------------------------------------------------------------------------------------
# Probe inputs


def probe_rng(tag: str) -> np.random.Generator:
    """A generator seeded from ``tag`` (e.g. "4.1 visible"): the same probes on every run and machine,
    different ones for the visible check and the hidden tests."""
    return np.random.default_rng(zlib.crc32(tag.encode()))


def snapshot(value):
    """A deep private copy of ``value``: arrays copied, containers (tuple, list, dict, dataclass)
    rebuilt around copies; anything else is returned as is (ints, strings, functions)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: snapshot(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(snapshot(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    return value


def same(a, b) -> bool:
    """True if ``a`` and ``b`` hold the same values, dtypes and shapes (NaN equal to NaN), recursively."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return a is b


def numpy_is_sane() -> bool:
    """False if NumPy's comparison functions were replaced (a learner's cell can patch ``np.allclose``
    to always say yes); checks and hidden tests refuse to grade then."""
    try:
        return (not bool(np.allclose(np.zeros(2), np.ones(2))) and bool(np.allclose(1.0, 1.0))
                and not bool(np.array_equal(np.array([1]), np.array([2])))
                and not bool(np.any(np.array([False, False]))) and bool(np.isclose(2.0, 2.0)))
    except Exception:
        return False


# --------------------------------------------------------------------------------------------
# Forbidden helpers: "write it yourself", enforced whatever route reaches the helper


def _find_spec(package: str):
    """The import system's spec for a top-level ``package``, asked of the finders directly (an editable
    install has its own finder) and never of sys.modules."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(package, None)
        except Exception:
            continue
        if spec is not None:
            return spec
    return None


def _package_dir(package: str) -> Path:
    """The directory of ``package`` found on sys.path, not through sys.modules (which a learner's
    cell could replace)."""
    spec = _find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"cannot find the package {package!r} on sys.path")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _code_in(code, qualname: str):
    """The code object ``qualname`` ("f" or "Class.method") inside the module code ``code``."""
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            if getattr(const, "co_qualname", const.co_name) == qualname:
                return const
            found = _code_in(const, qualname)
            if found is not None:
                return found
    return None


@dataclasses.dataclass(frozen=True)
class Forbidden:
    """A helper the learner must not call: its display name, the file it lives in, its bytecode.

    Identified by (file, qualified name) and by its bytecode, both read from the file on disk: so a
    kept reference, an alias, another module's import, a copy made with ``types.FunctionType`` or an
    ``exec`` of its source are all recognised, and replacing ``helpers.x`` before the check runs
    does not hide it.
    """

    display: str
    filename: str
    qualname: str
    co_code: bytes
    co_names: tuple

    def matches(self, code) -> bool:
        if getattr(code, "co_qualname", code.co_name) == self.qualname and code.co_filename == self.filename:
            return True
        return code.co_code == self.co_code and code.co_names == self.co_names


def forbidden(dotted: str, display: str | None = None) -> Forbidden:
    """``forbidden("helpers.attention.scaled_dot_product_attention")``: the helper as found on disk.

    ``display`` is the name the message uses (default: ``helpers.<function>``).
    """
    parts = dotted.split(".")
    package, module, qualname = parts[0], parts[1], ".".join(parts[2:])
    path = _package_dir(package) / f"{module}.py"
    module_code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    code = _code_in(module_code, qualname)
    if code is None:
        raise RuntimeError(f"{qualname} not found in {path}")
    filename = str(path)
    loaded = sys.modules.get(f"{package}.{module}")      # the file name the interpreter recorded
    if loaded is not None and getattr(loaded, "__file__", None):
        if Path(loaded.__file__).resolve() == path:
            filename = loaded.__file__
    return Forbidden(display or f"{package}.{qualname.split('.')[-1]}", filename, qualname,
                     code.co_code, code.co_names)


def _canary():
    return None


class _Tripwire:
    """Context manager: records the first forbidden helper entered while it is active.

    Uses ``sys.setprofile`` (Python-level calls only, cheap), restores the previous profiler on exit,
    and verifies with a private canary call that the profiler really ran, so a cell that replaced
    ``sys.setprofile`` cannot switch the check off silently.
    """

    def __init__(self, rules: Sequence[Forbidden]):
        self.rules = tuple(rules)
        self.hit: Forbidden | None = None
        self.saw_canary = False
        self._previous = None

    def _profile(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code is _canary.__code__:
            self.saw_canary = True
            return
        if self.hit is None:
            for rule in self.rules:
                if rule.matches(code):
                    self.hit = rule
                    break

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        _canary()
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


# --------------------------------------------------------------------------------------------
# Comparing


def _as_array(value):
    """``value`` as a numeric array, or None if it is not one (None, a string, a ragged list...)."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype == object or arr.dtype.kind not in "biufc":
        return None
    return arr


def _close(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> bool:
    if got.shape != want.shape:
        return False
    if got.size == 0:
        return True
    g = got.astype(np.float64) if got.dtype.kind in "bui" else got
    w = want.astype(np.float64) if want.dtype.kind in "bui" else want
    with np.errstate(all="ignore"):
        return bool(np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True))


def first_difference(got: np.ndarray, want: np.ndarray, atol: float = 0.0, rtol: float = 0.0):
    """(index, expected entry, got entry) of the worst differing entry of two same-shape arrays."""
    g = np.asarray(got, dtype=np.float64) if np.asarray(got).dtype.kind in "bui" else np.asarray(got)
    w = np.asarray(want, dtype=np.float64) if np.asarray(want).dtype.kind in "bui" else np.asarray(want)
    with np.errstate(all="ignore"):
        diff = np.abs(g - w) - (atol + rtol * np.abs(w))
    diff = np.where(np.isnan(diff), np.inf, diff)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    return tuple(int(i) for i in index), want[index], got[index]


def _fmt(value, digits: int = 4) -> str:
    value = np.asarray(value).item() if np.ndim(value) == 0 else value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    return repr(value)


def _fmt_pair(want, have) -> tuple[str, str]:
    """Both values with enough digits to tell them apart (4 significant digits, up to 12)."""
    for digits in (4, 6, 8, 10, 12):
        a, b = _fmt(want, digits), _fmt(have, digits)
        if a != b:
            return a, b
    return a, b


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A named mistake: ``key`` (stable id for tests), ``message`` (what the learner reads), and the
    ``output`` that mistake gives on the probe (computed before the learner's call)."""

    key: str
    message: str
    output: object


class Exercise:
    """The checks of one exercise: ``ex = Exercise("4.1")``, then ``ex.call``, ``ex.compare``...

    Every method fails with a ``CheckFailed`` carrying ``Exercise 4.1: ...``.
    """

    def __init__(self, number: str, function_name: str = "your function"):
        self.number = number
        self.function_name = function_name
        if not numpy_is_sane():
            self.fail("NumPy's comparison functions were replaced: restart the kernel and run the "
                      "notebook again", "numpy patched")

    # -- failing -------------------------------------------------------------------------------

    def fail(self, message: str, mistake: str | None = None):
        """Raise the one CheckFailed (never returns)."""
        raise CheckFailed(self.number, message, mistake)

    def unfinished(self):
        """An exercise still holding its stub: a NotImplementedError (as the stub raised), one line."""
        raise NotImplementedError(f"Exercise {self.number}: not written yet (the function still raises "
                                  "NotImplementedError)") from None

    def named(self, mistake: Mistake, case: str):
        self.fail(f"{mistake.message} ({case})", mistake.key)

    # -- calling the learner's function -------------------------------------------------------

    def call(self, func: Callable, *args, case: str, forbid: Iterable[Forbidden] = (),
             inputs: dict | None = None, names: Sequence[str] = (),
             expect_error: type[BaseException] | None = None, **kwargs):
        """``func(*args, **kwargs)`` under the tripwire, with the inputs checked afterwards.

        ``inputs``: {name: the array or object handed over} to check for in-place changes (default:
        every positional argument, named by ``names`` or "argument 1", ..., and every keyword argument). With ``expect_error``, the call
        must raise that type (any message): returns the exception, or fails if the call returns.
        Otherwise returns the result; any exception becomes a CheckFailed naming the case.
        """
        if not callable(func):
            self.fail(f"{self.function_name} is not a function (got {type(func).__name__})", "not callable")
        if inputs is None:
            inputs = {(names[i] if i < len(names) else f"argument {i + 1}"): a for i, a in enumerate(args)}
            inputs.update({k: v for k, v in kwargs.items()})
        before = {name: snapshot(value) for name, value in inputs.items()}
        rules = tuple(forbid)
        error = result = None
        with _Tripwire(rules) as wire:
            try:
                result = func(*args, **kwargs)
            except BaseException as err:     # noqa: BLE001 - every error of the learner's code is reported
                if isinstance(err, (KeyboardInterrupt, SystemExit)):
                    raise
                error = err
        if not wire.saw_canary:
            self.fail("the checks' call monitor was switched off (sys.setprofile replaced): restart the "
                      "kernel and run the notebook again", "monitor disabled")
        if wire.hit is not None:
            self.fail(f"calls {wire.hit.display}, which this exercise asks you to write yourself ({case})",
                      "forbidden helper")
        for name, value in inputs.items():
            if not same(value, before[name]):
                self.fail(f"your function changed its input {name} in place ({case}): work on a copy "
                          "or build a new array", "input changed")
        if isinstance(error, CheckFailed):
            raise error
        if expect_error is not None:
            if error is None:
                self.fail(f"should raise {expect_error.__name__} ({case}), but returned without an error",
                          "no error")
            if isinstance(error, NotImplementedError):
                self.unfinished()
            if not isinstance(error, expect_error):
                self.fail(f"should raise {expect_error.__name__} ({case}), but raised "
                          f"{type(error).__name__}: {str(error)[:80]}", "wrong error")
            return error
        if error is not None:
            if isinstance(error, NotImplementedError):
                self.unfinished()
            self.fail(f"{case}: your function raised {type(error).__name__}: {str(error)[:100]}", "raised")
        return result

    # -- comparing ------------------------------------------------------------------------------

    def array(self, got, case: str, what: str = "the result"):
        """``got`` as a numeric array, or a CheckFailed saying what came back instead."""
        if got is None:
            self.fail(f"{what} is None ({case}): did the function forget to `return`?", "returns None")
        if isinstance(got, tuple) and len(got) and all(isinstance(x, np.ndarray) for x in got):
            self.fail(f"{what} should be one array but is a tuple of {len(got)} ({case})", "returns tuple")
        arr = _as_array(got)
        if arr is None:
            self.fail(f"{what} should be a numeric array, got {type(got).__name__} ({case})", "not an array")
        return arr

    def compare(self, got, expected, *, case: str, what: str = "the result",
                mistakes: Sequence[Mistake] = (), atol: float = 1e-6, rtol: float = 1e-6,
                dtype=None) -> np.ndarray:
        """Pass if ``got`` matches ``expected`` (shape, values within tolerance, and ``dtype`` if
        given). Otherwise name the mistake whose output ``got`` matches, if exactly one does (mistakes
        that give the right answer on this probe are no evidence), else the generic message."""
        expected = np.asarray(expected)
        arr = self.array(got, case, what)
        if _close(arr, expected, atol, rtol):
            if dtype is not None and arr.dtype != np.dtype(dtype):
                self.fail(f"{what} has dtype {arr.dtype}, expected {np.dtype(dtype)} ({case})", "dtype")
            return arr
        matching = []
        for mistake in mistakes:
            wrong = _as_array(mistake.output)
            if wrong is None or _close(wrong, expected, atol, rtol):
                continue                        # the mistake is invisible on this probe: not evidence
            if _close(arr, wrong, atol, rtol):
                matching.append(mistake)
        if len({m.key for m in matching}) == 1:     # two mistakes giving this output: name neither
            self.named(matching[0], case)
        if arr.shape != expected.shape:
            self.fail(f"{what} has shape {arr.shape}, expected {expected.shape} ({case})", None)
        index, want, have = first_difference(arr, expected, atol, rtol)
        shown_want, shown_have = _fmt_pair(want, have)
        self.fail(f"{case}: {what}{list(index) if index else ''} expected {shown_want}, got {shown_have}")

    def equal(self, got, expected, *, case: str, what: str = "the result",
              mistakes: Sequence[Mistake] = (), dtype=None):
        """Exact version of ``compare`` (ids, masks, counts)."""
        return self.compare(got, expected, case=case, what=what, mistakes=mistakes, atol=0.0, rtol=0.0,
                            dtype=dtype)


def hidden_loader_source(module: str) -> str:
    """The lines a check cell's hidden block uses to load ``exercise_checks.<module>`` afresh from disk.

    A fresh package under a new random name: nothing a solution cell rebound (names, module
    attributes, ``sys.modules`` entries) is reachable from it. The notebook cells contain this text
    literally (it is not called at run time, which a learner could intercept); the tests compare.
    """
    return (
        "import importlib as _il, importlib.util as _iu, sys as _sys, uuid as _uu\n"
        "_found = next(s for s in (f.find_spec(\"exercise_checks\", None) for f in _sys.meta_path\n"
        "                          if hasattr(f, \"find_spec\")) if s is not None)\n"
        "_name = \"_exercise_checks_\" + _uu.uuid4().hex\n"
        "for _key in [k for k in _sys.modules if k.split(\".\")[0] == _name]:\n"
        "    del _sys.modules[_key]                  # nothing planted under a predictable name survives\n"
        "_spec = _iu.spec_from_file_location(_name, _found.origin, "
        "submodule_search_locations=list(_found.submodule_search_locations))\n"
        "_sys.modules[_name] = _pkg = _iu.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_pkg)\n"
        f"_hidden = _il.import_module(_name + \".{module}\")\n"
    )
