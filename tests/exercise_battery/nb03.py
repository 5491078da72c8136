"""Wrong answers and cheats for notebook 03 (3.1 positional_encoding, 3.2 learned_position_input)."""

import numpy as np

from . import cheat, mistake

# --- 3.1 positional_encoding -----------------------------------------------------------------


def _pe(positions, d_model, base, *, swap=False, per_column=False, half=False, scale=1.0):
    positions = np.asarray(positions, dtype=float)
    columns = np.arange(d_model)
    pair = columns - columns % 2
    exponent = columns if per_column else (pair / 2 if half else pair)
    angles = positions[..., None] / base ** (exponent / d_model) * scale
    first, second = (np.cos, np.sin) if swap else (np.sin, np.cos)
    return np.where(columns % 2 == 0, first(angles), second(angles))


@mistake("3.1", "sin and cos swapped", "swapped")
def positional_encoding(positions, d_model, base=10000.0):
    return _pe(positions, d_model, base, swap=True)


@mistake("3.1", "one frequency per column", "per column")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    return _pe(positions, d_model, base, per_column=True)


@mistake("3.1", "exponent i / d_model", "half exponent")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    return _pe(positions, d_model, base, half=True)


@mistake("3.1", "base ignored (10000 hard-coded)", "base ignored")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    return _pe(positions, d_model, 10000.0)


@mistake("3.1", "positions treated as a count", "counted")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    positions = np.asarray(positions)
    return _pe(np.broadcast_to(np.arange(positions.shape[-1]) if positions.ndim else 0, positions.shape),
               d_model, base)


@mistake("3.1", "odd d_model: cos slice too long (broadcast error)")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    positions = np.asarray(positions, dtype=float)
    angles = positions[..., None] / base ** (np.arange(0, d_model, 2) / d_model)
    pe = np.zeros(positions.shape + (d_model,))
    pe[..., 0::2] = np.sin(angles)
    pe[..., 1::2] = np.cos(angles)
    return pe


@mistake("3.1", "only 1-D positions (uses positions[:, None])")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    positions = np.asarray(positions, dtype=float)
    return _pe(positions[:, None][:, 0], d_model, base)


@mistake("3.1", "degrees: angles times 180 / pi")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    return _pe(positions, d_model, base, scale=180 / np.pi)


@mistake("3.1", "shifts the positions to start at 0, in place", "input changed")
def positional_encoding(positions, d_model, base=10000.0):  # noqa: F811
    positions = np.asarray(positions)
    out = _pe(positions, d_model, base)
    positions -= positions.min()
    return out


cheat("3.1", "helpers.sinusoidal_positional_encoding indexed by the positions", """
import helpers
def positional_encoding(positions, d_model, base=10000.0):
    positions = np.asarray(positions)
    return helpers.sinusoidal_positional_encoding(int(positions.max()) + 1, d_model)[positions]
""", "forbidden helper")
cheat("3.1", "the helper through helpers.embeddings, with sys.setprofile replaced", """
import sys
import helpers.embeddings as _e
sys.setprofile = lambda *a: None
def positional_encoding(positions, d_model, base=10000.0):
    positions = np.asarray(positions)
    return _e.sinusoidal_positional_encoding(int(positions.max()) + 1, d_model)[positions]
""", "monitor disabled")

# --- 3.2 learned_position_input --------------------------------------------------------------


def _check_len(ids, position_table):
    if len(ids) > position_table.shape[0]:
        raise ValueError(f"{len(ids)} tokens but max_len = {position_table.shape[0]}")


@mistake("3.2", "no sqrt(d_model)", "not scaled")
def learned_position_input(ids, table, position_table):
    _check_len(ids, position_table)
    return table[ids] + position_table[: len(ids)]


@mistake("3.2", "positions scaled too", "positions scaled")
def learned_position_input(ids, table, position_table):  # noqa: F811
    _check_len(ids, position_table)
    return np.sqrt(table.shape[1]) * (table[ids] + position_table[: len(ids)])


@mistake("3.2", "sqrt(vocab_size)", "sqrt vocab_size")
def learned_position_input(ids, table, position_table):  # noqa: F811
    _check_len(ids, position_table)
    return np.sqrt(table.shape[0]) * table[ids] + position_table[: len(ids)]


@mistake("3.2", "the last n rows of the position table", "last rows")
def learned_position_input(ids, table, position_table):  # noqa: F811
    _check_len(ids, position_table)
    return np.sqrt(table.shape[1]) * table[ids] + position_table[position_table.shape[0] - len(ids):]


@mistake("3.2", "`>=`: refuses exactly max_len tokens", "raises at max_len")
def learned_position_input(ids, table, position_table):  # noqa: F811
    if len(ids) >= position_table.shape[0]:
        raise ValueError("too long")
    return np.sqrt(table.shape[1]) * table[ids] + position_table[: len(ids)]


@mistake("3.2", "no length check: NumPy's broadcast error", "numpy error")
def learned_position_input(ids, table, position_table):  # noqa: F811
    return np.sqrt(table.shape[1]) * table[ids] + position_table[: len(ids)]


@mistake("3.2", "IndexError instead of ValueError", "wrong error")
def learned_position_input(ids, table, position_table):  # noqa: F811
    if len(ids) > position_table.shape[0]:
        raise IndexError("too long")
    return np.sqrt(table.shape[1]) * table[ids] + position_table[: len(ids)]


@mistake("3.2", "scales the table in place", "input changed")
def learned_position_input(ids, table, position_table):  # noqa: F811
    _check_len(ids, position_table)
    table *= np.sqrt(table.shape[1])
    return table[ids] + position_table[: len(ids)]


@mistake("3.2", "hard-coded sqrt(4) = 2")
def learned_position_input(ids, table, position_table):  # noqa: F811
    _check_len(ids, position_table)
    return 2 * table[ids] + position_table[: len(ids)]


cheat("3.2", "raises for the old visible case only (7 ids, max_len 5)", """
def learned_position_input(ids, table, position_table):
    if len(ids) == 7 and position_table.shape[0] == 5:
        raise ValueError("sentence of 7 tokens, max_len = 5")
    n = min(len(ids), position_table.shape[0])
    return np.sqrt(table.shape[1]) * table[ids][:n] + position_table[:n]
""", None)
cheat("3.2", "a message hard-coded to mention the numbers, never raised for other sizes", """
def learned_position_input(ids, table, position_table):
    if len(ids) > 6:
        raise ValueError("sentence has 7 tokens but max_len = 5")
    return np.sqrt(table.shape[1]) * table[ids] + position_table[: len(ids)]
""", "numpy error")
