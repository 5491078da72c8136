"""Input validation shared by every helper: one place, so every error reads the same way.

Every check raises ``ValueError`` (a wrong value, shape or dtype) or ``TypeError`` (a wrong kind of
object) naming the argument, what was expected and what arrived. The checks look at shapes and dtypes
only (O(1)), never at every number, so they cost nothing next to the arithmetic.

Dtype policy: the helpers compute in float32 or float64. float16 (and longdouble) are refused, not
silently computed in: float16's largest value is 65504, so squares inside layer norm and attention
overflow for inputs of a few hundred; convert with ``.astype(np.float32)``.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as err:     # ragged lists, objects NumPy cannot turn into numbers
        raise ValueError(f"{name} must be an array (or nested lists of equal lengths), got "
                         f"{type(x).__name__}: {err}") from None


def float_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a float32 or float64 NumPy array (float32 stays float32), or raise ValueError."""
    arr = _as_array(x, name)
    if arr.dtype.newbyteorder("=") not in FLOAT_DTYPES:
        hint = ""
        if np.issubdtype(arr.dtype, np.floating):
            hint = " (other float types are not supported: convert with .astype(np.float32))"
        raise ValueError(f"{name} must be a float32 or float64 array, got dtype {arr.dtype}{hint}")
    return arr


def int_array(ids, name: str) -> np.ndarray:
    """Return ``ids`` as an integer array, or raise ValueError (floats are not silently truncated)."""
    if ids is None or isinstance(ids, (str, bytes, dict)):
        raise TypeError(f"{name} must be an integer array, got {type(ids).__name__}")
    arr = _as_array(ids, name)
    if arr.size == 0 and not isinstance(ids, np.ndarray):
        arr = arr.astype(np.int64)  # np.asarray([]) is float64, but an empty list of ids is still ids
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int >= minimum; 2.0, True or "2" raise TypeError (not accepted, then failing later)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def positive_float(value, name: str, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with allow_zero)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def check_ids_in_range(ids: np.ndarray, vocab_size: int, name: str = "token_ids") -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)]
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}) for a vocabulary of size {vocab_size}, "
            f"got {bad.ravel()[:5].tolist()}"
        )


def check_last_dim(x: np.ndarray, expected: int, name: str, what: str = "d_model") -> None:
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(
            f"{name} must have last dimension {what} = {expected}, i.e. shape (..., {expected}); "
            f"got shape {x.shape}"
        )


def check_shape(arr, expected: tuple, name: str) -> np.ndarray:
    arr = _as_array(arr, name)
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got shape {arr.shape}")
    return arr


def owned_float(arr, expected: tuple, name: str, dtype=None) -> np.ndarray:
    """A parameter: a float32/float64 array of shape ``expected`` that owns its memory (a copy), so that
    training it in place never changes the caller's arrays (a state dict, a torch module's tensors)."""
    arr = check_shape(float_array(arr, name), expected, name)
    return np.array(arr, dtype=dtype or arr.dtype.newbyteorder("="), copy=True, order="C")


def bool_mask(mask, name: str = "mask") -> np.ndarray:
    arr = _as_array(mask, name)
    if arr.dtype != bool:
        raise ValueError(
            f"{name} must be a boolean array (True = may attend / real token), got dtype {arr.dtype}"
        )
    return arr
