"""Checks of notebook 03 (positional encoding): Exercises 3.1 and 3.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_3_1", "check_3_2", "hidden_3_1", "hidden_3_2"]

_NAMES_3_2 = ("ids", "table", "position_table")


def _check_3_1(positional_encoding, tag: str) -> None:
    ex = Exercise("3.1", "positional_encoding")
    rules = (forbidden("helpers.embeddings.sinusoidal_positional_encoding"),
             forbidden("helpers.embeddings.encoder_input"))
    rng = probe_rng(tag)
    start = int(rng.integers(3, 9))
    cases = [
        (np.arange(start, start + int(rng.integers(4, 9))), int(rng.choice([6, 8, 10])), None),
        (rng.integers(0, 50, size=(2, int(rng.integers(3, 6)))), int(rng.choice([4, 6])), float(rng.choice([100.0, 10.0]))),
        (np.arange(int(rng.integers(3, 7))), int(rng.choice([5, 7, 9])), None),              # odd d_model
        (np.array(int(rng.integers(1, 30))), int(rng.choice([4, 6])), 1000.0),               # one position
    ]

    def sinusoid(positions, d_model, base, *, swap=False, per_column=False, half=False):
        positions = np.asarray(positions, dtype=np.float64)
        columns = np.arange(d_model)
        pair = columns - columns % 2
        exponent = columns if per_column else (pair / 2 if half else pair)
        angles = positions[..., None] / base ** (exponent / d_model)
        first, second = (np.cos, np.sin) if swap else (np.sin, np.cos)
        return np.where(columns % 2 == 0, first(angles), second(angles))

    for positions, d_model, base in cases:
        b = 10000.0 if base is None else base
        case = f"positions of shape {positions.shape}, d_model={d_model}" + ("" if base is None else f", base={b:g}")
        expected = sinusoid(positions, d_model, b)
        mistakes = [
            Mistake("swapped", "sin and cos are swapped: sine in the even columns 2i, cosine in 2i + 1",
                    sinusoid(positions, d_model, b, swap=True)),
            Mistake("per column", "each column got its own frequency: columns 2i and 2i + 1 share "
                    "exponent 2i / d_model", sinusoid(positions, d_model, b, per_column=True)),
            Mistake("half exponent", "the exponent is i / d_model; it is 2i / d_model (i counts pairs)",
                    sinusoid(positions, d_model, b, half=True)),
            Mistake("counted", "positions were treated as a count (0 .. n-1): encode the given positions",
                    sinusoid(np.arange(positions.shape[-1]) if positions.ndim else np.zeros(()), d_model, b)
                    * np.ones(positions.shape + (1,))),
        ]
        if base is not None:
            mistakes.append(Mistake("base ignored", "the base argument is ignored (this is base 10000)",
                                    sinusoid(positions, d_model, 10000.0)))
        kwargs = {} if base is None else {"base": base}
        out = ex.call(positional_encoding, positions.copy(), d_model, case=case, forbid=rules,
                      names=("positions", "d_model"), **kwargs)
        ex.compare(out, expected, case=case, mistakes=mistakes, atol=1e-9, rtol=1e-9)


def check_3_1(positional_encoding) -> None:
    """Exercise 3.1: ``positional_encoding(positions, d_model, base=10000.0)``, positions of any shape,
    any d_model (odd too): sin in column 2i, cos in 2i + 1, written from the formula."""
    _check_3_1(positional_encoding, "3.1 visible")


def hidden_3_1(positional_encoding) -> None:
    """The hidden tests of 3.1: the same rules on other probes."""
    _check_3_1(positional_encoding, "3.1 hidden")


def _check_3_2(learned_position_input, tag: str) -> None:
    ex = Exercise("3.2", "learned_position_input")
    rng = probe_rng(tag)
    for extra in (3, 0, 2):                                # extra = max_len - n; 0: exactly max_len fits
        vocab_size, d_model = int(rng.integers(8, 20)), int(rng.choice([4, 9, 16]))
        n = int(rng.integers(3, 8))
        max_len = n + extra
        ids = rng.integers(0, vocab_size, size=n)
        table, position_table = rng.normal(size=(vocab_size, d_model)), rng.normal(size=(max_len, d_model))
        case = f"{n} ids, table ({vocab_size}, {d_model}), position_table ({max_len}, {d_model})"
        rows = table[ids]
        scale = np.sqrt(d_model)
        expected = scale * rows + position_table[:n]
        mistakes = [
            Mistake("not scaled", "the embeddings are not scaled: multiply them by sqrt(d_model) first",
                    rows + position_table[:n]),
            Mistake("positions scaled", "the positions were scaled too: only the embeddings get sqrt(d_model)",
                    scale * (rows + position_table[:n])),
            Mistake("sqrt vocab_size", "scaled by sqrt(vocab_size): the scale is sqrt(d_model)",
                    np.sqrt(vocab_size) * rows + position_table[:n]),
            Mistake("last rows", "uses the last n rows of the position table: position p is row p, the first n",
                    scale * rows + position_table[max_len - n:]),
        ]
        if max_len == n:
            try:
                out = ex.call(learned_position_input, ids.copy(), table.copy(), position_table.copy(), case=case,
                              names=_NAMES_3_2)
            except AssertionError as err:
                if "ValueError" in str(err):
                    ex.fail(f"raises for a sentence of exactly max_len tokens, which fits ({case}): raise only "
                            "when n > max_len", "raises at max_len")
                raise
        else:
            out = ex.call(learned_position_input, ids.copy(), table.copy(), position_table.copy(), case=case,
                              names=_NAMES_3_2)
        ex.compare(out, expected, case=case, mistakes=mistakes, atol=1e-10, rtol=1e-10)
    for over in (1, int(rng.integers(2, 5))):
        vocab_size, d_model, max_len = 10, int(rng.choice([4, 6])), int(rng.integers(3, 7))
        n = max_len + over
        ids = rng.integers(0, vocab_size, size=n)
        case = f"{n} ids, position_table ({max_len}, {d_model})"
        err = ex.call(learned_position_input, ids, rng.normal(size=(vocab_size, d_model)),
                      rng.normal(size=(max_len, d_model)), case=case, expect_error=ValueError)
        if "broadcast" in str(err) or "could not" in str(err):
            ex.fail(f"the ValueError came from NumPy's broadcasting, not from your own length check ({case}): "
                    "compare n with max_len and raise", "numpy error")


def check_3_2(learned_position_input) -> None:
    """Exercise 3.2: sqrt(d_model) E[ids] + position_table[:n]; ValueError when n > max_len."""
    _check_3_2(learned_position_input, "3.2 visible")


def hidden_3_2(learned_position_input) -> None:
    """The hidden tests of 3.2: the same rules on other probes."""
    _check_3_2(learned_position_input, "3.2 hidden")
