"""Wrong answers and cheats for notebook 02 (Exercises 2.1 embed_lookup, 2.2 bottom_input)."""

import numpy as np

import helpers

from . import cheat, mistake

# --- 2.1 embed_lookup ------------------------------------------------------------------------


@mistake("2.1", "one-hot rows times the table", "one-hot product")
def embed_lookup(ids, table, pad_id=None):
    ids = np.asarray(ids)
    rows = np.eye(table.shape[0])[ids] @ table
    if pad_id is not None:
        rows[ids == pad_id] = 0.0
    return rows


@mistake("2.1", "pad_id ignored", "pad ignored")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    return table[np.asarray(ids)]


@mistake("2.1", "`if pad_id:` (pad_id = 0 is falsy)", "pad 0 ignored")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    ids = np.asarray(ids)
    rows = table[ids]
    if pad_id:
        rows[ids == pad_id] = 0.0
    return rows


@mistake("2.1", "zeroes the table's pad row in place", "input changed")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    if pad_id is not None and 0 <= pad_id < table.shape[0]:
        table[pad_id] = 0.0
    return table[np.asarray(ids)]


@mistake("2.1", "zeroes output row number pad_id instead of the positions", "zeroed row pad_id")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    rows = table[np.asarray(ids)]
    if pad_id is not None and np.ndim(ids) >= 1 and pad_id < rows.shape[0]:
        rows[pad_id] = 0.0
    return rows


@mistake("2.1", "only (n,) ids: a loop over the ids")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    rows = np.stack([table[i] for i in ids])
    if pad_id is not None:
        rows[np.asarray(ids) == pad_id] = 0.0
    return rows


@mistake("2.1", "pads by multiplying with the mask on the last axis (broadcast error)")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    ids = np.asarray(ids)
    rows = table[ids]
    if pad_id is not None:
        rows = rows * (ids != pad_id)
    return rows


@mistake("2.1", "sets padded positions to the mean row instead of zero")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    ids = np.asarray(ids)
    rows = table[ids]
    if pad_id is not None:
        rows = np.where((ids == pad_id)[..., None], table.mean(axis=0), rows)
    return rows


@mistake("2.1", "zeroes the positions of id 0 whenever pad_id is given")
def embed_lookup(ids, table, pad_id=None):  # noqa: F811
    ids = np.asarray(ids)
    rows = table[ids]
    if pad_id is not None:
        rows = np.where((ids == 0)[..., None], 0.0, rows)
    return rows


cheat("2.1", "helpers.one_hot then a product via np.dot on a plain copy", """
import helpers
def embed_lookup(ids, table, pad_id=None):
    ids = np.asarray(ids)
    rows = np.dot(helpers.one_hot(ids, table.shape[0]), np.array(table))
    if pad_id is not None:
        rows[ids == pad_id] = 0.0
    return rows
""", "forbidden helper")
cheat("2.1", "special-cases pad_id 7 and 0 (the old visible cases)", """
def embed_lookup(ids, table, pad_id=None):
    ids = np.asarray(ids)
    rows = table[ids]
    if pad_id in (7, 0):
        rows = np.where((ids == pad_id)[..., None], 0.0, rows)
    return rows
""", "pad ignored")

# --- 2.2 bottom_input ------------------------------------------------------------------------


def _pe(n, d):
    return helpers.sinusoidal_positional_encoding(n, d)


@mistake("2.2", "forgets sqrt(d_model)", "not scaled")
def bottom_input(ids, table):
    ids = np.asarray(ids)
    return table[ids] + _pe(ids.shape[-1], table.shape[1])


@mistake("2.2", "scales the positions too", "pe scaled")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    return (table[ids] + _pe(ids.shape[-1], table.shape[1])) * np.sqrt(table.shape[1])


@mistake("2.2", "sqrt(vocab_size) instead of sqrt(d_model)", "sqrt vocab_size")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    return table[ids] * np.sqrt(table.shape[0]) + _pe(ids.shape[-1], table.shape[1])


@mistake("2.2", "multiplies by d_model", "times d_model")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    return table[ids] * table.shape[1] + _pe(ids.shape[-1], table.shape[1])


@mistake("2.2", "no positional encoding", "no pe")
def bottom_input(ids, table):  # noqa: F811
    return table[np.asarray(ids)] * np.sqrt(table.shape[1])


@mistake("2.2", "n = len(ids): B for a batch")
def bottom_input(ids, table):  # noqa: F811
    return table[ids] * np.sqrt(table.shape[1]) + _pe(len(ids), table.shape[1])


@mistake("2.2", "scales the table in place", "input changed")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    table *= np.sqrt(table.shape[1])
    return table[ids] + _pe(ids.shape[-1], table.shape[1])


@mistake("2.2", "hard-coded d_model = 6")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    return table[ids] * np.sqrt(6) + _pe(ids.shape[-1], table.shape[1])


@mistake("2.2", "positions from the batch axis for 2-D ids")
def bottom_input(ids, table):  # noqa: F811
    ids = np.asarray(ids)
    pe = _pe(ids.shape[0], table.shape[1])
    return table[ids] * np.sqrt(table.shape[1]) + (pe[:, None, :] if ids.ndim == 2 else pe)


cheat("2.2", "helpers.encoder_input kept from before the check", """
from helpers.embeddings import encoder_input as _ei
def bottom_input(ids, table):
    return _ei(ids, table)
""", "forbidden helper")
cheat("2.2", "helpers.encoder_input with the profiler disabled", """
import sys, helpers
sys.setprofile = lambda *a: None
def bottom_input(ids, table):
    return helpers.encoder_input(ids, table)
""", "monitor disabled")
