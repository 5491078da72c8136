"""Input validation shared by every helper: one place, so every error reads the same way.

Every check raises ``ValueError`` naming what was expected and what arrived.
"""

from __future__ import annotations

import numpy as np


def float_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a floating NumPy array (float32 stays float32), or raise ValueError."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a float32 or float64 array, got dtype {arr.dtype}")
    return arr


def int_array(ids, name: str) -> np.ndarray:
    """Return ``ids`` as an integer array, or raise ValueError (floats are not silently truncated)."""
    arr = np.asarray(ids)
    if arr.size == 0 and not isinstance(ids, np.ndarray):
        arr = arr.astype(np.int64)  # np.asarray([]) is float64, but an empty list of ids is still ids
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


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
    arr = np.asarray(arr)
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got shape {arr.shape}")
    return arr


def bool_mask(mask, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype != bool:
        raise ValueError(
            f"{name} must be a boolean array (True = may attend / real token), got dtype {arr.dtype}"
        )
    return arr
