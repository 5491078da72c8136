"""Checks of notebook 02 (embeddings): Exercises 2.1 and 2.2."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, forbidden, probe_rng

__all__ = ["check_2_1", "check_2_2", "hidden_2_1", "hidden_2_2"]

_ONE_HOT = "builds one-hot rows and multiplies them by the table: index the table instead, table[ids]"


class _NoProductError(AssertionError):
    """Raised inside the learner's call when it multiplies the table by a matrix."""


class _LookupOnlyTable(np.ndarray):
    """An embedding table that allows indexing but refuses matrix products (Exercise 2.1)."""

    _PRODUCTS = {np.dot, np.tensordot, np.einsum, np.inner, np.matmul, np.vdot}

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            raise _NoProductError(_ONE_HOT)
        plain = tuple(np.asarray(x) if isinstance(x, _LookupOnlyTable) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(x) if isinstance(x, _LookupOnlyTable) else x
                                  for x in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in self._PRODUCTS:
            raise _NoProductError(_ONE_HOT)
        return super().__array_function__(func, types, args, kwargs)


def _check_2_1(embed_lookup, tag: str) -> None:
    ex = Exercise("2.1", "embed_lookup")
    rules = (forbidden("helpers.tokens.one_hot"),)
    rng = probe_rng(tag)
    vocab_size, d_model = int(rng.integers(6, 15)), int(rng.integers(3, 7))
    B, n = int(rng.integers(2, 4)), int(rng.integers(4, 7))
    ids = rng.integers(0, vocab_size, size=(B, n))
    pad = int(rng.integers(1, B))                                   # pad < B: a row index too
    ids[:, -2:] = pad
    ids[0, 0] = 0
    cases = [(ids, pad), (ids[0], None), (ids, None), (np.array(pad), pad), (ids, 0),
             (ids[None], pad), (ids[0], vocab_size + 5)]   # pad_id absent: nothing zeroed
    for case_ids, pad_id in cases:
        table = rng.normal(size=(vocab_size, d_model)) + 0.5         # no row is zero
        case = f"ids of shape {case_ids.shape}, table ({vocab_size}, {d_model}), pad_id={pad_id}"
        plain = table[case_ids].copy()
        expected = plain if pad_id is None else np.where((case_ids == pad_id)[..., None], 0.0, plain)
        mistakes = [
            Mistake("pad 0 ignored", "pad_id=0 was ignored: 0 is a valid id, test `pad_id is not None`",
                    plain) if pad_id == 0 else
            Mistake("pad ignored", "positions holding pad_id should be zero vectors, whatever the table holds",
                    plain),
        ]
        if pad_id is not None and case_ids.ndim >= 1 and pad_id < case_ids.shape[0]:
            wrong = plain.copy()
            wrong[pad_id] = 0.0
            mistakes.append(Mistake("zeroed row pad_id", "zeroed the output's row number pad_id; zero the "
                                    "positions whose id equals pad_id (ids == pad_id)", wrong))
        guarded = table.copy().view(_LookupOnlyTable)
        given_ids = case_ids.copy()
        try:
            out = ex.call(embed_lookup, given_ids, guarded, pad_id=pad_id, case=case, forbid=rules,
                          inputs={"ids": given_ids, "table": guarded})
        except AssertionError as err:
            if _ONE_HOT in str(err):
                ex.fail(f"{_ONE_HOT} ({case})", "one-hot product")
            raise
        ex.compare(np.asarray(out), expected, case=case, mistakes=mistakes, atol=1e-12, rtol=1e-12)


def check_2_1(embed_lookup) -> None:
    """Exercise 2.1: ``embed_lookup(ids, table, pad_id=None)`` -> ids.shape + (d_model,), rows holding
    ``pad_id`` zero, no one-hot product, the table untouched."""
    _check_2_1(embed_lookup, "2.1 visible")


def hidden_2_1(embed_lookup) -> None:
    """The hidden tests of 2.1: the same rules on other probes."""
    _check_2_1(embed_lookup, "2.1 hidden")


def _check_2_2(bottom_input, tag: str) -> None:
    ex = Exercise("2.2", "bottom_input")
    rules = (forbidden("helpers.embeddings.encoder_input"),)
    rng = probe_rng(tag)
    for shape_kind in ("(n,)", "(B, n)", "(n,)"):
        vocab_size, d_model = int(rng.integers(7, 20)), int(rng.choice([4, 6, 7, 10]))
        n = int(rng.integers(3, 9))
        B = n + int(rng.integers(1, 3))                               # B != n, so len(ids) is wrong for n
        ids = rng.integers(0, vocab_size, size=(n,) if shape_kind == "(n,)" else (B, n))
        table = 0.3 * rng.normal(size=(vocab_size, d_model))
        case = f"ids of shape {ids.shape}, table ({vocab_size}, {d_model})"
        position = np.arange(n, dtype=np.float64)[:, None]
        angles = position / 10000.0 ** (np.arange(0, d_model, 2) / d_model)
        pe = np.zeros((n, d_model))
        pe[:, 0::2] = np.sin(angles)
        pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
        rows = table[ids]
        expected = rows * np.sqrt(d_model) + pe
        mistakes = [
            Mistake("not scaled", "the embeddings are not scaled: multiply them by sqrt(d_model)", rows + pe),
            Mistake("pe scaled", "the positional encoding was scaled too: only the embeddings get sqrt(d_model)",
                    (rows + pe) * np.sqrt(d_model)),
            Mistake("sqrt vocab_size",
                    "scaled by sqrt(vocab_size): the scale is sqrt(d_model), the table's second axis",
                    rows * np.sqrt(vocab_size) + pe),
            Mistake("times d_model", "multiplied by d_model: the scale is its square root",
                    rows * d_model + pe),
            Mistake("no pe", "the positional encoding is missing", rows * np.sqrt(d_model)),
        ]
        out = ex.call(bottom_input, ids.copy(), table.copy(), case=case, forbid=rules, names=("ids", "table"))
        ex.compare(out, expected, case=case, mistakes=mistakes, atol=1e-10, rtol=1e-10)


def check_2_2(bottom_input) -> None:
    """Exercise 2.2: ``bottom_input(ids, table)`` = sqrt(d_model) E[ids] + PE, for ids (n,) or (B, n)."""
    _check_2_2(bottom_input, "2.2 visible")


def hidden_2_2(bottom_input) -> None:
    """The hidden tests of 2.2: the same rules on other probes."""
    _check_2_2(bottom_input, "2.2 hidden")
